"""Bootstrap resampling, intervals, dropped resamples, paired comparisons and Holm's correction."""

from __future__ import annotations

import numpy as np
import pytest
from reports_fake_run import fake_labels, fake_proba
from scipy.stats import norm
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from core.errors import ParameterError
from reports import compare_models, evaluate, holm, metrics_table
from reports.compare_models import bootstrap_p_value
from reports.resampling import counts_from_indices, percentile_interval, resample_indices


def test_counts_from_indices_match_bincount():
    idx = resample_indices(37, n_boot=300, seed=5)
    counts = counts_from_indices(idx, 37)
    assert counts.shape == (300, 37) and counts.dtype == np.float32
    for b in (0, 129, 299):
        np.testing.assert_array_equal(counts[b], np.bincount(idx[b], minlength=37))
    assert (counts.sum(axis=1) == 37).all()
    with pytest.raises(ParameterError, match="n_boot=0"):
        resample_indices(5, n_boot=0, seed=0)


def test_vectorised_bootstrap_equals_loop():
    rng = np.random.default_rng(2)
    n, K, B = 80, 3, 25
    Y_true, Y_mask = fake_labels(n, rng, n_classes=K, per_clip=2.0)
    proba = np.round(fake_proba(Y_true, 1.5, rng), 2)
    ev = evaluate(Y_true, Y_mask, {"m": proba}, classes=("a", "b", "c"), n_boot=B, seed=11)
    idx = resample_indices(n, n_boot=B, seed=11)
    y_all = Y_true >= 0.5
    for k in range(K):
        for b in range(B):
            rows = idx[b][Y_mask[idx[b], k]]
            y, s = y_all[rows, k], proba[rows, k]
            got = {m: ev.per_instrument["m"][m][b + 1, k] for m in ("roc_auc", "ap", "f1_pos")}
            if y.all() or not y.any():
                assert all(np.isnan(v) for v in got.values())
                continue
            np.testing.assert_allclose(got["roc_auc"], roc_auc_score(y, s), rtol=1e-9)
            np.testing.assert_allclose(got["ap"], average_precision_score(y, s), rtol=1e-9)
            np.testing.assert_allclose(got["f1_pos"], f1_score(y, s >= 0.5, zero_division=0), rtol=1e-9)


def test_same_seed_same_intervals_other_seed_other_intervals():
    rng = np.random.default_rng(0)
    Y_true, Y_mask = fake_labels(200, rng, n_classes=4)
    probas = {"m": fake_proba(Y_true, 2.0, rng)}
    runs = [evaluate(Y_true, Y_mask, probas, classes=tuple("abcd"), n_boot=100, seed=s) for s in (1, 1, 2)]
    a, b, c = (metrics_table(r) for r in runs)
    np.testing.assert_array_equal(a.ci_low.to_numpy(), b.ci_low.to_numpy())
    assert not np.allclose(a.ci_low.to_numpy(), c.ci_low.to_numpy(), equal_nan=True)


def _coverage_case(rng, n=240, d=1.2, prevalence=0.4, threshold=0.5):
    """One instrument, every clip observed; scores N(d, 1) for positives, N(0, 1) for negatives."""
    y = rng.random(n) < prevalence
    score = norm.cdf(rng.normal(d * y, 1.0))  # a monotone map keeps the AUC, puts scores in (0, 1)
    return y.astype(float)[:, None], np.ones((n, 1), bool), score[:, None]


def test_interval_coverage_of_known_auc_and_f1():
    d, prevalence, threshold = 1.2, 0.4, 0.5
    true_auc = norm.cdf(d / np.sqrt(2))
    cut = norm.ppf(threshold)  # score >= 0.5  <=>  latent >= 0
    tpr, fpr = norm.sf(cut - d), norm.sf(cut)
    true_f1 = 2 * prevalence * tpr / (prevalence + prevalence * tpr + (1 - prevalence) * fpr)
    rng = np.random.default_rng(12345)
    reps, covered_auc, covered_f1 = 150, 0, 0
    for r in range(reps):
        Y_true, Y_mask, score = _coverage_case(rng, d=d, prevalence=prevalence)
        ev = evaluate(Y_true, Y_mask, {"m": score}, classes=("x",), n_boot=300, seed=r)
        for metric, truth in (("roc_auc", true_auc), ("f1_pos", true_f1)):
            low, high = percentile_interval(ev.per_instrument["m"][metric][1:, 0])
            hit = low <= truth <= high
            covered_auc += hit and metric == "roc_auc"
            covered_f1 += hit and metric == "f1_pos"
    assert 0.88 * reps <= covered_auc <= 0.995 * reps, covered_auc
    assert 0.88 * reps <= covered_f1 <= 0.995 * reps, covered_f1


def test_resamples_without_a_class_are_counted_and_dropped():
    n = 30
    Y_true = np.zeros((n, 2))
    Y_true[7, 0] = 1.0          # instrument 0: one positive among 30 observed clips
    Y_true[::2, 1] = 1.0        # instrument 1: half positive, never short of a class
    Y_mask = np.ones((n, 2), bool)
    proba = np.random.default_rng(0).random((n, 2))
    B = 1000
    ev = evaluate(Y_true, Y_mask, {"a": proba, "b": proba[::-1].copy()}, classes=("rare", "common"),
                  n_boot=B, seed=4)
    idx = resample_indices(n, n_boot=B, seed=4)
    lacking = np.array([7 not in row for row in idx])
    assert 250 < lacking.sum() < 480  # about (29/30)**30 = 36 %
    assert ev.dropped["rare"] == lacking.sum()
    assert ev.dropped["common"] == 0
    assert ev.dropped["macro"] == lacking.sum()
    auc = ev.per_instrument["a"]["roc_auc"][1:, 0]
    assert np.isnan(auc[lacking]).all() and np.isfinite(auc[~lacking]).all()
    # The macro mean is dropped there too, not averaged over the one defined instrument.
    assert np.isnan(ev.macro["a"]["roc_auc"][1:][lacking]).all()
    low, high = percentile_interval(ev.macro["a"]["f1_pos"][1:])
    kept = ev.macro["a"]["f1_pos"][1:][~lacking]
    np.testing.assert_allclose([low, high], np.percentile(kept, [2.5, 97.5]))
    table = compare_models(ev)
    assert table.query("instrument == 'rare'").p_value.notna().all()


def test_holm_against_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([0.3, 0.2, 0.6])), [0.6, 0.6, 0.6])
    np.testing.assert_allclose(holm(np.array([0.5, 0.9])), [1.0, 1.0])
    out = holm(np.array([0.02, np.nan, 0.01]))
    np.testing.assert_allclose(out, [0.02, np.nan, 0.02])


def test_bootstrap_p_value():
    d = np.array([[0.1, -0.1, 0.0, 0.0], [0.2, 0.1, np.nan, 0.0], [0.3, -0.2, np.nan, 0.0]])
    point = np.array([0.2, 0.0, 0.1, 0.0])
    # col 0: sd 0.1, z = 2 -> 0.0455; col 1: point 0 -> 1; col 2: one replicate -> NaN; col 3: sd 0
    np.testing.assert_allclose(bootstrap_p_value(point, d), [2 * norm.sf(2.0), 1.0, np.nan, 1.0])
    assert bootstrap_p_value(np.array(0.1), np.zeros(5)) == 0.0


def test_paired_comparisons_flag_the_better_model():
    rng = np.random.default_rng(8)
    K = 20
    Y_true, Y_mask = fake_labels(600, rng, n_classes=K, per_clip=4.0)
    weak = fake_proba(Y_true, 0.3, rng)
    strong = fake_proba(Y_true, 4.0, rng)
    ev = evaluate(Y_true, Y_mask, {"weak": weak, "strong": strong, "same": weak.copy()},
                  classes=tuple(f"c{k}" for k in range(K)), n_boot=400, seed=0)
    table = compare_models(ev)
    auc = table.query("model_a == 'weak' and model_b == 'strong' and metric == 'roc_auc'")
    assert len(auc) == K + 1
    per = auc[auc.instrument != "macro"]
    assert per.significant.all() and (per.better == "strong").all()
    assert (per.p_holm >= per.p_value).all()
    macro = auc[auc.instrument == "macro"].iloc[0]
    diff = ev.macro["weak"]["roc_auc"] - ev.macro["strong"]["roc_auc"]
    np.testing.assert_allclose(macro["diff"], diff[0])
    np.testing.assert_allclose([macro.ci_low, macro.ci_high], np.percentile(diff[1:], [2.5, 97.5]))
    assert macro.ci_high < 0 and macro.significant
    same = table.query("model_a == 'weak' and model_b == 'same'")
    assert not same.significant.any() and (same["diff"] == 0).all()
    # per-instrument p_holm is Holm over the metric's family: every instrument of every pair
    family = table.query("metric == 'roc_auc' and instrument != 'macro'")
    assert len(family) == 3 * K and (family.family_size == 3 * K).all()
    np.testing.assert_allclose(family.p_holm.to_numpy(), holm(family.p_value.to_numpy()))


def test_a_clip_one_model_cannot_score_is_left_out_for_every_model():
    """One common test set: NaN rows of one model take those clips out of every model's scores."""
    rng = np.random.default_rng(4)
    n, K = 120, 2
    Y_true, Y_mask = fake_labels(n, rng, n_classes=K, per_clip=1.5)
    good, other = fake_proba(Y_true, 2.0, rng), fake_proba(Y_true, 1.0, rng)
    holes = good.copy()
    holes[:15] = np.nan           # clips 0..14: no prediction at all from the CNN
    holes[20, 1] = np.nan         # clip 20: no prediction for one instrument only
    both = evaluate(Y_true, Y_mask, {"other": other, "cnn": holes}, classes=("a", "b"), n_boot=5, seed=0)
    assert both.excluded == {row: ("cnn",) for row in range(15)}
    mask = Y_mask[15:].copy()
    mask[20 - 15, 1] = False
    np.testing.assert_array_equal(both.n_observed, mask.sum(axis=0))
    np.testing.assert_array_equal(both.n_left_out, Y_mask.sum(axis=0) - mask.sum(axis=0))
    assert both.pairs[:15].sum() == 0 and not both.pairs[20, 1]
    y = Y_true[15:] >= 0.5
    for name, proba in (("cnn", good[15:]), ("other", other[15:])):
        for k in range(K):
            obs = mask[:, k]
            got = both.per_instrument[name]
            np.testing.assert_allclose(got["roc_auc"][0, k], roc_auc_score(y[obs, k], proba[obs, k]), rtol=1e-9)
            np.testing.assert_allclose(got["ap"][0, k], average_precision_score(y[obs, k], proba[obs, k]),
                                       rtol=1e-9)
            np.testing.assert_allclose(got["f1_pos"][0, k], f1_score(y[obs, k], proba[obs, k] >= 0.5), rtol=1e-9)
        np.testing.assert_allclose(both.micro[name]["f1_pos"][0], f1_score(y[mask], proba[mask] >= 0.5),
                                   rtol=1e-9)
    # Left-out clips are not resampled: the resamples draw the 105 kept clips.
    alone = evaluate(Y_true[15:], mask, {"other": other[15:]}, classes=("a", "b"), n_boot=5, seed=0)
    np.testing.assert_array_equal(both.per_instrument["other"]["roc_auc"], alone.per_instrument["other"]["roc_auc"])


def test_an_instrument_without_predictions_is_missing_not_zero():
    """Every CNN prediction of one instrument is NaN: no metric there for anyone, and out of the macro."""
    rng = np.random.default_rng(6)
    n, K = 200, 3
    Y_true, Y_mask = fake_labels(n, rng, n_classes=K, per_clip=2.0)
    lr, cnn = fake_proba(Y_true, 2.0, rng), fake_proba(Y_true, 3.0, rng)
    cnn[:, 1] = np.nan
    thresholds = {"lr": np.full(K, 0.4), "cnn": np.full(K, 0.6)}
    ev = evaluate(Y_true, Y_mask, {"lr": lr, "cnn": cnn}, classes=("a", "b", "c"),
                  thresholds=thresholds, n_boot=30, seed=0)
    assert ev.excluded == {} and ev.n_observed[1] == 0 and ev.n_left_out[1] == Y_mask[:, 1].sum()
    np.testing.assert_array_equal(ev.in_macro, [True, False, True])
    for model in ("lr", "cnn"):
        for metric, values in ev.per_instrument[model].items():
            assert np.isnan(values[:, 1]).all(), (model, metric)
            assert np.isfinite(values[0, [0, 2]]).all(), (model, metric)
            np.testing.assert_allclose(ev.macro[model][metric][0], values[0, [0, 2]].mean(), rtol=1e-12)
    table = metrics_table(ev)
    b = table[(table.instrument == "b") & ~table.metric.isin(["n_observed", "n_positive", "threshold"])]
    assert len(b) > 0 and b.value.isna().all() and b.ci_low.isna().all()
    assert (table.query("instrument == 'b' and metric == 'n_observed'").value == 0).all()


def test_every_clip_without_prediction_is_an_error():
    Y_true, Y_mask = np.ones((4, 2)), np.ones((4, 2), bool)
    with pytest.raises(ParameterError, match=r"\['cnn'\]"):
        evaluate(Y_true, Y_mask, {"lr": np.zeros((4, 2)), "cnn": np.full((4, 2), np.nan)}, classes=("x", "y"))


def test_comparisons_only_for_the_pairs_asked():
    rng = np.random.default_rng(3)
    Y_true, Y_mask = fake_labels(150, rng, n_classes=3)
    probas = {m: fake_proba(Y_true, s, rng) for m, s in (("a", 1.0), ("b", 2.0), ("c", 3.0))}
    ev = evaluate(Y_true, Y_mask, probas, classes=("x", "y", "z"), n_boot=20, seed=0)
    every = compare_models(ev)
    assert set(zip(every.model_a, every.model_b, strict=True)) == {("a", "b"), ("a", "c"), ("b", "c")}
    some = compare_models(ev, pairs=[("c", "a")])
    assert set(zip(some.model_a, some.model_b, strict=True)) == {("c", "a")}
    ca = some.query("metric == 'roc_auc' and instrument == 'macro'")["diff"].item()
    np.testing.assert_allclose(ca, ev.macro["c"]["roc_auc"][0] - ev.macro["a"]["roc_auc"][0])
    with pytest.raises(ParameterError, match=r"\['d'\]"):
        compare_models(ev, pairs=[("a", "d")])
