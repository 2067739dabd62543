"""The feature cache knows which audio each row came from; model keys know their features.

Real extraction (the log-mel extractor, real OGG files) at the cache's level: a changed clip is
computed again and only it, a moved or copied dataset reuses every row, the same keys with other
audio never reuse a row, damaged cache files are computed again and never read as features. At the
command's level: two datasets with the same keys and different audio sharing one cache folder give
each its own results, equal to a run on a fresh cache, and a moved dataset reuses every stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from audio_files import write_tone

from core.errors import DatasetError
from features.audio import load_audio
from features.extract import EXTRACTORS, Extractor, FeatureCache, extract_dataset
from features.logmel import logmel

ROOT = Path(__file__).resolve().parents[1]
KEYS = [f"clip{i}" for i in range(5)]


def logged_logmel(y, sr, params, *, log: Path):
    """The real log-mel extractor, writing the SHA-1 of each decoded signal it is given to `log`."""
    with log.open("a") as f:
        f.write(hashlib.sha1(y.tobytes()).hexdigest() + "\n")
    return logmel(y, sr)


def _decoded(path: Path) -> str:
    y, _ = load_audio(path)
    return hashlib.sha1(y.tobytes()).hexdigest()


@pytest.fixture
def logged(tmp_path, monkeypatch):
    """Registers extractor "logged" (log-mel that logs what it computes); returns the log."""
    log = tmp_path / "computed.txt"
    spec = EXTRACTORS["logmel"]
    defaults = {"n_mels": 128, "n_frames": 1000}  # what spec.shape reads; logmel's own defaults
    monkeypatch.setitem(EXTRACTORS, "logged", Extractor(partial(logged_logmel, log=log), defaults,
                                                        spec.shape, spec.dtype))
    return log


def _dataset(root: Path, freqs) -> list[Path]:
    paths = []
    for key, freq in zip(KEYS, freqs, strict=True):
        path = root / "audio" / key[:3] / f"{key}.ogg"
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(write_tone(path, 10.0, freq_hz=freq))
    return paths


def _extract(root: Path, cache: Path, paths=None):
    paths = paths or [root / "audio" / k[:3] / f"{k}.ogg" for k in KEYS]
    return extract_dataset(paths, KEYS, "logged", cache, root=root, n_jobs=1, progress=False,
                           chunk_size=2)


def _computed(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def _expected_rows(paths) -> np.ndarray:
    return np.stack([logmel(*load_audio(p)) for p in paths])


def test_changing_one_clips_audio_recomputes_that_clip_only(tmp_path, logged):
    paths = _dataset(tmp_path / "data", [220, 330, 440, 550, 660])
    first = _extract(tmp_path / "data", tmp_path / "cache")
    assert len(_computed(logged)) == 5
    before = np.array(first.data)
    write_tone(paths[2], 10.0, freq_hz=880)  # new audio, same name
    again = _extract(tmp_path / "data", tmp_path / "cache")
    assert again.path == first.path
    assert _computed(logged) == [_decoded(paths[2])]  # that clip, nothing else
    np.testing.assert_array_equal(again.data, _expected_rows(paths))
    np.testing.assert_array_equal(np.delete(np.asarray(again.data), 2, 0), np.delete(before, 2, 0))
    assert again.identity != first.identity
    manifest = json.loads((again.path / "manifest.json").read_text())
    assert manifest["files"]["clip2"]["sha256"] == hashlib.sha256(paths[2].read_bytes()).hexdigest()
    assert manifest["files"]["clip2"]["path"] == "audio/cli/clip2.ogg"
    _extract(tmp_path / "data", tmp_path / "cache")
    assert _computed(logged) == []


def test_a_moved_or_copied_dataset_reuses_every_row(tmp_path, logged):
    _dataset(tmp_path / "data", [220, 330, 440, 550, 660])
    first = _extract(tmp_path / "data", tmp_path / "cache")
    _computed(logged)
    manifest = first.path / "manifest.json"
    written = manifest.read_bytes()

    os.rename(tmp_path / "data", tmp_path / "moved")  # same files, same times, another folder
    moved = _extract(tmp_path / "moved", tmp_path / "cache")
    assert _computed(logged) == [] and manifest.read_bytes() == written
    assert moved.identity == first.identity

    # A copy gets new modification times: its files are hashed, found equal, and their records
    # refreshed so that the next call needs no hashing either.
    shutil.copytree(tmp_path / "moved", tmp_path / "copy", copy_function=shutil.copyfile)
    copied = _extract(tmp_path / "copy", tmp_path / "cache")
    assert _computed(logged) == [] and copied.identity == first.identity
    np.testing.assert_array_equal(copied.data, first.data)
    files = json.loads(manifest.read_text())["files"]
    assert files["clip0"]["mtime_ns"] == (tmp_path / "copy/audio/cli/clip0.ogg").stat().st_mtime_ns


def test_the_same_keys_with_other_audio_reuse_no_row(tmp_path, logged):
    paths_a = _dataset(tmp_path / "a", [220, 330, 440, 550, 660])
    paths_b = _dataset(tmp_path / "b", [250, 350, 450, 650, 750])
    a = _extract(tmp_path / "a", tmp_path / "cache")
    _computed(logged)
    b = _extract(tmp_path / "b", tmp_path / "cache")
    assert sorted(_computed(logged)) == sorted(_decoded(p) for p in paths_b)
    np.testing.assert_array_equal(b.data, _expected_rows(paths_b))
    fresh = _extract(tmp_path / "b", tmp_path / "fresh")
    assert fresh.identity == b.identity != a.identity
    a_again = _extract(tmp_path / "a", tmp_path / "cache")
    np.testing.assert_array_equal(a_again.data, _expected_rows(paths_a))


def test_a_truncated_data_file_is_computed_again_never_read(tmp_path, logged):
    paths = _dataset(tmp_path / "data", [220, 330, 440, 550, 660])
    first = _extract(tmp_path / "data", tmp_path / "cache")
    _computed(logged)
    data = first.path / "data.npy"
    size = data.stat().st_size
    del first
    with open(data, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(DatasetError, match="truncated"):
        FeatureCache.open(data.parent)
    again = _extract(tmp_path / "data", tmp_path / "cache")
    assert len(_computed(logged)) == 5 and data.stat().st_size == size
    np.testing.assert_array_equal(again.data, _expected_rows(paths))


def test_a_damaged_manifest_is_rebuilt_from_the_finished_chunks(tmp_path, logged):
    paths = _dataset(tmp_path / "data", [220, 330, 440, 550, 660])
    first = _extract(tmp_path / "data", tmp_path / "cache")
    _computed(logged)
    manifest = first.path / "manifest.json"
    manifest.write_text(manifest.read_text()[:100])  # cut short, as by a full disk
    write_tone(paths[4], 10.0, freq_hz=990)  # and one clip changed meanwhile
    again = _extract(tmp_path / "data", tmp_path / "cache")
    assert _computed(logged) == [_decoded(paths[4])]
    np.testing.assert_array_equal(again.data, _expected_rows(paths))
    assert json.loads(manifest.read_text())["n_ok"] == 5


def test_a_cache_written_by_another_format_is_an_error_not_a_recomputation(tmp_path, logged):
    _dataset(tmp_path / "data", [220, 330, 440, 550, 660])
    first = _extract(tmp_path / "data", tmp_path / "cache")
    manifest = first.path / "manifest.json"
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**record, "format_version": 99}))
    with pytest.raises(DatasetError, match=r"format version 99.*another version.*Delete"):
        _extract(tmp_path / "data", tmp_path / "cache")
    assert json.loads(manifest.read_text())["format_version"] == 99  # left as it was


# ------------------------------------------------------------------------- the command's level


def _with_musicnn_weights(cache: Path) -> Path:
    """Link the musicnn weights fetched once into the user's cache into `cache` (no download)."""
    from features.musicnn import fetch_weights

    version_dir = next(iter(fetch_weights().values())).parent
    (cache / "musicnn").mkdir(parents=True, exist_ok=True)
    (cache / "musicnn" / version_dir.name).symlink_to(version_dir, target_is_directory=True)
    return cache


def _compare(args: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENMIC_COMPARE_CACHE": str(cache), "OPENMIC_ROOT": ""}
    return subprocess.run([sys.executable, str(ROOT / "compare.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _tones(root: Path, offset: float) -> Path:
    """Give every clip of the folder its own 10 s tone (frequency from its key and `offset`)."""
    for i, path in enumerate(sorted((root / "audio").rglob("*.ogg"))):
        path.unlink()
        write_tone(path, 10.0, freq_hz=200.0 + 37.0 * i + offset)
    return root


def _proba(run: Path) -> np.ndarray:
    with np.load(run / "predictions.npz") as z:
        return z["proba_lr@musicnn"]


@pytest.mark.slow
def test_two_datasets_with_the_same_keys_share_a_cache_without_sharing_results(
    tmp_path, openmic_factory
):
    a = _tones(openmic_factory("a", n_clips=24, audio="copy"), 0.0)
    b = _tones(openmic_factory("b", n_clips=24, audio="copy"), 11.0)  # same keys and labels
    cache = _with_musicnn_weights(tmp_path / "cache")
    fresh = _with_musicnn_weights(tmp_path / "fresh-cache")
    args = ["--models", "lr", "--embeddings", "musicnn", "--cv-folds", "2", "--jobs", "2"]

    def run(data: Path, name: str, where: Path) -> Path:
        res = _compare([*args, "--data", str(data), "--out", str(tmp_path / name)], tmp_path, where)
        assert res.returncode == 0, res.stderr[-3000:]
        return tmp_path / name

    run_a = run(a, "run-a", cache)
    run_b = run(b, "run-b", cache)
    run_b_fresh = run(b, "run-b-fresh", fresh)
    np.testing.assert_array_equal(_proba(run_b), _proba(run_b_fresh))
    assert not np.allclose(_proba(run_a), _proba(run_b))

    # The same dataset moved elsewhere: every stage comes from the cache, the same predictions.
    moved = tmp_path / "b-moved"
    os.rename(b, moved)
    res = _compare([*args, "--data", str(moved), "--out", str(tmp_path / "run-moved")], tmp_path, cache)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "reused from cache" in res.stderr
    assert json.loads((tmp_path / "run-moved" / "run.json").read_text())["models"]["lr@musicnn"][
        "reused_from_cache"] is True
    np.testing.assert_array_equal(_proba(tmp_path / "run-moved"), _proba(run_b))


def test_a_cache_folder_of_another_version_exits_2_and_names_the_fix(tmp_path, openmic_factory):
    data = openmic_factory("data", n_clips=24, audio=None)
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)  # what a version before cache.json left
    args = ["--data", str(data), "--models", "lr", "--embeddings", "release", "--cv-folds", "2"]
    res = _compare([*args, "--out", str(tmp_path / "run")], tmp_path, cache)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "cache format 1" in res.stderr and str(cache / "models") in res.stderr
    assert "--cache-dir" in res.stderr
    shutil.rmtree(cache / "models")
    res = _compare([*args, "--out", str(tmp_path / "run2")], tmp_path, cache)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((cache / "cache.json").read_text())["cache_format"] == 2
