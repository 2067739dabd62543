"""One clip's musicnn embeddings for the batch feature cache (`features.extract`).

Registered there as the extractor "musicnn". This module imports Keras only when a clip is
computed, so that importing `features.extract` (and starting its worker processes for other
extractors) stays light; each worker builds the network once (`hear.pretrained`).
"""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError
from features.musicnn import params as p
from features.musicnn.frontend import log_mel, to_patches
from features.musicnn.weights import check_model

# model: pretrained network; layer: per-patch embedding; n_patches: rows per clip (10 s -> 3).
EXTRACTOR_DEFAULTS = {"model": "MTT_musicnn", "layer": "penultimate", "n_patches": 3}


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

    n_frames = params["n_patches"] * p.PATCH_FRAMES
    S = log_mel(y, sr)[:n_frames]
    S = np.pad(S, ((0, n_frames - len(S)), (0, 0)))
    return pretrained(params["model"], params["layer"]).embed_patches(to_patches(S))


def clip_embeddings_shape(params: dict) -> tuple[int, int]:
    """``(n_patches, size)`` of `clip_embeddings`; raises ParameterError for bad `params`."""
    check_model(params["model"])
    sizes = p.PATCH_EMBEDDING_SIZES[p.FAMILY[params["model"]]]
    if params["layer"] not in sizes:
        raise ParameterError(
            f"layer must be one of {sorted(sizes)} for {params['model']}, "
            f"given layer={params['layer']!r}"
        )
    if not (isinstance(params["n_patches"], int) and params["n_patches"] >= 1):
        raise ParameterError(
            f"n_patches must be a positive integer, given n_patches={params['n_patches']!r}"
        )
    return (params["n_patches"], sizes[params["layer"]])
