"""Paired bootstrap comparisons between models, with Holm's correction over instruments.

For two models A and B and a metric, the difference A - B is taken on each resample (the same
resamples for both models, so the comparison is paired). Its percentile interval and a two-sided
p-value from the bootstrap standard error, ``p = 2 (1 - Phi(|d| / sd(d*)))``, are reported per
instrument and for the macro mean. (A p-value counted from the resamples could not go below
``2 / (B + 1)``, too coarse for Holm over 20 instruments at B = 1000.) Per-instrument p-values of one (pair, metric) form
a family of K tests and are adjusted with Holm's step-down method; the macro comparison is a single
test. A difference is *significant* where the adjusted p-value is below ``alpha``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import norm

from core.errors import ParameterError
from reports import params
from reports.bootstrap import Evaluation, percentile_interval

COLUMNS = (
    "model_a", "model_b", "instrument", "metric", "diff", "ci_low", "ci_high",
    "p_value", "p_holm", "significant", "better",
)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries are left out of the family and stay NaN.

    Parameters
    ----------
    p_values : np.ndarray [shape=(m,)]

    Returns
    -------
    np.ndarray [shape=(m,)] -- ``max_{j <= i} min(1, (m' - j + 1) p_(j))`` in sorted order, where
    m' counts the finite p-values

    Examples
    --------
    >>> holm(np.array([0.01, 0.04, 0.03]))
    array([0.03, 0.06, 0.06])
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="mergesort")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def bootstrap_p_value(point: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """Two-sided p-value of "the difference is 0" from the bootstrap standard error, per column.

    Parameters
    ----------
    point : np.ndarray [shape=(...)] -- the difference on the test set
    replicates : np.ndarray [shape=(B, ...)] -- its resampled values; NaN marks a dropped resample

    Returns
    -------
    np.ndarray [shape=(...)] -- ``2 (1 - Phi(|point| / sd))``; 1 where point and sd are both 0,
    0 where only sd is 0, NaN where fewer than 2 replicates are finite or point is NaN
    """
    point = np.asarray(point, dtype=np.float64)
    enough = np.isfinite(replicates).sum(axis=0) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN or single-value columns
        sd = np.nanstd(replicates, axis=0, ddof=1)
        z = np.abs(point) / sd
    p = np.where(sd > 0, 2 * norm.sf(z), np.where(point == 0, 1.0, 0.0))
    return np.where(enough & np.isfinite(point), p, np.nan)


def _rows(a, b, names, metric, diff, p_adj_fn) -> list[dict]:
    """Rows for one (pair, metric); ``diff`` is (B+1, len(names)), row 0 the test-set value."""
    low, high = percentile_interval(diff[1:])
    p = bootstrap_p_value(diff[0], diff[1:])
    p_adj = p_adj_fn(p)
    rows = []
    for j, name in enumerate(names):
        significant = bool(np.isfinite(p_adj[j]) and p_adj[j] < params.ALPHA)
        better = (a if diff[0, j] > 0 else b) if significant else ""
        rows.append(dict(
            model_a=a, model_b=b, instrument=name, metric=metric, diff=diff[0, j],
            ci_low=low[j], ci_high=high[j], p_value=p[j], p_holm=p_adj[j],
            significant=significant, better=better,
        ))
    return rows


def compare_models(
    evaluation: Evaluation,
    *,
    metrics: tuple[str, ...] = params.COMPARED_METRICS,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Paired differences of pairs of models, per instrument (Holm) and for the macro mean.

    Parameters
    ----------
    evaluation : Evaluation
    metrics : tuple of str -- metrics to compare (skipped where a model lacks one)
    pairs : sequence of (model_a, model_b), optional
        The pairs to compare, A - B (see :func:`reports.run_models.comparison_pairs`); default every
        pair of ``evaluation.models`` in their order.

    Returns
    -------
    pd.DataFrame with columns ``COLUMNS``; ``instrument`` is a class name or ``"macro"``;
    ``p_holm`` equals ``p_value`` for the macro rows (a single test); ``better`` names the
    significantly better model (empty when not significant).
    """
    rows: list[dict] = []
    ev = evaluation
    pairs = list(combinations(ev.models, 2)) if pairs is None else list(pairs)
    unknown = sorted({m for pair in pairs for m in pair} - set(ev.models))
    if unknown:
        raise ParameterError(f"pairs name models that were not evaluated: {unknown}; "
                             f"evaluated: {list(ev.models)}")
    for a, b in pairs:
        for metric in metrics:
            if metric not in ev.per_instrument[a] or metric not in ev.per_instrument[b]:
                continue
            per = ev.per_instrument[a][metric] - ev.per_instrument[b][metric]
            rows += _rows(a, b, ev.classes, metric, per, holm)
            mac = (ev.macro[a][metric] - ev.macro[b][metric])[:, None]
            rows += _rows(a, b, (params.MACRO,), metric, mac, lambda p: p)
    return pd.DataFrame(rows, columns=list(COLUMNS))
