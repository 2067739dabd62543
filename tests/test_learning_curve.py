"""The learning curve of the diagnosis: whole artists, nested shares, real refits, cached."""

from __future__ import annotations

import math

import numpy as np

from baselines import PerInstrumentModel
from pipeline.cache import StageCache
from pipeline.learning_curve import artist_subsets, best_classical, write_run_learning_curve
from pipeline.settings import Settings
from pipeline.stages import load_data
from reports.diagnosis_rules import LEARNING_CURVE_FRACTIONS
from reports.learning_curve_file import LEARNING_CURVE_NPZ, read_learning_curve

INSTRUMENTS = ("clarinet", "flute", "trumpet")  # three instruments keep the real refits quick


def test_subsets_hold_whole_artists_nested_and_sized():
    groups = np.array([7, 7, 3, 3, 3, 9, -1, -1, 5, 5, 11, 12])  # two clips without an artist
    subsets = artist_subsets(groups, (0.25, 0.5, 1.0), seed=3)
    own = [g if g >= 0 else f"u{i}" for i, g in enumerate(groups)]  # unknown artist: its own group
    n_groups = len(set(own))  # 9
    for share, rows in zip((0.25, 0.5, 1.0), subsets, strict=True):
        chosen = {own[i] for i in rows}
        assert len(chosen) == math.ceil(share * n_groups)
        # whole artists: every clip of a chosen artist is in, no clip of another
        assert sorted(rows) == [i for i, g in enumerate(own) if g in chosen]
    assert set(subsets[0]) <= set(subsets[1]) <= set(subsets[2]) == set(range(len(groups)))
    assert [r.tolist() for r in artist_subsets(groups, (0.25, 0.5), seed=3)] == [r.tolist() for r in subsets[:2]]


def test_best_classical_uses_the_selection_score_not_the_test():
    models = {
        "lr@release": {"classifier": "lr", "embedding": "release", "selection": {"roc_auc": {"mean": 0.71}}},
        "xgb@release": {"classifier": "xgb", "embedding": "release", "selection": {"roc_auc": {"mean": 0.74}}},
        "cnn": {"classifier": "cnn", "embedding": None, "selection": {"roc_auc": {"mean": 0.99}}},
        "rf@release": {"classifier": "rf", "embedding": "release"},  # no selection score
    }
    assert best_classical(models) == "xgb@release"
    assert best_classical({"cnn": models["cnn"]}) is None


def test_refits_on_shares_of_the_artists_and_writes_the_curve(openmic_factory, tmp_path):
    root = openmic_factory(n_clips=120, clips_per_artist=4, labels_per_clip=10, positive_rate=0.5, seed=1)
    s = Settings(cv_folds=2, seed=0, jobs=1, cache_dir=str(tmp_path / "cache"), instruments=INSTRUMENTS)
    data = load_data(root, s)
    cache = StageCache(tmp_path / "cache")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    n_test, K = len(data.test_idx), len(data.classes)
    own = np.random.default_rng(0).random((n_test, K)).astype(np.float32)
    models = {"lr@release": {"classifier": "lr", "embedding": "release",
                             "selection": {"roc_auc": {"mean": 0.6}}}}
    path = write_run_learning_curve(models, {"lr@release": own}, data, s, cache, run_dir)
    assert path == run_dir / LEARNING_CURVE_NPZ
    curve = read_learning_curve(run_dir)
    assert curve.model == "lr@release"
    assert curve.fractions.tolist() == list(LEARNING_CURVE_FRACTIONS)
    assert curve.proba.shape == (3, n_test, K)
    np.testing.assert_array_equal(curve.proba[2], own)  # 100 %: the run's model itself
    train_artists = np.unique(data.ds.artist_id[data.train_idx])
    assert curve.n_artists.tolist() == [math.ceil(f * len(train_artists)) for f in LEARNING_CURVE_FRACTIONS]
    assert curve.n_clips[2] == len(data.train_idx) and curve.n_clips[0] < curve.n_clips[1] < curve.n_clips[2]
    np.testing.assert_array_equal(curve.sample_key, data.ds.sample_key[data.test_idx])
    # The 50 % refit is the same selection on exactly those artists' clips.
    rows = data.train_idx[artist_subsets(data.ds.artist_id[data.train_idx], LEARNING_CURVE_FRACTIONS, seed=0)[1]]
    y_true, y_mask = data.labels(rows)
    direct = PerInstrumentModel("lr", n_folds=2, seed=0, n_jobs=1, progress=False).fit(
        data.ds.X[rows], y_true, y_mask, groups=data.ds.artist_id[rows], classes=list(data.classes))
    np.testing.assert_allclose(curve.proba[1], direct.predict_proba(data.ds.X[data.test_idx]), rtol=1e-5)
    assert not np.allclose(curve.proba[0], curve.proba[1])
    # a second run reuses the refits: same numbers, nothing refitted
    finished = sorted(p.name for p in (tmp_path / "cache" / "models").iterdir())
    assert len(finished) == 2 and all("-lc" in name for name in finished)
    (run_dir / LEARNING_CURVE_NPZ).unlink()
    write_run_learning_curve(models, {"lr@release": own}, data, s, cache, run_dir)
    np.testing.assert_array_equal(read_learning_curve(run_dir).proba, curve.proba)
    assert sorted(p.name for p in (tmp_path / "cache" / "models").iterdir()) == finished


def test_no_classical_model_writes_nothing(openmic_factory, tmp_path):
    s = Settings(cv_folds=2, jobs=1)
    data = load_data(openmic_factory(), s)  # no classical model: no refit at all
    assert write_run_learning_curve({"cnn": {"classifier": "cnn"}}, {}, data, s, StageCache(None), tmp_path) is None
    assert not (tmp_path / LEARNING_CURVE_NPZ).exists()
