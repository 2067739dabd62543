"""The musicnn and VGG-like music taggers in Keras 3, with a loader for their TF1 checkpoints.

`musicnn(model=...)` builds one of the four pretrained networks of the `musicnn` 0.1.0 wheel, in
the `keras.applications` manner. Every layer with weights is named after its checkpoint scope
(``conv2d_5``, ``batch_normalization_9``, ``1CNN``), so the loader sets each Keras variable from
the checkpoint variable of the same path and refuses any missing, mis-shaped or unused one.

Each network maps a patch of 187 x 96 log-mel frames (`features.musicnn.frontend`) to 50 tag
probabilities. The layers named in `FEATURE_LAYERS` expose what the original package exposes:

============  ============================  =================================================
name          shape per patch               what
============  ============================  =================================================
timbral       (187, 408)                    two 7-frame x (38 | 67)-band conv branches, max over bands
temporal      (187, 153)                    three (128 | 64 | 32)-frame conv branches, max over bands
cnn1..cnn3    (187, 64)                     the mid-end 1-D convolutions (cnn2, cnn3 residual)
max_pool      (753,)                        max over time of timbral|temporal|cnn1|cnn2|cnn3
mean_pool     (753,)                        mean over time of the same
penultimate   (200,)                        dense layer after ReLU and batch norm
pool5         (2, 1, 128)                   VGG only: the last pooling block
logits        (50,)                         tag scores before the sigmoid
taggram       (50,)                         tag probabilities
============  ============================  =================================================

Facts checked against the checkpoints (shapes) and the original graphs (outputs): batch norm
follows the ReLU everywhere; the back end interleaves the pooled maps (max, mean of channel 0,
then of channel 1, ...) before its batch norm; MTT_vgg pools (4,1)/(2,2) strides (2,2) then 2x2
three times then 4x4, but MSD_vgg pools (4,1) stride (4,1), then (1,4) stride (1,4), then the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
from keras import layers

from core.errors import DatasetError, ParameterError
from features.musicnn import params as p
from features.musicnn.weights import check_model, checkpoint_folder, verify_folder

# musicnn front end ("7774timbraltemporal", 1.6 x filters): (time, frequency) kernel, filters.
TIMBRAL_BRANCHES = (((7, int(0.4 * p.N_MELS)), 204), ((7, int(0.7 * p.N_MELS)), 204))
TEMPORAL_BRANCHES = (((128, 1), 51), ((64, 1), 51), ((32, 1), 51))
TIMBRAL_PAD_FRAMES = 3  # zeros on each side in time before the 7-frame timbral kernels
MID_END_FILTERS = 64
MID_END_KERNEL_FRAMES = 7
MID_END_LAYERS = 3
PENULTIMATE_UNITS = 200
BACK_END_DROPOUT = 0.5
# VGG: 3x3 convolutions of 128 filters; (pool size, strides) after each of the five.
VGG_FILTERS = 128
VGG_POOLS = {
    "MTT_vgg": (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
                ((4, 4), (4, 4))),
    "MSD_vgg": (((4, 1), (4, 1)), ((1, 4), (1, 4)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
                ((4, 4), (4, 4))),
}
VGG_BLOCK_DROPOUT = 0.25
VGG_TOP_DROPOUT = 0.5

# Exposed feature -> Keras layer producing it, per family.
FEATURE_LAYERS = {
    "musicnn": {
        "timbral": "timbral", "temporal": "temporal",
        "cnn1": "cnn1", "cnn2": "cnn2", "cnn3": "cnn3",
        "max_pool": "max_pool", "mean_pool": "mean_pool",
        "penultimate": "batch_normalization_10", "logits": "dense_1", "taggram": "taggram",
    },
    "vgg": {"pool5": "pool5", "logits": "dense", "taggram": "taggram"},
}  # fmt: skip
# Checkpoint variables that hold optimiser state, not weights.
OPTIMIZER_VARIABLES = ("beta1_power", "beta2_power")


def musicnn(
    model: str = "MTT_musicnn",
    *,
    weights: str | Path | None = "pretrained",
    include_top: bool = True,
    cache_dir: str | Path | None = None,
) -> keras.Model:
    """One of the four pretrained musicnn networks, as a Keras model.

    Parameters
    ----------
    model : {"MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"}
        Architecture (musicnn or VGG-like) and training set (MagnaTagATune or Million Song
        Dataset); the tag order is `params.TAGS[model]`.
    weights : "pretrained", None, or a folder
        "pretrained": the wheel's checkpoint from the cache, fetched on first use
        (`weights.checkpoint_folder`); None: random initialisation; a folder: one holding the same
        checkpoint files (checked against the same SHA-256 digests).
    include_top : bool
        Keep the 50-tag classifier; without it the output is the embedding it reads
        (``penultimate`` (n, 200) for musicnn, ``pool5`` (n, 2, 1, 128) for VGG).
    cache_dir : str, Path or None
        The toolkit's cache folder (default ``$OPENMIC_COMPARE_CACHE`` or
        ``~/.cache/openmic-compare``).

    Returns
    -------
    net : keras.Model
        Named `model`; input (n, 187, 96) log-mel patches, output (n, 50) tag probabilities.

    Examples
    --------
    >>> net = musicnn("MTT_musicnn")
    >>> net.predict(patches).shape   # patches from features.musicnn.file_to_patches
    (3, 50)
    """
    check_model(model)
    if model.endswith("_vgg"):
        net = build_vgg(VGG_POOLS[model], include_top=include_top, name=model)
    else:
        net = build_musicnn(include_top=include_top, name=model)
    if weights is None:
        return net
    if isinstance(weights, str) and weights == "pretrained":
        folder = checkpoint_folder(model, cache_dir=cache_dir)
    else:
        folder = verify_folder(Path(weights).expanduser(), model)
    head = () if include_top else (FEATURE_LAYERS[family(net)]["logits"],)
    return load_checkpoint(net, folder, skip=head)


def build_musicnn(
    *, n_tags: int = p.N_TAGS, include_top: bool = True, name: str = "musicnn"
) -> keras.Model:
    """The musicnn architecture with untrained weights (see the module docstring)."""
    inputs = keras.Input((p.PATCH_FRAMES, p.N_MELS), name="log_mel")
    x = layers.Reshape((p.PATCH_FRAMES, p.N_MELS, 1), name="add_channel")(inputs)
    x = _batch_norm(0)(x)
    padded = layers.ZeroPadding2D(((TIMBRAL_PAD_FRAMES, TIMBRAL_PAD_FRAMES), (0, 0)), name="pad_time")(x)
    index = iter(range(1, 1 + len(TIMBRAL_BRANCHES) + len(TEMPORAL_BRANCHES)))
    timbral = [_band_max_branch(padded, k, f, next(index), "valid") for k, f in TIMBRAL_BRANCHES]
    temporal = [_band_max_branch(x, k, f, next(index), "same") for k, f in TEMPORAL_BRANCHES]
    front_end = layers.Concatenate(name="front_end")(
        [layers.Concatenate(name="timbral")(timbral), layers.Concatenate(name="temporal")(temporal)]
    )

    maps, h = [front_end], front_end
    for k in range(MID_END_LAYERS):
        y = _mid_end_layer(h, k, name=f"cnn{k + 1}" if k == 0 else f"cnn{k + 1}_conv")
        h = y if k == 0 else layers.Add(name=f"cnn{k + 1}")([y, h])
        maps.append(h)
    dense_connection = layers.Concatenate(name="dense_connection")(maps)  # (187, 753)

    n_maps = dense_connection.shape[-1]
    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(dense_connection)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(dense_connection)
    pair = [
        layers.Reshape((n_maps, 1), name=f"{statistic}_column")(t)
        for statistic, t in (("max_pool", max_pool), ("mean_pool", mean_pool))
    ]
    pooled = layers.Flatten(name="pooled")(layers.Concatenate(name="max_mean")(pair))  # interleaved
    x = _batch_norm(9)(pooled)
    x = layers.Dropout(BACK_END_DROPOUT, name="dropout")(x)
    x = layers.Dense(PENULTIMATE_UNITS, activation="relu", name="dense")(x)
    x = _batch_norm(10)(x)
    if include_top:
        x = layers.Dropout(BACK_END_DROPOUT, name="dropout_1")(x)
        x = layers.Dense(n_tags, name="dense_1")(x)
        x = layers.Activation("sigmoid", name="taggram")(x)
    return keras.Model(inputs, x, name=name)


def build_vgg(
    pools: Sequence[tuple[tuple[int, int], tuple[int, int]]] = VGG_POOLS["MTT_vgg"],
    *,
    n_tags: int = p.N_TAGS,
    include_top: bool = True,
    name: str = "vgg",
) -> keras.Model:
    """The VGG-like architecture with untrained weights: one conv block per (pool, strides)."""
    inputs = keras.Input((p.PATCH_FRAMES, p.N_MELS), name="log_mel")
    x = layers.Reshape((p.PATCH_FRAMES, p.N_MELS, 1), name="add_channel")(inputs)
    x = _batch_norm(0)(x)
    for i, (pool_size, strides) in enumerate(pools):
        if i:
            x = layers.Dropout(VGG_BLOCK_DROPOUT, name=_tf1_name("dropout", i - 1))(x)
        x = layers.Conv2D(VGG_FILTERS, 3, padding="same", activation="relu", name=f"{i + 1}CNN")(x)
        x = _batch_norm(i + 1)(x)
        x = layers.MaxPooling2D(pool_size, strides, name=f"pool{i + 1}")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dropout(VGG_TOP_DROPOUT, name=_tf1_name("dropout", len(pools) - 1))(x)
        x = layers.Dense(n_tags, name="dense")(x)
        x = layers.Activation("sigmoid", name="taggram")(x)
    return keras.Model(inputs, x, name=name)


def load_checkpoint(net: keras.Model, folder: str | Path, *, skip: Sequence[str] = ()) -> keras.Model:
    """Set every weight of `net` from the TF1 checkpoint variable of the same path.

    Parameters
    ----------
    net : keras.Model
        From `build_musicnn` or `build_vgg`.
    folder : str or Path
        A checkpoint folder of the wheel (prefix: the empty file name inside it).
    skip : sequence of str
        Checkpoint scopes deliberately left unused (the classifier when `net` has no top).

    Returns
    -------
    net : keras.Model
        The same model, weights set.

    Raises
    ------
    DatasetError
        The checkpoint cannot be read, or a variable is missing, mis-shaped or left unused (all
        of them are named).
    """
    import tensorflow as tf

    prefix = str(Path(folder)) + "/"
    try:
        reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    except (tf.errors.OpError, ValueError) as err:
        raise DatasetError(f"musicnn checkpoint {prefix} cannot be read ({err})") from err
    available = reader.get_variable_to_shape_map()
    wanted = {v.path: v for v in net.weights}
    missing = [name for name in wanted if name not in available]
    reshaped = [
        f"{name} {tuple(available[name])} vs {tuple(v.shape)}"
        for name, v in wanted.items()
        if name in available and tuple(available[name]) != tuple(v.shape)
    ]
    unused = sorted(
        name for name in available
        if name not in wanted and not _optimizer_state(name) and name.split("/")[0] not in skip
    )  # fmt: skip
    kinds = (("missing", missing), ("shaped otherwise than the network", reshaped), ("unused", unused))
    problems = [_listing(what, names) for what, names in kinds if names]
    if problems:
        raise DatasetError(
            f"musicnn checkpoint {prefix} does not fit {net.name}: " + "; ".join(problems)
        )
    for name, variable in wanted.items():
        variable.assign(reader.get_tensor(name))
    return net


def family(net: keras.Model) -> str:
    """"vgg" for a network built by `build_vgg` (its name ends in "vgg"), else "musicnn"."""
    return "vgg" if net.name.endswith("vgg") else "musicnn"


def feature_model(net: keras.Model, names: Sequence[str]) -> keras.Model:
    """A model giving the named features of `net` (see `FEATURE_LAYERS`) as a dict.

    Parameters
    ----------
    net : keras.Model
        From `musicnn`.
    names : sequence of str
        Keys of ``FEATURE_LAYERS[family(net)]`` ("penultimate", "cnn2", "pool5", ...).

    Returns
    -------
    model : keras.Model
        Input (n, 187, 96); output dict name -> (n, *shape) float32 (shapes in the module docstring).
    """
    known = FEATURE_LAYERS[family(net)]
    names = list(names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ParameterError(f"{net.name} has features {sorted(known)}, given {unknown}")
    present = {layer.name for layer in net.layers}
    absent = [n for n in names if known[n] not in present]
    if absent:
        raise ParameterError(f"{net.name} was built without its top, so it has no {absent}")
    outputs = {n: net.get_layer(known[n]).output for n in names}
    return keras.Model(net.input, outputs, name=f"{net.name}_features")


def _band_max_branch(x, kernel: tuple[int, int], filters: int, index: int, padding: str):
    """Conv + ReLU, batch norm, then max over all remaining frequency bands: (187, filters)."""
    conv_name = _tf1_name("conv2d", index - 1)
    x = layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=conv_name)(x)
    x = _batch_norm(index)(x)
    x = layers.MaxPooling2D((1, x.shape[2]), name=f"band_max_{index}")(x)
    return layers.Reshape((p.PATCH_FRAMES, filters), name=f"squeeze_{index}")(x)


def _mid_end_layer(h, k: int, *, name: str):
    """A 7-frame convolution spanning all channels of `h` (as the checkpoint's 2-D kernel), ReLU, BN."""
    n_channels = h.shape[-1]
    pad = (MID_END_KERNEL_FRAMES - 1) // 2
    x = layers.Reshape((p.PATCH_FRAMES, n_channels, 1), name=f"mid_end_{k}_channels_as_bands")(h)
    x = layers.ZeroPadding2D(((pad, pad), (0, 0)), name=f"mid_end_{k}_pad")(x)
    x = layers.Conv2D(
        MID_END_FILTERS, (MID_END_KERNEL_FRAMES, n_channels), activation="relu",
        name=_tf1_name("conv2d", len(TIMBRAL_BRANCHES) + len(TEMPORAL_BRANCHES) + k),
    )(x)  # fmt: skip
    x = _batch_norm(1 + len(TIMBRAL_BRANCHES) + len(TEMPORAL_BRANCHES) + k)(x)
    return layers.Reshape((p.PATCH_FRAMES, MID_END_FILTERS), name=name)(x)


def _listing(what: str, names: Sequence[str], shown: int = 4) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > shown else ""
    return f"{what}: {', '.join(names[:shown])}{more}"


def _batch_norm(index: int) -> layers.BatchNormalization:
    name = _tf1_name("batch_normalization", index)
    return layers.BatchNormalization(epsilon=p.BATCH_NORM_EPSILON, name=name)


def _tf1_name(base: str, index: int) -> str:
    """TF1's automatic layer names: ``base``, ``base_1``, ``base_2``, ..."""
    return base if index == 0 else f"{base}_{index}"


def _optimizer_state(name: str) -> bool:
    return name in OPTIMIZER_VARIABLES or name.endswith(("/Adam", "/Adam_1"))
