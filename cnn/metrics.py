"""Validation score used for early stopping: masked mean average precision."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from core.targets import observed_targets


def masked_map(proba: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray) -> float:
    """Mean over classes of average precision on the observed pairs.

    Classes whose observed pairs lack a positive or a negative are skipped.

    Parameters
    ----------
    proba : np.ndarray [shape=(n, n_classes)]
    Y_true : np.ndarray [shape=(n, n_classes)]
        Relevance; observed pairs with ``Y_true >= 0.5`` are positive.
    Y_mask : np.ndarray [shape=(n, n_classes)] bool

    Returns
    -------
    map : float
        NaN when no class can be scored.
    """
    scores = []
    for k in range(proba.shape[1]):
        rows, y = observed_targets(Y_true, Y_mask, k)
        if y.all() or not y.any():
            continue
        scores.append(average_precision_score(y, proba[rows, k]))
    return float(np.mean(scores)) if scores else float("nan")
