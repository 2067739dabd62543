"""A small embedding implementing the HEAR 2021 API, for the tests: a fixed random projection of a
log-mel spectrogram, in NumPy (tests/test_hear*.py use it as ``hear:hear_toy``).

16 kHz audio, 1024-sample frames every 800 samples (50 ms): a 10 s sound has 199 timestamps of 32
values. ``load_model(path)`` reads the projection from a ``.npy`` file when given one (a weights
file), and ``CALLS`` counts the calls to the embedding functions in this process.
"""

from __future__ import annotations

import librosa
import numpy as np

__version__ = "0.1"
SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 800
N_MELS = 64
SIZE = 32
CALLS = 0


class ToyModel:
    sample_rate = SAMPLE_RATE

    def __init__(self, projection: np.ndarray):
        self.projection = projection
        self.scene_embedding_size = self.timestamp_embedding_size = projection.shape[1]
        self.mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS)


def load_model(model_file_path: str = "") -> ToyModel:
    if model_file_path:
        return ToyModel(np.load(model_file_path))
    return ToyModel(np.random.default_rng(1234).standard_normal((N_MELS, SIZE)) / 8)


def log_mel(audio: np.ndarray, model: ToyModel) -> np.ndarray:
    """(n_sounds, n_timestamps, 64) log-mel of (n_sounds, n_samples) audio, frames not padded."""
    n_frames = 1 + (audio.shape[1] - N_FFT) // HOP
    starts = HOP * np.arange(n_frames)
    frames = audio[:, starts[:, None] + np.arange(N_FFT)] * np.hanning(N_FFT)
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
    return np.log(power @ model.mel.T + 1e-6)


def get_timestamp_embeddings(audio, model: ToyModel):
    global CALLS
    CALLS += 1
    audio = np.asarray(audio, dtype=np.float64)
    embeddings = (log_mel(audio, model) @ model.projection).astype(np.float32)
    centres = (HOP * np.arange(embeddings.shape[1]) + N_FFT / 2) / SAMPLE_RATE * 1000
    return embeddings, np.tile(centres, (len(audio), 1)).astype(np.float32)


def get_scene_embeddings(audio, model: ToyModel) -> np.ndarray:
    embeddings, _ = get_timestamp_embeddings(audio, model)
    return embeddings.mean(axis=1)
