"""The polyphase resampler against resampy itself, the oracle: same length, same values.

Float64 signals agree to 1e-9 (measured: at most 7e-11, the order of summation). A float32 signal
is resampled in float64 and rounded once, while resampy adds its taps into a float32 output one
by one: its own result moves by up to ~1.3e-6 from the exact value on full-scale white noise and
by 6.6e-7 on the real fixture clip; ours stays within half a float32 step of the exact value.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import resampy

from core.errors import ParameterError
from features.audio import load_audio
from features.resample import MAX_PHASES, filter_table, resample

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"
EXACT = 1e-9  # float64 in, float64 out


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    return load_audio(CLIP)  # float32 (2, 441000) at 44.1 kHz


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


def test_real_clip_float32_as_the_front_ends_use_it(clip):
    y, sr = clip
    mono = y.mean(axis=0)  # float32, as musicnn's front end
    want = resampy.resample(mono, sr, 16000)
    got = resample(mono, sr, 16000)
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape == (160000,)
    assert np.abs(got - want).max() <= 1e-6
    exact = resampy.resample(mono.astype(np.float64), sr, 16000)
    assert np.abs(got - exact).max() <= np.spacing(np.float32(np.abs(exact).max()))
    stereo = resample(y, sr, 16000)
    assert np.abs(stereo - resampy.resample(y, sr, 16000, axis=-1)).max() <= 1e-6
    mono64 = y.astype(np.float64).mean(axis=0)  # as the VGGish chain
    np.testing.assert_allclose(resample(mono64, sr, 16000), resampy.resample(mono64, sr, 16000),
                               rtol=0, atol=EXACT)


def test_float32_white_noise_is_closer_to_exact_than_resampy():
    x = np.random.default_rng(5).uniform(-1, 1, 44100 * 2).astype(np.float32)
    exact = resampy.resample(x.astype(np.float64), 44100, 16000)
    theirs = resampy.resample(x, 44100, 16000)
    ours = resample(x, 44100, 16000)
    assert ours.dtype == np.float32
    assert np.abs(ours - exact).max() <= 0.5 * np.spacing(np.float32(np.abs(exact).max()))
    assert np.abs(ours - theirs).max() <= np.abs(theirs - exact).max() + 1e-7 < 2e-6


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
