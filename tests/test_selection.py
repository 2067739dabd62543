"""Tests of baselines.folds and baselines.selection: artist-grouped folds, CV selection, fallbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import make_openmic_folder
from sklearn.metrics import roc_auc_score

from baselines import DegenerateClassWarning, PerInstrumentModel
from baselines import defaults as D
from baselines.folds import NO_FOLD, artist_groups, assign_folds, instrument_folds
from baselines.instrument import fit_estimator, positive_proba
from baselines.pooling import clip_mean
from baselines.selection import grid_points, select_and_fit, tree_count
from core.errors import ParameterError
from core.targets import is_positive
from core.thresholds import best_f1_threshold
from features.demo.synthetic import make_synthetic
from features.openmic import load


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """600 clips of 3 per artist through the real loader; 120 clips lose their artist (-1)."""
    root = make_openmic_folder(
        tmp_path_factory.mktemp("openmic") / "openmic-2018",
        n_clips=600,
        clips_per_artist=3,
        audio=None,
        seed=3,
    )
    meta_path = root / "openmic-2018-metadata.csv"
    meta = pd.read_csv(meta_path, dtype=str, keep_default_na=False)
    meta.iloc[::5, meta.columns.get_loc("artist_id")] = ""  # no artist: -1 after loading
    meta.to_csv(meta_path, index=False)
    ds = load(root)
    assert (ds.artist_id[ds.train_idx] == -1).sum() >= 60
    return ds


def _train(ds):
    rows = ds.train_idx
    return ds.artist_id[rows], ds.Y_true[rows], ds.Y_mask[rows]


# Folds --------------------------------------------------------------------------------------------


def test_folds_never_split_an_artist(dataset):
    groups, Y_true, Y_mask = _train(dataset)
    folds, notes = assign_folds(groups, Y_true, Y_mask, n_folds=5, seed=0)
    assert folds.shape == Y_true.shape and folds.dtype == np.int8
    np.testing.assert_array_equal(folds == NO_FOLD, ~Y_mask)  # every observed pair has a fold
    known = groups >= 0
    for k in range(Y_true.shape[1]):
        rows = Y_mask[:, k] & known
        per_artist = pd.Series(folds[rows, k]).groupby(groups[rows]).nunique()
        assert per_artist.max() == 1, f"class {k}: an artist in two folds"
        assert set(np.unique(folds[Y_mask[:, k], k])) == set(range(5)), notes[k]
    # Clips without an artist are groups of their own, not one big "-1" artist.
    spread = [np.unique(folds[~known & Y_mask[:, k], k]).size for k in range(Y_true.shape[1])]
    assert min(spread) > 1, spread


def test_folds_stratify_each_instrument(dataset):
    groups, Y_true, Y_mask = _train(dataset)
    folds, _ = assign_folds(groups, Y_true, Y_mask, n_folds=5, seed=0)
    for k in range(Y_true.shape[1]):
        y = is_positive(Y_true[Y_mask[:, k], k])
        per_fold = np.bincount(folds[Y_mask[:, k], k], weights=y, minlength=5)
        # Artists hold up to 3 clips, so a fold's positives can miss the even share by a few.
        assert per_fold.max() - per_fold.min() <= 4, (k, per_fold)


def test_folds_are_seeded(dataset):
    groups, Y_true, Y_mask = _train(dataset)
    a, _ = assign_folds(groups, Y_true, Y_mask, n_folds=5, seed=7)
    b, _ = assign_folds(groups, Y_true, Y_mask, n_folds=5, seed=7)
    c, _ = assign_folds(groups, Y_true, Y_mask, n_folds=5, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_artist_groups_give_unknown_clips_their_own_group():
    np.testing.assert_array_equal(artist_groups(np.array([7, -1, 7, -1, 0]), 5), [7, -2, 7, -3, 0])
    with pytest.raises(ParameterError, match=r"groups.shape=\(4,\).*ds.artist_id"):
        artist_groups(np.zeros(4, dtype=int), 5)
    with pytest.raises(ParameterError, match="dtype=float64"):
        artist_groups(np.zeros(5), 5)


def test_few_artists_give_fewer_folds_with_a_note():
    groups = np.repeat([1, 2, 3], 4)
    y = np.tile([0, 1], 6)
    folds, notes = instrument_folds(groups, y, n_folds=5, seed=0)
    assert set(folds) == {0, 1, 2} and notes == ["3 folds instead of 5: 3 artist groups, 12 rows"]
    folds, notes = instrument_folds(np.ones(6, dtype=int), y[:6], n_folds=5, seed=0)
    assert np.all(folds == NO_FOLD) and "no cross-validation" in notes[0]


@pytest.mark.parametrize("bad", [1, 0, 2.5, "5"])
def test_bad_n_folds(bad):
    with pytest.raises(ParameterError, match="n_folds"):
        assign_folds(
            np.zeros(2, dtype=int), np.zeros((2, 1)), np.ones((2, 1), bool), n_folds=bad, seed=0
        )


# The model's folds, out-of-fold thresholds and fallbacks ------------------------------------------


def _fit_lr(ds, Y_true=None, **kwargs):
    rows = ds.train_idx
    Y_true = ds.Y_true[rows] if Y_true is None else Y_true
    params = {"pooling": "mean", "n_jobs": 2, "progress": False, "grid": {"C": (0.01, 1.0)}}
    return PerInstrumentModel("lr", **{**params, **kwargs}).fit(
        ds.X[rows], Y_true, ds.Y_mask[rows], groups=ds.artist_id[rows]
    )


def test_model_folds_are_the_seeded_artist_folds(dataset):
    groups, Y_true, Y_mask = _train(dataset)
    model = _fit_lr(dataset, seed=3)
    expected, notes = assign_folds(groups, Y_true, Y_mask, n_folds=5, seed=3)
    np.testing.assert_array_equal(model.folds_, expected)
    assert [n[: len(f)] for n, f in zip(model.notes_, notes, strict=True)] == notes
    assert not np.array_equal(_fit_lr(dataset, seed=4).folds_, model.folds_)


def test_thresholds_are_best_f1_on_independent_out_of_fold_predictions():
    """Tiny case: 3 classes, 4 folds, one C; OOF predictions rebuilt by hand from folds_."""
    X, Y_true, Y_mask = make_synthetic(90, seed=4, n_classes=3, labels_per_clip=2.5, signal=2.0)
    groups = np.arange(90) // 3
    model = PerInstrumentModel(
        "lr", n_folds=4, pooling="mean", n_jobs=1, progress=False, grid={"C": (0.5,)}
    ).fit(X, Y_true, Y_mask, groups=groups, classes=("a", "b", "c"))
    F = clip_mean(X)
    for k in range(3):
        rows = np.flatnonzero(Y_mask[:, k])
        y, folds = is_positive(Y_true[rows, k]), model.folds_[rows, k]
        assert set(folds) == {0, 1, 2, 3}
        oof = np.empty(len(rows))
        for f in range(4):
            held = folds == f
            est = fit_estimator("lr", {"C": 0.5}, F[rows][~held], y[~held], seed=0)
            oof[held] = est.predict_proba(F[rows][held])[:, 1]
        assert model.thresholds_[k] == best_f1_threshold(y, oof)[0]
        assert model.thresholds_[k] in oof  # a held-out score, not a training one


def test_folds_without_positives_are_named_in_notes(dataset):
    groups, Y_true, Y_mask = _train(dataset)
    Y_true = Y_true.copy()
    k = 7  # flute: 3 positives of 3 artists, so 2 of the 5 folds hold none
    rows = np.flatnonzero(Y_mask[:, k] & (groups >= 0))
    _, first = np.unique(groups[rows], return_index=True)
    Y_true[Y_mask[:, k], k] = 0.1
    Y_true[rows[first[:3]], k] = 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateClassWarning)  # 3 scored folds: no fallback
        model = _fit_lr(dataset, Y_true)
    positive_folds = set(model.folds_[Y_mask[:, k] & (Y_true[:, k] > 0.5), k])
    empty = sorted(set(range(5)) - positive_folds)
    assert len(empty) == 2
    for fold in empty:
        assert f"fold {fold}: held-out part has no positive" in model.notes_[k]
        assert np.isnan(model.cv_scores_["roc_auc"][k, fold])
        assert np.isnan(model.cv_scores_["ap"][k, fold])
    assert np.isfinite(model.cv_scores_["roc_auc"][k, sorted(positive_folds)]).all()
    assert not model.fallback_[k]
    summary = model.cv_summary()
    assert summary.loc["flute", "folds_scored"] == 3
    assert f"fold {empty[0]}: held-out part has no positive" in summary.loc["flute", "notes"]


def test_too_few_scorable_folds_fall_back_with_a_warning_by_name(dataset):
    _, Y_true, Y_mask = _train(dataset)
    Y_true = Y_true.copy()
    k = 2  # bass: one positive, so one fold at most can be scored
    Y_true[Y_mask[:, k], k] = 0.1
    Y_true[np.flatnonzero(Y_mask[:, k])[0], k] = 0.9
    with pytest.warns(DegenerateClassWarning, match=r"could not select for \['bass'\]"):
        model = _fit_lr(dataset, Y_true)
    assert model.fallback_[k] and model.params_[k] == D.LR_DEFAULT
    assert any("nothing selected" in note for note in model.notes_[k])
    assert model.fallback_.sum() == 1


# Selection on one instrument ------------------------------------------------------------------------


def _instrument(n=120, seed=0, signal=1.5):
    """Separable-ish features with 12 artists of 10 clips: (X, y, folds)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int8)
    X = rng.standard_normal((n, 6)) + signal * y[:, None] * np.array([1, 0.5, 0, 0, 0, 0])
    folds, _ = instrument_folds(np.arange(n) // 10, y, n_folds=4, seed=0)
    return X, y, folds


def test_lr_selection_is_the_best_mean_fold_auc_and_refits_on_all_rows():
    X, y, folds = _instrument()
    grid = {"C": (0.001, 0.1, 10.0)}
    cv = select_and_fit("lr", X, y, folds, grid=grid, n_folds=4, seed=0)
    # Independent computation: per C, fold models on the other folds, AUC of each held-out fold.
    means = []
    for point in grid_points(grid):
        aucs = []
        for f in range(4):
            held = folds == f
            model = fit_estimator("lr", point, X[~held], y[~held], seed=0)
            aucs.append(roc_auc_score(y[held], positive_proba(model, X[held])))
        means.append(np.mean(aucs))
    best = int(np.argmax(means))
    assert cv.params == {"C": grid["C"][best]} and not cv.fallback and cv.notes == []
    assert cv.score == pytest.approx(means[best], abs=1e-12)
    refit = fit_estimator("lr", cv.params, X, y, seed=0)
    np.testing.assert_allclose(
        positive_proba(cv.estimator, X), positive_proba(refit, X), rtol=0, atol=1e-12
    )
    assert cv.estimator[-1].n_features_in_ == 6 and cv.estimator[0].n_samples_seen_ == len(y)


def test_fold_without_positive_is_noted_and_unscored():
    X, y, folds = _instrument()
    y = y.copy()
    y[folds == 2] = 0  # fold 2's held-out part: negatives only
    cv = select_and_fit("lr", X, y, folds, grid={"C": (0.1, 1.0)}, n_folds=4, seed=0)
    assert "fold 2: held-out part has no positive" in cv.notes
    assert np.isnan(cv.fold_scores["roc_auc"][2]) and np.isnan(cv.fold_scores["ap"][2])
    assert np.isfinite(np.delete(cv.fold_scores["roc_auc"], 2)).all()
    assert not cv.fallback  # three scored folds still select
    assert np.isfinite(cv.oof).all()  # the unscored fold still has out-of-fold predictions


def test_too_few_scored_folds_fall_back_to_the_default():
    X, y, folds = _instrument()
    y = y.copy()
    y[folds != 0] = 0  # positives only in fold 0: no other fold can be scored
    cv = select_and_fit("lr", X, y, folds, grid={"C": (0.001, 10.0)}, n_folds=4, seed=0)
    assert cv.fallback and cv.params == D.LR_DEFAULT
    assert any("default configuration {'C': 1.0}, nothing selected" in n for n in cv.notes)
    assert "fold 1: held-out part has no positive" in cv.notes
    assert "fold 0: training part has no positive" in cv.notes
    assert np.isfinite(cv.fold_scores["roc_auc"]).sum() == 1


def test_single_label_class_is_constant_without_cv():
    X, y, folds = _instrument()
    cv = select_and_fit(
        "xgb", X, np.zeros_like(y), folds, grid=D.DEFAULT_GRIDS["xgb"], n_folds=4, seed=0
    )
    assert cv.params == {"constant": 0.0} and cv.fallback
    assert np.all(positive_proba(cv.estimator, X) == 0.0)
    assert np.isnan(cv.oof).all() and np.isnan(cv.fold_scores["roc_auc"]).all()
    assert "training holds no positive" in cv.notes[0]


def test_rf_is_the_official_recipe_scored_by_cv_and_fitted_on_all_rows():
    X, y, folds = _instrument()
    cv = select_and_fit("rf", X, y, folds, grid={}, n_folds=4, seed=0)
    assert cv.params == D.RF_PARAMS
    assert cv.estimator.get_params()["max_depth"] == 8 and len(cv.estimator.estimators_) == 100
    assert cv.estimator.n_features_in_ == 6
    # Trained on all rows: equal to the official forest fitted directly on (X, y).
    direct = fit_estimator("rf", D.RF_PARAMS, X, y, seed=0)
    np.testing.assert_array_equal(positive_proba(cv.estimator, X), positive_proba(direct, X))
    assert np.isfinite(cv.fold_scores["roc_auc"]).all()


# XGBoost's number of trees ------------------------------------------------------------------------


def test_tree_count_is_the_best_candidate_on_the_mean_curve():
    stopped = np.linspace(0.5, 0.8, 120)  # stopped after 120 trees: its last value counts beyond
    stopped[49] = 0.9
    full = np.full(D.XGB_MAX_TREES, 0.6)
    full[199] = 0.75
    # Candidates 50, 100, 200, 400: means (0.9 + 0.6) / 2, (0.748 + 0.6) / 2, (0.8 + 0.75) / 2, 0.7
    assert D.XGB_TREE_COUNTS == (50, 100, 200, 400)
    assert tree_count([stopped, full]) == 200
    by_hand = {
        n: np.mean([c[min(n, len(c)) - 1] for c in (stopped, full)]) for n in D.XGB_TREE_COUNTS
    }
    assert max(by_hand, key=by_hand.get) == 200
    assert tree_count([np.full(30, 0.6)]) == 50  # ties: fewer trees
    assert tree_count([]) == D.XGB_DEFAULT["n_estimators"]


def test_xgb_trees_from_the_folds_and_oof_at_that_count():
    X, y, folds = _instrument(n=200, signal=1.0)
    grid = {"max_depth": (2,), "learning_rate": (0.3,)}
    cv = select_and_fit("xgb", X, y, folds, grid=grid, n_folds=4, seed=0)
    n = cv.params["n_estimators"]
    assert 1 <= n <= D.XGB_MAX_TREES
    assert cv.estimator.get_booster().num_boosted_rounds() == n  # refit: exactly n trees
    assert cv.estimator.get_params()["n_jobs"] == 1
    # Fold 0 again, independently: early stopping on its held-out part, predictions at n trees.
    from baselines.instrument import fit_xgb_early_stopping

    held = folds == 0
    model, curve = fit_xgb_early_stopping(
        {"max_depth": 2, "learning_rate": 0.3}, X[~held], y[~held], X[held], y[held], seed=0
    )
    np.testing.assert_array_equal(cv.oof[held], positive_proba(model, X[held], n_trees=n))
    assert cv.fold_scores["roc_auc"][0] == pytest.approx(roc_auc_score(y[held], cv.oof[held]))
    assert len(curve) <= D.XGB_MAX_TREES
