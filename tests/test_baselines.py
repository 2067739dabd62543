"""Tests of baselines/: label masking, CV-only choices, refits, determinism, persistence."""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.estimator_checks import check_estimator

from baselines import (
    DegenerateClassWarning,
    PerInstrumentModel,
    clip_mean,
    clip_mean_std,
    pool,
    read_metadata,
)
from baselines import defaults as D
from baselines.instrument import fit_estimator, positive_proba
from baselines.selection import select_and_fit
from core.errors import DatasetError, ParameterError
from core.metrics import masked_scores, mean_over_classes
from core.targets import is_positive
from core.thresholds import FALLBACK_THRESHOLD
from features.demo.synthetic import make_synthetic
from features.openmic import CLASSES

N_TRAIN, N_TEST = 400, 100
SMALL_GRIDS = {
    "lr": {"C": (0.01, 1.0)},
    "xgb": {"max_depth": (2,), "learning_rate": (0.3,)},
    "rf": {},
}

RF_INVARIANCE_CLASSES = 4


def _artists(n: int, seed: int = 0) -> np.ndarray:
    """Artist ids, 1-5 clips each in runs, every 10th clip without an artist (-1)."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n), rng.integers(1, 6, n))[:n]
    ids[::10] = -1
    return ids


@pytest.fixture(scope="module")
def data():
    X, Y_true, Y_mask = make_synthetic(N_TRAIN + N_TEST, seed=1, signal=1.5, labels_per_clip=4)
    train = (X[:N_TRAIN], Y_true[:N_TRAIN], Y_mask[:N_TRAIN])
    return {
        "train": train,
        "groups": _artists(N_TRAIN),
        "test": (X[N_TRAIN:], Y_true[N_TRAIN:], Y_mask[N_TRAIN:]),
    }


def _fit(kind, train, groups, classes=None, **kwargs):
    params = {
        "pooling": "mean",
        "n_jobs": 2,
        "progress": False,
        "grid": SMALL_GRIDS[kind],
        **kwargs,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateClassWarning)
        return PerInstrumentModel(kind, **params).fit(*train, groups=groups, classes=classes)


@pytest.fixture(scope="module")
def models(data):
    """Fitted models (small grids, seed 0) of each kind, fitted once per module."""
    cache = {}

    def get(kind):
        if kind not in cache:  # rf under "auto": the official baseline's clip means
            pooling = "auto" if kind == "rf" else "mean"
            cache[kind] = _fit(kind, data["train"], data["groups"], pooling=pooling)
        return cache[kind]

    return get


@pytest.fixture(scope="module")
def lr_model(models):
    return models("lr")


# Pooling ------------------------------------------------------------------------------------------


def test_pooling_exact_values():
    X = np.array([[[0, 10], [2, 10], [4, 10]]], dtype=np.int64)  # (1 clip, 3 frames, 2 dims)
    np.testing.assert_array_equal(clip_mean(X), np.array([[2.0, 10.0]], dtype=np.float32))
    out = clip_mean_std(X, dtype=np.float64)
    assert out.dtype == np.float64 and out.shape == (1, 4)
    np.testing.assert_allclose(out, [[2.0, 10.0, np.sqrt(8 / 3), 0.0]])
    assert pool(X, "mean").dtype == np.float32


@pytest.mark.parametrize("bad", [np.zeros((3, 128)), np.zeros((0, 10, 128)), np.zeros((2, 0, 128))])
def test_pooling_rejects_bad_shapes(bad):
    with pytest.raises(ParameterError, match=r"given X\.shape"):
        clip_mean(bad)


def test_pooling_rejects_unknown_name():
    with pytest.raises(ParameterError, match="'max'"):
        pool(np.zeros((1, 10, 128)), "max")


# Label semantics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lr", "xgb", "rf"])
def test_unobserved_labels_have_no_influence(data, models, kind):
    rng = np.random.default_rng(0)
    X, Y_true, Y_mask = data["train"]
    scrambled = np.where(Y_mask, Y_true, rng.choice([0.0, 1.0], Y_true.shape))
    assert not np.array_equal(scrambled, Y_true)
    if kind == "rf":  # the untuned official forest on four instruments (fitted twice), not twenty
        cols, few = slice(0, RF_INVARIANCE_CLASSES), CLASSES[:RF_INVARIANCE_CLASSES]
        a = _fit(kind, (X, Y_true[:, cols], Y_mask[:, cols]), data["groups"], pooling="auto", classes=few)
        b = _fit(kind, (X, scrambled[:, cols], Y_mask[:, cols]), data["groups"], pooling="auto", classes=few)
    else:
        a = models(kind)
        b = _fit(kind, (X, scrambled, Y_mask), data["groups"])
    X_test = data["test"][0]
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)
    np.testing.assert_array_equal(a.folds_, b.folds_)
    np.testing.assert_array_equal(a.cv_scores_["roc_auc"], b.cv_scores_["roc_auc"])
    assert a.params_ == b.params_


def test_mask_is_not_a_target(data):
    """A class asked about on every clip but never present must not look 'present'."""
    X, Y_true, Y_mask = (a.copy() for a in data["train"])
    Y_mask[:, 0], Y_true[:, 0] = True, 0.0
    with pytest.warns(DegenerateClassWarning, match="accordion"):
        model = PerInstrumentModel(
            "lr", pooling="mean", n_jobs=2, progress=False, grid=SMALL_GRIDS["lr"]
        ).fit(X, Y_true, Y_mask, groups=data["groups"])
    assert np.all(model.predict_proba(data["test"][0])[:, 0] == 0.0)
    assert model.thresholds_[0] == FALLBACK_THRESHOLD and model.fallback_[0]
    assert "training holds no positive" in model.notes_[0][0]


# Refits on all rows -------------------------------------------------------------------------------


def test_final_models_are_refitted_on_all_observed_rows(data, lr_model):
    X, Y_true, Y_mask = data["train"]
    F = clip_mean(X)
    for k, est in enumerate(lr_model.estimators_):
        rows = Y_mask[:, k]
        assert est[0].n_samples_seen_ == rows.sum()
        direct = fit_estimator(
            "lr", lr_model.params_[k], F[rows], is_positive(Y_true[rows, k]), seed=0
        )
        np.testing.assert_allclose(
            positive_proba(est, F[:20]), positive_proba(direct, F[:20]), rtol=0, atol=1e-12
        )


def test_rf_is_the_official_forest_on_all_rows_with_cv_thresholds(data, models):
    rf = models("rf")
    X, Y_true, Y_mask = data["train"]
    F = clip_mean(X)
    for k in (0, 7, 19):
        rows = Y_mask[:, k]
        official = RandomForestClassifier(max_depth=8, n_estimators=100, random_state=0, n_jobs=1)
        official.fit(F[rows], is_positive(Y_true[rows, k]))
        np.testing.assert_array_equal(
            positive_proba(rf.estimators_[k], F), official.predict_proba(F)[:, 1]
        )
        assert rf.params_[k] == D.RF_PARAMS
        assert np.isfinite(rf.cv_scores_["roc_auc"][k]).sum() >= D.MIN_SCORED_FOLDS
    np.testing.assert_array_equal(rf.folds_, models("lr").folds_)  # the same folds for every kind


# Determinism and degenerate classes ---------------------------------------------------------------


def test_same_seed_same_model_whatever_the_processes(data, models):
    a = models("xgb")
    b = _fit("xgb", data["train"], data["groups"], seed=0, n_jobs=1)
    np.testing.assert_array_equal(
        a.predict_proba(data["test"][0]), b.predict_proba(data["test"][0])
    )
    np.testing.assert_array_equal(a.cv_scores_["ap"], b.cv_scores_["ap"])


def test_single_label_classes_are_constant_and_others_train(data, lr_model):
    X, Y_true, Y_mask = data["train"]
    Y2 = Y_true.copy()
    Y2[:, 3] = np.where(Y_mask[:, 3], 0.0, 0.5)  # cello: no positive
    Y2[:, 5] = np.where(Y_mask[:, 5], 1.0, 0.5)  # cymbals: no negative
    with pytest.warns(DegenerateClassWarning, match=r"'cello', 'cymbals'"):
        model = PerInstrumentModel(
            "lr", pooling="mean", n_jobs=2, progress=False, grid=SMALL_GRIDS["lr"]
        ).fit(X, Y2, Y_mask, groups=data["groups"])
    P = model.predict_proba(data["test"][0])
    assert np.all(P[:, 3] == 0.0) and np.all(P[:, 5] == 1.0)
    assert model.params_[3] == {"constant": 0.0} and model.params_[5] == {"constant": 1.0}
    assert np.isnan(model.cv_scores_["roc_auc"][[3, 5]]).all()
    others = [k for k in range(len(CLASSES)) if k not in (3, 5)]
    # Classes are fitted independently: the other 18 equal those of the untouched model.
    np.testing.assert_array_equal(P[:, others], lr_model.predict_proba(data["test"][0])[:, others])
    assert all(P[:, k].std() > 0 for k in others)


# Choices by cross-validation ----------------------------------------------------------------------


def test_choices_are_the_per_instrument_cv_selection(data, lr_model):
    X, Y_true, Y_mask = data["train"]
    F = clip_mean(X)
    for k in (1, 9, 15):
        rows = Y_mask[:, k]
        cv = select_and_fit(
            "lr", F[rows], is_positive(Y_true[rows, k]), lr_model.folds_[rows, k],
            grid=SMALL_GRIDS["lr"], n_folds=5, seed=0,
        )  # fmt: skip
        assert lr_model.params_[k] == cv.params
        np.testing.assert_array_equal(lr_model.cv_scores_["roc_auc"][k], cv.fold_scores["roc_auc"])


def test_xgb_trees_come_from_the_folds(models):
    model = models("xgb")
    for params, est in zip(model.params_, model.estimators_, strict=True):
        if "constant" in params:
            continue
        assert est.get_booster().num_boosted_rounds() == params["n_estimators"]
        assert params["max_depth"] == 2 and est.get_params()["n_jobs"] == 1


def test_auto_pooling_picks_the_better_macro_cv_score(data):
    model = _fit("lr", data["train"], data["groups"], pooling="auto")
    assert set(model.pooling_scores_) == {"mean", "mean_std"}
    assert model.pooling_ == max(model.pooling_scores_, key=model.pooling_scores_.get)
    fixed = _fit("lr", data["train"], data["groups"], pooling=model.pooling_)
    np.testing.assert_array_equal(
        model.predict_proba(data["test"][0]), fixed.predict_proba(data["test"][0])
    )
    macro = np.nanmean([np.nanmean(row) for row in model.cv_scores_["roc_auc"]])
    assert model.pooling_scores_[model.pooling_] == pytest.approx(macro)


def test_cv_summary_and_macro_agree_with_the_fold_scores(lr_model):
    summary = lr_model.cv_summary()
    assert list(summary.index) == list(CLASSES)
    scores = lr_model.cv_scores_["roc_auc"]
    assert scores.shape == (20, 5)
    np.testing.assert_allclose(summary["roc_auc_mean"], np.nanmean(scores, axis=1))
    np.testing.assert_allclose(summary["roc_auc_std"], np.nanstd(scores, axis=1, ddof=1))
    mean, std = lr_model.cv_macro()["roc_auc"]
    per_fold = np.nanmean(scores, axis=0)
    assert mean == pytest.approx(per_fold.mean()) and std == pytest.approx(per_fold.std(ddof=1))
    assert 0.5 < mean < 1.0


# Persistence --------------------------------------------------------------------------------------


def test_save_load_roundtrip_keeps_the_cv_evidence(tmp_path, data, lr_model):
    path = tmp_path / "models" / "lr.joblib"
    lr_model.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["lr.joblib"]  # no temp file left
    loaded = PerInstrumentModel.load(path, expect_features={"shape": (10, 128), "classes": CLASSES})
    X_test = data["test"][0]
    np.testing.assert_array_equal(loaded.predict_proba(X_test), lr_model.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.folds_, lr_model.folds_)
    for metric in ("roc_auc", "ap"):
        np.testing.assert_array_equal(loaded.cv_scores_[metric], lr_model.cv_scores_[metric])
    assert loaded.notes_ == lr_model.notes_ and loaded.params_ == lr_model.params_
    np.testing.assert_array_equal(loaded.fallback_, lr_model.fallback_)
    assert loaded.cv_summary().equals(lr_model.cv_summary())
    meta = read_metadata(path)
    assert meta["kind"] == "lr" and meta["shape"] == [10, 128] and meta["classes"] == list(CLASSES)
    assert meta["x_dtype"] == "int64" and 0 <= meta["x_range"][0] < meta["x_range"][1] <= 255
    assert meta["thresholds"] == lr_model.thresholds_.tolist()
    assert meta["params"] == lr_model.params_ and meta["train_time_s"] > 0
    cv = meta["cv"]
    assert cv["n_folds"] == 5 and cv["criterion"] == "roc_auc"
    np.testing.assert_array_equal(
        np.array(cv["ap"], dtype=float), lr_model.cv_scores_["ap"]
    )  # None (NaN) entries become NaN again
    assert cv["notes"] == lr_model.notes_ and cv["fallback"] == lr_model.fallback_.tolist()
    assert {"scikit-learn", "xgboost", "numpy"} <= set(meta["versions"])


def test_xgb_roundtrip_keeps_the_trees(tmp_path, data, models):
    model = models("xgb")
    model.save(tmp_path / "xgb.joblib")
    loaded = PerInstrumentModel.load(tmp_path / "xgb.joblib")
    np.testing.assert_array_equal(
        loaded.predict_proba(data["test"][0]), model.predict_proba(data["test"][0])
    )


@pytest.mark.parametrize(
    "expect",
    [{"shape": (10, 64)}, {"embedding": "openl3"}, {"classes": ("a", "b")}, {"kind": "xgb"}],
)
def test_load_for_other_features_raises_naming_file(tmp_path, lr_model, expect):
    path = tmp_path / "lr.joblib"
    lr_model.save(path)
    with pytest.raises(DatasetError, match=r"lr\.joblib.*retrain"):
        PerInstrumentModel.load(path, expect_features=expect)


def test_load_bad_files(tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.joblib does not exist"):
        PerInstrumentModel.load(tmp_path / "missing.joblib")
    joblib.dump({"something": "else"}, tmp_path / "other.joblib")
    with pytest.raises(DatasetError, match=r"other\.joblib is not a model saved by baselines"):
        PerInstrumentModel.load(tmp_path / "other.joblib")
    (tmp_path / "text.joblib").write_text("not a pickle")
    with pytest.raises(DatasetError, match=r"text\.joblib could not be read"):
        PerInstrumentModel.load(tmp_path / "text.joblib")
    with pytest.raises(ParameterError, match="expect_features keys"):
        PerInstrumentModel.load(tmp_path / "other.joblib", expect_features={"dims": 128})


# Bad inputs and the estimator contract ------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"kind": "svm"}, "kind=.svm."),
        ({"pooling": "max"}, "pooling=.max."),
        ({"grid": {"C": ()}}, "grid"),
        ({"n_folds": 1}, "n_folds=1"),
    ],
)
def test_bad_parameters(data, params, match):
    with pytest.raises(ParameterError, match=match):
        PerInstrumentModel(**params).fit(*data["train"], groups=data["groups"])


def test_bad_arrays(data, lr_model):
    X, Y_true, Y_mask = data["train"]
    groups = data["groups"]
    with pytest.raises(ParameterError, match="Y_mask must be bool"):
        PerInstrumentModel().fit(X, Y_true, Y_mask.astype(int), groups=groups)
    with pytest.raises(ParameterError, match=r"Y_true.shape=\(399, 20\)"):
        PerInstrumentModel().fit(X, Y_true[1:], Y_mask[1:], groups=groups)
    with pytest.raises(ParameterError, match="NaN"):
        PerInstrumentModel().fit(X.astype(float) * np.nan, Y_true, Y_mask, groups=groups)
    with pytest.raises(ParameterError, match="classes"):
        PerInstrumentModel().fit(X, Y_true, Y_mask, groups=groups, classes=("a",))
    with pytest.raises(ParameterError, match=r"groups.shape=\(399,\)"):
        PerInstrumentModel().fit(X, Y_true, Y_mask, groups=groups[1:])
    with pytest.raises(TypeError, match="groups"):
        PerInstrumentModel().fit(X, Y_true, Y_mask)
    with pytest.raises(ParameterError, match=r"given X.shape=\(2, 10, 64\)"):
        lr_model.predict_proba(np.zeros((2, 10, 64)))


# Checks that call sklearn's fit(X, y) cannot apply: fit needs Y_mask (which pairs are labelled) and
# artist groups, and X is (n, frames, dims). Those properties are tested above through the real
# signature (fit returns self, determinism, pickling via save/load, NaN rejection).
FIT_XY_CHECKS = (
    "check_complex_data check_dict_unchanged check_dont_overwrite_parameters check_dtype_object "
    "check_estimator_sparse_array check_estimator_sparse_matrix check_estimator_sparse_tag "
    "check_estimators_dtypes check_estimators_empty_data_messages check_estimators_fit_returns_self "
    "check_estimators_nan_inf check_estimators_overwrite_params check_estimators_pickle "
    "check_f_contiguous_array_estimator check_fit1d check_fit2d_1feature check_fit2d_1sample "
    "check_fit2d_predict1d check_fit_check_is_fitted check_fit_idempotent check_fit_score_takes_y "
    "check_methods_sample_order_invariance check_methods_subset_invariance check_n_features_in "
    "check_n_features_in_after_fitting check_pipeline_consistency "
    "check_positive_only_tag_during_fit check_readonly_memmap_input"
).split()


def test_sklearn_estimator_checks_that_apply():
    expected = dict.fromkeys(FIT_XY_CHECKS, "fit needs Y_mask, artist groups and 3-D X")
    results = check_estimator(
        PerInstrumentModel(n_jobs=1, progress=False),
        expected_failed_checks=expected,
        on_fail=None,
        on_skip=None,
    )
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert failed == []
    assert {
        "check_no_attributes_set_in_init",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimators_unfitted",
        "check_estimator_cloneable",
        "check_parameters_default_constructible",
    } <= passed


def test_fit_returns_self_and_keeps_params(data):
    model = PerInstrumentModel(
        "lr", n_folds=3, pooling="mean", n_jobs=2, progress=False, grid={"C": (1.0,)}
    )
    before = model.get_params()
    assert model.fit(*data["train"], groups=data["groups"]) is model
    assert model.get_params() == before
    assert model.cv_scores_["roc_auc"].shape == (20, 3) and model.folds_.max() == 2


# What the baselines learn -------------------------------------------------------------------------


def test_baselines_learn_the_synthetic_signal(data, models):
    X_test, Y_true, Y_mask = data["test"]
    for kind in ("lr", "xgb", "rf"):
        scores = masked_scores(models(kind).predict_proba(X_test), Y_true, Y_mask)
        assert mean_over_classes(scores["ap"]) > 0.6 and mean_over_classes(scores["roc_auc"]) > 0.6
    rf = models("rf")
    assert rf.pooling_ == "mean" and set(rf.pooling_scores_) == {"mean"}  # the official clip means
