"""The VGGish network in Keras 3, its official TF1 weights, and the PCA/8-bit post-processing.

Together with the front end (`features.vggish`) this turns audio into rows like OpenMIC-2018's
`X`: ``embed_file(path) -> uint8 (n_examples, 128)``. The weights are Google's AudioSet release
(``vggish_model.ckpt``, ``vggish_pca_params.npz``), downloaded on first use into
``$OPENMIC_COMPARE_CACHE/vggish`` (default ``~/.cache/openmic-compare/vggish``) and MD5-checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from core.errors import DatasetError, ParameterError
from features import vggish_params as p
from features.vggish import file_to_examples

# Checkpoint scope -> (kind, weights shape). The Keras layer is named after the last component.
LAYERS: dict[str, tuple[str, tuple[int, ...]]] = {
    "conv1": ("conv", (3, 3, 1, 64)),
    "conv2": ("conv", (3, 3, 64, 128)),
    "conv3/conv3_1": ("conv", (3, 3, 128, 256)),
    "conv3/conv3_2": ("conv", (3, 3, 256, 256)),
    "conv4/conv4_1": ("conv", (3, 3, 256, 512)),
    "conv4/conv4_2": ("conv", (3, 3, 512, 512)),
    "fc1/fc1_1": ("dense", (6 * 4 * 512, 4096)),
    "fc1/fc1_2": ("dense", (4096, 4096)),
    "fc2": ("dense", (4096, p.EMBEDDING_SIZE)),
}
POOL_AFTER = ("conv1", "conv2", "conv3/conv3_2", "conv4/conv4_2")
CHECKPOINT_SCOPE = "vggish"
CHECKPOINT_FILE = "vggish_model.ckpt"
PCA_PARAMS_FILE = "vggish_pca_params.npz"
BATCH_SIZE = 64  # examples per forward pass


def build_vggish(*, fc2_relu: bool = True) -> keras.Model:
    """The VGGish architecture with untrained weights.

    Parameters
    ----------
    fc2_relu : bool
        Apply ReLU to the 128-d output, as in OpenMIC's copy of `vggish_slim.py` (whose slim
        arg_scope applies it to every layer), which made the dataset's `X`. Current upstream
        VGGish leaves `fc2` linear (False).

    Returns
    -------
    model : keras.Model
        Input (n, 96, 64, 1) log-mel examples, output (n, 128) float32 embeddings.
    """
    x = inputs = keras.Input((p.EXAMPLE_NUM_FRAMES, p.NUM_MEL_BINS, 1), name="log_mel")
    for scope, (kind, shape) in LAYERS.items():
        name = _layer_name(scope)
        if kind == "conv":
            x = keras.layers.Conv2D(shape[-1], 3, padding="same", activation="relu", name=name)(x)
            if scope in POOL_AFTER:
                x = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"pool_{name}")(x)
        else:
            if name == "fc1_1":
                x = keras.layers.Flatten(name="flatten")(x)  # (h, w, c) order, as slim's flatten
            relu = name != "fc2" or fc2_relu
            x = keras.layers.Dense(shape[-1], activation="relu" if relu else None, name=name)(x)
    return keras.Model(inputs, x, name="vggish")


def load_checkpoint(model: keras.Model, path: str | Path) -> keras.Model:
    """Set `model`'s weights from a TF1 VGGish checkpoint, by variable name.

    Parameters
    ----------
    model : keras.Model
        From `build_vggish`.
    path : str or Path
        The checkpoint: the single file ``vggish_model.ckpt`` (TF1 V1 format) or a V2 prefix.
        Variables ``vggish/<layer>/weights`` and ``vggish/<layer>/biases`` are read.

    Returns
    -------
    model : keras.Model
        The same model, weights set.

    Raises
    ------
    DatasetError
        The file cannot be read, or variables are missing or mis-shaped (all of them are named).
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(path))
    except (tf.errors.OpError, ValueError) as err:
        raise DatasetError(f"VGGish checkpoint {path} cannot be read ({err}); {_how_to_get()}") from err
    available = reader.get_variable_to_shape_map()
    wrong = []
    for scope, (_, shape) in LAYERS.items():
        for suffix, expected in (("weights", shape), ("biases", shape[-1:])):
            name = f"{CHECKPOINT_SCOPE}/{scope}/{suffix}"
            if name not in available:
                wrong.append(f"{name} missing")
            elif tuple(available[name]) != expected:
                wrong.append(f"{name} has shape {tuple(available[name])}, expected {expected}")
    if wrong:
        raise DatasetError(f"VGGish checkpoint {path} does not fit the network: " + "; ".join(wrong))
    for scope in LAYERS:
        model.get_layer(_layer_name(scope)).set_weights(
            [reader.get_tensor(f"{CHECKPOINT_SCOPE}/{scope}/{suffix}") for suffix in ("weights", "biases")]
        )
    return model


@dataclass(frozen=True)
class PCAParams:
    """VGGish's PCA: ``eigen_vectors`` (128, 128) and ``means`` (128, 1), float64."""

    eigen_vectors: np.ndarray
    means: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> PCAParams:
        """Read ``vggish_pca_params.npz`` (arrays `pca_eigen_vectors`, `pca_means`)."""
        try:
            with np.load(path) as npz:
                vectors, means = npz[p.PCA_EIGEN_VECTORS_NAME], npz[p.PCA_MEANS_NAME]
        except (OSError, KeyError, ValueError) as err:
            raise DatasetError(f"VGGish PCA parameters {path} cannot be read ({err}); {_how_to_get()}") from err
        size = p.EMBEDDING_SIZE
        if vectors.shape != (size, size) or means.reshape(-1).shape != (size,):
            raise DatasetError(
                f"VGGish PCA parameters {path} have shapes {vectors.shape} and {means.shape}, "
                f"expected ({size}, {size}) and ({size}, 1)"
            )
        return cls(vectors.astype(np.float64), means.reshape(size, 1).astype(np.float64))


def postprocess(embeddings: np.ndarray, pca: PCAParams) -> np.ndarray:
    """PCA-whiten, clip to [-2, 2] and quantise to 8 bits, as the released embeddings.

    Parameters
    ----------
    embeddings : np.ndarray [shape=(n, 128)]
        Raw VGGish outputs.
    pca : PCAParams

    Returns
    -------
    quantized : np.ndarray [shape=(n, 128), dtype=uint8]
        ``(clip(E @ (emb.T - means), -2, 2).T + 2) * 255 / 4``, truncated to integers.
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[1] != p.EMBEDDING_SIZE:
        raise ParameterError(
            f"embeddings must be (n, {p.EMBEDDING_SIZE}), given embeddings.shape={embeddings.shape}"
        )
    z = (pca.eigen_vectors @ (embeddings.T - pca.means)).T
    z = np.clip(z, p.QUANTIZE_MIN_VAL, p.QUANTIZE_MAX_VAL)
    scale = 255.0 / (p.QUANTIZE_MAX_VAL - p.QUANTIZE_MIN_VAL)
    return ((z - p.QUANTIZE_MIN_VAL) * scale).astype(np.uint8)


def weights_dir() -> Path:
    """Where the official weights are kept: ``$OPENMIC_COMPARE_CACHE/vggish``."""
    root = os.environ.get(p.CACHE_ENV_VAR, "~/.cache/openmic-compare")
    return Path(root).expanduser() / "vggish"


def fetch_weights(*, download: bool = True, progress: bool = True) -> tuple[Path, Path]:
    """Paths of the official checkpoint and PCA parameters, downloading them when absent.

    Raises
    ------
    DatasetError
        A file is absent and `download` is False, or the download failed; the message gives the
        URLs and the folder to put the files in.
    """
    folder = weights_dir()
    found = []
    for name, url, md5 in (
        (CHECKPOINT_FILE, p.CHECKPOINT_URL, p.CHECKPOINT_MD5),
        (PCA_PARAMS_FILE, p.PCA_PARAMS_URL, p.PCA_PARAMS_MD5),
    ):
        dest = folder / name
        if not dest.is_file():
            if not download:
                raise DatasetError(f"VGGish weights {dest} not found; {_how_to_get()}")
            from features.download import fetch

            folder.mkdir(parents=True, exist_ok=True)
            try:
                fetch(url, dest, md5, progress)
            except DatasetError as err:
                raise DatasetError(f"{err}; {_how_to_get()}") from err
        found.append(dest)
    return found[0], found[1]


class VGGish:
    """The pretrained VGGish chain: log-mel examples -> embeddings -> dataset-like uint8 rows.

    Parameters
    ----------
    model : keras.Model
        A `build_vggish` model with weights loaded.
    pca : PCAParams

    Examples
    --------
    >>> vggish = VGGish.pretrained()            # downloads the weights once
    >>> vggish.embed_file("audio/000/000046_3840.ogg").shape
    (10, 128)
    """

    def __init__(self, model: keras.Model, pca: PCAParams):
        self.model = model
        self.pca = pca

    @classmethod
    def from_files(cls, checkpoint: str | Path, pca_params: str | Path, *, fc2_relu: bool = True) -> VGGish:
        """Build the network and load a checkpoint and PCA parameters from the given files."""
        return cls(load_checkpoint(build_vggish(fc2_relu=fc2_relu), checkpoint), PCAParams.load(pca_params))

    @classmethod
    def pretrained(cls, *, fc2_relu: bool = True, download: bool = True, progress: bool = True) -> VGGish:
        """The official weights from the user cache, downloaded there first when needed."""
        checkpoint, pca_params = fetch_weights(download=download, progress=progress)
        return cls.from_files(checkpoint, pca_params, fc2_relu=fc2_relu)

    def embed(self, examples: np.ndarray) -> np.ndarray:
        """Raw embeddings, float32 (n, 128), of log-mel examples (n, 96, 64)."""
        examples = np.asarray(examples, dtype=np.float32)
        if examples.ndim != 3 or examples.shape[1:] != (p.EXAMPLE_NUM_FRAMES, p.NUM_MEL_BINS):
            raise ParameterError(f"examples must be (n, 96, 64), given examples.shape={examples.shape}")
        if len(examples) == 0:
            return np.zeros((0, p.EMBEDDING_SIZE), dtype=np.float32)
        return np.asarray(self.model.predict(examples[..., None], batch_size=BATCH_SIZE, verbose=0))

    def embed_examples(self, examples: np.ndarray) -> np.ndarray:
        """Quantised embeddings, uint8 (n, 128), like OpenMIC's `X` rows, of examples (n, 96, 64)."""
        return postprocess(self.embed(examples), self.pca)

    def embed_file(self, path: str | Path, *, normalize_peak: bool = True, resampler: str = "kaiser_best") -> np.ndarray:
        """Quantised embeddings, uint8 (n_examples, 128), of an audio file (one row per 0.96 s)."""
        return self.embed_examples(file_to_examples(path, normalize_peak=normalize_peak, resampler=resampler))


def embed_file(
    path: str | Path,
    *,
    vggish: VGGish | None = None,
    normalize_peak: bool = True,
    resampler: str = "kaiser_best",
) -> np.ndarray:
    """Audio file -> uint8 (n_examples, 128) rows like OpenMIC-2018's `X`.

    Parameters
    ----------
    path : str or Path
        Audio file.
    vggish : VGGish or None
        The network to use; None loads `VGGish.pretrained()` (downloading the weights once).
    normalize_peak, resampler
        See `features.vggish.waveform_to_examples`; the defaults reproduce the dataset.

    Returns
    -------
    rows : np.ndarray [shape=(n_examples, 128), dtype=uint8]
    """
    vggish = vggish or VGGish.pretrained()
    return vggish.embed_file(path, normalize_peak=normalize_peak, resampler=resampler)


def _layer_name(scope: str) -> str:
    return scope.rsplit("/", 1)[-1]


def _how_to_get() -> str:
    return (
        f"download {p.CHECKPOINT_URL} and {p.PCA_PARAMS_URL} into {weights_dir()} "
        f"(or set ${p.CACHE_ENV_VAR} to a folder whose vggish/ subfolder holds them)"
    )
