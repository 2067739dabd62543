"""Tests of baselines/: label masking, validation-only choices, determinism, persistence."""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.utils.estimator_checks import check_estimator

from baselines import (
    DegenerateClassWarning,
    PerInstrumentModel,
    clip_mean,
    clip_mean_std,
    pool,
    read_metadata,
)
from baselines.instrument import _lr
from core.errors import DatasetError, ParameterError
from core.metrics import masked_scores, mean_over_classes
from core.thresholds import validation_thresholds
from features.demo.synthetic import make_synthetic
from features.openmic import CLASSES

N_FIT, N_VAL, N_TEST = 300, 150, 100
SMALL_GRIDS = {
    "lr": {"C": (0.01, 1.0)},
    "xgb": {"max_depth": (2,), "learning_rate": (0.3,)},
    "rf": {},
}


@pytest.fixture(scope="module")
def data():
    X, Y_true, Y_mask = make_synthetic(N_FIT + N_VAL + N_TEST, seed=1, signal=1.5)
    cut = np.cumsum([N_FIT, N_VAL])
    return {
        name: (X[s], Y_true[s], Y_mask[s])
        for name, s in zip(
            ("fit", "val", "test"),
            (slice(0, cut[0]), slice(cut[0], cut[1]), slice(cut[1], None)),
            strict=True,
        )
    }


def _fit(kind, fit, val, **kwargs):
    params = {
        "pooling": "mean",
        "n_jobs": 2,
        "progress": False,
        "grid": SMALL_GRIDS[kind],
        **kwargs,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateClassWarning)
        return PerInstrumentModel(kind, **params).fit(
            *fit, X_val=val[0], Y_true_val=val[1], Y_mask_val=val[2]
        )


@pytest.fixture(scope="module")
def models(data):
    """Fitted models (pooling "mean", small grids, seed 0) of each kind, fitted once per module."""
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = _fit(kind, data["fit"], data["val"])
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
    (X, Y_true, Y_mask), (Xv, Yv, Mv) = data["fit"], data["val"]
    scrambled = np.where(Y_mask, Y_true, rng.choice([0.0, 1.0], Y_true.shape))
    scrambled_val = np.where(Mv, Yv, rng.choice([0.0, 1.0], Yv.shape))
    assert not np.array_equal(scrambled, Y_true)
    a = models(kind)
    b = _fit(kind, (X, scrambled, Y_mask), (Xv, scrambled_val, Mv))
    X_test = data["test"][0]
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)
    assert a.params_ == b.params_


def test_mask_is_not_a_target(data):
    """A class asked about on every clip but never present must not look 'present'."""
    X, Y_true, Y_mask = (a.copy() for a in data["fit"])
    Xv, Yv, Mv = (a.copy() for a in data["val"])
    Y_mask[:, 0], Y_true[:, 0] = True, 0.0
    Mv[:, 0], Yv[:, 0] = True, 0.0
    with pytest.warns(DegenerateClassWarning, match="accordion"):
        model = PerInstrumentModel(
            "lr", pooling="mean", n_jobs=2, progress=False, grid=SMALL_GRIDS["lr"]
        ).fit(X, Y_true, Y_mask, X_val=Xv, Y_true_val=Yv, Y_mask_val=Mv)
    assert np.all(model.predict_proba(data["test"][0])[:, 0] == 0.0)


# Thresholds ---------------------------------------------------------------------------------------


def test_thresholds_are_the_validation_search_on_validation_predictions(data, lr_model):
    Xv, Yv, Mv = data["val"]
    P_val = lr_model.predict_proba(Xv)
    expected, fallback = validation_thresholds(P_val, Yv, Mv)
    np.testing.assert_array_equal(lr_model.thresholds_, expected)
    chosen = [k for k in range(len(CLASSES)) if k not in fallback]
    assert len(chosen) >= 15
    assert all(lr_model.thresholds_[k] in P_val[Mv[:, k], k] for k in chosen)  # validation scores
    # Training labels move the model, but thresholds still come from its validation scores: flipping
    # training labels of one class changes its threshold only through the validation predictions.
    X, Y_true, Y_mask = data["fit"]
    flipped = np.where(Y_mask[:, [2]], 1.0 - Y_true[:, [2]], Y_true[:, [2]])
    Y2 = Y_true.copy()
    Y2[:, 2] = flipped[:, 0]
    other = _fit("lr", (X, Y2, Y_mask), data["val"])
    np.testing.assert_array_equal(
        np.delete(other.thresholds_, 2), np.delete(lr_model.thresholds_, 2)
    )
    s2 = other.predict_proba(Xv)[Mv[:, 2], 2]
    assert other.thresholds_[2] in s2


def test_threshold_fallback_warns_by_name(data):
    Xv, Yv, Mv = (a.copy() for a in data["val"])
    Yv[Mv[:, 7], 7] = 0.1  # flute: no positive in validation
    with pytest.warns(DegenerateClassWarning, match=r"validation.*flute"):
        model = PerInstrumentModel(
            "lr", pooling="mean", n_jobs=2, progress=False, grid=SMALL_GRIDS["lr"]
        ).fit(*data["fit"], X_val=Xv, Y_true_val=Yv, Y_mask_val=Mv)
    assert model.thresholds_[7] == 0.5
    assert np.isnan(model.val_ap_[7])


# Determinism and degenerate classes ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["xgb", "rf"])
def test_same_seed_same_model(data, models, kind):
    a = models(kind)
    b = _fit(kind, data["fit"], data["val"], seed=0, n_jobs=1 if kind == "xgb" else 2)
    np.testing.assert_array_equal(
        a.predict_proba(data["test"][0]), b.predict_proba(data["test"][0])
    )


def test_single_label_classes_are_constant_and_others_train(data, lr_model):
    X, Y_true, Y_mask = data["fit"]
    Y2 = Y_true.copy()
    Y2[:, 3] = np.where(Y_mask[:, 3], 0.0, 0.5)  # cello: no positive
    Y2[:, 5] = np.where(Y_mask[:, 5], 1.0, 0.5)  # cymbals: no negative
    with pytest.warns(DegenerateClassWarning, match=r"'cello', 'cymbals'"):
        model = PerInstrumentModel(
            "lr", pooling="mean", n_jobs=2, progress=False, grid=SMALL_GRIDS["lr"]
        ).fit(
            X,
            Y2,
            Y_mask,
            X_val=data["val"][0],
            Y_true_val=data["val"][1],
            Y_mask_val=data["val"][2],
        )
    P = model.predict_proba(data["test"][0])
    assert np.all(P[:, 3] == 0.0) and np.all(P[:, 5] == 1.0)
    assert model.params_[3] == {"constant": 0.0} and model.params_[5] == {"constant": 1.0}
    others = [k for k in range(len(CLASSES)) if k not in (3, 5)]
    # Classes are fitted independently: the other 18 equal those of the untouched model.
    np.testing.assert_array_equal(P[:, others], lr_model.predict_proba(data["test"][0])[:, others])
    assert all(P[:, k].std() > 0 for k in others)


# Hyper-parameters on validation -------------------------------------------------------------------


def test_lr_c_is_best_validation_ap(data):
    grid = {"C": (0.001, 0.1, 10.0)}
    model = _fit("lr", data["fit"], data["val"], grid=grid)
    (X, Y_true, Y_mask), (Xv, Yv, Mv) = data["fit"], data["val"]
    F, Fv = clip_mean(X), clip_mean(Xv)
    for k in range(len(CLASSES)):
        yv = Yv[Mv[:, k], k] >= 0.5
        if yv.all() or not yv.any():
            assert model.params_[k] == {"C": 0.1}  # default when validation cannot score
            continue
        rows = Y_mask[:, k]
        aps = [
            average_precision_score(
                yv, _lr(C).fit(F[rows], Y_true[rows, k] >= 0.5).predict_proba(Fv[Mv[:, k]])[:, 1]
            )
            for C in grid["C"]
        ]
        assert model.params_[k]["C"] == grid["C"][int(np.argmax(aps))]
        assert model.val_ap_[k] == pytest.approx(max(aps))


def test_xgb_trees_by_early_stopping(models):
    model = models("xgb")
    for params, est in zip(model.params_, model.estimators_, strict=True):
        if "constant" in params:
            continue
        assert params["n_estimators"] == est.best_iteration + 1
        assert params["max_depth"] == 2 and est.get_params()["n_jobs"] == 1


def test_auto_pooling_picks_better_mean_validation_ap(data):
    model = _fit("lr", data["fit"], data["val"], pooling="auto")
    assert set(model.pooling_scores_) == {"mean", "mean_std"}
    assert model.pooling_ == max(model.pooling_scores_, key=model.pooling_scores_.get)
    fixed = _fit("lr", data["fit"], data["val"], pooling=model.pooling_)
    np.testing.assert_array_equal(
        model.predict_proba(data["test"][0]), fixed.predict_proba(data["test"][0])
    )


# Persistence --------------------------------------------------------------------------------------


def test_save_load_roundtrip(tmp_path, data, lr_model):
    path = tmp_path / "models" / "lr.joblib"
    lr_model.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["lr.joblib"]  # no temp file left
    loaded = PerInstrumentModel.load(path, expect_features={"shape": (10, 128), "classes": CLASSES})
    X_test = data["test"][0]
    np.testing.assert_array_equal(loaded.predict_proba(X_test), lr_model.predict_proba(X_test))
    meta = read_metadata(path)
    assert meta["kind"] == "lr" and meta["shape"] == [10, 128] and meta["classes"] == list(CLASSES)
    assert meta["x_dtype"] == "int64" and 0 <= meta["x_range"][0] < meta["x_range"][1] <= 255
    assert meta["thresholds"] == lr_model.thresholds_.tolist()
    assert meta["params"] == lr_model.params_ and meta["train_time_s"] > 0
    assert {"scikit-learn", "xgboost", "numpy"} <= set(meta["versions"])


def test_xgb_roundtrip_keeps_best_iteration(tmp_path, data, models):
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
    ],
)
def test_bad_parameters(data, params, match):
    with pytest.raises(ParameterError, match=match):
        PerInstrumentModel(**params).fit(
            *data["fit"], X_val=data["val"][0], Y_true_val=data["val"][1], Y_mask_val=data["val"][2]
        )


def test_bad_arrays(data, lr_model):
    X, Y_true, Y_mask = data["fit"]
    val = {"X_val": data["val"][0], "Y_true_val": data["val"][1], "Y_mask_val": data["val"][2]}
    with pytest.raises(ParameterError, match="Y_mask must be bool"):
        PerInstrumentModel().fit(X, Y_true, Y_mask.astype(int), **val)
    with pytest.raises(ParameterError, match=r"Y_true.shape=\(299, 20\)"):
        PerInstrumentModel().fit(X, Y_true[1:], Y_mask[1:], **val)
    with pytest.raises(ParameterError, match="NaN"):
        PerInstrumentModel().fit(X.astype(float) * np.nan, Y_true, Y_mask, **val)
    with pytest.raises(ParameterError, match="classes"):
        PerInstrumentModel().fit(X, Y_true, Y_mask, **val, classes=("a",))
    with pytest.raises(ParameterError, match=r"given X.shape=\(2, 10, 64\)"):
        lr_model.predict_proba(np.zeros((2, 10, 64)))


# Checks that call sklearn's fit(X, y) cannot apply: fit needs Y_mask (which pairs are labelled) and
# a validation split, and X is (n, frames, dims). Those properties are tested above through the real
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
    expected = dict.fromkeys(FIT_XY_CHECKS, "fit needs Y_mask, a validation split and 3-D X")
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
    model = PerInstrumentModel("lr", pooling="mean", n_jobs=2, progress=False, grid={"C": (1.0,)})
    before = model.get_params()
    assert (
        model.fit(
            *data["fit"], X_val=data["val"][0], Y_true_val=data["val"][1], Y_mask_val=data["val"][2]
        )
        is model
    )
    assert model.get_params() == before


# What the baselines learn -------------------------------------------------------------------------


def test_baselines_learn_the_synthetic_signal(data, models):
    X_test, Y_true, Y_mask = data["test"]
    for kind in ("lr", "rf"):
        scores = masked_scores(models(kind).predict_proba(X_test), Y_true, Y_mask)
        assert mean_over_classes(scores["ap"]) > 0.6 and mean_over_classes(scores["roc_auc"]) > 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateClassWarning)
        rf = PerInstrumentModel("rf", n_jobs=2, progress=False).fit(
            *data["fit"], X_val=data["val"][0], Y_true_val=data["val"][1], Y_mask_val=data["val"][2]
        )
    assert rf.pooling_ == "mean"  # the official baseline's clip means under "auto"
    np.testing.assert_array_equal(rf.predict_proba(X_test), models("rf").predict_proba(X_test))
