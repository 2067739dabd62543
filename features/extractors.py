"""The named extractors of the feature cache (`features.extract`): clip audio in, one array out.

Each entry says how to compute one fixed-shape array from a decoded clip, its default parameters,
the shape and dtype of the result. ``logmel`` feeds the CNN, ``musicnn`` (per-patch embeddings
of one layer), ``musicnn_layers`` (several layers from one forward pass) and ``musicnn_patches``
(the network's log-mel input) the musicnn embedding and fine-tuning, and ``vggish_examples`` the
VGGish front end.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from features import vggish_params
from features.hear.extractor import HEAR_DEFAULTS, clip_shape, embed_clip
from features.logmel import LOGMEL_PARAMS, logmel
from features.musicnn.extractor import EXTRACTOR_DEFAULTS as MUSICNN_DEFAULTS
from features.musicnn.extractor import LAYERS_DEFAULTS as MUSICNN_LAYERS_DEFAULTS
from features.musicnn.extractor import PATCHES_DEFAULTS as MUSICNN_PATCHES_DEFAULTS
from features.musicnn.extractor import (
    clip_embeddings,
    clip_embeddings_shape,
    clip_layers,
    clip_layers_shape,
    clip_patches,
    clip_patches_shape,
)
from features.vggish import waveform_to_examples


@dataclass(frozen=True)
class Extractor:
    """How to turn a decoded clip into one fixed-shape array.

    `compute(y, sr, params)` gets librosa-layout audio and the extractor's own parameters;
    `shape(params)` gives the shape of its result, `dtype` its type.
    """

    compute: Callable[[np.ndarray, int, dict], np.ndarray]
    defaults: dict
    shape: Callable[[dict], tuple[int, ...]]
    dtype: str


def _logmel(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    return logmel(y, sr, **params)


def _logmel_shape(params: dict) -> tuple[int, ...]:
    return (params["n_mels"], params["n_frames"])


def _vggish_examples(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """VGGish examples padded (with the log of silence) or cropped to `n_examples`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short clips are padded below
        examples = waveform_to_examples(
            y, sr, normalize_peak=params["normalize_peak"], resampler=params["resampler"]
        )
    out = np.full(_vggish_shape(params), np.log(vggish_params.LOG_OFFSET), dtype=np.float32)
    n = min(len(examples), params["n_examples"])
    out[:n] = examples[:n]
    return out


def _vggish_shape(params: dict) -> tuple[int, ...]:
    return (params["n_examples"], vggish_params.EXAMPLE_NUM_FRAMES, vggish_params.NUM_MEL_BINS)


EXTRACTORS: dict[str, Extractor] = {
    "logmel": Extractor(
        compute=_logmel,
        defaults=dict(LOGMEL_PARAMS),
        shape=_logmel_shape,
        dtype="float16",
    ),
    "vggish_examples": Extractor(
        compute=_vggish_examples,
        defaults=dict(normalize_peak=True, resampler="kaiser_best", n_examples=10),
        shape=_vggish_shape,
        dtype="float32",
    ),
    "musicnn": Extractor(
        compute=clip_embeddings,
        defaults=dict(MUSICNN_DEFAULTS),
        shape=clip_embeddings_shape,
        dtype="float32",
    ),
    "musicnn_layers": Extractor(
        compute=clip_layers,
        defaults=dict(MUSICNN_LAYERS_DEFAULTS),
        shape=clip_layers_shape,
        dtype="float32",
    ),
    "musicnn_patches": Extractor(
        compute=clip_patches,
        defaults=dict(MUSICNN_PATCHES_DEFAULTS),
        shape=clip_patches_shape,
        dtype="float16",
    ),
    "hear": Extractor(
        compute=embed_clip,
        defaults=dict(HEAR_DEFAULTS),
        shape=clip_shape,
        dtype="float32",
    ),
}
