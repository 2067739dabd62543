"""Tests of core/: the target rule, the masked metrics and the threshold search."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ParameterError
from core.targets import TARGET_RULE, TARGET_THRESHOLD, is_positive, observed_targets

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
