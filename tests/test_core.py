"""Tests of core/: the target rule, the masked metrics and the threshold search, each against an
independent computation (scikit-learn's scores, a brute-force F1 search)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from core.errors import ParameterError
from core.metrics import (
    average_precision,
    has_both_classes,
    masked_map,
    masked_scores,
    mean_over_classes,
    roc_auc,
    scorable_classes,
)
from core.targets import TARGET_RULE, TARGET_THRESHOLD, is_positive, observed_targets
from core.thresholds import FALLBACK_THRESHOLD, best_f1_threshold, validation_thresholds

# Target rule --------------------------------------------------------------------------------------


def test_observed_targets_follow_the_rule_and_never_use_the_mask():
    # Class 0: observed 1.0, 0.75, 0.25, an exact 0.5 tie, and an unobserved 1.0 that must be
    # ignored (not become a positive). Class 1: nothing observed.
    Y_true = np.array([[1.0, 0.5], [0.75, 0.5], [0.25, 0.5], [0.5, 0.5], [1.0, 0.5]])
    Y_mask = np.array([[True, False], [True, False], [True, False], [True, False], [False, False]])
    rows, y = observed_targets(Y_true, Y_mask, 0)
    np.testing.assert_array_equal(rows, [0, 1, 2, 3])
    np.testing.assert_array_equal(y, [True, True, False, True])  # the 0.5 tie counts as positive
    assert rows.dtype == np.int64 and y.dtype == np.bool_
    rows, y = observed_targets(Y_true, Y_mask, 1)
    assert rows.size == 0 and y.size == 0
    assert TARGET_THRESHOLD == 0.5 and ">= 0.5" in TARGET_RULE


def test_is_positive_is_elementwise_at_one_half():
    np.testing.assert_array_equal(
        is_positive(np.array([0.0, 0.25, 0.4999, 0.5, 0.75, 1.0])),
        [False, False, False, True, True, True],
    )


def test_observed_targets_rejects_bad_inputs():
    Y_true, Y_mask = np.zeros((3, 2)), np.ones((3, 2), dtype=bool)
    with pytest.raises(ParameterError, match=r"Y_mask\.dtype=int64"):
        observed_targets(Y_true, Y_mask.astype(np.int64), 0)
    with pytest.raises(ParameterError, match=r"Y_mask\.shape=\(3, 1\)"):
        observed_targets(Y_true, Y_mask[:, :1], 0)
    with pytest.raises(ParameterError, match="given k=2"):
        observed_targets(Y_true, Y_mask, 2)


# Masked metrics -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def labelled():
    """Six classes, 120 clips: soft relevances, ~half observed, scores rounded to force ties.

    Class 4 has no observed negative and class 5 no observed positive; a few scores are NaN.
    """
    rng = np.random.default_rng(3)
    n, K = 120, 6
    positive = rng.random((n, K)) < 0.4
    Y_true = np.where(positive, rng.choice([0.5, 0.75, 1.0], (n, K)), rng.choice([0.0, 0.25], (n, K)))
    Y_mask = rng.random((n, K)) < 0.5
    Y_true[:, 4] = np.where(Y_mask[:, 4], 1.0, Y_true[:, 4])
    Y_true[:, 5] = np.where(Y_mask[:, 5], 0.0, Y_true[:, 5])
    P = np.round(np.clip(0.3 * positive + rng.random((n, K)) * 0.7, 0, 1), 1)
    P[rng.random((n, K)) < 0.05] = np.nan
    return P, Y_true, Y_mask


def _sklearn_scores(P, Y_true, Y_mask, k):
    keep = Y_mask[:, k] & np.isfinite(P[:, k])
    y, s = Y_true[keep, k] >= 0.5, P[keep, k]
    return average_precision_score(y, s), roc_auc_score(y, s)


def test_masked_scores_equal_sklearn_on_observed_predicted_pairs(labelled):
    P, Y_true, Y_mask = labelled
    got = masked_scores(P, Y_true, Y_mask)
    assert got["ap"].shape == got["roc_auc"].shape == (6,)
    for k in range(4):
        ap, auc = _sklearn_scores(P, Y_true, Y_mask, k)
        assert got["ap"][k] == ap and got["roc_auc"][k] == auc
    assert np.isnan(got["ap"][4:]).all() and np.isnan(got["roc_auc"][4:]).all()
    # Unobserved pairs carry no weight: any score or relevance there changes nothing.
    noise = np.random.default_rng(0).random(P.shape)
    other = masked_scores(np.where(Y_mask, P, noise), np.where(Y_mask, Y_true, 1 - Y_true), Y_mask)
    np.testing.assert_array_equal(other["ap"], got["ap"])
    np.testing.assert_array_equal(other["roc_auc"], got["roc_auc"])


def test_masked_map_is_the_mean_over_scorable_classes(labelled):
    P, Y_true, Y_mask = labelled
    expected = np.mean([_sklearn_scores(P, Y_true, Y_mask, k)[0] for k in range(4)])
    assert masked_map(P, Y_true, Y_mask) == pytest.approx(expected, rel=1e-15)
    np.testing.assert_array_equal(scorable_classes(Y_true, Y_mask), [True] * 4 + [False] * 2)
    assert np.isnan(masked_map(P[:, 4:], Y_true[:, 4:], Y_mask[:, 4:]))
    perfect = np.where(Y_true >= 0.5, 1.0, 0.0)
    np.testing.assert_array_equal(masked_scores(perfect, Y_true, Y_mask)["roc_auc"][:4], 1.0)


def test_single_class_helpers():
    y, s = np.array([1, 0, 1, 0]), np.array([0.8, 0.8, 0.3, 0.1])
    assert has_both_classes(y) and not has_both_classes(y[[0, 2]]) and not has_both_classes(y[:0])
    assert average_precision(y, s) == average_precision_score(y, s)
    assert roc_auc(y, s) == roc_auc_score(y, s) == 0.625
    assert np.isnan(average_precision(y[[1, 3]], s[[1, 3]])) and np.isnan(roc_auc(y[:1], s[:1]))
    assert mean_over_classes(np.array([0.5, np.nan, 1.0])) == 0.75
    assert np.isnan(mean_over_classes(np.array([np.nan, np.nan])))


def test_masked_scores_rejects_mismatched_shapes(labelled):
    P, Y_true, Y_mask = labelled
    with pytest.raises(ParameterError, match=r"P\.shape=\(120, 5\)"):
        masked_scores(P[:, :5], Y_true, Y_mask)


# Threshold search ---------------------------------------------------------------------------------


def _brute_force_best_f1(y, scores):
    """(threshold, F1) maximising positive-class F1 over every distinct score; ties: highest."""
    best = (-1.0, 0.0)
    for t in np.unique(scores):
        pred = scores >= t
        f1 = 2 * np.sum(pred & y) / (pred.sum() + y.sum())
        if f1 >= best[1]:
            best = (t, f1)
    return best


def test_best_f1_threshold_exact():
    y = np.array([0, 0, 1, 1, 0, 1], dtype=bool)
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    t, f1 = best_f1_threshold(y, s)
    assert t == 0.35 and f1 == pytest.approx(2 * 3 / (4 + 3))
    # Thresholds 0.9 and 0.6 both reach F1 = 2/3 here; the higher one is chosen.
    t, f1 = best_f1_threshold(np.array([1, 0, 0, 1], bool), np.array([0.9, 0.8, 0.7, 0.6]))
    assert (t, f1) == (0.9, pytest.approx(2 / 3))
    with pytest.raises(ParameterError, match="positive"):
        best_f1_threshold(np.zeros(3, bool), s[:3])
    with pytest.raises(ParameterError, match=r"\(6,\) and \(5,\)"):
        best_f1_threshold(y, s[:5])


def test_validation_thresholds_maximise_f1_on_observed_pairs(labelled):
    P, Y_true, Y_mask = labelled
    P = np.nan_to_num(P, nan=0.0)
    thresholds, fallback = validation_thresholds(P, Y_true, Y_mask)
    assert thresholds.shape == (6,) and fallback == [5]  # class 5: no observed positive
    assert thresholds[5] == FALLBACK_THRESHOLD
    for k in range(5):
        obs = Y_mask[:, k]
        t, _ = _brute_force_best_f1(Y_true[obs, k] >= 0.5, P[obs, k])
        assert thresholds[k] == t
    # Unobserved pairs change nothing.
    noise = np.random.default_rng(1).random(P.shape)
    again, _ = validation_thresholds(np.where(Y_mask, P, noise), np.where(Y_mask, Y_true, 1.0), Y_mask)
    np.testing.assert_array_equal(again, thresholds)
