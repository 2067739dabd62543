"""musicnn: pretrained music-tagging networks (Pons & Serra 2019) ported to Keras 3.

Four networks from the `musicnn` 0.1.0 wheel on PyPI (weights fetched with pip on first use,
ISC licence, Music Technology Group, Universitat Pompeu Fabra), each mapping 3 s log-mel patches
to 50 tags and exposing intermediate embeddings:

=============  ==================================================================
`params`       every constant: front end, tag lists, wheel and file digests
`frontend`     audio -> log-mel (n_frames, 96) -> patches (n, 187, 96)
`weights`      fetch the wheel, unpack the checkpoints into the cache, check them
`networks`     `musicnn(model=...)`: the Keras networks and their checkpoint loader
`hear`         HEAR interface (`load_model`, `get_*_embeddings`) and `embed_file`
`extractor`    the "musicnn" extractor of `features.extract`'s batch cache
=============  ==================================================================

Names below are importable from this package; the Keras-based ones load on first access, so
that importing the front end or the weights code does not import TensorFlow.

Examples
--------
>>> from features.musicnn import embed_file, musicnn, TAGS
>>> embed_file("audio/000/000046_3840.ogg").shape          # MTT_musicnn penultimate layer
(3, 200)
"""

from importlib import import_module

from features.musicnn.frontend import file_to_patches, log_mel, to_patches, waveform_to_patches
from features.musicnn.params import MODELS, TAGS
from features.musicnn.weights import checkpoint_folder, fetch_weights

_LAZY = {
    "musicnn": "networks", "build_musicnn": "networks", "build_vgg": "networks",
    "feature_model": "networks", "load_checkpoint": "networks",
    "MusicnnEmbedding": "hear", "load_model": "hear", "get_timestamp_embeddings": "hear",
    "get_scene_embeddings": "hear", "embed_file": "hear",
}  # fmt: skip

__all__ = [
    "MODELS", "TAGS", "checkpoint_folder", "fetch_weights", "file_to_patches", "log_mel",
    "to_patches", "waveform_to_patches", *_LAZY,
]  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"features.musicnn.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'features.musicnn' has no attribute {name!r}")
