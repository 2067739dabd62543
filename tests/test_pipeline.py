"""pipeline/: stage cache keys and folders, the facts a run records, the data stage's key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import ParameterError
from core.versions import RUN_LIBRARIES
from pipeline.cache import DONE, StageCache, code_fingerprint, fingerprint, write_json
from pipeline.facts import dataset_source, embedding_name, model_size, release_input, run_record
from pipeline.settings import Settings
from pipeline.stages import load_data

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("openmic-2018", {"epochs": 3, "width": 32}, [0, 1, 2], 0)


# ------------------------------------------------------------------------------ cache keys


def test_fingerprint_is_the_same_in_every_process():
    # Pinned: a key that changed between versions would silently orphan every cached stage.
    assert fingerprint(*PARTS) == "eb8cd81e156925dc"
    # The same digest computed independently: SHA-256 of the canonical JSON, first 16 hex digits.
    blob = json.dumps(list(PARTS), sort_keys=True).encode()
    assert fingerprint(*PARTS) == hashlib.sha256(blob).hexdigest()[:16]


def test_fingerprint_follows_every_part_but_not_dict_order():
    key = fingerprint(*PARTS)
    assert fingerprint("openmic-2018", {"width": 32, "epochs": 3}, [0, 1, 2], 0) == key
    for changed in (
        ("openmic-2019", {"epochs": 3, "width": 32}, [0, 1, 2], 0),
        ("openmic-2018", {"epochs": 4, "width": 32}, [0, 1, 2], 0),
        ("openmic-2018", {"epochs": 3, "width": 32}, [0, 2, 1], 0),
        ("openmic-2018", {"epochs": 3, "width": 32}, [0, 1, 2], 1),
        ("openmic-2018", {"epochs": 3, "width": 32}, [0, 1, 2]),
    ):
        assert fingerprint(*changed) != key, changed


def test_code_fingerprint_follows_the_package_source(tmp_path, monkeypatch):
    pkg = tmp_path / "fingerprint_probe_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("X = 1\n")
    (pkg / "notes.txt").write_text("not source")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = code_fingerprint("fingerprint_probe_pkg")
    assert code_fingerprint("fingerprint_probe_pkg") == before
    (pkg / "notes.txt").write_text("edited, still not source")
    assert code_fingerprint("fingerprint_probe_pkg") == before
    (pkg / "sub" / "a.py").write_text("X = 2\n")
    edited = code_fingerprint("fingerprint_probe_pkg")
    assert edited != before
    (pkg / "sub" / "a.py").rename(pkg / "sub" / "b.py")  # same code in another module
    assert code_fingerprint("fingerprint_probe_pkg") not in (before, edited)


@pytest.mark.parametrize("package", ["baselines", "cnn"])
def test_code_fingerprint_hashes_the_toolkits_own_package(package):
    """The packages whose code keys the cached models are found beside compare.py, as before."""
    folder = ROOT / package
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    assert code_fingerprint(package) == digest.hexdigest()[:16]


@pytest.mark.parametrize("name", ["no_such_package_here", "platform"])
def test_code_fingerprint_refuses_what_is_not_a_package(name):
    with pytest.raises(ParameterError, match=f"package={name!r}"):
        code_fingerprint(name)


# ---------------------------------------------------------------------------- cache folders


def test_published_output_is_found_once_done(tmp_path):
    cache = StageCache(tmp_path / "cache")
    run_dir = tmp_path / "run"
    assert cache.finished("models", "lr-abc") is None
    tmp = cache.scratch("models", run_dir)
    assert tmp.parent == tmp_path / "cache" / "models" and tmp.is_dir() and not any(tmp.iterdir())
    (tmp / "model.bin").write_bytes(b"weights")
    assert cache.finished("models", "lr-abc") is None  # work in progress is not an output
    final = cache.publish("models", "lr-abc", tmp, {"train_time_s": np.float64(2.5)})
    assert final == tmp_path / "cache" / "models" / "lr-abc"
    assert cache.finished("models", "lr-abc") == final
    assert not tmp.exists()
    assert (final / "model.bin").read_bytes() == b"weights"
    assert json.loads((final / DONE).read_text()) == {"train_time_s": 2.5}
    assert not run_dir.exists()  # with a cache, nothing is written into the run folder


def test_interrupted_output_is_not_reused_and_a_publish_replaces_it(tmp_path):
    cache = StageCache(tmp_path)
    stale = tmp_path / "models" / "cnn-k"
    stale.mkdir(parents=True)
    (stale / "epoch-3.ckpt").write_text("partial")
    assert cache.finished("models", "cnn-k") is None
    first, second = cache.scratch("models", tmp_path / "run"), cache.scratch("models", tmp_path / "run")
    assert first != second  # two workers never share a scratch folder
    (second / "model.keras").write_text("new")
    final = cache.publish("models", "cnn-k", second, {})
    assert sorted(p.name for p in final.iterdir()) == [DONE, "model.keras"]
    assert cache.finished("models", "cnn-k") == final


def test_without_a_cache_outputs_stay_in_the_run_folder(tmp_path):
    cache = StageCache(None)
    run_dir = tmp_path / "run"
    tmp = cache.scratch("models", run_dir)
    assert tmp.parent == run_dir / ".work" and tmp.is_dir()
    assert cache.path("models", "k") is None
    assert cache.publish("models", "k", tmp, {"train_time_s": 1.0}) == tmp
    assert json.loads((tmp / DONE).read_text()) == {"train_time_s": 1.0}
    assert cache.finished("models", "k") is None  # --no-cache never reads an output back


def test_write_json_turns_numpy_values_and_paths_into_plain_json(tmp_path):
    write_json(tmp_path / "x.json", {"f": np.float32(0.5), "i": np.int64(3), "a": np.arange(3),
                                     "p": tmp_path / "a"})
    assert json.loads((tmp_path / "x.json").read_text()) == {
        "f": 0.5, "i": 3, "a": [0, 1, 2], "p": str(tmp_path / "a")
    }
    with pytest.raises(TypeError, match="cannot write set to JSON"):
        write_json(tmp_path / "y.json", {"s": {1, 2}})
    assert not list(tmp_path.glob("y.json*"))


# --------------------------------------------------------------------------------- the facts


def test_only_the_full_release_counts_as_openmic(openmic_factory):
    """Published numbers are shown only for the full release; a smaller folder is "custom"."""
    from features import openmic

    ds = openmic.load(openmic_factory(n_clips=40))
    assert dataset_source(ds) == "custom"
    assert "not recorded" in embedding_name(ds)


def test_model_size_counts_every_file_of_a_folder(tmp_path):
    (tmp_path / "m" / "sub").mkdir(parents=True)
    (tmp_path / "m" / "a.bin").write_bytes(b"x" * 100)
    (tmp_path / "m" / "sub" / "b.bin").write_bytes(b"y" * 23)
    assert model_size(tmp_path / "m") == 123
    assert model_size(tmp_path / "m" / "a.bin") == 100


def test_run_record_has_the_documented_fields(openmic_factory):
    root = openmic_factory(n_clips=40)
    data = load_data(root, Settings(instruments=("clarinet", "flute", "trumpet")))
    embeddings = {"release": {"description": "X", "provenance": "npz", "dim": 128, "frames_per_clip": 10}}
    record = run_record(Settings(seed=3), data, root, {"000046_3840": "missing"},
                        {"lr@release": {"train_time_s": 1.0}}, {"data_s": 0.5},
                        embeddings=embeddings, n_data_problems=2)
    assert list(record) == ["created", "toolkit", "seed", "settings", "dataset", "embeddings",
                            "models", "timings", "versions"]
    assert record["toolkit"] == {"name": "openmic-compare", "version": "0.1.0", "run_format": 2}
    assert record["seed"] == 3 and record["settings"]["seed"] == 3
    assert record["embeddings"] == embeddings
    dataset = record["dataset"]
    assert dataset["source"] == "custom" and dataset["root"] == str(root)
    assert dataset["instruments"] == ["clarinet", "flute", "trumpet"]
    assert (dataset["n_train"], dataset["n_fit"], dataset["n_val"], dataset["n_test"]) == (
        len(data.train_idx), len(data.fit_idx), len(data.val_idx), len(data.test_idx))
    assert len(data.fit_idx) + len(data.val_idx) == len(data.train_idx)
    assert dataset["holdout"]["n_clips"] == len(data.val_idx)
    assert dataset["skipped_clips"] == {"000046_3840": "missing"}
    assert dataset["data_problems"] == 2
    assert set(RUN_LIBRARIES) <= set(record["versions"])  # every dependency is installed here
    json.dumps(record)  # plain JSON as it stands


def test_release_input_says_how_x_is_computed_from_audio(openmic_factory):
    """The demo's stand-in or VGGish as its demo.json says, VGGish on the release, else unknown."""
    from types import SimpleNamespace

    from features.demo.embed import STAND_IN_NAME, VGGISH_NAME

    X = np.zeros((3, 10, 128))
    stand_in = SimpleNamespace(X=X, demo={"embedding": {"name": STAND_IN_NAME, "resampler": "soxr_hq"}})
    assert release_input(stand_in) == {"extractor": "stand_in",
                                       "params": {"resampler": "soxr_hq", "n_rows": 10}}
    vggish = SimpleNamespace(X=X, demo={"embedding": {"name": VGGISH_NAME}})
    assert release_input(vggish) == {"extractor": "vggish", "params": {"n_rows": 10}}
    assert release_input(SimpleNamespace(X=X, demo={"embedding": "something else"})) is None
    custom = load_data(openmic_factory(n_clips=40), Settings()).ds
    assert release_input(custom) is None  # 40 clips: not the release, X of unknown origin


# ------------------------------------------------------------------------------ the data key


def test_data_key_changes_with_the_embeddings_and_labels(openmic_factory):
    """A dataset folder whose X or Y_mask changed in place must not reuse cached models."""
    root = openmic_factory()
    key = load_data(root, Settings()).key
    assert load_data(root, Settings()).key == key
    with np.load(root / "openmic-2018.npz", allow_pickle=True) as z:
        arrays = dict(z)
    X = arrays["X"].copy()
    X[0, 0, 0] = (X[0, 0, 0] + 1) % 256
    np.savez(root / "openmic-2018.npz", **{**arrays, "X": X})
    assert load_data(root, Settings()).key != key
    Y_mask = arrays["Y_mask"].copy()
    Y_mask[np.unravel_index(np.flatnonzero(~Y_mask)[0], Y_mask.shape)] = True  # a 0.5 pair, now observed
    np.savez(root / "openmic-2018.npz", **{**arrays, "Y_mask": Y_mask})
    assert load_data(root, Settings()).key != key
