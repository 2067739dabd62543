"""Tests of the decoding and small signal helpers in features.audio."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import DatasetError, ParameterError
from features.audio import CLIP_DURATION_S, frame, load_audio, periodic_hann, to_mono

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"


def test_load_real_clip_in_librosa_layout():
    y, sr = load_audio(CLIP, expected_duration_s=CLIP_DURATION_S)
    data, _ = sf.read(CLIP, dtype="float32")
    assert (y.shape, y.dtype, sr) == ((2, 441000), np.float32, 44100)
    np.testing.assert_array_equal(y, data.T)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.ogg does not exist"):
        load_audio(tmp_path / "missing.ogg")
    bad = tmp_path / "bad.ogg"
    bad.write_bytes(b"OggS" + bytes(300))
    with pytest.raises(DatasetError, match=r"bad\.ogg cannot be decoded"):
        load_audio(bad)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(16000 * 9), 16000)
    assert load_audio(short)[0].shape == (1, 144000)  # no check asked for
    with pytest.raises(DatasetError, match=r"short\.wav lasts 9\.000 s, expected 10\.000"):
        load_audio(short, expected_duration_s=CLIP_DURATION_S)
    sf.write(short, np.zeros(160100), 16000)  # 10.006 s is within 0.01 s
    assert load_audio(short, expected_duration_s=CLIP_DURATION_S)[1] == 16000


def test_to_mono():
    y = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], dtype=np.float32)
    mono = to_mono(y)
    assert mono.dtype == np.float64 and mono.tolist() == [2.0, 3.0, 4.0]
    assert to_mono(y[0], dtype=np.float32).dtype == np.float32
    with pytest.raises(ParameterError, match=r"y.shape=\(3, 2\)"):
        to_mono(y.T)


def test_frame_and_window():
    x = np.arange(10)
    np.testing.assert_array_equal(frame(x, 4, 3), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert frame(x, 4, 4).shape == (2, 4)  # incomplete last frame dropped
    assert frame(x, 11, 1).shape == (0, 11)
    w = periodic_hann(8)
    np.testing.assert_allclose(w, [0, 0.1464466, 0.5, 0.8535534, 1, 0.8535534, 0.5, 0.1464466], atol=1e-7)
