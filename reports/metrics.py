"""Weighted binary metrics, vectorised over many weight vectors at once.

Every function takes the observed pairs of one instrument -- targets ``y`` (m,), scores (m,) --
and a weight matrix ``W`` (B, m): one row per evaluation. A row of ones is the plain metric on the
test set; a row of bootstrap counts (how often each clip was drawn) is the metric on that resample.
So point estimates and bootstrap replicates come from the same code.

Conventions (the same as scikit-learn's, which the tests check against):
- a pair is predicted positive when ``score >= threshold``;
- a ratio with a zero denominator is 0 for precision/recall/F1 (``zero_division=0``);
- ROC AUC counts tied scores as half (trapezoidal ROC); it is NaN without a positive or a negative;
- average precision is ``sum_n (R_n - R_{n-1}) P_n`` over distinct thresholds; NaN without a positive.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from core.metrics import has_both_classes


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def confusion_counts(
    y: np.ndarray, score: np.ndarray, W: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Weighted true/false positives/negatives at ``score >= threshold``.

    Parameters
    ----------
    y : np.ndarray [shape=(m,)], bool
    score : np.ndarray [shape=(m,)], float
    W : np.ndarray [shape=(B, m)], float
    threshold : float

    Returns
    -------
    dict with keys ``tp``, ``fp``, ``fn``, ``tn``, each np.ndarray [shape=(B,)]
    """
    pred = score >= threshold
    cells = np.stack([y & pred, ~y & pred, y & ~pred, ~y & ~pred], axis=1).astype(W.dtype)
    counts = W @ cells  # one (B, m) x (m, 4) product
    return {name: counts[:, j] for j, name in enumerate(("tp", "fp", "fn", "tn"))}


def scores_from_counts(counts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Precision, recall, positive-class F1, negative-class F1 and their mean from counts.

    Returns
    -------
    dict with keys ``precision``, ``recall``, ``f1_pos``, ``f1_neg``, ``f1_posneg``
    """
    tp, fp, fn, tn = counts["tp"], counts["fp"], counts["fn"], counts["tn"]
    f1_pos = _ratio(2 * tp, 2 * tp + fp + fn, 0.0)
    f1_neg = _ratio(2 * tn, 2 * tn + fn + fp, 0.0)
    return {
        "precision": _ratio(tp, tp + fp, 0.0),
        "recall": _ratio(tp, tp + fn, 0.0),
        "f1_pos": f1_pos,
        "f1_neg": f1_neg,
        "f1_posneg": (f1_pos + f1_neg) / 2,
    }


def _grouped_weights(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight per distinct score, ascending: two (B, G) arrays."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    Wo = W[:, order]
    yo = y[order]
    pos = np.add.reduceat(Wo * yo, starts, axis=1)
    neg = np.add.reduceat(Wo * ~yo, starts, axis=1)
    return pos, neg


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    neg_below = np.cumsum(neg, axis=1) - neg
    num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    return _ratio(num, pos.sum(axis=1) * neg.sum(axis=1), np.nan)


def _average_precision(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    pos, neg = pos[:, ::-1], neg[:, ::-1]  # thresholds from the highest score down
    tp = np.cumsum(pos, axis=1)
    precision = _ratio(tp, tp + np.cumsum(neg, axis=1), 0.0)
    return _ratio((pos * precision).sum(axis=1), pos.sum(axis=1), np.nan)


def ranking_metrics(y: np.ndarray, score: np.ndarray, W: np.ndarray) -> dict[str, np.ndarray]:
    """ROC AUC and average precision for each weight row, from one sort of the scores.

    Parameters
    ----------
    y : np.ndarray [shape=(m,)], bool
    score : np.ndarray [shape=(m,)], float
    W : np.ndarray [shape=(B, m)], float

    Returns
    -------
    dict with keys ``roc_auc`` and ``ap``, each np.ndarray [shape=(B,)]; AUC is NaN where a row
    gives no weight to the positives or to the negatives, AP where it gives none to the positives.
    """
    if y.size == 0:
        return {"roc_auc": np.full(W.shape[0], np.nan), "ap": np.full(W.shape[0], np.nan)}
    pos, neg = _grouped_weights(y, score, W)
    return {"roc_auc": _auc(pos, neg), "ap": _average_precision(pos, neg)}


def instrument_curves(y: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """ROC and precision-recall curves of one instrument's observed pairs (for the plots).

    Returns
    -------
    dict with keys ``fpr``, ``tpr``, ``precision``, ``recall`` (empty arrays when ``y`` lacks a
    positive or a negative)
    """
    if not has_both_classes(y):
        empty = np.empty(0)
        return {"fpr": empty, "tpr": empty, "precision": empty, "recall": empty}
    fpr, tpr, _ = roc_curve(y, score)
    precision, recall, _ = precision_recall_curve(y, score)
    return {"fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall}
