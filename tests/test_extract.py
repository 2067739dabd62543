"""Tests of cached, resumable feature extraction on real and synthetic OGG clips."""

import json
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.errors import DatasetError, ParameterError
from features.audio import load_audio
from features.extract import EXTRACTORS, Extractor, FeatureCache, extract_dataset
from features.logmel import logmel
from features.vggish import waveform_to_examples

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"


def write_tone_ogg(path: Path, seconds: float, freq_hz: float = 440.0, sr: int = 44100) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    left = 0.3 * np.sin(2 * np.pi * freq_hz * t)
    sf.write(path, np.stack([left, 0.5 * left], axis=1), sr, format="OGG", subtype="VORBIS")
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two copies of the real clip, a synthetic 10 s tone, a short, a corrupt and a missing clip."""
    folder = tmp_path_factory.mktemp("audio")
    paths = {}
    for key in ("real_a", "real_b"):
        paths[key] = Path(shutil.copy(CLIP, folder / f"{key}.ogg"))
    paths["tone"] = write_tone_ogg(folder / "tone.ogg", 10.0)
    paths["short"] = write_tone_ogg(folder / "short.ogg", 4.0)
    paths["corrupt"] = folder / "corrupt.ogg"
    paths["corrupt"].write_bytes(CLIP.read_bytes()[:200] + bytes(range(256)) * 8)
    paths["missing"] = folder / "missing.ogg"
    return paths


@pytest.fixture(scope="module")
def logmel_cache(clips, tmp_path_factory) -> FeatureCache:
    cache_dir = tmp_path_factory.mktemp("cache")
    return extract_dataset(list(clips.values()), list(clips), "logmel", cache_dir, n_jobs=2, progress=False)


def test_logmel_rows_match_direct_computation(logmel_cache, clips):
    cache = logmel_cache
    assert cache.data.shape == (6, 128, 1000) and cache.data.dtype == np.float16
    assert list(cache.keys) == list(clips)
    y, sr = load_audio(clips["tone"])
    np.testing.assert_array_equal(cache.data[2], logmel(y, sr))
    np.testing.assert_array_equal(cache.data[0], cache.data[1])
    assert not cache.data.flags.writeable


def test_bad_clips_are_marked_with_reasons(logmel_cache):
    cache = logmel_cache
    assert cache.ok.tolist() == [True, True, True, False, False, False]
    assert set(cache.problems) == {"short", "corrupt", "missing"}
    assert "lasts 4.000 s" in cache.problems["short"]
    assert "cannot be decoded" in cache.problems["corrupt"]
    assert "does not exist" in cache.problems["missing"]
    assert np.all(cache.data[3:] == 0)
    manifest = json.loads((cache.path / "manifest.json").read_text())
    assert manifest["shape"] == [6, 128, 1000] and manifest["dtype"] == "float16"
    assert manifest["problems"] == cache.problems and "numpy" in manifest["versions"]


def test_second_call_reuses_cache(logmel_cache, clips):
    manifest = logmel_cache.path / "manifest.json"
    before = manifest.stat().st_mtime_ns
    again = extract_dataset(list(clips.values()), list(clips), "logmel", logmel_cache.path.parent, n_jobs=2, progress=False)
    assert again.path == logmel_cache.path
    assert manifest.stat().st_mtime_ns == before
    np.testing.assert_array_equal(again.data, logmel_cache.data)


def test_changed_params_make_a_new_cache(logmel_cache, clips):
    keys = ["real_a", "tone"]
    paths = [clips[k] for k in keys]
    other = extract_dataset(paths, keys, "logmel", logmel_cache.path.parent, params={"n_mels": 64}, n_jobs=1, progress=False)
    assert other.path != logmel_cache.path
    assert other.data.shape == (2, 64, 1000) and other.params["n_mels"] == 64
    assert other.ok.all()


def test_vggish_examples_extractor(clips, tmp_path):
    keys = ["real_a", "short"]
    cache = extract_dataset(
        [clips[k] for k in keys], keys, "vggish_examples", tmp_path,
        params={"resampler": "soxr_hq", "expected_duration_s": None}, n_jobs=1, progress=False,
    )
    assert cache.data.shape == (2, 10, 96, 64) and cache.data.dtype == np.float32
    assert cache.ok.all()
    y, sr = load_audio(clips["real_a"])
    np.testing.assert_array_equal(cache.data[0], waveform_to_examples(y, sr, resampler="soxr_hq"))
    # A 4 s clip has 4 examples, then the log of silence.
    y, sr = load_audio(clips["short"])
    np.testing.assert_array_equal(cache.data[1, :4], waveform_to_examples(y, sr, resampler="soxr_hq"))
    np.testing.assert_allclose(cache.data[1, 4:], np.log(0.01), rtol=1e-6)


def counting(y, sr, params, *, log: Path, stop_after: int | None):
    """Extractor that records each call and can simulate Ctrl-C after `stop_after` calls."""
    with log.open("a") as f:
        f.write(f"{y.shape[1]}\n")
    if stop_after is not None and len(log.read_text().splitlines()) > stop_after:
        raise KeyboardInterrupt
    return np.full(2, y.shape[1], dtype=np.float32)


def test_interrupted_run_resumes_without_redoing_finished_chunks(clips, tmp_path, monkeypatch):
    log = tmp_path / "calls.txt"
    keys = [f"clip{i}" for i in range(7)]
    paths = [clips["tone"]] * 7

    def run(stop_after):
        spec = Extractor(partial(counting, log=log, stop_after=stop_after), {}, lambda p: (2,), "float32")
        monkeypatch.setitem(EXTRACTORS, "counting", spec)
        return extract_dataset(paths, keys, "counting", tmp_path / "cache", n_jobs=1, progress=False, chunk_size=3)

    with pytest.raises(KeyboardInterrupt):
        run(stop_after=4)  # chunk 0 (3 clips) finishes, chunk 1 dies on its second clip
    folder = next((tmp_path / "cache").iterdir())
    assert not (folder / "manifest.json").exists()
    assert sorted(p.name for p in (folder / "chunks").iterdir()) == ["00000.json"]
    assert len(log.read_text().splitlines()) == 5

    log.unlink()
    cache = run(stop_after=None)
    assert len(log.read_text().splitlines()) == 4  # chunks 1 and 2 only
    assert cache.ok.all() and np.all(cache.data == 441000)

    log.unlink()
    run(stop_after=None)
    assert not log.exists()  # complete cache: nothing computed


def test_bad_arguments(clips, tmp_path):
    with pytest.raises(ParameterError, match="'mfcc'"):
        extract_dataset([clips["tone"]], ["a"], "mfcc", tmp_path)
    with pytest.raises(ParameterError, match="given 1 and 2"):
        extract_dataset([clips["tone"]], ["a", "b"], "logmel", tmp_path)
    with pytest.raises(ParameterError, match="empty"):
        extract_dataset([], [], "logmel", tmp_path)
    with pytest.raises(ParameterError, match="duplicates"):
        extract_dataset([clips["tone"]] * 2, ["a", "a"], "logmel", tmp_path)
    with pytest.raises(ParameterError, match=r"unknown parameters \['n_bands'\]"):
        extract_dataset([clips["tone"]], ["a"], "logmel", tmp_path, params={"n_bands": 3})
    with pytest.raises(DatasetError, match=r"no manifest\.json"):
        FeatureCache.open(tmp_path)
