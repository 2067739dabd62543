"""Stems to a clip: loudness normalisation, gains, one room per artist and a noise floor.

`mix_stems` normalises each rendered stem by its RMS, applies its gain and sums them; `add_reverb`
then reverberates the sum in a simple room fed by the mono sum (FluidSynth's own reverb keeps its
tail across resets, see `features.demo.render`) and adds a low-passed noise floor, both in one
float32 FFT pass. Plain NumPy and SciPy: no synthesiser needed.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

STEM_RMS_DBFS = -20.0  # every stem is normalised to this RMS before its gain is applied
MIX_PEAK_MAX = 0.98  # the mix is scaled down when its peak would exceed this
SILENT_RMS = 1e-6  # a stem quieter than this is treated as silent (a preset without sound)
WALL_POLE = 0.7  # one-pole low-pass of the reverb's impulse response
NOISE_POLE = 0.9  # one-pole low-pass of the noise floor: hiss tilted towards hum
MAX_IR_S = 1.8  # longest impulse response (the demo's rooms have rt60 <= 1.6 s)


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of a signal in dB relative to full scale (-inf for silence)."""
    y = np.asarray(y)
    if not y.flags.c_contiguous and y.T.flags.c_contiguous:
        y = y.T  # the same samples, read in memory order
    power = float(np.mean(np.square(y), dtype=np.float64))
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def _peak(y: np.ndarray) -> float:
    """Largest absolute sample value (without an |y| temporary)."""
    return max(float(y.max()), -float(y.min()))


def mix_stems(
    stems: list[np.ndarray],
    gains_db: list[float],
    *,
    noise_dbfs: float,
    room: tuple[float, float],
    rng: np.random.Generator,
    room_seed: tuple[int, ...] | None = None,
    sr: int,
) -> tuple[np.ndarray, list[float], list[float]]:
    """Loudness-normalise stems, apply gains, sum, reverberate, add noise, keep the peak in range.

    Parameters
    ----------
    stems : list of np.ndarray [shape=(2, n), dtype=float32]
        Rendered stems.
    gains_db : list of float
        Level of each stem relative to `STEM_RMS_DBFS` (before the final peak guard).
    noise_dbfs : float
        RMS of the added noise floor in dBFS.
    room : (rt60_s, wet)
        Reverberation of the summed stems, see `add_reverb`.
    room_seed : tuple of int or None
        Seed of the room's impulse response (see `add_reverb`); None draws it from `rng`.
    rng : np.random.Generator
        Source of the reverb and the noise.
    sr : int
        Sampling rate of the stems in Hz.

    Returns
    -------
    mix : np.ndarray [shape=(2, n), dtype=float32]
        Transposed view of a (n, 2) C-contiguous array (interleaved, as audio files store it).
    raw_dbfs : list of float
        RMS of each stem as the synthesiser made it (-inf where silent).
    level_dbfs : list of float
        RMS of each stem as it sits in the final mix (-inf where silent).
    """
    raw_dbfs = [rms_dbfs(s) for s in stems]
    dry = np.zeros(stems[0].shape[::-1], dtype=np.float32).T  # frames-major: stems' own layout
    scales = []
    for stem, raw, gain in zip(stems, raw_dbfs, gains_db, strict=True):
        factor = (
            10 ** ((STEM_RMS_DBFS + gain - raw) / 20) if raw > 20 * np.log10(SILENT_RMS) else 0.0
        )
        peak = _peak(stem) * factor
        scale = factor * min(1.0, MIX_PEAK_MAX / peak) if peak > 0 else 0.0
        if scale > 0:
            dry.T[...] += np.float32(scale) * stem.T
        scales.append(scale)
    rt60_s, wet = room
    mix = add_reverb(
        dry, sr, rt60_s=rt60_s, wet=wet, rng=rng, noise_dbfs=noise_dbfs, room_seed=room_seed
    )
    peak = _peak(mix)
    master = MIX_PEAK_MAX / peak if peak > MIX_PEAK_MAX else 1.0
    if master != 1.0:
        mix *= np.float32(master)
    level_dbfs = [
        raw + 20 * np.log10(scale * master) if scale > 0 else float("-inf")
        for raw, scale in zip(raw_dbfs, scales, strict=True)
    ]
    return mix, raw_dbfs, level_dbfs


def _fft_size(n: int) -> int:
    """A fast FFT length >= n: the next power of two when at most 25 % longer, else scipy's."""
    power = 1 << (n - 1).bit_length()
    return power if power <= 1.25 * n else scipy.fft.next_fast_len(n, real=True)


@functools.lru_cache(maxsize=8)
def _one_pole_gain(size: int, pole: float) -> np.ndarray:
    """|1 / (1 - pole z^-1)| on the bins of a real FFT of `size` points (float32, read-only)."""
    cos = np.cos(np.linspace(0.0, np.pi * 2 * (size // 2) / size, size // 2 + 1))
    gain = (1.0 / np.sqrt(1.0 - 2.0 * pole * cos + pole * pole)).astype(np.float32)
    gain.flags.writeable = False
    return gain


@functools.lru_cache(maxsize=8)
def _noise_shape(size: int) -> np.ndarray:
    """Gain per bin turning uniform(-0.5, 0.5) real and imaginary parts into low-passed noise of
    unit expected mean square over `size` samples (float32, read-only)."""
    gain = _one_pole_gain(size, NOISE_POLE).astype(np.float64)
    expected = _mean_power(gain * np.sqrt(1 / 6), size)  # E|re + i im|^2 = 2 / 12 per bin
    shape = (gain / np.sqrt(expected)).astype(np.float32)
    shape.flags.writeable = False
    return shape


def _mean_power(spec: np.ndarray, size: int) -> np.ndarray:
    """Mean square over the `size` samples of ``irfft(spec, size)``, per row (Parseval)."""
    energy = np.square(spec.real) + np.square(spec.imag)
    total = 2 * np.sum(energy, axis=-1, dtype=np.float64) - energy[..., 0]
    if size % 2 == 0:
        total -= energy[..., -1]  # the Nyquist bin is not mirrored
    return total / float(size) ** 2


@functools.lru_cache(maxsize=4)
def _room_spectrum(
    n_channels: int, rt60_s: float, sr: int, size: int, seed: tuple[int, ...]
) -> np.ndarray:
    """Cached `_draw_room` for a seeded room (clips of one artist share it)."""
    spectrum = _draw_room(n_channels, rt60_s, sr, size, np.random.default_rng(seed))
    spectrum.flags.writeable = False
    return spectrum


def _draw_room(
    n_channels: int, rt60_s: float, sr: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Real-FFT spectrum (n_channels, size // 2 + 1) of an impulse response of unit energy."""
    n_ir = max(int(min(rt60_s, MAX_IR_S) * sr), 1)
    t = np.arange(n_ir, dtype=np.float32) / np.float32(sr)
    ir = rng.standard_normal((n_channels, n_ir), dtype=np.float32)
    ir *= np.exp(np.float32(-6.9 / rt60_s) * t)
    spectrum = scipy.fft.rfft(ir, size, axis=-1)
    spectrum *= _one_pole_gain(size, WALL_POLE)
    spectrum /= np.sqrt(_mean_power(spectrum, size) * size).astype(np.float32)[:, None]
    return spectrum


def add_reverb(
    y: np.ndarray,
    sr: int,
    *,
    rt60_s: float,
    wet: float,
    rng: np.random.Generator,
    noise_dbfs: float | None = None,
    room_seed: tuple[int, ...] | None = None,
) -> np.ndarray:
    """A simple room fed by the mono sum, and optionally a noise floor, in one float32 FFT pass.

    The impulse response is stereo noise decaying exponentially, low-passed by a one-pole filter
    (walls absorb the highs, applied as a zero-phase gain) and normalised to unit energy per
    channel; like a send reverb, it reverberates the mean of the channels. The noise floor is
    stereo Gaussian noise (drawn as random spectra) shaped by a one-pole low-pass (hiss tilted
    towards hum), with RMS `noise_dbfs` over the FFT length; it is not reverberated.

    Parameters
    ----------
    y : np.ndarray [shape=(2, n)]
        Dry stereo signal.
    sr : int
        Sampling rate in Hz.
    rt60_s : float
        Time for the impulse response to decay by 60 dB, in seconds (cut at `MAX_IR_S`).
    wet : float
        Level of the reverberated signal relative to the dry one (linear, 0 = dry).
    rng : np.random.Generator
        Source of the noise, and of the impulse response when `room_seed` is None.
    noise_dbfs : float or None
        RMS of the added noise in dBFS; None adds none.
    room_seed : tuple of int or None
        Seed of the impulse response: the same seed and `rt60_s` give the same room (a few
        are cached, so consecutive clips of one artist share the work).

    Returns
    -------
    y_wet : np.ndarray [shape=(2, n), dtype=float32]
        In the memory layout of `y`.
    """
    n = y.shape[-1]
    size = _fft_size(n + int(MAX_IR_S * sr) - 1)  # the same for every rt60: cached filter gains
    if room_seed is None:
        room = _draw_room(y.shape[0], rt60_s, sr, size, rng)
    else:
        room = _room_spectrum(y.shape[0], float(rt60_s), int(sr), size, tuple(room_seed))
    mono = y[0].astype(np.float32)  # the channel mean, row by row (fast in any memory layout)
    for channel in y[1:]:
        mono += channel
    mono *= np.float32(1 / len(y))
    spec = scipy.fft.rfft(mono, size) * np.float32(wet)
    spec = room * spec  # (2, bins): one reverberated signal per output channel
    if noise_dbfs is not None:
        # Independent uniform real and imaginary parts per bin: summed over ~10^5 bins, each
        # sample is Gaussian all the same, and uniform draws cost a tenth of normal ones.
        noise = np.empty(spec.shape, dtype=np.complex64)
        rng.random(dtype=np.float32, out=noise.view(np.float32))
        noise -= np.complex64(0.5 + 0.5j)
        noise[..., 0] = 0  # no DC offset
        noise *= _noise_shape(size) * np.float32(10 ** (noise_dbfs / 20))
        spec += noise
    out = np.empty_like(y, dtype=np.float32)
    np.add(y, scipy.fft.irfft(spec, size, axis=-1)[..., :n], out=out)
    return out
