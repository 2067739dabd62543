"""The embeddings the classical models are trained on, one dimension of the comparison.

``release`` is the dataset's own ``X`` (VGGish on OpenMIC-2018, the stand-in on the demo set);
``musicnn`` is the pretrained musicnn network's per-patch embedding, computed from the audio
through the resumable feature cache (`features.extract`, extractor ``"musicnn_layers"``: one
forward pass per clip gives every layer the run reads, musicnn-ft's too). Each comes back
as frames per clip, ``(n_clips, n_frames, dim)``, pooled by the classical models like VGGish frames,
with a mask of the clips it could be computed for. ``hear:MODULE[:WEIGHTS_PATH]`` is any module
implementing the HEAR 2021 API, through the same cache (`pipeline.hear`), named after its module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core import registry
from pipeline.facts import embedding_name, release_input

if TYPE_CHECKING:
    from pipeline.data import Data
    from pipeline.settings import Settings

log = logging.getLogger("compare")

EMBEDDING_NAMES = registry.embedding_names()
DEFAULT_EMBEDDINGS = registry.embedding_names(default=True)
RELEASE = "release"


@dataclasses.dataclass
class Embedding:
    """One embedding of every clip of the dataset.

    Attributes
    ----------
    name : str
        One of `EMBEDDING_NAMES`, or a HEAR module's name (``hear21passt.base``).
    X : np.ndarray [shape=(n_clips, n_frames, dim)]
        Rows in the dataset's order; zeros where not `ok`.
    ok : np.ndarray [shape=(n_clips,)] bool
        Clips whose embedding exists (audio readable for a computed embedding).
    problems : dict of str to str
        Key -> why, for the clips that are not `ok`.
    params : dict
        What identifies the embedding in cache keys (extractor parameters).
    info : dict
        ``run.json``'s "embeddings" entry: description, provenance, dim, frames_per_clip.
    input : dict or None
        How to compute it from audio, ``{"extractor", "params"}`` (each model's ``"input"`` in
        ``run.json``); None for a dataset ``X`` of unknown origin.
    identity : str
        What the values are, in 16 hex digits: the SHA-256 of the release's ``X`` array, or the
        feature cache's identity (extractor, parameters, keys and every clip's audio content).
        Part of the cache key of every model trained on it.
    """

    name: str
    X: np.ndarray
    ok: np.ndarray
    problems: dict[str, str]
    params: dict[str, Any]
    info: dict[str, Any]
    input: dict[str, Any] | None = None
    identity: str = ""


def feature_dir(s: Settings, run_dir: Path) -> Path:
    """Where extracted features live: the cache, or the run's work folder with ``--no-cache``."""
    return Path(s.cache_dir) / "features" if not s.no_cache else run_dir / ".work" / "features"


def load_embedding(name: str, data: Data, s: Settings, run_dir: Path) -> Embedding:
    """The embedding `name` of every clip of `data` (computed and cached where needed)."""
    ds = data.ds
    if name == RELEASE:
        return Embedding(
            name=RELEASE,
            X=ds.X,
            ok=np.ones(len(ds.sample_key), dtype=bool),
            problems={},
            params={"source": "X of openmic-2018.npz"},
            info={
                "description": embedding_name(ds),
                "provenance": "the dataset's own X (openmic-2018.npz)",
                "dim": int(ds.X.shape[2]),
                "frames_per_clip": int(ds.X.shape[1]),
            },
            input=release_input(ds),
            identity=hashlib.sha256(np.ascontiguousarray(ds.X).tobytes()).hexdigest()[:16],
        )
    if name == "musicnn":
        return _musicnn(data, s, run_dir)
    if name.startswith("hear:"):
        return _hear(name, data, s, run_dir)
    raise ValueError(f"unknown embedding {name!r}; valid: {', '.join(EMBEDDING_NAMES)}")


def musicnn_layers(s: Settings, model: str) -> list[str]:
    """The layers of the pretrained `model` that a run reads, sorted.

    The classical models' embedding (``--embeddings musicnn``: MTT_musicnn's penultimate layer)
    and musicnn-ft (its backbone's layer, in either mode: full mode starts from a head trained on
    that layer), where the run trains them.
    """
    from features.musicnn.extractor import EXTRACTOR_DEFAULTS
    from pipeline.settings import CLASSICAL_MODELS, FT_MODEL, finetune_config

    layers = set()
    classical = any(m in CLASSICAL_MODELS for m in s.models)
    if classical and "musicnn" in s.embeddings and model == EXTRACTOR_DEFAULTS["model"]:
        layers.add(EXTRACTOR_DEFAULTS["layer"])
    if FT_MODEL in s.models:
        config = finetune_config(s, "head")
        if config.backbone == model:
            layers.add(config.layer)
    return sorted(layers)


def musicnn_cache(data: Data, s: Settings, run_dir: Path, *, model: str, layer: str):
    """One layer's per-patch embeddings of every clip, from the run's one musicnn pass per clip.

    Every layer of `model` the run reads (`musicnn_layers`) is computed by one forward pass per
    clip and cached once (extractor "musicnn_layers"); this returns `layer`'s columns as a
    "musicnn" cache (`features.musicnn.extractor.layer_cache`).

    Returns
    -------
    cache : features.extract.FeatureCache
        ``data`` ``(n_clips, n_patches, size)``; ``params`` those of the "musicnn" extractor.
    """
    from features.extract import extract_dataset
    from features.musicnn.extractor import layer_cache

    layers = sorted({*musicnn_layers(s, model), layer})
    feats = extract_dataset(data.ds.audio_path, data.ds.sample_key, "musicnn_layers",
                            feature_dir(s, run_dir), params={"model": model, "layers": layers},
                            root=data.ds.root, n_jobs=s.jobs)
    return layer_cache(feats, layer)


def _musicnn(data: Data, s: Settings, run_dir: Path) -> Embedding:
    from features.musicnn import params as mp
    from features.musicnn.extractor import EXTRACTOR_DEFAULTS

    feats = musicnn_cache(data, s, run_dir, model=EXTRACTOR_DEFAULTS["model"],
                          layer=EXTRACTOR_DEFAULTS["layer"])
    params = dict(feats.params)
    model, layer = params.get("model", EXTRACTOR_DEFAULTS["model"]), params.get("layer")
    return Embedding(
        name="musicnn",
        X=np.asarray(feats.data),
        ok=np.asarray(feats.ok),
        problems=dict(feats.problems),
        params=params,
        info={
            "description": (
                f"musicnn {model} (Pons & Serra 2019), {layer} layer per 3 s patch "
                f"({feats.data.shape[1]} patches per clip)"
            ),
            "provenance": (
                f"weights from the musicnn {mp.WHEEL_VERSION} wheel on PyPI (ISC licence, "
                f"SHA-256 {mp.WHEEL_SHA256[:12]}...), Keras port checked against the original graph"
            ),
            "dim": int(feats.data.shape[2]),
            "frames_per_clip": int(feats.data.shape[1]),
        },
        input={"extractor": "musicnn", "params": params},
        identity=feats.identity,
    )


def _hear(spec: str, data: Data, s: Settings, run_dir: Path) -> Embedding:
    """The HEAR embedding `spec` of every clip of `data`, through the feature cache."""
    from features.extract import extract_dataset
    from features.hear.loading import HearError
    from pipeline.hear import embedding_info, hear_params
    from pipeline.settings import SettingsError

    params = hear_params(spec, s.jobs)
    ds = data.ds
    try:
        feats = extract_dataset(ds.audio_path, ds.sample_key, "hear", feature_dir(s, run_dir),
                                params=params, root=ds.root, n_jobs=s.jobs)
    except HearError as err:  # raised in a worker on some clip; finished chunks are kept
        raise SettingsError(f"{err} (clips embedded so far are cached)") from None
    params = dict(feats.params)
    return Embedding(
        name=params["module"],
        X=np.asarray(feats.data),
        ok=np.asarray(feats.ok),
        problems=dict(feats.problems),
        params=params,
        info=embedding_info(params),
        input={"extractor": "hear", "params": params},
        identity=feats.identity,
    )
