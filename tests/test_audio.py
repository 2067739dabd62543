"""Tests of the decoding and small signal helpers in features.audio."""

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_files import REAL_CLIP as CLIP
from audio_files import write_cut, write_tone

from core.errors import DatasetError, ParameterError
from features.audio import (
    CLIP_DURATION_S,
    ClipError,
    frame,
    load_audio,
    periodic_hann,
    probe_audio,
    to_mono,
)


def test_load_real_clip_in_librosa_layout():
    y, sr = load_audio(CLIP, expected_duration_s=CLIP_DURATION_S)
    data, _ = sf.read(CLIP, dtype="float32")
    assert (y.shape, y.dtype, sr) == ((2, 441000), np.float32, 44100)
    np.testing.assert_array_equal(y, data.T)


def _clip_error(check, path, **kwargs) -> ClipError:
    with pytest.raises(ClipError) as info:
        check(path, **kwargs)
    return info.value


@pytest.mark.parametrize("check", [load_audio, probe_audio])
def test_each_clip_problem_in_plain_words(tmp_path, check):
    missing = _clip_error(check, tmp_path / "missing.ogg")
    assert missing.problem == "audio file missing" and missing.path == tmp_path / "missing.ogg"
    assert str(missing).startswith(f"{tmp_path / 'missing.ogg'}: audio file missing; check the")
    (tmp_path / "empty.ogg").write_bytes(b"")
    assert _clip_error(check, tmp_path / "empty.ogg").problem == "empty"
    write_tone(tmp_path / "silent.ogg", 0.0)  # headers, no samples
    assert _clip_error(check, tmp_path / "silent.ogg").problem == "empty"
    (tmp_path / "bad.ogg").write_bytes(b"not audio, " * 100)
    assert _clip_error(check, tmp_path / "bad.ogg").problem == "unreadable: format not recognised"
    (tmp_path / "folder.ogg").mkdir()
    assert _clip_error(check, tmp_path / "folder.ogg").problem == "unreadable: not a regular file"
    head = write_cut(tmp_path / "head.ogg", 3000 / CLIP.stat().st_size)  # inside the headers
    assert _clip_error(check, head).problem == (
        "unreadable: supported file format but file is malformed"
    )
    seven = write_tone(tmp_path / "seven.ogg", 7.32)
    assert check(seven)[-1] == 44100  # no duration asked for
    error = _clip_error(check, seven, expected_duration_s=CLIP_DURATION_S)
    assert error.problem == "duration 7.320 s, expected 10.000 s"
    assert "allowed +- 0.01 s" in str(error)
    # Cut bytes: the rest decodes without error into a shorter signal; the length shows it.
    cut = _clip_error(check, write_cut(tmp_path / "cut.ogg", 0.75), expected_duration_s=10.0)
    assert cut.problem == f"duration {308032 / 44100:.3f} s, expected 10.000 s"


def test_header_and_decoded_lengths_agree_on_the_real_and_a_cut_clip(tmp_path):
    assert probe_audio(CLIP, expected_duration_s=CLIP_DURATION_S) == (441000, 44100)
    cut = write_cut(tmp_path / "cut.ogg", 0.5)
    n_samples, sr = probe_audio(cut)
    y, sr_decoded = load_audio(cut)
    assert (n_samples, sr) == (y.shape[1], sr_decoded) and n_samples < 441000 / 2 + 44100


def test_duration_tolerance_and_other_formats(tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(16000 * 9), 16000)
    assert load_audio(short)[0].shape == (1, 144000)
    with pytest.raises(ClipError, match=r"short\.wav: duration 9\.000 s, expected 10\.000 s"):
        load_audio(short, expected_duration_s=CLIP_DURATION_S)
    sf.write(short, np.zeros(160100), 16000)  # 10.006 s is within 0.01 s
    assert load_audio(short, expected_duration_s=CLIP_DURATION_S)[1] == 16000
    assert probe_audio(short, expected_duration_s=CLIP_DURATION_S) == (160100, 16000)


def test_non_finite_samples_are_found_by_decoding_only(tmp_path):
    y = np.zeros(16000 * 10, dtype=np.float32)
    y[5] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, 16000, subtype="FLOAT")
    assert probe_audio(path, expected_duration_s=CLIP_DURATION_S) == (160000, 16000)
    assert _clip_error(load_audio, path).problem == "non-finite samples (NaN or inf)"


def test_clip_error_is_a_dataset_error_that_survives_pickling(tmp_path):
    error = ClipError(tmp_path / "a.ogg", "empty")
    assert isinstance(error, DatasetError) and isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.path, again.problem) == (
        ClipError, str(error), error.path, "empty"
    )


def test_a_file_the_system_refuses_is_an_oserror_not_a_clip_problem(tmp_path):
    locked = Path(shutil.copy(CLIP, tmp_path / "locked.ogg"))
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("this process may read any file (root with CAP_DAC_OVERRIDE)")
    for check in (load_audio, probe_audio):
        with pytest.raises(PermissionError):
            check(locked)


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
