"""The CNN's front end: a fixed-size log-mel spectrogram per 10 s clip.

Parameters follow the strong OpenMIC-2018 systems (PaSST and its distilled students such as
EAsT-KD use 128 mel bands, a 10 ms hop and `log(mel + eps)`), sized for CPU training:

* 16 kHz audio (PaSST uses 32 kHz): instruments are recognisable below 8 kHz, and it halves the
  STFT work; resampled with soxr HQ (about 2 ms per clip, vs 0.2 s for resampy).
* `n_fft` 1024 (64 ms) so that every one of the 128 mel bands covers at least one FFT bin from
  `fmin` 20 Hz upwards (with 512 the lowest bands would be empty), hop 160 samples (10 ms).
* 128 Slaney mel bands (librosa's default), 20 Hz .. 8 kHz (the Nyquist frequency).
* natural log of the mel power plus 1e-6 (about -138 dB re full scale): no per-clip reference
  or `top_db` clipping, so levels stay comparable across clips; standardisation is the CNN's job.
* exactly 1000 frames (10 s): centred STFT frames are cropped or padded with the value of silence.
* stored as float16: log values lie in about [-14, 10], where float16 keeps 3 significant digits,
  and 10 s weigh 250 kB instead of 500 kB.
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np
import scipy.fft
import soxr

from core.errors import ParameterError
from features.audio import frame, periodic_hann, to_mono

LOG_EPS = 1e-6  # floor added to the mel power before the log; the log of silence
LOGMEL_PARAMS: dict = dict(
    target_sr=16000,
    n_fft=1024,
    hop_length=160,
    n_mels=128,
    fmin=20.0,
    fmax=8000.0,
    n_frames=1000,
)


def logmel(
    y: np.ndarray,
    sr: int,
    *,
    target_sr: int = LOGMEL_PARAMS["target_sr"],
    n_fft: int = LOGMEL_PARAMS["n_fft"],
    hop_length: int = LOGMEL_PARAMS["hop_length"],
    n_mels: int = LOGMEL_PARAMS["n_mels"],
    fmin: float = LOGMEL_PARAMS["fmin"],
    fmax: float = LOGMEL_PARAMS["fmax"],
    n_frames: int = LOGMEL_PARAMS["n_frames"],
) -> np.ndarray:
    """Log-mel spectrogram of fixed size, the input of the spectrogram CNN.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        Audio in librosa layout (channels first); channels are averaged.
    sr : int
        Sampling rate of `y` in Hz.
    target_sr : int
        Rate the audio is resampled to (soxr HQ) before the STFT.
    n_fft, hop_length : int
        STFT size and hop in samples at `target_sr` (centred frames, Hann window).
    n_mels : int
        Number of mel bands (Slaney scale and area normalisation, as librosa).
    fmin, fmax : float
        Frequency range of the mel bands in Hz; `fmax` at most `target_sr / 2`.
    n_frames : int
        Number of frames returned: cropped, or padded at the end with the log of silence.

    Returns
    -------
    S : np.ndarray [shape=(n_mels, n_frames), dtype=float16]
        ``log(mel power + 1e-6)``.

    Raises
    ------
    ParameterError
        Empty, NaN/inf or badly shaped `y`, or inconsistent parameters.

    Examples
    --------
    >>> y = np.random.default_rng(0).uniform(-1, 1, size=(2, 441000)).astype(np.float32)
    >>> logmel(y, 44100).shape
    (128, 1000)
    """
    mono = to_mono(y, dtype=np.float32)
    if not (sr > 0 and target_sr > 0 and 0 <= fmin < fmax <= target_sr / 2):
        raise ParameterError(
            f"need sr > 0, target_sr > 0 and 0 <= fmin < fmax <= target_sr / 2, given sr={sr}, "
            f"target_sr={target_sr}, fmin={fmin}, fmax={fmax}"
        )
    if n_frames < 1:
        raise ParameterError(f"n_frames must be positive, given n_frames={n_frames}")
    if sr != target_sr:
        mono = soxr.resample(mono, sr, target_sr, quality="HQ")
    # Centred frames (zero padding of n_fft // 2 on both sides), as librosa.stft(center=True);
    # only the frames kept are transformed. scipy's FFT works in float32, numpy's in float64.
    frames = frame(np.pad(mono, n_fft // 2), n_fft, hop_length)[:n_frames]
    spectrum = scipy.fft.rfft(frames * periodic_hann(n_fft, dtype=np.float32), axis=-1)
    power = np.square(spectrum.real) + np.square(spectrum.imag)  # (frames, 1 + n_fft // 2)
    S = np.full((n_mels, n_frames), np.log(LOG_EPS), dtype=np.float32)
    S[:, : len(frames)] = np.log(_mel_basis(target_sr, n_fft, n_mels, fmin, fmax) @ power.T + LOG_EPS)
    return S.astype(np.float16)



@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """librosa's Slaney mel filterbank (n_mels, 1 + n_fft // 2), float32, built once per setting."""
    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float32)
