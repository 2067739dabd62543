"""Any module implementing the HEAR 2021 API as an embedding of the feature cache.

The HEAR 2021 benchmark asks every audio embedding for ``load_model(model_file_path="")``, a model
carrying ``sample_rate``, ``scene_embedding_size`` and ``timestamp_embedding_size``, and
``get_scene_embeddings(audio, model)`` / ``get_timestamp_embeddings(audio, model)``. PaSST
(``hear21passt.base``), PANNs (``panns_hear``), the HEAR baselines (``hearbaseline``) and this
toolkit's musicnn (``features.musicnn.hear``) implement it.

=============  ==================================================================
`loading`      import the module, check the API, load the model once per process,
               and its identity (module, version, source and weights hashes)
`extractor`    the ``"hear"`` extractor of `features.extract`: one decoded clip ->
               mono, the model's rate, 10 s -> frames (n_frames, dim) float32
=============  ==================================================================

Examples
--------
>>> from features.hear import resolve_params, embed_clip
>>> params = resolve_params("features.musicnn.hear")        # loads the model, probes its output
>>> params["n_frames"], params["dim"], params["kind"]
(3, 200, 'timestamp')
>>> embed_clip(y, sr, params).shape                          # y, sr of a decoded 10 s clip
(3, 200)
"""

from features.hear.extractor import (
    HEAR_DEFAULTS,
    MAX_FRAMES,
    clip_shape,
    embed_clip,
    prepare_audio,
    reduce_frames,
    resolve_params,
)
from features.hear.loading import HearError, check_identity, identity, load, parse_spec

__all__ = [
    "HEAR_DEFAULTS", "MAX_FRAMES", "HearError", "check_identity", "clip_shape", "embed_clip",
    "identity", "load", "parse_spec", "prepare_audio", "reduce_frames", "resolve_params",
]  # fmt: skip
