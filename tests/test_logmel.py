"""Tests of the CNN log-mel front end."""

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import soxr

from core.errors import ParameterError
from features.logmel import LOG_EPS, LOGMEL_PARAMS, logmel

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    data, sr = sf.read(CLIP, dtype="float32", always_2d=True)
    return data.T, sr


def test_shape_and_dtype_on_real_clip(clip):
    y, sr = clip
    S = logmel(y, sr)
    assert S.shape == (LOGMEL_PARAMS["n_mels"], LOGMEL_PARAMS["n_frames"]) == (128, 1000)
    assert S.dtype == np.float16
    assert np.all(np.isfinite(S))
    assert np.log(LOG_EPS) - 0.01 <= S.min() and S.max() < 12  # natural-log range of real music


@pytest.mark.parametrize("freq_hz", [220.0, 1000.0, 4000.0])
def test_pure_tone_lands_in_its_band(freq_hz):
    sr = 22050
    t = np.arange(10 * sr) / sr
    S = logmel(0.5 * np.sin(2 * np.pi * freq_hz * t), sr).astype(np.float32)
    centres = librosa.mel_frequencies(
        n_mels=130, fmin=LOGMEL_PARAMS["fmin"], fmax=LOGMEL_PARAMS["fmax"]
    )[1:-1]
    loudest = int(np.argmax(S[:, 10:-10].mean(axis=1)))
    assert abs(loudest - int(np.argmin(np.abs(centres - freq_hz)))) <= 1
    # Far-away bands stay near silence (the Hann window's side lobes decay fast).
    assert S[loudest].mean() - S[:, 10:-10].mean(axis=1).min() > 15


def test_short_input_is_padded_with_silence_and_long_cropped():
    sr = 16000
    rng = np.random.default_rng(0)
    short = logmel(rng.uniform(-0.5, 0.5, size=sr), sr)  # 1 s -> 101 frames, then silence
    assert short.shape == (128, 1000)
    assert np.all(short[:, 102:] == np.float16(np.log(LOG_EPS)))
    assert np.all(short[:, :100] > np.log(LOG_EPS) + 1)
    long = rng.uniform(-0.5, 0.5, size=12 * sr)
    np.testing.assert_array_equal(logmel(long, sr)[:, :900], logmel(long[: 10 * sr], sr)[:, :900])


def test_params_change_output(clip):
    y, sr = clip
    base = logmel(y, sr)
    assert logmel(y, sr, n_mels=64).shape == (64, 1000)
    assert logmel(y, sr, n_frames=500).shape == (128, 500)
    changed = logmel(y, sr, fmin=200.0).astype(np.float32)
    assert np.max(np.abs(changed - base.astype(np.float32))) > 0.5
    coarse = logmel(y, sr, hop_length=320).astype(np.float32)
    assert np.all(coarse[:, 501:] == np.float16(np.log(LOG_EPS)))  # 10 s at 20 ms hop = 501 frames


def test_stereo_is_channel_mean(clip):
    y, sr = clip
    y = y[:, : 3 * sr]
    np.testing.assert_array_equal(logmel(y, sr), logmel(y.mean(axis=0), sr))
    with pytest.raises(ParameterError, match=r"y.shape=\(132300, 2\)"):
        logmel(y.T, sr)


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"y": np.zeros((2, 0))}, r"y.shape=\(2, 0\)"),
        ({"y": np.full(100, np.inf)}, r"infinite"),
        ({"fmax": 9000.0}, r"fmax=9000.0"),
        ({"n_frames": 0}, r"n_frames=0"),
    ],
)
def test_bad_input_raises(kwargs, shown):
    kwargs = {"y": np.zeros(16000), **kwargs}
    with pytest.raises(ParameterError, match=shown):
        logmel(sr=16000, **kwargs)


def test_equals_librosa_melspectrogram(clip):
    """Same numbers as librosa's own centred STFT + Slaney mel power, to float16 precision."""
    y, sr = clip
    mono16k = soxr.resample(y.mean(axis=0), sr, 16000, quality="HQ")
    mel = librosa.feature.melspectrogram(
        y=mono16k, sr=16000, n_fft=1024, hop_length=160, n_mels=128, fmin=20.0, fmax=8000.0, power=2.0
    )
    expected = np.log(mel[:, :1000] + LOG_EPS)
    got = logmel(y, sr).astype(np.float32)
    np.testing.assert_allclose(got, expected, rtol=0, atol=np.abs(expected).max() * 2**-10)
