"""The musicnn front end: audio -> log-compressed mel spectrogram -> patches of 187 frames.

It reproduces the input the networks were trained on: mono audio resampled to 16 kHz with resampy's
``kaiser_best`` filter (what ``librosa.load(path, sr=16000)`` did in librosa 0.7; computed here by
the polyphase form of `features.resample`), librosa's mel power
spectrogram (512-sample Hann frames every 256 samples, 96 Slaney bands), rounded to float16 as the
training features were stored, then ``log10(10000 x + 1)``.

The original package evaluates that logarithm on the float16 array, where ``10000 x`` overflows
to infinity as soon as the mel power exceeds 6.55 (loud music does), and then feeds ``inf`` to
the network. Here the float16 rounding is kept (it is part of the trained input) but the
logarithm is taken in float32, so loud bins get their finite value (at most about 9.4).
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np

from core.errors import ParameterError
from features.audio import frame, load_audio, to_mono
from features.musicnn import params as p
from features.resample import resample


def log_mel(y: np.ndarray, sr: int) -> np.ndarray:
    """Log-compressed mel spectrogram of a waveform, as the networks expect it.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        Audio in librosa layout (channels first); channels are averaged.
    sr : int
        Sampling rate of `y` in Hz; resampled to 16 kHz with resampy's ``kaiser_best`` filter
        otherwise (`resample_like_librosa`).

    Returns
    -------
    S : np.ndarray [shape=(n_frames, 96), dtype=float32]
        ``log10(10000 * float16(mel_power) + 1)``; ``n_frames = 1 + n_samples_16k // 256``.

    Raises
    ------
    ParameterError
        Empty, NaN/inf or badly shaped `y`, or `sr` not a positive whole number.

    Examples
    --------
    >>> y = np.random.default_rng(0).uniform(-1, 1, size=(2, 441000)).astype(np.float32)
    >>> log_mel(y, 44100).shape
    (626, 96)
    """
    mono = to_mono(y, dtype=np.float32)
    if sr <= 0 or int(sr) != sr:
        raise ParameterError(f"sr must be positive, a whole number of Hz, given sr={sr}")
    if sr != p.SAMPLE_RATE_HZ:
        mono = resample_like_librosa(mono, sr)
    power = librosa.feature.melspectrogram(
        y=mono,
        sr=p.SAMPLE_RATE_HZ,
        n_fft=p.FFT_SIZE_SAMPLES,
        hop_length=p.FFT_HOP_SAMPLES,
        n_mels=p.N_MELS,
    ).T
    stored = power.astype(np.float16).astype(np.float32)  # the precision of the training features
    return np.log10(np.float32(p.LOG_GAIN) * stored + np.float32(1.0))


def resample_like_librosa(mono: np.ndarray, sr: int) -> np.ndarray:
    """``librosa.resample(mono, orig_sr=sr, target_sr=16000, res_type="kaiser_best")``, faster.

    resampy's filter through `features.resample` (equal to resampy within 1e-9 in float64;
    within resampy's own float32 rounding, < 1e-6 on real clips, in float32), then librosa's
    length rule: ``ceil(n * 16000 / sr)`` samples, where resampy gives the floor, so one zero
    may be appended.

    Parameters
    ----------
    mono : np.ndarray [shape=(n_samples,)]
    sr : int
        Its rate in Hz, a positive integer.

    Returns
    -------
    mono_16k : np.ndarray [shape=(ceil(n_samples * 16000 / sr),)], the dtype of `mono`
    """
    n_samples = int(np.ceil(mono.shape[-1] * (float(p.SAMPLE_RATE_HZ) / sr)))
    resampled = resample(mono, int(sr), p.SAMPLE_RATE_HZ, filter=p.RESAMPLER)
    return librosa.util.fix_length(resampled, size=n_samples)


def to_patches(S: np.ndarray, *, hop_frames: int = p.PATCH_FRAMES) -> np.ndarray:
    """Cut a log-mel spectrogram into network inputs of 187 frames.

    Parameters
    ----------
    S : np.ndarray [shape=(n_frames, 96)]
        From `log_mel`.
    hop_frames : int
        Frames between the starts of consecutive patches: 187 (the default, the original's) for
        no overlap, less for overlapping patches. The original calls it ``overlap``.

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
        ``n_patches = max(0, 1 + (n_frames - 187) // hop_frames)``: a trailing partial patch is
        dropped, so a 10 s clip (626 frames) gives 3 patches.
    """
    S = np.asarray(S, dtype=np.float32)
    if S.ndim != 2 or S.shape[1] != p.N_MELS:
        raise ParameterError(f"S must be (n_frames, {p.N_MELS}), given S.shape={S.shape}")
    if hop_frames < 1:
        raise ParameterError(f"hop_frames must be positive, given hop_frames={hop_frames}")
    return np.ascontiguousarray(frame(S, p.PATCH_FRAMES, hop_frames))


def waveform_to_patches(y: np.ndarray, sr: int, *, hop_frames: int = p.PATCH_FRAMES) -> np.ndarray:
    """Audio -> network input patches: `to_patches` of `log_mel`.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
    sr : int
    hop_frames : int
        See `to_patches`.

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
    """
    return to_patches(log_mel(y, sr), hop_frames=hop_frames)


def file_to_patches(path: str | Path, *, hop_frames: int = p.PATCH_FRAMES) -> np.ndarray:
    """Audio file -> network input patches (decoded by `features.audio.load_audio`).

    The original's ``librosa.load(path, sr=16000, res_type="kaiser_best")`` followed by the same
    spectrogram: soundfile decoding, channel mean, resampy's filter (`resample_like_librosa`).

    Returns
    -------
    patches : np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
    """
    y, sr = load_audio(path)
    return waveform_to_patches(y, sr, hop_frames=hop_frames)


def patch_centres_ms(n_patches: int, *, hop_frames: int = p.PATCH_FRAMES) -> np.ndarray:
    """Time of the centre of each patch, in milliseconds from the start of the audio.

    Frame ``i`` is centred on sample ``i * 256``; a patch starting at frame ``s`` spans frames
    ``s .. s + 186`` and is centred on frame ``s + 93``.

    Returns
    -------
    times_ms : np.ndarray [shape=(n_patches,), dtype=float32]
    """
    starts = np.arange(n_patches) * hop_frames
    centre_frames = starts + (p.PATCH_FRAMES - 1) / 2
    return (centre_frames * p.FFT_HOP_SAMPLES / p.SAMPLE_RATE_HZ * 1000.0).astype(np.float32)
