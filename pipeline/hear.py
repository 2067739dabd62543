"""``--embeddings hear:MODULE[:WEIGHTS_PATH]``: a HEAR 2021 module as an embedding of a run.

The embedding is named after its module (models ``lr@hear21passt.base``, ...). Its parameters
(`features.hear.resolve_params`: the module's identity, rate, frames and size, probed once in
this process) are the feature cache's key and what ``run.json`` records as the models' input,
so that ``compare.py tag`` computes it again and checks it is the same module and weights. The
clips are embedded by the feature cache's workers (`features.extract`, extractor ``"hear"``),
resumable like the built-in extractors. Any `features.hear.HearError` (module missing, API not
implemented, weights not at hand, wrong shape, NaN) becomes a `SettingsError`: exit code 2, the
message, no traceback.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from features.hear.loading import PREFIX, HearError, parse_spec
from pipeline.settings import SettingsError

if TYPE_CHECKING:
    from pipeline.settings import Settings


def is_hear(name: str) -> bool:
    """Whether an ``--embeddings`` entry is a HEAR module (``hear:...``)."""
    return name.startswith(PREFIX)


def check_modules(s: Settings) -> None:
    """Load and probe every HEAR module of the run before any work (`probe_params`).

    Raises
    ------
    SettingsError
        With the module's problem and what to do (`features.hear.HearError`).
    """
    for spec in (e for e in s.embeddings if is_hear(e)):
        hear_params(spec, s.jobs)


def embedding_info(params: dict[str, Any]) -> dict[str, Any]:
    """``run.json``'s "embeddings" entry of a HEAR embedding: plain words and its identity."""
    kind = (f"timestamp embeddings ({params['n_timestamps']} per 10 s clip"
            + (f", averaged into {params['n_frames']} frames)" if params["n_frames"] < params["n_timestamps"]
               else ")")
            if params["kind"] == "timestamp" else "scene embedding (one per clip)")
    version = params["version"] or "no version"
    weights = (f"weights {params['weights']} (SHA-256 {params['weights_sha256'][:12]}...)"
               if params["weights"] else "the module's default weights")
    return {
        "description": f"HEAR module {params['module']} ({version}), {kind}, {params['dim']}-d",
        "provenance": (f"HEAR 2021 API module {params['module']} {version}, {weights}; audio mono "
                       f"at {params['sample_rate']} Hz ({params['resampler']}), 10 s per clip"),
        "dim": int(params["dim"]),
        "frames_per_clip": int(params["n_frames"]),
        "hear": {k: params[k] for k in ("module", "version", "source_sha256", "weights",
                                        "weights_sha256", "sample_rate", "kind", "n_timestamps")},
    }


@lru_cache(maxsize=8)
def probe_params(module: str, weights: str = "", n_jobs: int = 1) -> tuple[tuple[str, Any], ...]:
    """`features.hear.resolve_params` of a module, in an extraction worker unless ``n_jobs == 1``.

    With several workers the probe runs in one of them (joblib's reusable workers, which the
    extraction then uses), so that this process does not hold a copy of the model beside theirs
    for the whole run (musicnn: 3.7 GB peak with 2 workers when probed here); with one, here,
    where the extraction runs too. Returned as items (hashable, for the cache of this function).
    """
    from joblib import Parallel, delayed

    from features.hear import resolve_params

    if n_jobs == 1:
        params = resolve_params(module, weights)
    else:
        (params,) = Parallel(n_jobs=n_jobs)([delayed(resolve_params)(module, weights)])
    return tuple(params.items())


def hear_params(spec: str, n_jobs: int) -> dict[str, Any]:
    """The feature-cache parameters of a ``hear:`` entry (`probe_params`); SettingsError if the
    module fails."""
    try:
        return dict(probe_params(*parse_spec(spec), n_jobs))
    except HearError as err:
        raise SettingsError(str(err)) from None
