"""The diagnosis' statistics against plain, independent computations (loops, scikit-learn, scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import hypergeom
from sklearn.metrics import f1_score, roc_auc_score

from reports import diagnosis_stats as stats


def _data(seed=0, m=120):
    rng = np.random.default_rng(seed)
    y = rng.random(m) < 0.35
    score = np.round(np.clip(0.3 * y + rng.normal(0.4, 0.2, m), 0, 1), 2)  # rounded: ties on purpose
    return y, score, rng


def test_resample_weights_draw_whole_groups_and_keep_row_zero():
    groups = np.array([4, 4, 4, 9, 9, -1, -1, 2])
    W = stats.resample_weights(groups, n_boot=300, seed=1)
    assert W.shape == (301, 8)
    np.testing.assert_array_equal(W[0], np.ones(8))
    np.testing.assert_array_equal(W[1:, 0], W[1:, 1])  # an artist's clips are drawn together
    np.testing.assert_array_equal(W[1:, 3], W[1:, 4])
    assert not np.array_equal(W[1:, 5], W[1:, 6])  # clips without an artist are groups of their own
    # each resample draws as many groups as there are (5): the weights of one clip per group sum to 5
    np.testing.assert_array_equal(W[1:, [0, 3, 5, 6, 7]].sum(axis=1), np.full(300, 5.0))
    np.testing.assert_array_equal(W, stats.resample_weights(groups, n_boot=300, seed=1))
    clips = stats.resample_weights(np.arange(8), n_boot=50, seed=0)
    np.testing.assert_array_equal(clips[1:].sum(axis=1), np.full(50, 8.0))


def test_best_f1_and_f1_at_threshold_match_scikit_learn():
    y, score, rng = _data()
    W = np.vstack([np.ones(len(y)), rng.integers(0, 3, len(y))])
    best = stats.best_f1(y, score, W)
    for row, w in enumerate(W):
        expanded_y, expanded_s = np.repeat(y, w.astype(int)), np.repeat(score, w.astype(int))
        brute = max(f1_score(expanded_y, expanded_s >= t, zero_division=0) for t in np.unique(expanded_s))
        assert best[row] == pytest.approx(brute)
    t = stats.threshold_stats(y, score, W[:1], 0.55)
    assert t["f1_at_threshold"][0] == pytest.approx(f1_score(y, score >= 0.55))
    assert t["roc_auc"][0] == pytest.approx(roc_auc_score(y, score))
    assert t["f1_gap"][0] == pytest.approx(best[0] - f1_score(y, score >= 0.55))
    assert np.isnan(stats.best_f1(np.zeros(5, bool), np.arange(5.0), np.ones((1, 5))))[0]


def test_calibration_matches_a_loop_over_bins():
    y, score, _ = _data(1)
    cal = stats.calibration(y, score, np.ones((1, len(y))), n_bins=5)
    ece = 0.0
    for b in range(5):
        lo, hi = b / 5, (b + 1) / 5
        inside = (score >= lo) & ((score < hi) if b < 4 else (score <= hi))
        assert cal["count"][b] == inside.sum()
        if inside.any():
            assert cal["mean_score"][b] == pytest.approx(score[inside].mean())
            assert cal["fraction_positive"][b] == pytest.approx(y[inside].mean())
            ece += inside.mean() * abs(score[inside].mean() - y[inside].mean())
        else:
            assert np.isnan(cal["mean_score"][b])
    assert cal["ece"][0] == pytest.approx(ece)


def test_holm_matches_hand_computation():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.5])
    # sorted finite: 0.01 (x4), 0.03 (x3), 0.04 (x2), 0.5 (x1), made monotone
    np.testing.assert_allclose(stats.holm(p), [0.04, 0.09, np.nan, 0.09, 0.5])


def test_fp_lift_counts_and_test_match_a_loop():
    rng = np.random.default_rng(5)
    m, K = 200, 4
    other_obs = rng.random((m, K)) < 0.6
    other_pos = other_obs & (rng.random((m, K)) < 0.3)
    false_pos = (rng.random(m) < 0.2) | (other_pos[:, 1] & (rng.random(m) < 0.7))
    W = np.vstack([np.ones(m), rng.integers(0, 3, m)])
    lf = stats.fp_lift(false_pos, other_pos, other_obs, W)
    for j in range(K):
        a = sum(1 for i in range(m) if false_pos[i] and other_pos[i, j])
        n_fp = sum(1 for i in range(m) if false_pos[i] and other_obs[i, j])
        b = sum(1 for i in range(m) if other_pos[i, j])
        n_neg = sum(1 for i in range(m) if other_obs[i, j])
        assert (lf["fp_pos"][0, j], lf["fp_obs"][0, j], lf["neg_pos"][0, j], lf["neg_obs"][0, j]) == (a, n_fp, b, n_neg)
        assert lf["lift"][0, j] == pytest.approx((a / n_fp) / (b / n_neg))
        # one-sided Fisher = hypergeometric tail: at least `a` present among n_fp drawn from n_neg holding b
        assert lf["p_value"][j] == pytest.approx(hypergeom.sf(a - 1, n_neg, b, n_fp))
        w = W[1]
        assert lf["lift"][1, j] == pytest.approx(
            (w[false_pos & other_pos[:, j]].sum() / w[false_pos & other_obs[:, j]].sum())
            / (w[other_pos[:, j]].sum() / w[other_obs[:, j]].sum()))
    assert np.nanargmin(lf["p_holm"]) == 1


def test_agreement_error_gap_matches_a_loop():
    rng = np.random.default_rng(2)
    m = 300
    y = rng.random(m) < 0.4
    Y_true = np.where(y, rng.choice([0.75, 0.85, 1.0], m), rng.choice([0.0, 0.15, 0.25], m))
    agree = stats.agreement(Y_true)
    error = rng.random(m) < np.where(agree < 0.8, 0.4, 0.1)
    ag = stats.agreement_errors(y, agree, error, np.ones((1, m)))
    num = den = 0.0
    for cls in (y, ~y):
        low, high = cls & (agree < 0.8), cls & (agree >= 0.8)
        num += low.sum() * (error[low].mean() - error[high].mean())
        den += low.sum()
    assert ag["gap"][0] == pytest.approx(num / den)
    assert ag["classes_used"] == ["positive", "negative"]
    assert ag["rate_low"][0] == pytest.approx(error[agree < 0.8].mean())
    # bins 0-0.6, 0.6-0.8, 0.8-1, exactly 1 (agreement 0.5 -> first, 0.7 -> second, 1 -> last)
    assert ag["bins"] == ["0–0.6", "0.6–0.8", "0.8–1", "1 (unanimous)"]
    expected = [np.isclose(agree, 0.5), np.isclose(agree, 0.7), np.zeros(m, bool), agree == 1.0]
    for b, inside in enumerate(expected):
        assert ag["bin_count"][0, b] == (inside & y).sum()
        assert ag["bin_errors"][1, b] == (inside & ~y & error).sum()
