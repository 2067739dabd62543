"""features.openmic on folders built around the real OpenMIC-2018 fixture files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import OPENMIC_FIXTURES, REAL_KEY, real_vggish_features

from core.errors import DatasetError, ParameterError
from features import openmic


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.lstat().st_mtime_ns, p.lstat().st_size)
        for p in folder.rglob("*")
    }


def test_load_real_pieces(openmic_root):
    ds = openmic.load(openmic_root)
    n = 40
    assert ds.root == openmic_root
    assert ds.classes == openmic.CLASSES
    assert list(ds.classes) == list(json.loads((OPENMIC_FIXTURES / "class-map.json").read_text()))
    assert ds.sample_key.dtype.kind == "U" and list(ds.sample_key) == sorted(ds.sample_key)
    assert ds.X.shape == (n, 10, 128) and ds.X.dtype == np.int64
    assert ds.Y_true.shape == ds.Y_mask.shape == (n, 20)
    row = int(np.flatnonzero(ds.sample_key == REAL_KEY)[0])
    np.testing.assert_array_equal(ds.X[row], real_vggish_features())
    # real labels of 000046_3840: clarinet 0.17105, flute 0.0, trumpet 0.0, nothing else observed
    assert [ds.classes[k] for k in np.flatnonzero(ds.Y_mask[row])] == [
        "clarinet",
        "flute",
        "trumpet",
    ]
    np.testing.assert_allclose(ds.Y_true[row, ds.class_index("clarinet")], 0.17105)
    # split, artists and audio paths
    assert ds.train_idx.dtype == ds.test_idx.dtype == np.int64
    assert (
        np.intersect1d(ds.train_idx, ds.test_idx).size == 0
        and len(ds.train_idx) + len(ds.test_idx) == n
    )
    train_keys = (openmic_root / "partitions" / "split01_train.csv").read_text().split()
    assert set(ds.sample_key[ds.train_idx]) == set(train_keys) and REAL_KEY in train_keys
    assert ds.artist_id[row] == 4 and ds.artist_id[ds.sample_key == "000135_483840"][0] == 52
    assert not np.intersect1d(ds.artist_id[ds.train_idx], ds.artist_id[ds.test_idx]).size
    assert ds.audio_path[row] == openmic_root / "audio" / "000" / f"{REAL_KEY}.ogg"
    assert ds.demo is None
    with pytest.raises(ValueError, match="read-only"):
        ds.Y_true[0, 0] = 1.0


def test_load_accepts_parent_folder_readme_partition_names_and_str_keys(openmic_factory):
    root = openmic_factory(
        n_clips=12, partition_names=("train01.txt", "test01.txt"), sample_key_dtype=str
    )
    ds = openmic.load(root.parent)
    assert ds.root == root and len(ds.train_idx) + len(ds.test_idx) == 12


def test_missing_artist_is_minus_one_and_demo_json_is_read(openmic_factory):
    root = openmic_factory(n_clips=12, audio=None)
    meta = pd.read_csv(root / "openmic-2018-metadata.csv", dtype=str, keep_default_na=False)
    meta[meta["sample_key"] != REAL_KEY].to_csv(root / "openmic-2018-metadata.csv", index=False)
    (root / "demo.json").write_text(json.dumps({"synthetic": True, "seed": 3}))
    ds = openmic.load(root)
    assert ds.artist_id[ds.sample_key == REAL_KEY][0] == -1
    assert (ds.artist_id[ds.sample_key != REAL_KEY] >= 0).all()
    assert ds.demo == {"synthetic": True, "seed": 3}


def test_targets_follow_the_rule_and_never_use_the_mask(openmic_root):
    ds = openmic.load(openmic_root)
    Y_true, Y_mask = ds.Y_true.copy(), ds.Y_mask.copy()
    k = ds.class_index("trumpet")
    Y_true[:4, k], Y_mask[:4, k] = [1.0, 0.75, 0.25, 0.5], [False, True, True, True]
    Y_true[4:, k], Y_mask[4:, k] = 0.5, False
    # Y_true disagreeing with the mask (1.0 where unobserved) must be ignored, not become a positive
    odd = dataclasses.replace(ds, Y_true=Y_true, Y_mask=Y_mask)
    idx, y = odd.targets("trumpet")
    np.testing.assert_array_equal(idx, [1, 2, 3])
    np.testing.assert_array_equal(y, [True, False, True])  # the exact 0.5 tie counts as positive
    assert y.dtype == np.bool_
    idx, y = odd.targets(k, rows=np.array([0, 2, 5]))
    np.testing.assert_array_equal(idx, [2])
    np.testing.assert_array_equal(y, [False])


def test_observed_exact_half_loads_and_counts_as_positive(openmic_factory):
    ds = openmic.load(openmic_factory(n_clips=30, n_ties=5, audio=None))
    ties = 0
    for k in range(len(ds.classes)):
        idx, y = ds.targets(k)
        tie = ds.Y_true[idx, k] == 0.5
        assert y[tie].all()
        ties += tie.sum()
    assert ties == 5


def test_validation_split_is_grouped_about_15_percent_stratified_and_deterministic(openmic_factory):
    ds = openmic.load(openmic_factory(n_clips=3000, audio=None, positive_rate=0.4))
    rng = np.random.default_rng(7)  # artists of uneven size, a few clips without artist
    artist = np.repeat(np.arange(3000), rng.geometric(0.2, size=3000))[: len(ds.sample_key)]
    artist[rng.random(len(artist)) < 0.02] = -1
    ds = dataclasses.replace(ds, artist_id=artist)
    fit, val = ds.validation_split(seed=0)
    assert fit.dtype == val.dtype == np.int64
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, val])), ds.train_idx)
    known = artist >= 0
    assert not np.intersect1d(artist[fit][known[fit]], artist[val][known[val]]).size
    assert abs(len(val) / len(ds.train_idx) - 0.15) < 0.01
    stats = openmic.label_statistics(ds, {"fit": fit, "val": val}).pivot(
        index="instrument", columns="split"
    )
    rate = stats["positive"] / stats["observed"]
    assert (
        rate["fit"] - rate["val"]
    ).abs().max() < 0.06  # stratified: a random group split gives ~0.2
    _, again_val = ds.validation_split(seed=0)
    np.testing.assert_array_equal(val, again_val)
    assert not np.array_equal(val, ds.validation_split(seed=1)[1])
    assert abs(len(ds.validation_split(fraction=0.3, seed=0)[1]) / len(ds.train_idx) - 0.3) < 0.01


def test_validation_split_rejects_bad_fraction(openmic_root):
    ds = openmic.load(openmic_root)
    for fraction in (0.0, 1.0, -0.1):
        with pytest.raises(ParameterError, match=f"given fraction={fraction}"):
            ds.validation_split(fraction=fraction)


def test_label_statistics_is_tidy_and_counts(openmic_root):
    ds = openmic.load(openmic_root)
    table = openmic.label_statistics(ds, {"train": ds.train_idx, "test": ds.test_idx})
    assert list(table.columns) == ["split", "instrument", "observed", "positive"]
    assert len(table) == 40 and list(table["instrument"][:20]) == list(openmic.CLASSES)
    assert table["observed"].sum() == ds.Y_mask.sum()
    train = table[table["split"] == "train"].set_index("instrument")
    for name in ("clarinet", "flute"):
        idx, y = ds.targets(name, ds.train_idx)
        assert (train.loc[name, "observed"], train.loc[name, "positive"]) == (len(idx), y.sum())


def test_bad_class_and_rows_are_parameter_errors(openmic_root):
    ds = openmic.load(openmic_root)
    with pytest.raises(ParameterError, match="'tuba'"):
        ds.targets("tuba")
    with pytest.raises(ParameterError, match="given k=20"):
        ds.targets(20)
    with pytest.raises(ParameterError, match="max=40"):
        ds.targets(0, rows=np.array([1, 40]))


def test_loading_does_not_modify_the_dataset_folder(openmic_factory):
    root = openmic_factory(n_clips=12, audio="copy")
    before = _snapshot(root)
    ds = openmic.load(root)
    ds.validation_split(fraction=0.3)
    openmic.label_statistics(ds, {"test": ds.test_idx})
    assert _snapshot(root) == before


# ---- bad inputs: each a DatasetError that names the file -------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Y_mask": None}, r"openmic-2018\.npz has no array 'Y_mask'"),
        ({"X": np.zeros((40, 10, 128), dtype=np.float32)}, r"openmic-2018\.npz: X must be integer"),
        ({"Y_mask": np.zeros((40, 20), dtype=np.int64)}, r"openmic-2018\.npz: Y_mask must be bool"),
        ({"X": np.full((40, 10, 128), 256)}, r"openmic-2018\.npz: X values must lie in 0\.\.255"),
        (
            {"Y_true": np.zeros((40, 20))},
            r"openmic-2018\.npz: Y_true must be exactly 0\.5 where Y_mask",
        ),
        (
            {"Y_true": np.full((40, 19), 0.5)},
            r"openmic-2018\.npz: Y_true must be float \(n=40, 20\)",
        ),
        (
            {"sample_key": np.arange(40)},
            r"openmic-2018\.npz: sample_key must be a 1-d array of str",
        ),
        (
            {"X": np.array([{"a": 1}] * 40, dtype=object)},
            r"cannot read array 'X' of .*openmic-2018\.npz",
        ),
    ],
)
def test_bad_npz_contents(openmic_factory, overrides, message):
    root = openmic_factory(audio=None, npz_overrides=overrides)
    with pytest.raises(DatasetError, match=message) as info:
        openmic.load(root)
    assert "compare.py --download" in str(info.value)


def test_truncated_npz(openmic_factory):
    root = openmic_factory(audio=None)
    npz = root / "openmic-2018.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    with pytest.raises(DatasetError, match=r"openmic-2018\.npz.*truncated or corrupt"):
        openmic.load(root)


def test_partition_key_absent_from_npz(openmic_factory):
    root = openmic_factory(audio=None)
    with open(root / "partitions" / "split01_test.csv", "a") as f:
        f.write("999999_0\n")
    with pytest.raises(
        DatasetError, match=r"split01_test\.csv lists 1 sample keys absent .*'999999_0'"
    ):
        openmic.load(root)


def test_key_in_both_partitions(openmic_factory):
    root = openmic_factory(audio=None)
    with open(root / "partitions" / "split01_test.csv", "a") as f:
        f.write(f"{REAL_KEY}\n")
    with pytest.raises(
        DatasetError, match=rf"split01_test\.csv share 1 sample keys \(first: '{REAL_KEY}'\)"
    ):
        openmic.load(root)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda r: (r / "partitions" / "split01_train.csv").unlink(),
            r"missing .*split01_train\.csv or train01\.txt",
        ),
        (
            lambda r: (r / "class-map.json").write_text('{"accordion": 0}'),
            r"class-map\.json lists classes",
        ),
        (
            lambda r: (r / "class-map.json").write_text("{not json"),
            r"cannot read .*class-map\.json",
        ),
        (
            lambda r: (r / "openmic-2018-metadata.csv").unlink(),
            r"missing .*openmic-2018-metadata\.csv",
        ),
        (lambda r: (r / "openmic-2018.npz").unlink(), r"missing .*openmic-2018\.npz"),
    ],
)
def test_missing_or_bad_side_files(openmic_factory, damage, message):
    root = openmic_factory(n_clips=8, audio=None)
    damage(root)
    with pytest.raises(DatasetError, match=message):
        openmic.load(root)


def test_no_dataset_folder(tmp_path):
    with pytest.raises(DatasetError, match=r"no OpenMIC-2018 folder at .*nowhere.*--download"):
        openmic.load(tmp_path / "nowhere")


# ---- errata -------------------------------------------------------------------------------------


def test_known_corrupt_tracks():
    assert len(openmic.KNOWN_CORRUPT_TRACK_IDS) == 10
    mask = openmic.known_corrupt(["095253_134400", REAL_KEY, "138485_0"])
    np.testing.assert_array_equal(mask, [True, False, True])
