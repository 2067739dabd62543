"""Per-instrument decision thresholds that maximise positive-class F1 on validation.

One search for every model: the baselines and the CNN both choose their thresholds here, on the
observed validation pairs (targets by `core.targets`), never on test data.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from core.errors import ParameterError
from core.targets import observed_targets

#: Decision threshold of a class whose validation pairs hold no positive (nothing to choose on).
FALLBACK_THRESHOLD = 0.5


def best_f1_threshold(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Threshold on `scores` with the highest F1 for the positive class.

    A clip is called positive when ``score >= threshold``. Ties go to the highest threshold
    (the first maximum along sklearn's precision-recall curve, which runs from low to high).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] bool
        Targets of the observed pairs; must hold at least one positive.
    scores : np.ndarray [shape=(n,)]
        Predicted probabilities for the same pairs.

    Returns
    -------
    threshold, f1 : float, float
    """
    y = np.asarray(y, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if y.shape != scores.shape or y.ndim != 1:
        raise ParameterError(
            f"y and scores must be 1-D of one length; given {y.shape} and {scores.shape}"
        )
    if not y.any():
        raise ParameterError("best_f1_threshold needs at least one positive; given none")
    precision, recall, thresholds = precision_recall_curve(y, scores)
    # precision/recall have one more entry than thresholds (the (1, 0) end point); drop it.
    precision, recall = precision[:-1], recall[:-1]
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    best = int(np.flatnonzero(f1 == f1.max())[-1])
    return float(thresholds[best]), float(f1[best])


def validation_thresholds(
    P_val: np.ndarray, Y_true_val: np.ndarray, Y_mask_val: np.ndarray
) -> tuple[np.ndarray, list[int]]:
    """F1-maximising threshold per class on the observed validation pairs.

    Parameters
    ----------
    P_val : np.ndarray [shape=(n, n_classes)]
        Validation predictions.
    Y_true_val : np.ndarray [shape=(n, n_classes)]
    Y_mask_val : np.ndarray [shape=(n, n_classes)] bool
        Observed pairs; their targets follow `core.targets`.

    Returns
    -------
    thresholds : np.ndarray [shape=(n_classes,)]
    fallback : list of int
        Classes without an observed validation positive; their threshold is `FALLBACK_THRESHOLD`.
    """
    thresholds = np.full(P_val.shape[1], FALLBACK_THRESHOLD)
    fallback = []
    for k in range(P_val.shape[1]):
        rows, y = observed_targets(Y_true_val, Y_mask_val, k)
        if not y.any():
            fallback.append(k)
            continue
        thresholds[k], _ = best_f1_threshold(y, P_val[rows, k])
    return thresholds, fallback
