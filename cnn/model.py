"""The network: log-mel (n_mels, n_frames) -> 20 sigmoid instrument probabilities.

Layout (channels last, frequency x time):

* standardisation per mel band with fixed training-set mean and variance (a `Normalization`
  layer, so it is saved inside the `.keras` file);
* stem: 5x5 conv, stride (2, 4) -- halves frequency and quarters time at once, the cheap way to
  reach a 40 ms time step -- batch norm, ReLU;
* `n_blocks` blocks of 3x3 conv (no bias), batch norm, ReLU, 2x2 max pooling, the channels
  doubling from `width`;
* the remaining frequency rows and channels flattened into features per time step, then mean
  and max over time (concatenated): any clip length works, so
  training on random crops and predicting on whole clips use the same network;
* dropout, dense ReLU head, dropout, dense sigmoid output.

`model_cost` counts parameters and multiply-adds per clip; at the default width 16 and 4 blocks:
0.234 M parameters, 98 M multiply-adds for a whole 128 x 1000 clip (39 M for a 400-frame
training crop). `CNNConfig.quick()` (width 12, 3 blocks): 40 k parameters, 46 M multiply-adds
per whole clip (4.5 M per 96-frame crop).

`CNNNetwork` tells the training loop (`cnn.train.train_network`) how to train it: band
statistics of the fit clips, random crops and the augmentation of `cnn.augment`.
"""

from __future__ import annotations

import keras
import numpy as np

from cnn.augment import augment_batch
from cnn.config import MIN_STD, OUTPUT_LAYER, CNNConfig
from cnn.data import LOGMEL_LAYOUT, RowReader, band_statistics
from cnn.network import Network
from cnn.predict import CNNModel
from core.errors import ParameterError
from features.openmic import CLASSES

STEM_KERNEL = (5, 5)
STEM_STRIDES = (2, 4)
BLOCK_KERNEL = (3, 3)
BLOCK_POOL = (2, 2)
# Batch-norm moving averages follow the batches faster than Keras' 0.99: small training sets
# give few steps per epoch, and validation uses the moving averages.
BN_MOMENTUM = 0.9


def build_model(
    n_mels: int,
    mean: np.ndarray,
    variance: np.ndarray,
    config: CNNConfig,
    *,
    n_frames: int | None = None,
    n_classes: int = len(CLASSES),
) -> keras.Model:
    """Build the (uncompiled) CNN.

    Parameters
    ----------
    n_mels : int
        Mel bands of the input.
    mean, variance : np.ndarray [shape=(n_mels,)]
        Per-band statistics of the training log-mel, frozen into the first layer.
    config : CNNConfig
    n_frames : int or None
        Fixed number of input frames, or None for any length (the default).
    n_classes : int

    Returns
    -------
    model : keras.Model
        Input ``(batch, n_mels, n_frames)`` float32, output ``(batch, n_classes)`` probabilities.
    """
    mean = np.asarray(mean, dtype=np.float32)
    variance = np.asarray(variance, dtype=np.float32)
    if mean.shape != (n_mels,) or variance.shape != (n_mels,):
        raise ParameterError(
            f"mean and variance must have shape ({n_mels},); given {mean.shape} and {variance.shape}"
        )
    min_frames = STEM_STRIDES[1] * BLOCK_POOL[1] ** config.n_blocks
    min_mels = STEM_STRIDES[0] * BLOCK_POOL[0] ** config.n_blocks
    if n_mels < min_mels or (n_frames is not None and n_frames < min_frames):
        raise ParameterError(
            f"{config.n_blocks} blocks need at least {min_mels} mel bands and {min_frames} frames; "
            f"given n_mels={n_mels}, n_frames={n_frames}: use fewer blocks (CNNConfig.n_blocks)"
        )
    inputs = keras.Input(shape=(n_mels, n_frames), name="logmel")
    x = keras.layers.Normalization(axis=1, mean=mean, variance=variance, name="standardise")(inputs)
    x = keras.layers.Reshape((n_mels, -1, 1), name="add_channel")(x)
    x = _conv_bn_relu(x, config.width, STEM_KERNEL, STEM_STRIDES, "stem")
    for b in range(config.n_blocks):
        x = _conv_bn_relu(x, config.width * 2**b, BLOCK_KERNEL, (1, 1), f"block{b}")
        x = keras.layers.MaxPooling2D(BLOCK_POOL, name=f"block{b}_pool")(x)
    # Frequency position matters for instruments (a bass is low): the remaining frequency rows
    # are kept as features of each time step, not averaged away.
    n_freq, n_channels = x.shape[1], x.shape[-1]
    x = keras.layers.Permute((2, 1, 3), name="time_first")(x)
    x = keras.layers.Reshape((-1, n_freq * n_channels), name="freq_to_features")(x)
    x = keras.layers.Concatenate(name="mean_max_over_time")(
        [keras.layers.GlobalAveragePooling1D()(x), keras.layers.GlobalMaxPooling1D()(x)]
    )
    if config.dense_units:
        x = keras.layers.Dropout(config.dropout, name="head_dropout0")(x)
        x = keras.layers.Dense(config.dense_units, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(config.dropout, name="head_dropout1")(x)
    # Zero output weights: the first predictions are the base rates set by the output bias
    # (`cnn.train`), so the early large-loss steps cannot kill the head's ReLUs.
    outputs = keras.layers.Dense(n_classes, activation="sigmoid", kernel_initializer="zeros",
                                 name=OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name="spectrogram_cnn")


def _conv_bn_relu(x, channels: int, kernel, strides, name: str):
    x = keras.layers.Conv2D(channels, kernel, strides=strides, padding="same", use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def model_cost(config: CNNConfig, *, n_mels: int = 128, n_frames: int = 1000) -> dict:
    """Size and compute of the network for one clip of `n_mels` x `n_frames`.

    Multiply-adds count the convolutions and dense layers (batch norm, pooling and activations
    are a few operations per activation and are left out, as is usual).

    Returns
    -------
    cost : dict
        ``params`` (all weights, batch-norm moving averages included, the frozen
        normalisation statistics not), ``trainable_params`` and ``macs`` (multiply-adds per clip).
    """
    zeros, ones = np.zeros(n_mels), np.ones(n_mels)
    model = build_model(n_mels, zeros, ones, config, n_frames=n_frames)
    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, out_h, out_w, out_c = layer.output.shape
            in_c = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            macs += out_h * out_w * out_c * kh * kw * in_c
        elif isinstance(layer, keras.layers.Dense):
            macs += layer.input.shape[-1] * layer.units
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"params": int(model.count_params()), "trainable_params": trainable, "macs": int(macs)}


class CNNNetwork(Network):
    """The spectrogram CNN (`cnn.model`): band standardisation, crops and augmentation."""

    result = CNNModel
    layout = LOGMEL_LAYOUT
    rows = "log-mel"

    def __init__(self, config: CNNConfig) -> None:
        self.config = config

    def statistics(self, reader: RowReader, fit_idx: np.ndarray) -> dict:
        mean, variance = band_statistics(reader, fit_idx)
        return {"mean": mean.tolist(), "variance": variance.tolist()}

    def build(self, statistics: dict, row_shape: tuple[int, ...], n_classes: int) -> keras.Model:
        mean, variance = np.asarray(statistics["mean"]), np.asarray(statistics["variance"])
        return build_model(row_shape[0], mean, np.maximum(variance, MIN_STD**2), self.config,
                           n_classes=n_classes)

    def augment(self, statistics, x, packed, rng):
        return augment_batch(x, packed, self.config, np.asarray(statistics["mean"]), rng)

    def example_shape(self, row_shape: tuple[int, ...]) -> tuple[int, ...]:
        n_mels, n_frames = row_shape
        crop = self.config.train_frames
        return (n_mels, crop if crop and crop < n_frames else n_frames)

    def describe(self, statistics: dict, row_shape: tuple[int, ...], model: keras.Model) -> dict:
        n_mels, n_frames = row_shape
        return {"n_mels": int(n_mels), "n_frames": int(n_frames), "normalisation": statistics,
                "cost": model_cost(self.config, n_mels=n_mels, n_frames=n_frames)}
