"""The target rule, once: which (clip, instrument) pairs have a target, and what it is.

OpenMIC-2018's labels are partial. For class k only the clips with ``Y_mask[:, k]`` (annotators
were asked about that instrument) have a target, and that target is ``Y_true[:, k] >= 0.5``.
``Y_mask`` only says a question was asked: it is never a target, and an unobserved pair is never a
negative. Observed relevances lie in [0, 0.25] or [0.75, 1] in the release, so the choice of
``>=`` over ``>`` matters only for an exact 0.5, which counts as positive (as in the official
baseline). Soft targets (the CNN's mixup) follow the same rule: a confidence of 0.5 or more is
a positive.
"""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError

#: Relevance at or above which an observed pair is a positive.
TARGET_THRESHOLD = 0.5
#: The rule in words, as saved with every trained model.
TARGET_RULE = "Y_true >= 0.5 on observed (Y_mask) pairs only"


def is_positive(Y_true: np.ndarray) -> np.ndarray:
    """Targets of the given relevances, ``Y_true >= 0.5``, element-wise.

    Only meaningful on observed pairs: the caller selects them (`observed_targets`) or masks the
    result with ``Y_mask``.

    Parameters
    ----------
    Y_true : np.ndarray [shape=(...)]
        Relevances (or soft targets) in [0, 1].

    Returns
    -------
    np.ndarray [shape=(...), dtype=bool]
    """
    return np.asarray(Y_true) >= TARGET_THRESHOLD


def observed_targets(
    Y_true: np.ndarray, Y_mask: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The observed rows of class `k` and their binary targets.

    Parameters
    ----------
    Y_true : np.ndarray [shape=(n, n_classes)]
        Relevances in [0, 1]; read only where `Y_mask`.
    Y_mask : np.ndarray [shape=(n, n_classes)] bool
        True where the pair was annotated.
    k : int
        Column of the class.

    Returns
    -------
    rows : np.ndarray [shape=(n_observed,), int64]
        Row indices where ``Y_mask[:, k]``, ascending.
    y : np.ndarray [shape=(n_observed,), bool]
        ``Y_true[rows, k] >= 0.5``.

    Examples
    --------
    >>> Y_true = np.array([[1.0], [0.5], [0.25], [0.5]])
    >>> Y_mask = np.array([[True], [True], [True], [False]])
    >>> observed_targets(Y_true, Y_mask, 0)
    (array([0, 1, 2]), array([ True,  True, False]))
    """
    Y_true, Y_mask = np.asarray(Y_true), np.asarray(Y_mask)
    if Y_true.ndim != 2 or Y_true.shape != Y_mask.shape or Y_mask.dtype != bool:
        raise ParameterError(
            "Y_true and Y_mask must be 2-D of one shape, Y_mask bool; "
            f"given Y_true.shape={Y_true.shape}, Y_mask.shape={Y_mask.shape}, Y_mask.dtype={Y_mask.dtype}"
        )
    if not 0 <= k < Y_true.shape[1]:
        raise ParameterError(
            f"class column out of range: given k={k}, expected 0..{Y_true.shape[1] - 1}"
        )
    rows = np.flatnonzero(Y_mask[:, k]).astype(np.int64)
    return rows, is_positive(Y_true[rows, k])
