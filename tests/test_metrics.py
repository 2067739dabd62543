"""Metrics of reports.bootstrap.evaluate against direct scikit-learn computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from reports_fake_run import fake_labels, fake_proba, make_fake_run
from sklearn.metrics import (
    average_precision_score,
    classification_report,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from core.errors import DatasetError, ParameterError
from core.metrics import masked_scores
from reports import build_report, evaluate, metrics_table, read_predictions, write_predictions
from reports.metrics import (
    confusion_counts,
    ranking_metrics,
    scores_from_counts,
)

K = 6
CLASSES = tuple(f"c{k}" for k in range(K))


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(1)
    Y_true, Y_mask = fake_labels(400, rng, n_classes=K, per_clip=2.5)
    probas = {"weak": fake_proba(Y_true, 1.0, rng), "strong": fake_proba(Y_true, 3.0, rng)}
    probas["weak"] = np.round(probas["weak"], 2)  # ties, to exercise the tie rules
    thresholds = {"weak": np.linspace(0.3, 0.6, K), "strong": np.full(K, 0.42)}
    ev = evaluate(Y_true, Y_mask, probas, classes=CLASSES, thresholds=thresholds, n_boot=20, seed=3)
    return Y_true, Y_mask, probas, thresholds, ev


def _observed(Y_true, Y_mask, proba, k):
    obs = Y_mask[:, k]
    return Y_true[obs, k] >= 0.5, proba[obs, k].astype(np.float64)


@pytest.mark.parametrize("model", ["weak", "strong"])
def test_per_instrument_metrics_match_sklearn(case, model):
    Y_true, Y_mask, probas, thresholds, ev = case
    got = ev.per_instrument[model]
    for k in range(K):
        y, s = _observed(Y_true, Y_mask, probas[model], k)
        for suffix, thr in (("", 0.5), ("_at_val_thr", thresholds[model][k])):
            p, r, f, _ = precision_recall_fscore_support(
                y, s >= thr, average="binary", zero_division=0
            )
            np.testing.assert_allclose(got["precision" + suffix][0, k], p, rtol=1e-12)
            np.testing.assert_allclose(got["recall" + suffix][0, k], r, rtol=1e-12)
            np.testing.assert_allclose(got["f1_pos" + suffix][0, k], f, rtol=1e-12)
        report = classification_report(y, s >= 0.5, output_dict=True, zero_division=0)
        np.testing.assert_allclose(got["f1_posneg"][0, k], report["macro avg"]["f1-score"], rtol=1e-12)
        np.testing.assert_allclose(got["roc_auc"][0, k], roc_auc_score(y, s), rtol=1e-12)
        np.testing.assert_allclose(got["ap"][0, k], average_precision_score(y, s), rtol=1e-12)
        assert ev.n_observed[k] == y.size and ev.n_positive[k] == y.sum()


def test_positive_f1_and_posneg_f1_differ(case):
    *_, ev = case
    assert not np.allclose(ev.macro["weak"]["f1_pos"][0], ev.macro["weak"]["f1_posneg"][0])


@pytest.mark.parametrize("model", ["weak", "strong"])
def test_macro_and_micro_match_sklearn(case, model):
    Y_true, Y_mask, probas, thresholds, ev = case
    per = ev.per_instrument[model]
    for metric in ("f1_pos", "f1_posneg", "roc_auc", "ap", "f1_pos_at_val_thr"):
        np.testing.assert_allclose(ev.macro[model][metric][0], per[metric][0].mean(), rtol=1e-12)
    y = (Y_true >= 0.5)[Y_mask]
    pred = (probas[model] >= 0.5)[Y_mask]
    np.testing.assert_allclose(ev.micro[model]["f1_pos"][0], f1_score(y, pred), rtol=1e-12)
    pred_thr = (probas[model] >= thresholds[model][None, :])[Y_mask]
    np.testing.assert_allclose(ev.micro[model]["f1_pos_at_val_thr"][0], f1_score(y, pred_thr), rtol=1e-12)


def test_ranking_kernels_equal_core_metrics_with_a_row_of_ones():
    """The report's vectorised AP / ROC AUC are core.metrics' masked scores, to 1e-12."""
    rng = np.random.default_rng(5)
    Y_true, Y_mask = fake_labels(300, rng, n_classes=K, per_clip=2.5)
    Y_true[:, K - 1] = np.where(Y_mask[:, K - 1], 1.0, 0.5)  # a class without observed negative
    proba = np.round(fake_proba(Y_true, 1.5, rng), 2).astype(np.float64)  # ties
    core = masked_scores(proba, Y_true, Y_mask)
    for k in range(K - 1):
        y, s = _observed(Y_true, Y_mask, proba, k)
        got = ranking_metrics(y, s, np.ones((1, y.size)))
        np.testing.assert_allclose(got["ap"][0], core["ap"][k], rtol=1e-12, atol=0)
        np.testing.assert_allclose(got["roc_auc"][0], core["roc_auc"][k], rtol=1e-12, atol=0)
    ev = evaluate(Y_true, Y_mask, {"m": proba}, classes=CLASSES, n_boot=1, seed=0)
    for metric in ("ap", "roc_auc"):
        np.testing.assert_allclose(ev.per_instrument["m"][metric][0], core[metric], rtol=1e-12, atol=0)
    assert np.isnan(core["ap"][K - 1]) and np.isnan(ev.per_instrument["m"]["ap"][0, K - 1])


def test_weighted_kernels_match_sklearn_sample_weight():
    rng = np.random.default_rng(7)
    y = rng.random(60) < 0.4
    s = np.round(rng.random(60) * 0.5 + 0.5 * y, 1)  # heavy ties
    W = rng.integers(0, 4, size=(5, 60)).astype(np.float64)
    scores = ranking_metrics(y, s, W)
    auc, ap = scores["roc_auc"], scores["ap"]
    f1 = scores_from_counts(confusion_counts(y, s, W, 0.5))["f1_pos"]
    for b in range(5):
        w = W[b]
        np.testing.assert_allclose(auc[b], roc_auc_score(y, s, sample_weight=w), rtol=1e-12)
        np.testing.assert_allclose(ap[b], average_precision_score(y, s, sample_weight=w), rtol=1e-12)
        np.testing.assert_allclose(f1[b], f1_score(y, s >= 0.5, sample_weight=w), rtol=1e-12)


def test_ranking_metrics_undefined_without_both_classes():
    y = np.array([True, True, False])
    s = np.array([0.9, 0.2, 0.4])
    W = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 1.0]])
    scores = ranking_metrics(y, s, W)
    auc, ap = scores["roc_auc"], scores["ap"]
    assert np.isnan(auc[0]) and np.isnan(auc[1]) and auc[2] == 1.0
    assert ap[0] == 1.0 and np.isnan(ap[1]) and ap[2] == 1.0


def test_metrics_table_is_tidy(case):
    *_, ev = case
    table = metrics_table(ev)
    assert list(table.columns) == ["model", "instrument", "metric", "value", "ci_low", "ci_high"]
    assert set(table.instrument) == {*CLASSES, "macro", "micro"}
    names = set(table.metric)
    assert {"f1_pos", "f1_posneg", "f1_pos_at_val_thr", "precision", "recall", "roc_auc", "ap",
            "n_observed", "n_positive", "threshold"} <= names
    auc = table[(table.model == "strong") & (table.metric == "roc_auc") & (table.instrument == "macro")]
    assert len(auc) == 1
    row = auc.iloc[0]
    assert row.ci_low <= row.value <= row.ci_high
    assert not table.duplicated(["model", "instrument", "metric"]).any()


def test_predictions_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    Y_true, Y_mask = fake_labels(30, rng, n_classes=K)
    probas = {"a": fake_proba(Y_true, 2.0, rng), "b <x>": fake_proba(Y_true, 1.0, rng)}
    keys = np.array([f"{i:06d}_0" for i in range(30)])
    path = write_predictions(tmp_path / "predictions.npz", keys, CLASSES, Y_true, Y_mask, probas)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.npz"]  # no temp file left
    pred = read_predictions(path)
    assert pred.classes == CLASSES and list(pred.probas) == ["a", "b <x>"]
    np.testing.assert_array_equal(pred.sample_key, keys)
    np.testing.assert_array_equal(pred.Y_mask, Y_mask)
    np.testing.assert_allclose(pred.probas["a"], probas["a"], rtol=1e-6)
    with pytest.raises(ParameterError, match=r"shape"):
        write_predictions(tmp_path / "bad.npz", keys, CLASSES, Y_true[:5], Y_mask, probas)
    with pytest.raises(ParameterError, match=r"\(30, 6\)"):
        write_predictions(tmp_path / "bad.npz", keys, CLASSES, Y_true, Y_mask, {"a": np.zeros((30, 5))})
    with pytest.raises(DatasetError, match="not found"):
        read_predictions(tmp_path / "missing.npz")


def test_bad_thresholds_are_reported(tmp_path):
    run = make_fake_run(tmp_path / "run", n=60, history=False)
    text = (run / "run.json").read_text().replace('"thresholds": [', '"thresholds": [0.5, ', 1)
    (run / "run.json").write_text(text)
    with pytest.raises(DatasetError, match="thresholds has 21 values"):
        build_report(run, n_boot=10)


def test_evaluate_rejects_mismatched_shapes():
    with pytest.raises(ParameterError, match=r"Y_true\.shape"):
        evaluate(np.zeros((4, 3)), np.ones((4, 2), bool), {"a": np.zeros((4, 2))}, classes=("x", "y"))
    with pytest.raises(ParameterError, match="thresholds of model 'a'"):
        evaluate(np.zeros((4, 2)), np.ones((4, 2), bool), {"a": np.zeros((4, 2))}, classes=("x", "y"),
                 thresholds={"a": np.zeros(3)})


def test_metrics_csv_agrees_with_sklearn(tmp_path):
    run = make_fake_run(tmp_path / "run", n=150, history=False, classes=("cello", "piano", "violin"))
    build_report(run, n_boot=50)
    table = pd.read_csv(run / "metrics.csv")
    pred = read_predictions(run / "predictions.npz")
    k = pred.classes.index("violin")
    y, s = _observed(pred.Y_true, pred.Y_mask, pred.probas["cnn"], k)
    auc = table.query("model == 'cnn' and instrument == 'violin' and metric == 'roc_auc'").value.item()
    np.testing.assert_allclose(auc, roc_auc_score(y, s), rtol=1e-9)
