"""What each model of a run reads, computed from one 10 s window of audio as training did.

A run records every model's input in ``run.json`` (``models[id]["input"]``): the extractor and
its parameters. `WindowInput` computes it from a window of decoded audio exactly as the training
clip's was computed: the feature cache's extractors (`features.extractors`: ``logmel``,
``musicnn``, ``musicnn_patches``) with the run's parameters, the demo set's stand-in release
embedding (`features.demo.embed`), or the VGGish chain (`features.vggish_model`) whose rows
OpenMIC-2018's ``X`` holds. A window of a training clip's length therefore gives that clip's
features, value for value.

Each input slides over a file with its own hop (`HOPS_S`): one VGGish example (0.96 s) for the
release embedding, one musicnn patch (2.992 s) for musicnn and the fine-tuned musicnn, 1 s for the
CNN's log-mel, and for a HEAR module (``hear:MODULE``) the share of the window one of its stored
frames covers (10 s / frames per clip: 1 s for 10 frames, 10 s for a scene embedding).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import numpy as np

from core.errors import DatasetError
from features import vggish_params
from features.audio import CLIP_DURATION_S
from features.extract import DECODE_DEFAULTS
from features.extractors import EXTRACTORS
from features.musicnn import params as musicnn_params

WINDOW_S = CLIP_DURATION_S  # every model was trained on 10 s clips
RELEASE_EXTRACTORS = ("stand_in", "vggish")
HOPS_S = {
    "stand_in": vggish_params.EXAMPLE_HOP_SECONDS,
    "vggish": vggish_params.EXAMPLE_HOP_SECONDS,
    "musicnn": musicnn_params.PATCH_SECONDS,
    "musicnn_patches": musicnn_params.PATCH_SECONDS,
    "logmel": 1.0,
    "hear": None,  # a HEAR module's: one stored frame, `hear_hop_s`
}
# The shortest file scored: one VGGish example. The other front ends pad a short window the way
# they pad a short training clip, but the release embedding needs one whole example.
MIN_SECONDS = vggish_params.EXAMPLE_WINDOW_SECONDS


class RunFolderError(DatasetError):
    """A run folder cannot be used for tagging; the message says what to do."""


@dataclass(frozen=True)
class WindowInput:
    """One extractor with its run's parameters; equal inputs are computed once per window.

    Attributes
    ----------
    extractor : str
        ``"stand_in"``, ``"vggish"`` or a feature-cache extractor (``"logmel"``, ``"musicnn"``,
        ``"musicnn_patches"``).
    params_json : str
        Its parameters as sorted JSON (hashable).
    hop_s : float
        Seconds between the starts of consecutive windows.
    """

    extractor: str
    params_json: str
    hop_s: float

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def label(self) -> str:
        return self.extractor

    def compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The features of one window, as the training clip's were computed.

        Parameters
        ----------
        y : np.ndarray [shape=(n_channels, n_samples), dtype=float32]
            The window, decoded like `features.audio.load_audio` decodes a clip.
        sr : int

        Returns
        -------
        np.ndarray
            ``(n_rows, 128)`` uint8 for the release embedding; the extractor's row otherwise.
        """
        params = self.params
        if self.extractor == "stand_in":
            from features.demo.embed import fit_rows, stand_in_embedding

            return fit_rows(stand_in_embedding(y, sr), params["n_rows"])
        if self.extractor == "vggish":
            from features.demo.embed import fit_rows
            from features.vggish import waveform_to_examples

            return fit_rows(vggish().embed_examples(waveform_to_examples(y, sr)), params["n_rows"])
        spec = EXTRACTORS[self.extractor]
        own = {k: v for k, v in params.items() if k not in DECODE_DEFAULTS}
        return spec.compute(y, sr, own).astype(spec.dtype, copy=False)


def window_input(record: dict | None, model_id: str, run_json: str, *, hop_s: float | None = None
                 ) -> WindowInput:
    """The `WindowInput` of a model from its ``run.json`` ``"input"`` record.

    Raises
    ------
    RunFolderError
        The record is missing (a run written before inputs were recorded), names an unknown
        extractor, or says the input cannot be computed from audio.
    """
    if record is None:
        raise RunFolderError(
            f"{run_json} does not say how {model_id}'s input is computed from audio (its dataset's "
            "X is of unknown origin): leave it out with --models, or train on an embedding "
            "computed from audio (--embeddings musicnn)"
        )
    extractor = record.get("extractor")
    if extractor not in HOPS_S:
        raise RunFolderError(
            f"{run_json} gives {model_id} the input {extractor!r}, which this version of the toolkit "
            f"does not compute ({', '.join(HOPS_S)}): tag with the toolkit version that made the "
            "run, or rerun compare.py with this one"
        )
    params = dict(record.get("params") or {})
    default = hear_hop_s(params) if extractor == "hear" else HOPS_S[extractor]
    return WindowInput(extractor, json.dumps(params, sort_keys=True),
                       default if hop_s is None else float(hop_s))


def hear_hop_s(params: dict) -> float:
    """A HEAR module's hop: the seconds of a 10 s window that one of its stored frames covers."""
    return WINDOW_S / max(int(params.get("n_frames") or 1), 1)


def compute_inputs(specs: list[WindowInput], y: np.ndarray, sr: int) -> dict[WindowInput, np.ndarray]:
    """`WindowInput.compute` of several inputs on one window, sharing what they have in common.

    The musicnn inputs of one network (the musicnn embedding's layer, musicnn-ft's layer and
    patches) share the window's log-mel patches and one forward pass for all their layers
    (`features.musicnn.extractor.patch_layers`, the feature cache's own code), which gives each
    layer's values as its own pass would (the same operations on the same batch): the front end
    and the network cost once per window instead of once per input.
    """
    out: dict[WindowInput, np.ndarray] = {}
    patches: dict[int, np.ndarray] = {}
    by_network: dict[tuple[str, int], list[WindowInput]] = {}
    for spec in specs:
        if spec.extractor in ("musicnn", "musicnn_patches"):
            n_patches = spec.params["n_patches"]
            if n_patches not in patches:
                from features.musicnn.extractor import clip_patches

                patches[n_patches] = clip_patches(y, sr, {"n_patches": n_patches})
            if spec.extractor == "musicnn_patches":
                out[spec] = patches[n_patches].astype(EXTRACTORS[spec.extractor].dtype)
            else:
                by_network.setdefault((spec.params["model"], n_patches), []).append(spec)
        else:
            out[spec] = spec.compute(y, sr)
    for (model, n_patches), group in by_network.items():
        from features.musicnn.extractor import patch_layers

        layers = sorted({spec.params["layer"] for spec in group})
        outputs = patch_layers(patches[n_patches], model, layers)
        for spec in group:
            out[spec] = outputs[spec.params["layer"]]
    return out


@cache
def vggish():
    """The pretrained VGGish chain, its weights fetched (MD5-checked) on first use."""
    from features.vggish_model import VGGish

    return VGGish.pretrained()


def check_available(inputs: dict[str, WindowInput]) -> None:
    """Fetch or load what the inputs need before any file is read (VGGish weights, HEAR modules).

    Raises
    ------
    RunFolderError
        The VGGish weights are neither in the cache nor downloadable; names the models, where to
        put the files and how to leave those models out. Or a HEAR module is missing, cannot
        load, or is not the version, source or weights the run recorded.
    """
    _check_hear(inputs)
    needing = sorted(m for m, i in inputs.items() if i.extractor == "vggish")
    if not needing:
        return
    try:
        vggish()
    except DatasetError as err:
        raise RunFolderError(
            f"{', '.join(needing)} read VGGish embeddings, and the VGGish weights are not "
            f"available: {err}. Or leave these models out with --models."
        ) from err


def _check_hear(inputs: dict[str, WindowInput]) -> None:
    """Each HEAR module the run recorded: importable, loadable, the same version and weights."""
    from features.hear import HearError, check_identity, load

    for model_id, spec in sorted(inputs.items()):
        if spec.extractor != "hear":
            continue
        params = spec.params
        try:
            check_identity(params)
            load(params["module"], params["weights"])
        except HearError as err:
            raise RunFolderError(f"{model_id} reads the HEAR embedding {params['module']}: {err}. "
                                 "Or leave it out with --models.") from err
