"""Decode an audio file into a float32 array, the one place where the toolkit reads audio.

A clip's own problems (missing, empty, undecodable, non-finite samples, wrong duration) raise
`ClipError`; callers that skip bad clips catch exactly that and let every other error (a bad
parameter, a full disk, a bug) stop them. `probe_audio` makes the same checks from the file's
header alone, without decoding.
"""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import soundfile as sf

from core.errors import DatasetError, ParameterError

CLIP_DURATION_S = 10.0  # every OpenMIC-2018 clip is 10 s long
DURATION_TOLERANCE_S = 0.01  # as the release's verify_dataset.py
MISSING = "audio file missing"
EMPTY = "empty"
_REPLACE_HINT = "re-download the dataset, or leave the clip out"


class ClipError(DatasetError):
    """An audio file's own problem: missing, empty, undecodable or of the wrong duration.

    Attributes
    ----------
    path : Path
        The audio file.
    problem : str
        The problem in plain words, without the path: ``"audio file missing"``, ``"empty"``,
        ``"unreadable: <reason>"``, ``"non-finite samples (NaN or inf)"`` or
        ``"duration 7.320 s, expected 10.000 s"``.
    """

    def __init__(self, path: str | Path, problem: str, fix: str = _REPLACE_HINT) -> None:
        super().__init__(f"{path}: {problem}; {fix}")
        self.path = Path(path)
        self.problem = problem
        self.fix = fix

    def __reduce__(self) -> tuple:
        return type(self), (self.path, self.problem, self.fix)


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
        When given, the decoded clip must last this long, give or take `tolerance_s`
        (use `CLIP_DURATION_S` for OpenMIC clips). A truncated OGG file can decode without error
        into a shorter signal: this check is what catches it.
    tolerance_s : float
        Allowed deviation from `expected_duration_s`, in seconds.

    Returns
    -------
    y : np.ndarray [shape=(n_channels, n_samples), dtype=float32]
        The samples in librosa layout (channels first), values in [-1, 1]; never empty.
    sr : int
        The native sampling rate in Hz.

    Raises
    ------
    ClipError
        The file is missing, empty, cannot be decoded, holds NaN or infinite samples, or has the
        wrong duration; the message names it, `ClipError.problem` says what is wrong in plain words.
    OSError
        The file exists but the operating system refuses to open it (permissions, I/O): not the
        clip's problem.

    Examples
    --------
    >>> y, sr = load_audio("audio/000/000046_3840.ogg", expected_duration_s=CLIP_DURATION_S)
    >>> y.shape, sr
    ((2, 441000), 44100)
    """
    path = Path(path)
    _check_file(path)
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except sf.SoundFileError as err:
        raise _unreadable(path, err) from err
    _check_length(path, data.shape[0], sr, expected_duration_s, tolerance_s)
    if not np.isfinite(data).all():
        raise ClipError(path, "non-finite samples (NaN or inf)")
    return np.ascontiguousarray(data.T), int(sr)


def probe_audio(
    path: str | Path,
    *,
    expected_duration_s: float | None = None,
    tolerance_s: float = DURATION_TOLERANCE_S,
) -> tuple[int, int]:
    """Check an audio file from its header, without decoding it (about 1 ms for an OGG clip).

    For OGG files libsndfile takes the length from the last page's position, so a file cut
    short shows its shorter duration here too. Samples are not read: NaN or infinite samples and
    damage in the middle of the stream are found only by `load_audio`.

    Parameters
    ----------
    path : str or Path
        Any file libsndfile reads.
    expected_duration_s, tolerance_s : float or None, float
        As in `load_audio`.

    Returns
    -------
    n_samples : int
        Samples per channel the header announces (> 0).
    sr : int
        Sampling rate in Hz.

    Raises
    ------
    ClipError, OSError
        As in `load_audio`.
    """
    path = Path(path)
    _check_file(path)
    try:
        with sf.SoundFile(path) as f:
            n_samples, sr = f.frames, f.samplerate
    except sf.SoundFileError as err:
        raise _unreadable(path, err) from err
    _check_length(path, n_samples, sr, expected_duration_s, tolerance_s)
    return int(n_samples), int(sr)


def _check_file(path: Path) -> None:
    """ClipError unless `path` is a non-empty regular file; OSError if it cannot be opened."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as err:
        raise ClipError(path, MISSING, "check the dataset folder, or leave the clip out") from err
    if not stat.S_ISREG(info.st_mode):
        raise ClipError(path, "unreadable: not a regular file")
    if info.st_size == 0:
        raise ClipError(path, EMPTY)
    # Opening it here lets a refusal by the system (permissions) surface as the OSError it is;
    # libsndfile would report it as an unreadable file.
    with path.open("rb"):
        pass


def _unreadable(path: Path, err: sf.SoundFileError) -> ClipError:
    reason = (getattr(err, "error_string", "") or str(err)).strip().rstrip(".")
    return ClipError(path, f"unreadable: {reason[:1].lower()}{reason[1:]}")


def _check_length(
    path: Path, n_samples: int, sr: int, expected_duration_s: float | None, tolerance_s: float
) -> None:
    if n_samples == 0:
        raise ClipError(path, EMPTY)
    if sr <= 0:
        raise ClipError(path, f"unreadable: sampling rate {sr} Hz")
    if expected_duration_s is None:
        return
    duration_s = n_samples / sr
    if abs(duration_s - expected_duration_s) > tolerance_s:
        raise ClipError(
            path,
            f"duration {duration_s:.3f} s, expected {expected_duration_s:.3f} s",
            f"allowed +- {tolerance_s} s: the file is truncated or not a clip; {_REPLACE_HINT}",
        )


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
