"""The statistics behind the diagnosis of one (model, instrument), on many resamples at once.

Every function takes the observed pairs of one instrument on the common test set and a weight
matrix ``W`` (B, m): row 0 all ones (the test pairs themselves), rows 1.. bootstrap counts (how
often each pair's clip, or its artist, was drawn), as in :mod:`reports.metrics`. A pair is
predicted positive when ``score >= threshold``. Ratios without a denominator are NaN (missing,
never 0). The rules that read these numbers are in :mod:`reports.diagnosis_rules`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import fisher_exact

from reports import diagnosis_rules as rules
from reports import metrics
from reports.resampling import counts_from_indices, resample_indices


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise (broadcast), NaN where ``den`` is not positive."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def resample_weights(groups: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """A row of ones over ``n_boot`` rows of bootstrap counts, resampling whole groups.

    Parameters
    ----------
    groups : np.ndarray [shape=(n,)], int
        Group of each clip (its artist); -1 (unknown) is a group of its own for each clip. Give
        ``np.arange(n)`` to resample clips.
    n_boot : int >= 1
    seed : int

    Returns
    -------
    np.ndarray [shape=(n_boot + 1, n)], float64: how often each clip's group was drawn.
    """
    groups = np.asarray(groups)
    n = len(groups)
    if n == 0:
        return np.ones((n_boot + 1, 0))
    own = np.where(groups < 0, -1 - np.arange(n), groups)  # unknown artist: a group per clip
    _, index = np.unique(own, return_inverse=True)  # groups numbered in sorted order
    n_groups = int(index.max()) + 1
    counts = counts_from_indices(resample_indices(n_groups, n_boot=n_boot, seed=seed), n_groups)
    return np.vstack([np.ones((1, n)), counts[:, index.ravel()].astype(np.float64)])


def interval(replicates: np.ndarray, level: float = rules.CI_LEVEL) -> tuple[float, float]:
    """Percentile interval of the finite replicates (rows 1.. of a statistic); NaN with fewer than 2."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def best_f1(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The highest positive-class F1 any threshold reaches, for each weight row.

    Thresholds are the distinct scores (predict positive at and above one), and "nothing
    positive" (F1 0). NaN where a row gives no weight to the positives.

    Returns
    -------
    np.ndarray [shape=(B,)]
    """
    if y.size == 0:
        return np.full(W.shape[0], np.nan)
    order = np.argsort(-score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    Wo = W[:, order]
    tp = np.cumsum(np.add.reduceat(Wo * y[order], starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(Wo * ~y[order], starts, axis=1), axis=1)
    positives = (W * y).sum(axis=1)
    f1 = ratio(2 * tp, tp + fp + positives[:, None])
    best = np.max(np.nan_to_num(f1, nan=0.0), axis=1, initial=0.0)
    return np.where(positives > 0, best, np.nan)


def threshold_stats(y: np.ndarray, score: np.ndarray, W: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """ROC AUC, F1 at the chosen threshold, the best F1 of any threshold, and their gap.

    Returns
    -------
    dict with keys ``roc_auc``, ``f1_at_threshold``, ``f1_best``, ``f1_gap``: np.ndarray [shape=(B,)]
    """
    positives = (W * y).sum(axis=1)
    f1 = metrics.scores_from_counts(metrics.confusion_counts(y, score, W, threshold))["f1_pos"]
    f1 = np.where(positives > 0, f1, np.nan)
    best = best_f1(y, score, W)
    return {"roc_auc": metrics.ranking_metrics(y, score, W)["roc_auc"], "f1_at_threshold": f1,
            "f1_best": best, "f1_gap": best - f1}


def calibration(y: np.ndarray, score: np.ndarray, W: np.ndarray, n_bins: int = rules.CALIBRATION_BINS) -> dict:
    """Reliability curve (row 0) and expected calibration error (every row).

    Bins of equal width over [0, 1]; the last bin includes 1.

    Returns
    -------
    dict with ``count``, ``mean_score``, ``fraction_positive`` (np.ndarray [shape=(n_bins,)], of
    the test pairs; NaN in an empty bin), ``edges`` (n_bins + 1,) and ``ece`` (np.ndarray
    [shape=(B,)]: sum over bins of the bin's weight share times |mean score - fraction positive|).
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1]), 0, n_bins - 1)
    onehot = np.eye(n_bins)[which]  # (m, n_bins)
    count = W @ onehot
    mean_score = ratio(W @ (onehot * score[:, None]), count)
    frac = ratio(W @ (onehot * y[:, None]), count)
    total = count.sum(axis=1, keepdims=True)
    ece = np.nansum(ratio(count, total) * np.abs(mean_score - frac), axis=1)
    ece = np.where(total[:, 0] > 0, ece, np.nan)
    return {"count": count[0], "mean_score": mean_score[0], "fraction_positive": frac[0], "edges": edges,
            "ece": ece}


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN and is not counted."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="mergesort")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order]) if m else np.empty(0)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def fp_lift(
    false_pos: np.ndarray, other_pos: np.ndarray, other_obs: np.ndarray, W: np.ndarray
) -> dict[str, np.ndarray]:
    """False-positive lift of every other instrument, among one instrument's negative pairs.

    Parameters
    ----------
    false_pos : np.ndarray [shape=(m,)], bool -- each negative pair predicted positive
    other_pos : np.ndarray [shape=(m, K)], bool -- the other instrument observed and positive there
    other_obs : np.ndarray [shape=(m, K)], bool -- the other instrument's label observed there
    W : np.ndarray [shape=(B, m)]

    Returns
    -------
    dict of np.ndarray: ``fp_pos`` and ``fp_obs`` (false positives where the other instrument is
    positive / observed), ``neg_pos`` and ``neg_obs`` (the same over all the negatives), each
    (B, K); ``lift`` (B, K) = (fp_pos / fp_obs) / (neg_pos / neg_obs); ``p_value`` (K,) one-sided
    Fisher exact test on the test pairs (false vs true negatives x other positive or not), NaN for
    non-candidates (fewer than ``CONFUSION_MIN_FP`` false positives with the label observed);
    ``p_holm`` (K,) Holm-adjusted over the candidates.
    """
    fp = false_pos[:, None]
    fp_pos, fp_obs = W @ (fp & other_pos), W @ (fp & other_obs)
    neg_pos, neg_obs = W @ other_pos.astype(np.float64), W @ other_obs.astype(np.float64)
    lift = ratio(ratio(fp_pos, fp_obs), ratio(neg_pos, neg_obs))
    K = other_pos.shape[1]
    p_value = np.full(K, np.nan)
    for j in range(K):
        a, n_fp = int(fp_pos[0, j]), int(fp_obs[0, j])
        if n_fp < rules.CONFUSION_MIN_FP:
            continue
        c, n_neg = int(neg_pos[0, j]) - a, int(neg_obs[0, j]) - n_fp  # the true negatives
        p_value[j] = fisher_exact([[a, n_fp - a], [c, n_neg - c]], alternative="greater").pvalue
    return {"fp_pos": fp_pos, "fp_obs": fp_obs, "neg_pos": neg_pos, "neg_obs": neg_obs, "lift": lift,
            "p_value": p_value, "p_holm": holm(p_value)}


def agreement(Y_true: np.ndarray) -> np.ndarray:
    """Annotator agreement ``|2 Y_true - 1|``: 1 unanimous, 0 split evenly."""
    return np.abs(2.0 * np.asarray(Y_true, dtype=np.float64) - 1.0)


def agreement_bin_labels() -> list[str]:
    """Names of the agreement bins of :func:`agreement_errors` (the last is exactly 1)."""
    e = rules.AGREEMENT_EDGES
    return [f"{e[i]:g}–{e[i + 1]:g}" for i in range(len(e) - 1)] + ["1 (unanimous)"]


def agreement_errors(y: np.ndarray, agree: np.ndarray, error: np.ndarray, W: np.ndarray) -> dict:
    """Error rates by annotator agreement, and the class-balanced gap of :mod:`diagnosis_rules`.

    Parameters
    ----------
    y : np.ndarray [shape=(m,)], bool -- targets
    agree : np.ndarray [shape=(m,)], float -- :func:`agreement` of each pair
    error : np.ndarray [shape=(m,)], bool -- prediction at the chosen threshold differs from y
    W : np.ndarray [shape=(B, m)]

    Returns
    -------
    dict with ``gap`` (B,): within-class error rate on doubtful pairs (agreement < LOW_AGREEMENT)
    minus on the others, weighted by each class's doubtful pairs, over the classes with at least
    ``DOUBT_MIN_PER_CLASS`` test pairs in each group (NaN when no class has); ``rate_low``,
    ``rate_high`` (B,) pooled error rates; ``n_low``, ``n_high`` (ints, test pairs);
    ``classes_used`` (list of "positive"/"negative"); and per agreement bin (test pairs)
    ``bins`` (labels), ``bin_errors``/``bin_count`` (2, n_bins) for positives (row 0) and negatives.
    """
    low = agree < rules.LOW_AGREEMENT
    num = np.zeros(W.shape[0])
    den = np.zeros(W.shape[0])
    used = []
    for name, cls in (("positive", y), ("negative", ~y)):
        n_low, n_high = int((cls & low).sum()), int((cls & ~low).sum())
        if min(n_low, n_high) < rules.DOUBT_MIN_PER_CLASS:
            continue
        used.append(name)
        w_low, w_high = W @ (cls & low), W @ (cls & ~low)
        diff = ratio(W @ (cls & low & error), w_low) - ratio(W @ (cls & ~low & error), w_high)
        num = num + w_low * diff
        den = den + w_low
    gap = ratio(num, den) if used else np.full(W.shape[0], np.nan)
    edges = np.asarray(rules.AGREEMENT_EDGES)
    which = np.where(agree >= edges[-1], len(edges) - 1, np.clip(np.digitize(agree, edges[1:-1]), 0, len(edges) - 2))
    n_bins = len(edges)
    bin_errors = np.zeros((2, n_bins), dtype=np.int64)
    bin_count = np.zeros((2, n_bins), dtype=np.int64)
    for row, cls in enumerate((y, ~y)):
        bin_count[row] = np.bincount(which[cls], minlength=n_bins)
        bin_errors[row] = np.bincount(which[cls & error], minlength=n_bins)
    return {
        "gap": gap,
        "rate_low": ratio(W @ (low & error), W @ low),
        "rate_high": ratio(W @ (~low & error), W @ ~low),
        "n_low": int(low.sum()), "n_high": int((~low).sum()), "classes_used": used,
        "bins": agreement_bin_labels(), "bin_errors": bin_errors, "bin_count": bin_count,
    }
