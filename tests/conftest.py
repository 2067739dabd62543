"""Shared fixtures: small OpenMIC-2018-shaped folders built around the real fixture files.

`make_openmic_folder(root, ...)` writes a folder in the release's exact layout; the fixtures
`openmic_factory` (a callable bound to a fresh tmp folder) and `openmic_root` (defaults) wrap it.
The real pieces in ``tests/data/openmic/`` are used as they are: the class map, the 41 metadata
columns and the two real metadata rows, real sample keys from the official partitions, the real clip
``000046_3840`` with its real VGGish features (row of that key in ``X``) and its three real labels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

OPENMIC_FIXTURES = Path(__file__).parent / "data" / "openmic"
REAL_KEY = "000046_3840"
REAL_CLIP = OPENMIC_FIXTURES / "audio" / "000" / f"{REAL_KEY}.ogg"

_DROP = object()


def real_vggish_features() -> np.ndarray:
    """The published VGGish features of ``000046_3840``: int64 (10, 128), values 0..255."""
    payload = json.loads((OPENMIC_FIXTURES / "vggish" / "000" / f"{REAL_KEY}.json").read_text())
    return np.asarray(payload["features"], dtype=np.int64)


def real_class_map() -> dict[str, int]:
    """The real ``class-map.json``: 20 class names -> column."""
    return json.loads((OPENMIC_FIXTURES / "class-map.json").read_text())


def _real_partition(name: str) -> list[str]:
    return (OPENMIC_FIXTURES / "partitions" / name).read_text().split()


def make_openmic_folder(
    root: str | Path,
    *,
    n_clips: int = 40,
    clips_per_artist: int = 4,
    test_fraction: float = 0.25,
    labels_per_clip: int = 2,
    positive_rate: float = 0.43,
    n_ties: int = 0,
    seed: int = 0,
    audio: str | None = "link",
    partition_names: tuple[str, str] = ("split01_train.csv", "split01_test.csv"),
    npz_overrides: dict[str, object] | None = None,
    sample_key_dtype: type | str = object,
) -> Path:
    """Write a small OpenMIC-2018 folder at `root` (created) and return `root`.

    Parameters
    ----------
    root : Path
        Folder to create (e.g. ``tmp_path / "openmic-2018"``).
    n_clips : int
        Number of clips (>= 2). Keys are real OpenMIC keys: ``000046_3840`` first, then keys of the
        real split01_train / split01_test in file order; the folder's partitions list exactly these.
    clips_per_artist : int
        Clips per synthetic artist; artists never cross the train/test split (like split01). The
        two clips with real metadata rows keep their real artist ids (4 and 52).
    test_fraction : float
        Share of artists placed in the test partition.
    labels_per_clip, positive_rate : int, float
        Observed labels per clip and the chance each one is positive (relevance in [0.75, 1],
        negatives in [0, 0.25]); every other pair is 0.5 and unmasked. ``000046_3840`` carries its
        real labels (clarinet 0.171, flute 0.0, trumpet 0.0).
    n_ties : int
        Number of observed pairs (after the real clip) set to exactly 0.5.
    seed : int
        Seed for X, labels and artist order.
    audio : {"link", "copy", None}
        Put the real clip at every ``audio/NNN/<key>.ogg`` as a symlink or copy, or write no audio.
    partition_names : (str, str)
        File names of the train and test partitions (e.g. ``("train01.txt", "test01.txt")``).
    npz_overrides : dict or None
        Replace npz arrays by name before writing (``{"X": X.astype(float)}``); a value of
        ``None`` drops that array.
    sample_key_dtype : dtype
        dtype of ``sample_key`` in the npz (``object`` as in the release, or ``str``).

    Returns
    -------
    Path
        `root`. Arrays written: X int64 (n, 10, 128), Y_true float64 (n, 20), Y_mask bool (n, 20),
        sample_key (n,).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = list(real_class_map())
    n_classes = len(classes)

    n_artists = -(-n_clips // clips_per_artist)
    test_artist = np.zeros(n_artists, dtype=bool)
    test_artist[rng.permutation(n_artists)[: round(test_fraction * n_artists)]] = True
    test_artist[0] = False  # the real clip is in split01_train
    clip_artist = np.arange(n_clips) // clips_per_artist
    is_test = test_artist[clip_artist]
    train_keys = iter([k for k in _real_partition("split01_train.csv") if k != REAL_KEY])
    test_keys = iter(_real_partition("split01_test.csv"))
    keys = [
        REAL_KEY if i == 0 else next(test_keys if is_test[i] else train_keys)
        for i in range(n_clips)
    ]
    artist_id = 1000 + clip_artist

    X = rng.integers(0, 256, size=(n_clips, 10, 128), dtype=np.int64)
    X[0] = real_vggish_features()
    Y_true = np.full((n_clips, n_classes), 0.5)
    Y_mask = np.zeros((n_clips, n_classes), dtype=bool)
    for i in range(1, n_clips):
        cols = rng.choice(n_classes, size=labels_per_clip, replace=False)
        positive = rng.random(labels_per_clip) < positive_rate
        Y_true[i, cols] = np.where(
            positive,
            rng.uniform(0.75, 1.0, labels_per_clip),
            rng.uniform(0.0, 0.25, labels_per_clip),
        )
        Y_mask[i, cols] = True
    real_labels = pd.read_csv(OPENMIC_FIXTURES / "openmic-2018-aggregated-labels.csv")
    for row in real_labels.itertuples():
        Y_true[0, classes.index(row.instrument)] = row.relevance
        Y_mask[0, classes.index(row.instrument)] = True
    observed_rows, observed_cols = np.nonzero(Y_mask[1:])
    Y_true[observed_rows[:n_ties] + 1, observed_cols[:n_ties]] = 0.5

    order = np.argsort(keys)
    keys = np.array(keys, dtype=object)[order]
    X, Y_true, Y_mask, artist_id, is_test = (
        X[order],
        Y_true[order],
        Y_mask[order],
        artist_id[order],
        is_test[order],
    )

    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(OPENMIC_FIXTURES / "class-map.json", root / "class-map.json")
    arrays = {
        "X": X,
        "Y_true": Y_true,
        "Y_mask": Y_mask,
        "sample_key": keys.astype(sample_key_dtype),
    }
    for name, value in (npz_overrides or {}).items():
        if value is None:
            arrays.pop(name, None)
        else:
            arrays[name] = value
    np.savez(root / "openmic-2018.npz", **arrays)

    (root / "partitions").mkdir(exist_ok=True)
    for name, selected in zip(partition_names, (~is_test, is_test), strict=True):
        (root / "partitions" / name).write_text("".join(f"{k}\n" for k in keys[selected]))

    _write_metadata(root / "openmic-2018-metadata.csv", keys, artist_id)
    for key in keys if audio else ():
        target = root / "audio" / key[:3] / f"{key}.ogg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if audio == "link":
            target.symlink_to(REAL_CLIP)
        else:
            shutil.copyfile(REAL_CLIP, target)
    return root


def _write_metadata(path: Path, keys: np.ndarray, artist_id: np.ndarray) -> None:
    """The real 41-column metadata: real rows for real keys, else only the id columns filled."""
    real = pd.read_csv(
        OPENMIC_FIXTURES / "openmic-2018-metadata.csv", dtype=str, keep_default_na=False
    )
    known = set(real["sample_key"])
    rows = [
        {
            "track_id": str(int(k[:6])),
            "artist_id": str(a),
            "sample_key": k,
            "start_time": str(int(k[7:]) / 1000),
        }
        for k, a in zip(keys, artist_id, strict=True)
        if k not in known
    ]
    meta = pd.concat(
        [real[real["sample_key"].isin(set(keys))], pd.DataFrame(rows)], ignore_index=True
    )
    meta[real.columns].to_csv(path, index=False)


@pytest.fixture
def openmic_factory(tmp_path: Path) -> Callable[..., Path]:
    """Callable ``factory(name="openmic-2018", **make_openmic_folder_kwargs) -> Path`` under tmp_path."""

    def factory(name: str = "openmic-2018", **kwargs: object) -> Path:
        return make_openmic_folder(tmp_path / name, **kwargs)

    return factory


@pytest.fixture
def openmic_root(openmic_factory: Callable[..., Path]) -> Path:
    """A default 40-clip OpenMIC folder (audio symlinked to the real clip)."""
    return openmic_factory()


# ------------------------------------------------------------------ tiers and shared demo set
#
# The full suite renders the demo set ONCE per session (`demo_set`) and runs the whole pipeline
# once (`pipeline_run`); every test that needs a rendered set or a finished run uses these and
# derives its variant by copying files. Such tests are marked `slow` here, automatically, like
# the tests that train networks (marked where they are written): `python -m pytest -m "not slow"`
# is the fast tier, without a rendered demo set, network training or pipeline runs.

DEMO_CLIPS = 64  # the largest set any test needs (the end-to-end and tagging runs)
DEMO_SEED = 0
SHARED_FIXTURES = ("demo_set", "pipeline_run")
SHARED_GROUP = "demo-set"  # the pytest-xdist group of the tests that use them
# The shared run: every model kind (lr, xgb, rf on both embeddings, the CNN, musicnn-ft), --quick.
PIPELINE_ARGS = ("--demo", "--demo-size", str(DEMO_CLIPS), "--quick", "--models",
                 "lr,xgb,rf,cnn,musicnn-ft", "--jobs", "2")  # fmt: skip
ROOT = Path(__file__).resolve().parents[1]


# The first test that uses `pipeline_run` renders the set and runs the pipeline in its setup:
# 1.5 to 2.5 minutes on 2 quiet cores, 16 on 2 cores shared with other work (load average 18).
PIPELINE_RUN_TIMEOUT_S = 2400


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `slow` every test that uses the rendered demo set or the shared pipeline run.

    Those tests also form one pytest-xdist group, so that under ``--dist loadgroup`` (the suite's
    default, pyproject.toml) they all run in one worker, which renders the set and runs the
    pipeline once. Every other test is grouped by its file, so that a module's fixtures (a built
    report, a checkpoint) are made once, in one worker. Tests that use the run get a longer
    pytest-timeout than the suite's, for that setup.
    """
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if set(SHARED_FIXTURES) & used:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUP))
        else:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
        if "pipeline_run" in used:
            item.add_marker(pytest.mark.timeout(PIPELINE_RUN_TIMEOUT_S))


# Makes the demo set as compare.py does, in a process of its own: the environment it needs
# ($OPENMIC_COMPARE_CACHE, which decides the embedding) stays out of this one and of its workers.
MAKE_DEMO_SET = (
    "import sys\n"
    "from pipeline.settings import Settings\n"
    "from pipeline.data import make_demo_set\n"
    "n, seed, cache = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]\n"
    "root, description = make_demo_set(Settings(demo=True, demo_size=n, seed=seed, jobs=2,\n"
    "                                           cache_dir=cache))\n"
    "print(root)\n"
    "print(description)\n"
)


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo set, rendered once per session: 64 clips, seed 0, the default 10 labels per clip.

    Made by the pipeline's own `make_demo_set`, as ``compare.py --demo --demo-size 64 --jobs 2``
    makes it in a fresh cache (no VGGish weights there: X is the stand-in). Read-only for tests:
    copy it first (`cache_with_demo`). It is built beside a stale ``.partial`` folder left by an
    "interrupted" run with other parameters, which the generator must clear (tests/test_demo.py
    checks that it did).
    """
    from features.demo import PARTIAL_SUFFIX

    cache = tmp_path_factory.mktemp("demo-cache")
    root = cache / "demo" / f"openmic-demo-{DEMO_CLIPS}-seed{DEMO_SEED}"
    stale = root.with_name(root.name + PARTIAL_SUFFIX)
    stale.mkdir(parents=True)
    (stale / "params.json").write_text('{"n_clips": 1}')
    (stale / "junk.txt").write_text("x")
    made = subprocess.run(
        [sys.executable, "-c", MAKE_DEMO_SET, str(DEMO_CLIPS), str(DEMO_SEED), str(cache)],
        cwd=ROOT, env=compare_env(cache), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    printed_root, description = made.stdout.splitlines()[-2:]
    assert Path(printed_root) == root
    assert f"({DEMO_CLIPS} clips, generated) at {root}" in description
    return root


def with_musicnn_weights(cache: Path) -> Path:
    """Give the cache folder `cache` the musicnn weights fetched once into the user's cache.

    A link, not a second download: they are the real weights, checked on every load.
    """
    from features.musicnn import fetch_weights

    version_dir = next(iter(fetch_weights().values())).parent  # <default cache>/musicnn/<version>
    (cache / "musicnn").mkdir(parents=True, exist_ok=True)
    link = cache / "musicnn" / version_dir.name
    if not link.exists():
        link.symlink_to(version_dir, target_is_directory=True)
    return cache


def cache_with_demo(cache: Path, demo_set: Path) -> Path:
    """A compare.py cache folder holding a copy of `demo_set` and the musicnn weights.

    ``compare.py --demo --demo-size 64`` then reuses the set instead of rendering it.
    """
    shutil.copytree(demo_set, cache / "demo" / demo_set.name)
    return with_musicnn_weights(cache)


def compare_env(cache: Path) -> dict[str, str]:
    """The environment of a compare.py subprocess: `cache` as $OPENMIC_COMPARE_CACHE, no dataset."""
    return {**os.environ, "OPENMIC_COMPARE_CACHE": str(cache), "OPENMIC_ROOT": ""}


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory, demo_set: Path):
    """One whole ``compare.py`` run on the demo set, shared by the end-to-end and tagging tests.

    Run with ``--cache-dir`` while ``$OPENMIC_COMPARE_CACHE`` names a folder that does not exist:
    the run must find everything, the musicnn weights included, under ``--cache-dir`` and write
    nothing elsewhere (tests/test_pipeline_run.py). Returns (work folder, run folder, cache
    folder, the CompletedProcess); the cache then holds the run's features and models.
    """
    work = tmp_path_factory.mktemp("pipeline-run")
    cache = cache_with_demo(work / "cache", demo_set)
    env = compare_env(work / "no-such-cache")
    result = subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *PIPELINE_ARGS, "--cache-dir", str(cache),
         "--out", str(work / "run")],
        cwd=work, env=env, capture_output=True, text=True, timeout=PIPELINE_RUN_TIMEOUT_S - 300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return work, work / "run", cache, result
