"""One clip's musicnn embeddings, or its log-mel patches, for the batch feature cache.

Registered in `features.extract` as the extractors "musicnn" (one layer's embeddings),
"musicnn_layers" (several layers from one forward pass, side by side: what a run that needs the
penultimate layer for the classical models and another for musicnn-ft extracts, once;
`layer_cache` reads one layer back as a "musicnn" cache) and "musicnn_patches" (the network's
input, for fine-tuning the network itself: `cnn.finetune`). All of them, and `compare.py tag`
(`tagging.inputs`), run the network through `patch_layers`. This module imports Keras only when
a clip is computed, so that importing `features.extract` (and starting its worker processes for
other extractors) stays light; each worker builds the network once (`hear.pretrained`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache

import numpy as np

from core.errors import ParameterError
from features.identity import feature_identity
from features.musicnn import params as p
from features.musicnn.frontend import log_mel, to_patches
from features.musicnn.weights import check_model

# model: pretrained network; layer: per-patch embedding; n_patches: rows per clip (10 s -> 3).
EXTRACTOR_DEFAULTS = {"model": "MTT_musicnn", "layer": "penultimate", "n_patches": 3}
PATCHES_DEFAULTS = {"n_patches": EXTRACTOR_DEFAULTS["n_patches"]}
# layers: the layers of one forward pass, in the order their columns are stored.
LAYERS_DEFAULTS = {"model": "MTT_musicnn", "layers": ["penultimate"], "n_patches": 3}


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
    patches = clip_patches(y, sr, params)
    return patch_layers(patches, params["model"], [params["layer"]])[params["layer"]]


def clip_layers(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """Several layers' embeddings of one clip from one forward pass, side by side.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
    sr : int
    params : dict
        ``model``, ``layers`` (a list, the column order) and ``n_patches`` (`LAYERS_DEFAULTS`).

    Returns
    -------
    embeddings : np.ndarray [shape=(n_patches, sum of the layers' sizes), dtype=float32]
        Row ``i`` is patch ``i``'s embeddings at each layer, concatenated in the order of
        ``layers``; each layer's columns equal the "musicnn" extractor's row at that layer.
    """
    outputs = patch_layers(clip_patches(y, sr, params), params["model"], params["layers"])
    return np.concatenate([outputs[layer] for layer in params["layers"]], axis=1)


def patch_layers(patches: np.ndarray, model: str, layers: Sequence[str]) -> dict[str, np.ndarray]:
    """The embeddings of log-mel patches at several layers of `model`, from one forward pass.

    Patches go through the network in batches of ``params.PREDICT_BATCH_PATCHES``
    (`hear.layer_outputs`, as `hear.MusicnnEmbedding.embed_patches`), so each layer's values are
    those of a pass for that layer alone (the same operations on the same batches).

    Parameters
    ----------
    patches : np.ndarray [shape=(n, 187, 96)]
    model : str
        One of ``params.MODELS``.
    layers : sequence of str
        Keys of ``params.PATCH_EMBEDDING_SIZES`` for the model's family.

    Returns
    -------
    embeddings : dict of str to np.ndarray [shape=(n, size), dtype=float32]
    """
    from features.musicnn.hear import layer_outputs

    sizes = _layer_sizes(model, layers)
    return layer_outputs(_layers_model(model, tuple(layers)), patches, sizes)


@cache
def _layers_model(model: str, layers: tuple[str, ...]):
    """The pretrained `model` with `layers` as outputs, built once per process."""
    from features.musicnn.hear import pretrained
    from features.musicnn.networks import feature_model

    return feature_model(pretrained(model).net, list(layers))


def layer_cache(cache, layer: str):
    """One layer of a "musicnn_layers" feature cache, as the "musicnn" extractor's cache of it.

    Parameters
    ----------
    cache : features.extract.FeatureCache
        Extractor "musicnn_layers".
    layer : str
        One of its ``params["layers"]``.

    Returns
    -------
    cache : features.extract.FeatureCache
        ``data`` is a read-only view of the layer's columns, ``(n, n_patches, size)``, and
        ``params`` are those the "musicnn" extractor would record for it (``model``, ``layer``,
        ``n_patches`` and the decoder's own), so a model trained on it records the input
        ``{"extractor": "musicnn", "params": ...}`` that `compare.py tag` computes again.
    """
    params = dict(cache.params)
    layers = list(params.pop("layers"))
    if layer not in layers:
        raise ParameterError(f"the cache {cache.path} holds the layers {layers}, given layer={layer!r}")
    sizes = _layer_sizes(params["model"], layers)
    start = sum(sizes[name] for name in layers[: layers.index(layer)])
    data = cache.data[:, :, start : start + sizes[layer]]
    params = {**params, "layer": layer}
    # Named as the "musicnn" extractor's cache of this layer would be: the same features, whichever
    # other layers the run's one pass computed beside it.
    identity = feature_identity("musicnn", params, cache.audio_identity)
    return dataclasses.replace(cache, data=data, params=params, identity=identity)


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


def clip_layers_shape(params: dict) -> tuple[int, int]:
    """``(n_patches, sum of sizes)`` of `clip_layers`; raises ParameterError for bad `params`."""
    _check_n_patches(params["n_patches"])
    return (params["n_patches"], sum(_layer_sizes(params["model"], params["layers"]).values()))


def _layer_sizes(model: str, layers: Sequence[str]) -> dict[str, int]:
    """Layer -> embedding size, in the order given; ParameterError for a bad model or layer."""
    check_model(model)
    sizes = p.PATCH_EMBEDDING_SIZES[p.FAMILY[model]]
    if isinstance(layers, str) or not layers or len(set(layers)) != len(layers):
        raise ParameterError(f"layers must be a non-empty list of distinct names, given layers={layers!r}")
    unknown = [layer for layer in layers if layer not in sizes]
    if unknown:
        raise ParameterError(f"layer must be one of {sorted(sizes)} for {model}, given {unknown}")
    return {layer: sizes[layer] for layer in layers}


def _check_n_patches(n_patches) -> None:
    if not (isinstance(n_patches, int) and n_patches >= 1):
        raise ParameterError(f"n_patches must be a positive integer, given n_patches={n_patches!r}")
