"""Decode an audio file into a float32 array, the one place where the toolkit reads audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import DatasetError, ParameterError

CLIP_DURATION_S = 10.0  # every OpenMIC-2018 clip is 10 s long
DURATION_TOLERANCE_S = 0.01


def load_audio(
    path: str | Path,
    *,
    expected_duration_s: float | None = None,
    tolerance_s: float = DURATION_TOLERANCE_S,
) -> tuple[np.ndarray, int]:
    """Read an audio file at its native sampling rate.

    Parameters
    ----------
    path : str or Path
        Any file libsndfile reads (OGG Vorbis, FLAC, WAV, ...).
    expected_duration_s : float or None
        When given, the clip must last this long, give or take `tolerance_s`
        (use `CLIP_DURATION_S` for OpenMIC clips).
    tolerance_s : float
        Allowed deviation from `expected_duration_s`, in seconds.

    Returns
    -------
    y : np.ndarray [shape=(n_channels, n_samples), dtype=float32]
        The samples in librosa layout (channels first), values in [-1, 1].
    sr : int
        The native sampling rate in Hz.

    Raises
    ------
    DatasetError
        The file is missing, cannot be decoded, or has the wrong duration; the message names it.

    Examples
    --------
    >>> y, sr = load_audio("audio/000/000046_3840.ogg", expected_duration_s=CLIP_DURATION_S)
    >>> y.shape, sr
    ((2, 441000), 44100)
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"audio file {path} does not exist; check the dataset folder")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise DatasetError(
            f"audio file {path} cannot be decoded ({err}); re-download or remove it"
        ) from err
    if expected_duration_s is not None:
        duration_s = data.shape[0] / sr
        if abs(duration_s - expected_duration_s) > tolerance_s:
            raise DatasetError(
                f"audio file {path} lasts {duration_s:.3f} s, expected "
                f"{expected_duration_s:.3f} +- {tolerance_s} s; the file is truncated or not a clip"
            )
    return np.ascontiguousarray(data.T), int(sr)


def to_mono(y: np.ndarray, *, dtype: type = np.float64) -> np.ndarray:
    """Validate a waveform and average its channels.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        Librosa layout (channels first). An array with more rows than columns is taken to be
        soundfile's (samples, channels) layout by mistake and refused.
    dtype : numpy dtype
        Floating dtype of the result.

    Returns
    -------
    mono : np.ndarray [shape=(n_samples,)], C-contiguous

    Raises
    ------
    ParameterError
        `y` is empty, has NaN/inf, or has the wrong number of dimensions or layout.
    """
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.size == 0:
        raise ParameterError(
            f"y must be (samples,) or (channels, samples) and non-empty, given y.shape={y.shape}"
        )
    if y.ndim == 2 and y.shape[0] > y.shape[1]:
        raise ParameterError(
            f"y looks like (samples, channels) (soundfile layout), given y.shape={y.shape}; "
            "pass y.T: the layout is librosa's (channels, samples)"
        )
    if not np.all(np.isfinite(y)):
        raise ParameterError(f"y contains NaN or infinite values, given y.shape={y.shape}")
    y = y.astype(dtype, copy=False)
    return np.ascontiguousarray(y.mean(axis=0) if y.ndim == 2 else y)


def frame(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Read-only strided view of the complete frames of `x` along its first axis.

    Frames start at index 0 and every `hop` samples; an incomplete last frame is dropped (no
    padding).

    Parameters
    ----------
    x : np.ndarray [shape=(n, ...)]
    length, hop : int
        Frame length and hop, in samples (rows).

    Returns
    -------
    frames : np.ndarray [shape=(max(0, 1 + (n - length) // hop), length, ...)]
    """
    n_frames = max(0, 1 + (x.shape[0] - length) // hop)
    shape = (n_frames, length, *x.shape[1:])
    strides = (x.strides[0] * hop, *x.strides)
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, writeable=False)


def periodic_hann(length: int, *, dtype: type = np.float64) -> np.ndarray:
    """Periodic Hann window: one full cosine period over `length` samples.

    Unlike `np.hanning` (symmetric, period ``length - 1``), this is the window the DFT wants and
    the one VGGish and librosa (`get_window("hann", fftbins=True)`) use.
    """
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)).astype(dtype)
