"""musicnn embeddings behind the HEAR 2021 interface, plus `embed_file` for one audio file.

HEAR asks every embedding for ``load_model``, ``get_timestamp_embeddings`` and
``get_scene_embeddings``; the model carries ``sample_rate``, ``scene_embedding_size`` and
``timestamp_embedding_size``. Here a "model" is a `MusicnnEmbedding`: one of the four pretrained
networks, the layer read (a per-patch vector, `params.PATCH_EMBEDDING_SIZES`) and the hop
between patches. One timestamp is one patch of 187 frames (2.99 s).

Examples
--------
>>> from features.musicnn import hear
>>> model = hear.load_model(name="MSD_musicnn", layer="max_pool")
>>> audio = np.zeros((2, 10 * 16000), dtype=np.float32)          # 2 sounds of 10 s at 16 kHz
>>> emb, times_ms = hear.get_timestamp_embeddings(audio, model)
>>> emb.shape, times_ms[0]
((2, 3, 753), array([1488., 4480., 7472.], dtype=float32))
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import ParameterError
from features.musicnn import params as p
from features.musicnn.frontend import file_to_patches, log_mel, patch_centres_ms, to_patches
from features.musicnn.networks import family, feature_model, musicnn

# Sounds shorter than one patch are padded with silence to this length (1 + 47616 // 256 = 187).
MIN_SAMPLES = (p.PATCH_FRAMES - 1) * p.FFT_HOP_SAMPLES


class MusicnnEmbedding:
    """A pretrained network read at one layer: what the HEAR functions take as `model`.

    Parameters
    ----------
    net : keras.Model
        From `features.musicnn.networks.musicnn` (with its top).
    layer : str
        A key of ``params.PATCH_EMBEDDING_SIZES[family]``: "penultimate", "max_pool",
        "mean_pool", "taggram", "logits" (musicnn), "pool5", "taggram", "logits" (VGG).
    hop_frames : int
        Frames between patch starts (187: no overlap, as the original).

    Attributes
    ----------
    sample_rate : int
        16000: the rate HEAR must give audio at.
    scene_embedding_size, timestamp_embedding_size : int
        The layer's size.
    """

    sample_rate = p.SAMPLE_RATE_HZ

    def __init__(self, net, *, layer: str = "penultimate", hop_frames: int = p.PATCH_FRAMES):
        sizes = p.PATCH_EMBEDDING_SIZES[family(net)]
        if layer not in sizes:
            raise ParameterError(
                f"layer must be one of {sorted(sizes)} for {net.name}, given layer={layer!r}"
            )
        if hop_frames < 1:
            raise ParameterError(f"hop_frames must be positive, given hop_frames={hop_frames}")
        self.net, self.name, self.layer, self.hop_frames = net, net.name, layer, hop_frames
        self.scene_embedding_size = self.timestamp_embedding_size = sizes[layer]
        self._features = feature_model(net, [layer])

    def embed_patches(self, patches: np.ndarray) -> np.ndarray:
        """Embeddings of log-mel patches.

        Parameters
        ----------
        patches : np.ndarray [shape=(n, 187, 96)]
            From `features.musicnn.frontend`.

        Returns
        -------
        embeddings : np.ndarray [shape=(n, size), dtype=float32]
            ``pool5`` is flattened in (time, band, channel) order.
        """
        sizes = {self.layer: self.timestamp_embedding_size}
        return layer_outputs(self._features, patches, sizes)[self.layer]

    def embed_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Embeddings (n_patches, size) of audio in librosa layout at any rate."""
        return self.embed_patches(to_patches(log_mel(y, sr), hop_frames=self.hop_frames))

    def embed_file(self, path: str | Path) -> np.ndarray:
        """Embeddings (n_patches, size) of an audio file; a 10 s clip gives 3 patches."""
        return self.embed_patches(file_to_patches(path, hop_frames=self.hop_frames))


def layer_outputs(features, patches: np.ndarray, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """A `feature_model` over log-mel patches, in batches of ``params.PREDICT_BATCH_PATCHES``.

    Parameters
    ----------
    features : keras.Model
        From `features.musicnn.networks.feature_model`, with (at least) the layers of `sizes`.
    patches : np.ndarray [shape=(n, 187, 96)]
    sizes : dict of str to int
        Layer -> its per-patch size (``params.PATCH_EMBEDDING_SIZES``).

    Returns
    -------
    embeddings : dict of str to np.ndarray [shape=(n, size), dtype=float32]
        ``pool5`` is flattened in (time, band, channel) order.
    """
    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 3 or patches.shape[1:] != (p.PATCH_FRAMES, p.N_MELS):
        raise ParameterError(
            f"patches must be (n, {p.PATCH_FRAMES}, {p.N_MELS}), given patches.shape={patches.shape}"
        )
    out = {layer: np.zeros((len(patches), size), dtype=np.float32) for layer, size in sizes.items()}
    for start in range(0, len(patches), p.PREDICT_BATCH_PATCHES):
        batch = patches[start : start + p.PREDICT_BATCH_PATCHES]
        outputs = features.predict_on_batch(batch)
        for layer, size in sizes.items():
            out[layer][start : start + len(batch)] = np.asarray(outputs[layer]).reshape(len(batch), size)
    return out


def load_model(
    model_file_path: str = "",
    *,
    name: str = "MTT_musicnn",
    layer: str = "penultimate",
    hop_frames: int = p.PATCH_FRAMES,
    cache_dir: str | Path | None = None,
) -> MusicnnEmbedding:
    """HEAR's ``load_model``: a pretrained network read at `layer`.

    Parameters
    ----------
    model_file_path : str
        A folder holding the network's checkpoint files; "" uses the cache (fetched on first use).
    name : {"MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"}
    layer : str
        See `MusicnnEmbedding`.
    hop_frames : int
        Frames between patch starts.
    cache_dir : str, Path or None
        The toolkit's cache folder (default ``$OPENMIC_COMPARE_CACHE`` or ``~/.cache/openmic-compare``).

    Returns
    -------
    model : MusicnnEmbedding
    """
    net = musicnn(name, weights=model_file_path or "pretrained", cache_dir=cache_dir)
    return MusicnnEmbedding(net, layer=layer, hop_frames=hop_frames)


def get_timestamp_embeddings(audio, model: MusicnnEmbedding) -> tuple[np.ndarray, np.ndarray]:
    """HEAR's per-timestamp embeddings: one per patch.

    Parameters
    ----------
    audio : array-like [shape=(n_sounds, n_samples)]
        Mono audio at 16 kHz (NumPy or TensorFlow), values in [-1, 1]. Sounds shorter than one
        patch (2.98 s) are padded at the end with silence.
    model : MusicnnEmbedding

    Returns
    -------
    embeddings : np.ndarray [shape=(n_sounds, n_patches, size), dtype=float32]
    timestamps : np.ndarray [shape=(n_sounds, n_patches), dtype=float32]
        Centre of each patch, in milliseconds.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2 or audio.shape[0] == 0 or audio.shape[1] == 0:
        raise ParameterError(
            f"audio must be (n_sounds, n_samples), non-empty, given audio.shape={audio.shape}"
        )
    if audio.shape[1] < MIN_SAMPLES:
        audio = np.pad(audio, ((0, 0), (0, MIN_SAMPLES - audio.shape[1])))
    patches = np.stack(
        [to_patches(log_mel(sound, p.SAMPLE_RATE_HZ), hop_frames=model.hop_frames) for sound in audio]
    )
    n_sounds, n_patches = patches.shape[:2]
    embeddings = model.embed_patches(patches.reshape(-1, p.PATCH_FRAMES, p.N_MELS))
    timestamps = np.tile(patch_centres_ms(n_patches, hop_frames=model.hop_frames), (n_sounds, 1))
    return embeddings.reshape(n_sounds, n_patches, -1), timestamps


def get_scene_embeddings(audio, model: MusicnnEmbedding) -> np.ndarray:
    """HEAR's per-sound embeddings: the mean of the timestamp embeddings.

    Returns
    -------
    embeddings : np.ndarray [shape=(n_sounds, size), dtype=float32]
    """
    embeddings, _ = get_timestamp_embeddings(audio, model)
    return embeddings.mean(axis=1)


@lru_cache(maxsize=4)
def pretrained(
    name: str = "MTT_musicnn", layer: str = "penultimate", hop_frames: int = p.PATCH_FRAMES
) -> MusicnnEmbedding:
    """`load_model` from the default cache, built once per process and setting."""
    return load_model(name=name, layer=layer, hop_frames=hop_frames)


def embed_file(
    path: str | Path,
    *,
    model: str = "MTT_musicnn",
    layer: str = "penultimate",
    hop_frames: int = p.PATCH_FRAMES,
    embedding: MusicnnEmbedding | None = None,
) -> np.ndarray:
    """Audio file -> float32 (n_patches, size) musicnn embeddings, one row per 3 s patch.

    Parameters
    ----------
    path : str or Path
        Audio file (anything `features.audio.load_audio` reads).
    model, layer, hop_frames
        Which pretrained network, which layer, which patch hop (see `load_model`); the network is
        built once per process.
    embedding : MusicnnEmbedding or None
        Use this one instead (then `model`, `layer` and `hop_frames` are ignored).

    Returns
    -------
    embeddings : np.ndarray [shape=(n_patches, size), dtype=float32]
        A 10 s clip gives 3 rows.
    """
    return (embedding or pretrained(model, layer, hop_frames)).embed_file(path)
