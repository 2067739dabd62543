"""`musicnn-ft`: the pretrained musicnn with a new instrument head, fine-tuned on OpenMIC's labels.

Trained by the same loop as the CNN (`cnn.train.train_network`: masked binary cross-entropy,
early stopping on the validation mAP, checkpoints, exact resume, validation thresholds), in one
of two modes (`FinetuneConfig.mode`):

* **head**: the backbone is frozen and not even in the trained graph: its per-patch embeddings
  are computed once per clip (the feature cache's "musicnn" extractor) and only the head learns.
* **full**: the rows are the log-mel patches themselves (the "musicnn_patches" extractor); the
  backbone is in the graph and learns with the head, at a lower learning rate, optionally
  starting from a head-mode model (linear probing, then fine-tuning: Kumar et al. 2022) and with
  its first layers frozen (``freeze_through``).

In both modes the backbone runs in inference mode: its batch norm uses the pretrained moving
statistics (never updated) and its dropout is off; in full mode its weights (batch-norm scales
and offsets included) learn unless frozen. The network, per clip::

    rows --[full: MergePatches, backbone cut at `layer`, SplitPatches]--> (n_patches, size)
         -> standardise (mean and variance per feature over the fit clips' patches)
         -> [dropout, dense ReLU] -> dropout -> dense sigmoid per patch ("instruments")
         -> clip pooling over the patches (mean, max or attention) -> (n_classes,)
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from cnn.config import OUTPUT_LAYER, STREAM_CHUNK_CLIPS
from cnn.data import RowReader, iterate_rows, unpack_cache
from cnn.finetune_config import FinetuneConfig
from cnn.network import Network
from cnn.patches import AttentionPooling, InferenceMode, MergePatches, SplitPatches
from cnn.predict import TrainedNetwork
from cnn.train import train_network
from core.errors import ParameterError
from features.musicnn import params as musicnn_params
from features.musicnn.networks import FEATURE_LAYERS, family, musicnn
from features.openmic import CLASSES

MIN_STD = 1e-3  # floor of a feature's standard deviation in the standardisation
LAYOUTS = {
    "head": ("n_clips", "n_patches", "size"),
    "full": ("n_clips", "n_patches", "n_frames", "n_mels"),
}
ROWS = {"head": "musicnn embeddings", "full": "musicnn log-mel patches"}
# Clips per forward pass outside training: a patch's front-end maps take about 20 MB.
PREDICT_BATCH_CLIPS = {"head": STREAM_CHUNK_CLIPS, "full": 8}
# The full-mode model's layer holding the backbone (`backbone_of`).
BACKBONE_LAYER = "backbone"
# The head's layers with weights: what a head-mode model hands to a full-mode run.
HEAD_LAYERS = ("standardise", "head_dense", OUTPUT_LAYER, "attention")


class FinetuneModel(TrainedNetwork):
    """A trained `musicnn-ft`: reads the rows of its mode (`LAYOUTS`), predicts clips."""

    file_format = "openmic-compare/musicnn-ft"
    file_format_version = 1
    trainer = "cnn.train_finetune(..., out_dir)"

    @property
    def mode(self) -> str:
        return self.metadata["config"]["mode"]

    @property
    def layout(self) -> tuple[str, ...]:
        return LAYOUTS[self.mode]

    @property
    def rows(self) -> str:
        return ROWS[self.mode]

    @property
    def predict_batch_clips(self) -> int:
        return PREDICT_BATCH_CLIPS[self.mode]

    @property
    def facts(self) -> dict:
        """What a run records about it: mode, backbone, layer, pooling, what was frozen, sizes."""
        keys = ("mode", "backbone", "layer", "pooling", "frozen", "params", "trainable_params",
                "initialised_from")
        return {key: self.metadata.get(key) for key in keys}


def backbone_model(config: FinetuneConfig) -> keras.Model:
    """The pretrained backbone cut at ``config.layer``, frozen through ``config.freeze_through``.

    Returns
    -------
    backbone : keras.Model
        Named after the network; input ``(n, 187, 96)`` log-mel patches, output the layer's
        per-patch features.
    """
    net = musicnn(config.backbone)
    cut = net.get_layer(FEATURE_LAYERS[family(net)][config.layer]).output
    backbone = keras.Model(net.input, cut, name=config.backbone)
    if config.freeze_through is not None:
        for layer in layers_through(backbone, config.freeze_through):
            layer.trainable = False
    return backbone


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a full-mode network (`build_finetune_model`)."""
    return model.get_layer(BACKBONE_LAYER).layer


def build_finetune_model(
    config: FinetuneConfig,
    n_classes: int,
    mean: np.ndarray,
    variance: np.ndarray,
    *,
    n_patches: int,
    backbone: keras.Model | None = None,
) -> keras.Model:
    """Build the (uncompiled) network of the module docstring.

    Parameters
    ----------
    config : FinetuneConfig
    n_classes : int
    mean, variance : np.ndarray [shape=(size,)]
        Per-feature statistics of the fit clips' embeddings, frozen into the standardisation.
    n_patches : int
        Patches per clip.
    backbone : keras.Model, optional
        Full mode: from `backbone_model`; always run in inference mode (`InferenceMode`).

    Returns
    -------
    model : keras.Model
        Input ``(batch, n_patches, size)`` embeddings (head mode) or ``(batch, n_patches, 187,
        96)`` log-mel patches (full mode), output ``(batch, n_classes)`` probabilities.
    """
    size = config.embedding_size
    if config.mode == "head":
        inputs = keras.Input((n_patches, size), name="embeddings")
        x = inputs
    else:
        inputs = keras.Input((n_patches, musicnn_params.PATCH_FRAMES, musicnn_params.N_MELS), name="patches")
        x = MergePatches(name="merge_patches")(inputs)
        x = InferenceMode(backbone, name=BACKBONE_LAYER)(x)
        x = SplitPatches(n_patches, name="split_patches")(x)
    x = keras.layers.Normalization(axis=-1, mean=np.asarray(mean, np.float32),
                                   variance=np.asarray(variance, np.float32), name="standardise")(x)
    if config.dense_units:
        x = keras.layers.Dropout(config.dropout, name="head_dropout0")(x)
        x = keras.layers.Dense(config.dense_units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(config.dropout, name="head_dropout1")(x)
    # Zero output weights: every patch starts at the base rates (the output bias).
    proba = keras.layers.Dense(n_classes, activation="sigmoid", kernel_initializer="zeros",
                               name=OUTPUT_LAYER)(x)
    if config.pooling == "attention":
        scores = keras.layers.Dense(n_classes, kernel_initializer="zeros", name="attention")(x)
        outputs = AttentionPooling(name="clip_pooling")([proba, scores])
    elif config.pooling == "max":
        outputs = keras.layers.GlobalMaxPooling1D(name="clip_pooling")(proba)
    else:
        outputs = keras.layers.GlobalAveragePooling1D(name="clip_pooling")(proba)
    return keras.Model(inputs, outputs, name=f"musicnn_ft_{config.mode}")


class FinetuneNetwork(Network):
    """`musicnn-ft` for the training loop.

    Parameters
    ----------
    config : FinetuneConfig
    head : FinetuneModel, optional
        Full mode: a head-mode model of the same backbone, layer, pooling and head size whose
        standardisation and head weights the run starts from.
    """

    result = FinetuneModel

    def __init__(self, config: FinetuneConfig, head: FinetuneModel | None = None) -> None:
        if head is not None:
            _check_head(config, head)
        self.config, self.head = config, head
        self.layout, self.rows = LAYOUTS[config.mode], ROWS[config.mode]
        self.predict_batch_clips = PREDICT_BATCH_CLIPS[config.mode]

    def statistics(self, reader: RowReader, fit_idx: np.ndarray) -> dict:
        if self.head is not None:
            return self.head.metadata["normalisation"]
        embed = None if self.config.mode == "head" else _embedder(backbone_model(self.config))
        mean, variance = embedding_statistics(reader, fit_idx, embed, chunk=self.predict_batch_clips)
        return {"mean": mean.tolist(), "variance": variance.tolist()}

    def build(self, statistics: dict, row_shape: tuple[int, ...], n_classes: int) -> keras.Model:
        expected = _row_shape(self.config, row_shape[0])
        if tuple(row_shape) != expected:
            raise ParameterError(
                f"{self.config.mode} mode of {self.config.backbone} at layer {self.config.layer!r} "
                f"reads rows of shape {expected} ({self.rows}); given rows of shape {tuple(row_shape)}"
            )
        variance = np.maximum(np.asarray(statistics["variance"]), MIN_STD**2)
        backbone = backbone_model(self.config) if self.config.mode == "full" else None
        return build_finetune_model(self.config, n_classes, np.asarray(statistics["mean"]), variance,
                                    n_patches=row_shape[0], backbone=backbone)

    def initialise(self, model: keras.Model, output_bias: np.ndarray) -> None:
        if self.head is None:
            super().initialise(model, output_bias)
            return
        for name in HEAD_LAYERS:
            if any(layer.name == name for layer in self.head.model.layers):
                model.get_layer(name).set_weights(self.head.model.get_layer(name).get_weights())

    def describe(self, statistics: dict, row_shape: tuple[int, ...], model: keras.Model) -> dict:
        config = self.config
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        if config.mode == "head":
            frozen = (f"the whole {config.backbone} backbone: its '{config.layer}' embeddings were "
                      "computed once per clip and cached; only the head was trained")
        else:
            frozen = f"{config.backbone}'s batch-norm statistics (inference mode)"
            if config.freeze_through is not None:
                layers = layers_through(backbone_of(model), config.freeze_through)
                n = sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights)
                frozen += f"; its layers through '{config.freeze_through}' ({n} weights)"
        return {
            "mode": config.mode, "backbone": config.backbone, "layer": config.layer,
            "pooling": config.pooling, "n_patches": int(row_shape[0]), "normalisation": statistics,
            "frozen": frozen, "params": int(model.count_params()), "trainable_params": trainable,
            "initialised_from": None if self.head is None else {
                "mode": self.head.mode, "best_epoch": self.head.metadata["best_epoch"],
                "train_time_s": self.head.train_time_s_},
        }


def train_finetune(
    cache,
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    config: FinetuneConfig | None = None,
    out_dir: str | Path = "musicnn_ft",
    *,
    head: FinetuneModel | None = None,
    progress: bool = True,
    callbacks: list | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> FinetuneModel:
    """Fine-tune musicnn on rows `fit_idx`, early-stopped on rows `val_idx`.

    Parameters
    ----------
    cache : FeatureCache or np.ndarray
        Head mode: musicnn embeddings (`features.extract`'s "musicnn" extractor with the
        config's backbone and layer), shape ``(n, n_patches, size)``. Full mode: log-mel patches
        ("musicnn_patches"), shape ``(n, n_patches, 187, 96)``. Rows with ``cache.ok`` False
        are left out of training and validation.
    Y_true, Y_mask, fit_idx, val_idx, out_dir, progress, callbacks, classes
        See `cnn.train.train_network`.
    config : FinetuneConfig, optional
        Defaults to ``FinetuneConfig()`` (head mode).
    head : FinetuneModel, optional
        Full mode: start from this head-mode model (see `FinetuneNetwork`).

    Returns
    -------
    model : FinetuneModel
        Best-validation weights, thresholds maximising F1 on the observed validation pairs.
    """
    config = config or FinetuneConfig()
    network = FinetuneNetwork(config, head)
    if head is not None and head.classes != tuple(classes):
        raise ParameterError(
            f"the head-mode model predicts {list(head.classes)}; this run has classes {list(classes)}"
        )
    _check_cache_params(cache, config, network)
    return train_network(network, cache, Y_true, Y_mask, fit_idx, val_idx, out_dir,
                         progress=progress, callbacks=callbacks, classes=classes)


def embedding_statistics(reader: RowReader, idx: np.ndarray, embed=None, *,
                         chunk: int = STREAM_CHUNK_CLIPS) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per feature over every patch of clips `idx`, streamed in float64.

    Parameters
    ----------
    reader : RowReader
        Rows ``(n_patches, size)``, or anything `embed` turns into such rows.
    idx : np.ndarray [shape=(m,)] int
    embed : callable, optional
        ``embed(rows) -> (len(rows), n_patches, size)``, e.g. a backbone over log-mel patches.
    chunk : int
        Clips read (and embedded) at a time.

    Returns
    -------
    mean, variance : np.ndarray [shape=(size,), dtype=float64]
    """
    if len(idx) == 0:
        raise ParameterError("embedding_statistics needs at least one clip; given none")
    total = total_sq = 0.0
    count = 0
    for rows in iterate_rows(reader, np.sort(idx), chunk):
        x = rows if embed is None else embed(rows)
        x = x.reshape(-1, x.shape[-1]).astype(np.float64)
        total = total + x.sum(axis=0)
        total_sq = total_sq + np.square(x).sum(axis=0)
        count += len(x)
    mean = total / count
    return mean, np.maximum(total_sq / count - mean**2, 0.0)


def _embedder(backbone: keras.Model):
    """rows ``(m, n_patches, 187, 96)`` -> embeddings ``(m, n_patches, size)`` in inference mode."""

    def embed(rows: np.ndarray) -> np.ndarray:
        out = backbone.predict_on_batch(rows.reshape(-1, *rows.shape[2:]))
        return np.asarray(out).reshape(len(rows), rows.shape[1], -1)

    return embed


def _row_shape(config: FinetuneConfig, n_patches: int) -> tuple[int, ...]:
    if config.mode == "head":
        return (n_patches, config.embedding_size)
    return (n_patches, musicnn_params.PATCH_FRAMES, musicnn_params.N_MELS)


def layers_through(backbone: keras.Model, name: str) -> list[keras.layers.Layer]:
    """Layer `name` of `backbone` and every layer its output depends on."""
    names = [layer.name for layer in backbone.layers]
    if name not in names:
        raise ParameterError(
            f"freeze_through={name!r} is not a layer of {backbone.name} cut at its embedding; "
            f"its layers are {names}"
        )
    upstream = keras.Model(backbone.input, backbone.get_layer(name).output)
    keep = {layer.name for layer in upstream.layers}
    return [layer for layer in backbone.layers if layer.name in keep]


def _check_head(config: FinetuneConfig, head: FinetuneModel) -> None:
    if config.mode != "full" or head.mode != "head":
        raise ParameterError(
            f"a head-mode model starts a full-mode run only; given config.mode={config.mode!r} "
            f"and a {head.mode}-mode model"
        )
    theirs = FinetuneConfig.from_dict(head.metadata["config"]).head_fields()
    if theirs != config.head_fields():
        raise ParameterError(
            f"the head-mode model was trained with {theirs}; this run has {config.head_fields()}: "
            "train the head with the same backbone, layer, pooling and dense_units"
        )


def _check_cache_params(cache, config: FinetuneConfig, network: FinetuneNetwork) -> None:
    """A head-mode cache must hold the config's backbone and layer (checked where recorded)."""
    _, _, params = unpack_cache(cache, network.layout, network.rows)
    if config.mode != "head":
        return
    recorded = {key: params[key] for key in ("model", "layer") if key in params}
    wanted = {"model": config.backbone, "layer": config.layer}
    if any(recorded[key] != wanted[key] for key in recorded):
        raise ParameterError(
            f"the cache holds embeddings of {recorded}, the config asks for {wanted}: extract "
            f"them with features.extract.extract_dataset(..., 'musicnn', params={wanted})"
        )
