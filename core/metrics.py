"""Masked ranking metrics, once: average precision and ROC AUC per class on the observed pairs.

Class k is scored on the pairs that are observed (``Y_mask[:, k]``, targets by `core.targets`) and
have a prediction: a NaN score marks a clip a model could not score (e.g. one without audio) and is
left out like an unobserved pair. Without a positive or a negative among those pairs ROC AUC is
undefined and AP says nothing (it is 1 without a negative), so both are NaN there; means over
classes (mAP) skip such classes.

Used for the CNN's validation score, the baselines' hyper-parameter and pooling choices, and the
benchmarks. The report's bootstrap has its own vectorised kernels (`reports.metrics`), tested to
agree with these to 1e-12.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from core.errors import ParameterError
from core.targets import observed_targets


def has_both_classes(y: np.ndarray) -> bool:
    """True when the binary targets `y` hold at least one positive and one negative."""
    y = np.asarray(y, dtype=bool)
    return bool(y.any() and not y.all())


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (scikit-learn's step-wise area under the PR curve) of one class.

    Parameters
    ----------
    y : np.ndarray [shape=(m,)] bool or 0/1
        Targets of the scored pairs.
    score : np.ndarray [shape=(m,)]
        Predicted probabilities (or any score where higher means positive).

    Returns
    -------
    float
        NaN unless `y` holds a positive and a negative.
    """
    y = np.asarray(y, dtype=bool)
    return float(average_precision_score(y, score)) if has_both_classes(y) else float("nan")


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of one class (ties count half); NaN unless `y` holds both classes.

    Parameters
    ----------
    y : np.ndarray [shape=(m,)] bool or 0/1
    score : np.ndarray [shape=(m,)]
    """
    y = np.asarray(y, dtype=bool)
    return float(roc_auc_score(y, score)) if has_both_classes(y) else float("nan")


def masked_scores(P: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray) -> dict[str, np.ndarray]:
    """AP and ROC AUC of every class on its observed, predicted pairs.

    Parameters
    ----------
    P : np.ndarray [shape=(n, n_classes)]
        Predicted probabilities; NaN where a clip has no prediction.
    Y_true : np.ndarray [shape=(n, n_classes)]
        Relevances in [0, 1]; read only where `Y_mask`.
    Y_mask : np.ndarray [shape=(n, n_classes)] bool

    Returns
    -------
    dict
        ``"ap"`` and ``"roc_auc"``, each np.ndarray [shape=(n_classes,), float64], NaN for the
        classes whose scored pairs lack a positive or a negative.

    Examples
    --------
    >>> P = np.array([[0.9, 0.2], [0.4, 0.7], [0.3, 0.1]])
    >>> Y_true = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.5]])
    >>> Y_mask = np.array([[True, True], [True, True], [True, False]])
    >>> masked_scores(P, Y_true, Y_mask)["roc_auc"]
    array([0.5, 1. ])
    """
    P = np.asarray(P, dtype=np.float64)
    if P.shape != np.shape(Y_true):
        raise ParameterError(
            f"P must have the shape of Y_true (n_clips, n_classes); given P.shape={P.shape}, "
            f"Y_true.shape={np.shape(Y_true)}"
        )
    scores = {"ap": np.full(P.shape[1], np.nan), "roc_auc": np.full(P.shape[1], np.nan)}
    for k in range(P.shape[1]):
        rows, y = observed_targets(Y_true, Y_mask, k)
        score = P[rows, k]
        scored = np.isfinite(score)
        scores["ap"][k] = average_precision(y[scored], score[scored])
        scores["roc_auc"][k] = roc_auc(y[scored], score[scored])
    return scores


def mean_over_classes(values: np.ndarray) -> float:
    """Mean of the per-class values that are not NaN (a macro average); NaN when all are.

    Parameters
    ----------
    values : np.ndarray [shape=(n_classes,)]
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def masked_map(P: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray) -> float:
    """Mean average precision over the classes that can be scored (see `masked_scores`).

    Returns
    -------
    float
        NaN when no class has an observed positive and negative.
    """
    return mean_over_classes(masked_scores(P, Y_true, Y_mask)["ap"])


def scorable_classes(Y_true: np.ndarray, Y_mask: np.ndarray) -> np.ndarray:
    """Which classes have an observed positive and an observed negative.

    Returns
    -------
    np.ndarray [shape=(n_classes,), bool]
        Where `masked_scores` can give finite values (for finite predictions).
    """
    n_classes = np.shape(Y_true)[1]
    return np.array([has_both_classes(observed_targets(Y_true, Y_mask, k)[1]) for k in range(n_classes)])
