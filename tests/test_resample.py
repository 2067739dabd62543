"""The polyphase resampler against resampy itself, the oracle: same length, same values.

Float64 signals agree to 1e-9 (measured: at most 7e-11, the order of summation). resampy adds
the taps of a float32 signal into a float32 output, rounding every partial sum; the resampler
does the same, and the float32 results are bit-identical on at least 99.9 % of the samples (the
rest one float32 step away), where a float64 sum rounded once would differ by up to 1.3e-6 on
full-scale white noise.

The float32 oracle is resampy's own compiled loop called on a float32 output
(`_resampy_float32`), not ``resampy.resample``: that one is a numba gufunc whose float32 calls
run its float64 loop (then round once) whenever a float64 call came first in the process (another
test, the VGGish chain), and its float32 loop otherwise. `test_resampy_in_a_fresh_process` shows
that a fresh process's ``resampy.resample`` is that float32 loop.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import resampy
from resampy.interpn import _resample_loop_s

from core.errors import ParameterError
from features.audio import load_audio
from features.resample import MAX_PHASES, filter_table, resample

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"
EXACT = 1e-9  # float64 in, float64 out


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    return load_audio(CLIP)  # float32 (2, 441000) at 44.1 kHz


def _resampy_float32(x: np.ndarray, orig_sr: int, target_sr: int, filter: str = "kaiser_best") -> np.ndarray:
    """resampy.resample's set-up (resampy 0.4.3, core.py) and its compiled loop, float32 output."""
    ratio = float(target_sr) / orig_sr
    y = np.zeros(int(x.shape[-1] * float(target_sr) / float(orig_sr)), dtype=np.float32)
    win, precision, _ = resampy.filters.get_filter(filter)
    if ratio < 1:
        win = ratio * win
    t_out = np.arange(len(y)) * (1.0 / ratio)
    _resample_loop_s(x, t_out, win, np.diff(win, append=win[-1]), precision, min(1.0, ratio), y)
    return y


def _noise(n: int, seed: int = 0, channels: int | None = None) -> np.ndarray:
    shape = (n,) if channels is None else (channels, n)
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("orig_sr", [44100, 48000, 22050, 32000, 8000])
@pytest.mark.parametrize("filter", ["kaiser_best", "kaiser_fast"])
def test_white_noise_to_16k_equals_resampy(orig_sr, filter):
    x = _noise(orig_sr * 3 + 17, seed=orig_sr)  # 3 s and a remainder: the length rule floors
    want = resampy.resample(x, orig_sr, 16000, filter=filter)
    got = resample(x, orig_sr, 16000, filter=filter)
    assert got.shape == want.shape == (int(len(x) * 16000 / orig_sr),)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)


@pytest.mark.parametrize(("orig_sr", "target_sr"), [(16000, 48000), (12000, 16000), (48000, 8000),
                                                    (9000, 44100), (10000, 22050)])
def test_other_ratios_equal_resampy(orig_sr, target_sr):
    x = _noise(2 * orig_sr + 5, seed=1)
    want = resampy.resample(x, orig_sr, target_sr)
    got = resample(x, orig_sr, target_sr)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)


def test_outputs_placed_just_below_an_input_sample():
    # resampy places output t at t * (1 / (9000 / 44100)) in float64; where t * 49 / 10 is an
    # integer this can fall just below it, and resampy then centres the output on the previous
    # input sample with a fraction of almost one: other taps (2.8e-4 away had they not been
    # corrected).
    orig_sr, target_sr, L, M = 44100, 9000, 10, 49
    assert math.gcd(orig_sr, target_sr) == orig_sr // M == target_sr // L
    x = _noise(2 * orig_sr, seed=2)
    t = np.arange(0, int(len(x) * target_sr / orig_sr), L)
    below = t[(t * (1.0 / (float(target_sr) / orig_sr))).astype(np.int64) != t * M // L]
    assert len(below) > 10
    want = resampy.resample(x, orig_sr, target_sr)
    got = resample(x, orig_sr, target_sr)
    np.testing.assert_allclose(got[below], want[below], rtol=0, atol=EXACT)
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)


def test_stereo_long_equals_resampy_per_channel():
    x = _noise(44100 * 10, seed=3, channels=2)  # a whole clip's length
    want = resampy.resample(x, 44100, 16000, axis=-1)
    got = resample(x, 44100, 16000)
    assert got.shape == want.shape == (2, 160000)
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)
    np.testing.assert_allclose(got[1], resample(x[1], 44100, 16000), rtol=0, atol=0)


@pytest.mark.parametrize("n", [3, 37, 1000])
def test_short_inputs_equal_resampy(n):
    # Shorter than the filter: every output is an edge case (sums stop at both ends).
    x = _noise(n, seed=n)
    want = resampy.resample(x, 44100, 16000)
    got = resample(x, 44100, 16000)
    assert got.shape == want.shape == (int(n * 16000 / 44100),)
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)


def test_edges_impulses_at_both_ends():
    x = np.zeros(44100)
    x[[0, 1, 2, -3, -2, -1]] = [1.0, -0.5, 0.25, 0.25, -0.5, 1.0]
    want = resampy.resample(x, 44100, 16000)
    got = resample(x, 44100, 16000)
    assert np.abs(want[:5]).max() > 0.1 and np.abs(want[-5:]).max() > 0.1  # the edges do matter
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)


def _float32_agrees(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-identical on >= 99.9 % of the samples, at most one float32 step (at 1.0) elsewhere."""
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert np.mean(got == want) >= 0.999
    assert np.abs(got - want).max() <= np.spacing(np.float32(1.0))


def test_real_clip_float32_as_the_front_ends_use_it(clip):
    y, sr = clip
    mono = y.mean(axis=0)  # float32, as musicnn's front end
    got = resample(mono, sr, 16000)
    assert got.shape == (160000,)
    _float32_agrees(got, _resampy_float32(mono, sr, 16000))
    stereo = resample(y, sr, 16000)
    _float32_agrees(stereo, np.stack([_resampy_float32(c, sr, 16000) for c in y]))
    mono64 = y.astype(np.float64).mean(axis=0)  # as the VGGish chain
    np.testing.assert_allclose(resample(mono64, sr, 16000), resampy.resample(mono64, sr, 16000),
                               rtol=0, atol=EXACT)


@pytest.mark.parametrize(("orig_sr", "target_sr"), [(44100, 16000), (48000, 16000), (44100, 9000)])
def test_float32_white_noise_is_rounded_as_resampy_rounds(orig_sr, target_sr):
    x = np.random.default_rng(5).uniform(-1, 1, orig_sr * 2).astype(np.float32)
    exact = resampy.resample(x.astype(np.float64), orig_sr, target_sr)
    theirs = _resampy_float32(x, orig_sr, target_sr)
    ours = resample(x, orig_sr, target_sr)
    _float32_agrees(ours, theirs)
    # resampy's float32 roundings are what is reproduced: far more than one final rounding.
    assert np.abs(ours - exact).max() > 4 * np.spacing(np.float32(1.0))


@pytest.mark.parametrize("filter", ["kaiser_best", "kaiser_fast"])
@pytest.mark.parametrize("n", [5, 37, 1000])
def test_float32_short_inputs_and_both_filters(n, filter):
    x = np.random.default_rng(n).uniform(-1, 1, n).astype(np.float32)
    for orig_sr in (44100, 8000):
        got = resample(x, orig_sr, 16000, filter=filter)
        want = _resampy_float32(x, orig_sr, 16000, filter)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= np.spacing(np.float32(1.0))


def test_resampy_in_a_fresh_process(tmp_path):
    x = np.random.default_rng(6).uniform(-1, 1, 44100).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import numpy as np, resampy, sys; x = np.load(sys.argv[1]); "
            "np.save(sys.argv[2], resampy.resample(x, 44100, 16000))")
    subprocess.run([sys.executable, "-c", code, tmp_path / "x.npy", tmp_path / "y.npy"], check=True)
    theirs = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(theirs, _resampy_float32(x, 44100, 16000))
    _float32_agrees(resample(x, 44100, 16000), theirs)


def test_integer_input_gives_float32_and_equal_rates_copy():
    x = np.arange(-500, 500, dtype=np.int16)
    got = resample(x, 32000, 16000)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, resampy.resample(x, 32000, 16000), rtol=0, atol=1e-3)
    y = _noise(100)
    same = resample(y, 16000, 16000)
    assert same is not y and np.array_equal(same, y)


def test_ratios_with_too_many_phases_use_resampy():
    assert 16001 > MAX_PHASES
    x = _noise(4410, seed=9)
    np.testing.assert_array_equal(resample(x, 44100, 16001), resampy.resample(x, 44100, 16001))


def test_filter_table_is_resampys():
    for name in ("kaiser_best", "kaiser_fast"):
        win, precision = filter_table(name)
        theirs, their_precision, _ = resampy.filters.get_filter(name)
        np.testing.assert_array_equal(win, theirs)
        assert precision == int(their_precision)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros(100), 0, 16000), {}, "orig_sr=0"),
        ((np.zeros(100), 44100, 16000.5), {}, "target_sr=16000.5"),
        ((np.zeros(100), 44100, 16000), {"filter": "sinc_window"}, "filter='sinc_window'"),
        ((np.zeros((2, 0)), 44100, 16000), {}, r"y.shape=\(2, 0\)"),
        ((np.zeros(3, dtype=complex), 44100, 16000), {}, "complex"),
        ((np.zeros(2), 44100, 16000), {}, "too short"),
    ],
)
def test_bad_input_is_refused(args, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        resample(*args, **kwargs)
