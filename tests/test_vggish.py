"""Tests of the VGGish front end against an independent plain-numpy computation."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from core.errors import ParameterError
from features.vggish import file_to_examples, mel_matrix, waveform_to_examples

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    """The real fixture clip in librosa layout (channels, samples), float64."""
    data, sr = sf.read(CLIP, always_2d=True)  # (samples, channels)
    return data.T, sr


@pytest.fixture(scope="module")
def mono16k(clip) -> np.ndarray:
    y, sr = clip
    return soxr.resample(y.mean(axis=0), sr, 16000, quality="HQ")


def reference_examples(y16k: np.ndarray) -> np.ndarray:
    """VGGish log-mel examples written out from the formulas, with explicit loops and a DFT matrix."""
    sr, win, hop, n_fft, n_mels = 16000, 400, 160, 512, 64
    n_bins = n_fft // 2 + 1

    def mel(f):
        return 1127.0 * np.log(1.0 + f / 700.0)

    edges = [mel(125.0) + i * (mel(7500.0) - mel(125.0)) / (n_mels + 1) for i in range(n_mels + 2)]
    weights = np.zeros((n_bins, n_mels))
    for k in range(1, n_bins):  # the DC bin keeps weight 0
        m = mel(k * (sr / 2) / (n_bins - 1))
        for b in range(n_mels):
            lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
            weights[k, b] = max(0.0, min((m - lo) / (mid - lo), (hi - m) / (hi - mid)))

    window = np.array([0.5 - 0.5 * np.cos(2 * np.pi * n / win) for n in range(win)])
    dft = np.exp(-2j * np.pi * np.outer(np.arange(n_bins), np.arange(win)) / n_fft)  # zero-padded to 512
    n_frames = 1 + (len(y16k) - win) // hop
    log_mel = np.empty((n_frames, n_mels))
    for t in range(n_frames):
        magnitude = np.abs(dft @ (y16k[t * hop : t * hop + win] * window))
        log_mel[t] = np.log(magnitude @ weights + 0.01)
    n_examples = 1 + (n_frames - 96) // 96
    return np.stack([log_mel[i * 96 : i * 96 + 96] for i in range(n_examples)])


def test_matches_independent_computation(mono16k):
    expected = reference_examples(mono16k)
    got = waveform_to_examples(mono16k, 16000, normalize_peak=False)
    assert got.dtype == np.float32
    assert got.shape == expected.shape == (10, 96, 64)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_kaiser_best_is_resampy_default(clip):
    import resampy

    y, sr = clip
    y = y[:, : 2 * sr]  # 2 s keep the slow resampler quick
    mono16k = resampy.resample(y.mean(axis=0), sr, 16000, filter="kaiser_best")
    got = waveform_to_examples(y, sr, normalize_peak=False, resampler="kaiser_best")
    np.testing.assert_allclose(got, reference_examples(mono16k), rtol=0, atol=1e-6)


def test_ten_seconds_give_ten_examples(clip):
    y, sr = clip
    assert y.shape == (2, 441000)
    assert waveform_to_examples(y, sr, resampler="soxr_hq").shape == (10, 96, 64)


def test_file_to_examples_equals_waveform_path(clip):
    y, sr = clip
    np.testing.assert_allclose(
        file_to_examples(CLIP, resampler="soxr_hq"),
        waveform_to_examples(y.astype(np.float32), sr, resampler="soxr_hq"),
        rtol=0,
        atol=1e-5,
    )


def test_stereo_is_channel_mean_and_soundfile_layout_refused(clip):
    y, sr = clip
    y = y[:, : 2 * sr]
    np.testing.assert_array_equal(
        waveform_to_examples(y, sr, resampler="soxr_hq"),
        waveform_to_examples(y.mean(axis=0), sr, resampler="soxr_hq"),
    )
    with pytest.raises(ParameterError, match=r"y.shape=\(88200, 2\)"):
        waveform_to_examples(y.T, sr)


def test_peak_normalisation(mono16k):
    quiet = 0.25 * mono16k
    normalised = waveform_to_examples(quiet, 16000)
    expected = waveform_to_examples(mono16k / np.max(np.abs(mono16k)), 16000, normalize_peak=False)
    np.testing.assert_allclose(normalised, expected, rtol=0, atol=1e-5)
    raw = waveform_to_examples(quiet, 16000, normalize_peak=False)
    assert np.max(np.abs(raw - normalised)) > 0.5  # the gain really matters for log(mel + 0.01)


def test_silence_is_not_normalised():
    got = waveform_to_examples(np.zeros(16000 * 2), 16000)
    np.testing.assert_allclose(got, np.log(0.01), rtol=1e-6)


def test_short_input_gives_no_examples_with_warning():
    min_samples = 400 + 95 * 160
    rng = np.random.default_rng(0)
    assert waveform_to_examples(rng.normal(size=min_samples), 16000).shape == (1, 96, 64)
    for n in (min_samples - 1, 8000, 10):
        with pytest.warns(UserWarning, match="shorter than one VGGish example"):
            got = waveform_to_examples(rng.normal(size=n), 16000)
        assert got.shape == (0, 96, 64)
        assert got.dtype == np.float32


@pytest.mark.parametrize(
    ("y", "shown"),
    [
        (np.zeros((2, 0)), r"y.shape=\(2, 0\)"),
        (np.zeros(0), r"y.shape=\(0,\)"),
        (np.zeros((1, 2, 3)), r"y.shape=\(1, 2, 3\)"),
        (np.array([0.1, np.nan] * 9000), r"NaN.*y.shape=\(18000,\)"),
    ],
)
def test_bad_input_raises_parameter_error(y, shown):
    with pytest.raises(ParameterError, match=shown):
        waveform_to_examples(y, 16000)


def test_bad_options_raise():
    y = np.zeros(20000)
    with pytest.raises(ParameterError, match="resampler='linear'"):
        waveform_to_examples(y, 16000, resampler="linear")
    with pytest.raises(ParameterError, match="sr=0"):
        waveform_to_examples(y, 0)


def test_mel_matrix_properties():
    weights = mel_matrix()
    assert weights.shape == (257, 64)
    assert np.all(weights[0] == 0)
    assert np.all(weights >= 0) and weights.max() <= 1.0
    # Bins above 7500 Hz (bin 240 = 7500 Hz) carry no weight; every band has some.
    assert np.all(weights[241:] == 0)
    assert np.all(weights.sum(axis=0) > 0)
