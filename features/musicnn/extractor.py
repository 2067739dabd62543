"""One clip's musicnn embeddings, or its log-mel patches, for the batch feature cache.

Registered in `features.extract` as the extractors "musicnn" (embeddings) and "musicnn_patches"
(the network's input, for fine-tuning the network itself: `cnn.finetune`). This module imports
Keras only when a clip is computed, so that importing `features.extract` (and starting its worker
processes for other extractors) stays light; each worker builds the network once
(`hear.pretrained`).
"""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError
from features.musicnn import params as p
from features.musicnn.frontend import log_mel, to_patches
from features.musicnn.weights import check_model

# model: pretrained network; layer: per-patch embedding; n_patches: rows per clip (10 s -> 3).
EXTRACTOR_DEFAULTS = {"model": "MTT_musicnn", "layer": "penultimate", "n_patches": 3}
PATCHES_DEFAULTS = {"n_patches": EXTRACTOR_DEFAULTS["n_patches"]}


def clip_embeddings(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """Per-patch embeddings of one clip, a fixed number of rows.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        Audio in librosa layout.
    sr : int
        Its sampling rate in Hz.
    params : dict
        ``model``, ``layer`` and ``n_patches`` (`EXTRACTOR_DEFAULTS`).

    Returns
    -------
    embeddings : np.ndarray [shape=(n_patches, size), dtype=float32]
        Patches without overlap from the start of the clip; a clip too short for `n_patches`
        is padded with frames of silence (log-mel 0) before the network, a longer one cropped.
    """
    from features.musicnn.hear import pretrained

    return pretrained(params["model"], params["layer"]).embed_patches(clip_patches(y, sr, params))


def clip_patches(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """The log-mel patches of one clip, as `clip_embeddings` feeds them to the network.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
    sr : int
    params : dict
        ``n_patches`` (other keys are ignored).

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
        Without overlap from the start of the clip; a clip too short is padded with frames of
        silence (log-mel 0), a longer one cropped.
    """
    n_frames = params["n_patches"] * p.PATCH_FRAMES
    S = log_mel(y, sr)[:n_frames]
    S = np.pad(S, ((0, n_frames - len(S)), (0, 0)))
    return to_patches(S)


def clip_patches_shape(params: dict) -> tuple[int, int, int]:
    """``(n_patches, 187, 96)`` of `clip_patches`; raises ParameterError for a bad ``n_patches``."""
    _check_n_patches(params["n_patches"])
    return (params["n_patches"], p.PATCH_FRAMES, p.N_MELS)


def clip_embeddings_shape(params: dict) -> tuple[int, int]:
    """``(n_patches, size)`` of `clip_embeddings`; raises ParameterError for bad `params`."""
    check_model(params["model"])
    sizes = p.PATCH_EMBEDDING_SIZES[p.FAMILY[params["model"]]]
    if params["layer"] not in sizes:
        raise ParameterError(
            f"layer must be one of {sorted(sizes)} for {params['model']}, "
            f"given layer={params['layer']!r}"
        )
    _check_n_patches(params["n_patches"])
    return (params["n_patches"], sizes[params["layer"]])


def _check_n_patches(n_patches) -> None:
    if not (isinstance(n_patches, int) and n_patches >= 1):
        raise ParameterError(f"n_patches must be a positive integer, given n_patches={n_patches!r}")
