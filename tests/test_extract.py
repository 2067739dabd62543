"""Tests of cached, resumable feature extraction on real and synthetic OGG clips."""

import errno
import hashlib
import json
import os
import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_files import REAL_CLIP as CLIP
from audio_files import write_cut, write_tone

from core.errors import DatasetError, ParameterError
from features.audio import load_audio
from features.extract import EXTRACTORS, Extractor, FeatureCache, extract_dataset
from features.logmel import logmel
from features.vggish import waveform_to_examples


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Two copies of the real clip, a synthetic 10 s tone, and five clips with faults of their own."""
    folder = tmp_path_factory.mktemp("audio")
    paths = {}
    for key in ("real_a", "real_b"):
        paths[key] = Path(shutil.copy(CLIP, folder / f"{key}.ogg"))
    paths["tone"] = write_tone(folder / "tone.ogg", 10.0)
    paths["short"] = write_tone(folder / "short.ogg", 4.0)
    paths["corrupt"] = folder / "corrupt.ogg"
    paths["corrupt"].write_bytes(CLIP.read_bytes()[:200] + bytes(range(256)) * 8)
    paths["missing"] = folder / "missing.ogg"
    paths["cut"] = write_cut(folder / "cut.ogg", 0.5)
    paths["empty"] = folder / "empty.ogg"
    paths["empty"].write_bytes(b"")
    return paths


@pytest.fixture(scope="module")
def logmel_cache(clips, tmp_path_factory) -> FeatureCache:
    cache_dir = tmp_path_factory.mktemp("cache")
    return extract_dataset(list(clips.values()), list(clips), "logmel", cache_dir, n_jobs=2, progress=False)


def test_logmel_rows_match_direct_computation(logmel_cache, clips):
    cache = logmel_cache
    assert cache.data.shape == (8, 128, 1000) and cache.data.dtype == np.float16
    assert list(cache.keys) == list(clips)
    y, sr = load_audio(clips["tone"])
    np.testing.assert_array_equal(cache.data[2], logmel(y, sr))
    np.testing.assert_array_equal(cache.data[0], cache.data[1])
    assert not cache.data.flags.writeable


def _state(path: Path, root: Path | None = None) -> dict | str:
    """The file record a cache must hold, from os.stat and hashlib on the whole file."""
    if not path.exists():
        return "missing"
    name = path.relative_to(root).as_posix() if root is not None else path.as_posix()
    return {"path": name, "size": os.stat(path).st_size, "mtime_ns": os.stat(path).st_mtime_ns,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_bad_clips_are_marked_with_their_own_problems(logmel_cache, clips):
    cache = logmel_cache
    assert cache.ok.tolist() == [True, True, True, False, False, False, False, False]
    y, sr = sf.read(clips["cut"])
    assert cache.problems == {
        "short": "duration 4.000 s, expected 10.000 s",
        "corrupt": "unreadable: supported file format but file is malformed",
        "missing": "audio file missing",
        "cut": f"duration {len(y) / sr:.3f} s, expected 10.000 s",
        "empty": "empty",
    }
    assert np.all(cache.data[3:] == 0)
    manifest = json.loads((cache.path / "manifest.json").read_text())
    assert manifest["shape"] == [8, 128, 1000] and manifest["dtype"] == "float16"
    assert manifest["n_ok"] == 3 and "numpy" in manifest["versions"]
    assert manifest["problems"] == cache.problems
    assert manifest["files"] == {key: _state(path) for key, path in clips.items()}
    assert manifest["files"]["missing"] == "missing"


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


def counting(y, sr, params, *, log: Path, stop_after: int | None, error=KeyboardInterrupt):
    """Extractor that records each call and raises `error` (Ctrl-C) after `stop_after` calls."""
    with log.open("a") as f:
        f.write(f"{y.shape[1]}\n")
    if stop_after is not None and len(log.read_text().splitlines()) > stop_after:
        raise error
    return np.full(2, y.shape[1], dtype=np.float32)


def _use_counting(monkeypatch, log: Path, stop_after: int | None = None, **kwargs) -> None:
    spec = Extractor(partial(counting, log=log, stop_after=stop_after, **kwargs), {}, lambda p: (2,), "float32")
    monkeypatch.setitem(EXTRACTORS, "counting", spec)


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_interrupted_run_resumes_without_redoing_finished_chunks(clips, tmp_path, monkeypatch):
    log = tmp_path / "calls.txt"
    keys = [f"clip{i}" for i in range(7)]
    paths = [clips["tone"]] * 7

    def run(stop_after):
        _use_counting(monkeypatch, log, stop_after)
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


def test_a_bad_extractor_parameter_is_not_cached(clips, tmp_path):
    keys = ["real_a", "corrupt", "tone"]
    paths = [clips[k] for k in keys]
    for _ in range(2):  # raised again: nothing was recorded as a problem of the clips
        with pytest.raises(ParameterError, match="fmax=9000"):
            extract_dataset(paths, keys, "logmel", tmp_path, params={"fmax": 9000.0}, n_jobs=2, progress=False)
    (folder,) = tmp_path.iterdir()
    assert not (folder / "manifest.json").exists() and not list(folder.glob("chunks/*.json"))
    cache = extract_dataset(paths, keys, "logmel", tmp_path, params={"fmax": 7000.0}, n_jobs=2, progress=False)
    assert cache.ok.tolist() == [True, False, True] and list(cache.problems) == ["corrupt"]


def test_an_error_that_is_not_the_clips_stops_the_run_and_is_not_cached(clips, tmp_path, monkeypatch):
    log = tmp_path / "calls.txt"
    keys = [f"clip{i}" for i in range(7)]
    paths = [clips["tone"]] * 7
    paths[1] = clips["corrupt"]  # chunk 0 holds a clip with a problem of its own
    passing_fault = OSError(errno.EIO, "Input/output error")

    def run(stop_after):
        _use_counting(monkeypatch, log, stop_after, error=passing_fault)
        return extract_dataset(paths, keys, "counting", tmp_path / "cache", n_jobs=1, progress=False, chunk_size=3)

    with pytest.raises(OSError, match="Input/output error"):
        run(stop_after=3)  # clips 0 and 2 (chunk 0), 3, then the fault at clip 4 (chunk 1)
    folder = next((tmp_path / "cache").iterdir())
    assert not (folder / "manifest.json").exists()
    assert sorted(p.name for p in (folder / "chunks").iterdir()) == ["00000.json"]
    corrupt = "unreadable: supported file format but file is malformed"
    assert json.loads((folder / "chunks" / "00000.json").read_text()) == {
        "files": {f"clip{i}": _state(paths[i]) for i in range(3)}, "problems": {"clip1": corrupt}
    }

    log.unlink()
    cache = run(stop_after=None)
    assert _calls(log) == 4  # chunks 1 and 2 only
    assert cache.problems == {"clip1": corrupt}
    assert cache.ok.tolist() == [True, False, True, True, True, True, True]


def test_an_unusable_cache_folder_stops_the_run_and_a_rerun_completes(clips, tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    keys = ["tone", "corrupt"]
    paths = [clips[k] for k in keys]
    with pytest.raises(OSError):
        extract_dataset(paths, keys, "logmel", blocker / "features", n_jobs=1, progress=False)
    blocker.unlink()
    cache = extract_dataset(paths, keys, "logmel", blocker / "features", n_jobs=1, progress=False)
    assert cache.ok.tolist() == [True, False]


def test_a_recorded_problem_is_checked_again_when_its_file_changes(tmp_path, monkeypatch):
    folder = tmp_path / "audio"
    folder.mkdir()
    paths = [
        Path(shutil.copy(CLIP, folder / "good.ogg")),
        write_cut(folder / "cut.ogg", 0.5),
        folder / "gone.ogg",
        write_tone(folder / "short.ogg", 4.0),
    ]
    keys = ["good", "cut", "gone", "short"]
    log = tmp_path / "calls.txt"
    _use_counting(monkeypatch, log)

    def run():
        return extract_dataset(paths, keys, "counting", tmp_path / "cache", n_jobs=2, progress=False, chunk_size=2)

    first = run()
    assert first.ok.tolist() == [True, False, False, False] and _calls(log) == 1
    manifest = first.path / "manifest.json"
    written = manifest.stat().st_mtime_ns
    run()
    assert _calls(log) == 1 and manifest.stat().st_mtime_ns == written  # nothing changed

    write_tone(paths[1], 10.0)  # the truncated clip is replaced with good audio
    shutil.copy(CLIP, paths[2])  # the missing one appears
    os.utime(paths[3], ns=(10**9, 10**9))  # the short one is touched: same bytes, still short
    again = run()
    assert again.ok.tolist() == [True, True, True, False]
    assert _calls(log) == 3  # the two replaced clips only; the touched one is hashed, not decoded
    np.testing.assert_array_equal(again.data[:3], 441000)
    np.testing.assert_array_equal(again.data[3], 0)
    records = json.loads(manifest.read_text())
    assert records["problems"] == {"short": "duration 4.000 s, expected 10.000 s"}
    assert records["files"] == {key: _state(path) for key, path in zip(keys, paths, strict=True)}
    assert records["files"]["short"]["mtime_ns"] == 10**9 and records["n_ok"] == 3
    run()
    assert _calls(log) == 3


def test_a_cache_of_another_format_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format_version": 1, "problems": {"a": "why"}}))
    with pytest.raises(DatasetError, match=r"format version 1, this toolkit reads 3: it was written by another version.*Delete"):
        FeatureCache.open(tmp_path)


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
