"""Paired bootstrap comparisons between models, Holm-corrected over every comparison of a metric.

For two models A and B and a metric, the difference A - B is taken on each resample (the same
resamples for both models, so the comparison is paired). Its interval and a two-sided p-value from
the standard error, ``p = 2 (1 - Phi(|d| / se))``, are reported per instrument and for the macro
mean. (A p-value counted from the resamples could not go below ``2 / (B + 1)``, too coarse for Holm
over hundreds of tests at B = 1000.)

The standard error adds each model's seed spread to the bootstrap's:
``se = sqrt(sd_boot^2 + sd_seed_A^2 + sd_seed_B^2)``, where ``sd_boot`` is the standard deviation of
the resampled differences and ``sd_seed`` the standard deviation of the model's metric over its
training seeds (:mod:`reports.seed_spread`; 0 for a model trained once). The percentile interval of
the resampled differences is widened by the same factor ``se / sd_boot`` about the difference; with
no seed spread it is the plain percentile interval.

Multiplicity: the p-values of one metric form two families, each adjusted with Holm's step-down
method: the macro comparisons of every pair compared (one test per pair), and the per-instrument
comparisons of every pair compared (instruments x pairs). A difference is *significant* where the
adjusted p-value is below ``alpha``: the chance of any false mark among a metric's macro marks (or
among its per-instrument marks) is at most ``alpha``.
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
from reports.bootstrap import Evaluation
from reports.resampling import percentile_interval
from reports.seed_spread import seed_sd

COLUMNS = (
    "model_a", "model_b", "instrument", "metric", "diff", "ci_low", "ci_high",
    "sd_boot", "sd_seed", "p_value", "p_holm", "family", "family_size", "significant", "better",
)
#: How the p-values are adjusted, in words (comparisons.csv's ``family`` names the family itself).
CORRECTION = ("Holm over every comparison of a metric: the macro means of all pairs compared form "
              "one family, the per-instrument differences of all pairs compared (instruments x "
              "pairs) another")
#: How a network's seed spread enters its comparisons, in words.
SEED_RULE = ("the standard error of a difference A - B is sqrt(sd_boot^2 + sd_seed_A^2 + "
             "sd_seed_B^2): sd_boot the bootstrap standard deviation of the difference, sd_seed the "
             "sample standard deviation of that model's metric over its training seeds (0 for a "
             "model trained once); the interval is the percentile interval widened about the "
             "difference by the factor sqrt(sd_boot^2 + sd_seed_A^2 + sd_seed_B^2) / sd_boot")


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


def bootstrap_p_value(point: np.ndarray, replicates: np.ndarray, extra_sd: np.ndarray | float = 0.0) -> np.ndarray:
    """Two-sided p-value of "the difference is 0" from the bootstrap standard error, per column.

    Parameters
    ----------
    point : np.ndarray [shape=(...)] -- the difference on the test set
    replicates : np.ndarray [shape=(B, ...)] -- its resampled values; NaN marks a dropped resample
    extra_sd : np.ndarray [shape=(...)] or float
        A further standard deviation, independent of the resampling (the seed spread), added in
        quadrature: ``se = sqrt(sd^2 + extra_sd^2)``.

    Returns
    -------
    np.ndarray [shape=(...)] -- ``2 (1 - Phi(|point| / se))``; 1 where point and se are both 0,
    0 where only se is 0, NaN where fewer than 2 replicates are finite or point or extra_sd is NaN
    """
    point = np.asarray(point, dtype=np.float64)
    sd = _total_sd(replicates, extra_sd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0 / 0
        z = np.abs(point) / sd
    p = np.where(sd > 0, 2 * norm.sf(z), np.where(point == 0, 1.0, 0.0))
    return np.where(np.isfinite(sd) & np.isfinite(point), p, np.nan)


def bootstrap_sd(replicates: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof=1) of the finite replicates per column; NaN with fewer than 2."""
    enough = np.isfinite(replicates).sum(axis=0) >= 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN or single-value columns
        sd = np.nanstd(replicates, axis=0, ddof=1)
    return np.where(enough, sd, np.nan)


def _total_sd(replicates: np.ndarray, extra_sd) -> np.ndarray:
    return np.sqrt(bootstrap_sd(replicates) ** 2 + np.asarray(extra_sd, dtype=np.float64) ** 2)


def widened_interval(
    point: np.ndarray, low: np.ndarray, high: np.ndarray, sd_boot: np.ndarray, sd_seed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A percentile interval widened about ``point`` by ``sqrt(sd_boot^2 + sd_seed^2) / sd_boot``.

    Unchanged where ``sd_seed`` is 0; where ``sd_boot`` is 0 (every resample equal), the normal
    interval ``point +- z sd_seed``.
    """
    sd_seed = np.asarray(sd_seed, dtype=np.float64)
    total = np.sqrt(sd_boot ** 2 + sd_seed ** 2)
    z = norm.ppf(0.5 + params.CI_LEVEL / 2)
    flat = (sd_seed > 0) & (sd_boot == 0)
    with np.errstate(divide="ignore", invalid="ignore"):  # the flat case is taken apart below
        factor = np.where(sd_seed > 0, total / sd_boot, 1.0)
        new_low = np.where(flat, point - z * sd_seed, point - (point - low) * factor)
        new_high = np.where(flat, point + z * sd_seed, point + (high - point) * factor)
    return new_low, new_high


def _rows(a, b, names, metric, diff, sd_seed) -> list[dict]:
    """Unadjusted rows for one (pair, metric); ``diff`` is (B+1, len(names)), row 0 the test-set value;
    ``sd_seed`` the seed term ``sqrt(sd_seed_A^2 + sd_seed_B^2)``, broadcastable to (len(names),)."""
    sd_seed = np.broadcast_to(np.asarray(sd_seed, dtype=np.float64), diff.shape[1:])
    sd_boot = bootstrap_sd(diff[1:])
    low, high = widened_interval(diff[0], *percentile_interval(diff[1:]), sd_boot, sd_seed)
    p = bootstrap_p_value(diff[0], diff[1:], sd_seed)
    return [
        dict(model_a=a, model_b=b, instrument=name, metric=metric, diff=diff[0, j],
             ci_low=low[j], ci_high=high[j], sd_boot=sd_boot[j], sd_seed=sd_seed[j], p_value=p[j])
        for j, name in enumerate(names)
    ]


def holm_families(table: pd.DataFrame, n_instruments: int) -> pd.DataFrame:
    """Holm over each family (metric x {macro, per instrument}), and the marks that follow from it.

    Parameters
    ----------
    table : pd.DataFrame with columns model_a, model_b, instrument, metric, diff, p_value
    n_instruments : int -- K, for naming the per-instrument families

    Returns
    -------
    A copy with ``p_holm``, ``family``, ``family_size`` (finite p-values in the family),
    ``significant`` (``p_holm < alpha``) and ``better`` set.
    """
    table = table.copy()
    is_macro = table.instrument == params.MACRO
    table["p_holm"] = np.nan
    table["family"] = ""
    table["family_size"] = 0
    for (metric, macro), rows in table.groupby([table.metric, is_macro], sort=False):
        n_pairs = len(rows.groupby(["model_a", "model_b"]))
        where = (f"{metric}: macro means, {n_pairs} model pair{'s' * (n_pairs != 1)}" if macro else
                 f"{metric}: {n_instruments} instruments x {n_pairs} model pair{'s' * (n_pairs != 1)}")
        table.loc[rows.index, "p_holm"] = holm(rows.p_value.to_numpy())
        table.loc[rows.index, "family"] = where
        table.loc[rows.index, "family_size"] = int(np.isfinite(rows.p_value.to_numpy()).sum())
    table["significant"] = np.isfinite(table.p_holm) & (table.p_holm < params.ALPHA)
    better = np.where(table["diff"] > 0, table.model_a, table.model_b)
    table["better"] = np.where(table.significant, better, "")
    return table


def compare_models(
    evaluation: Evaluation,
    *,
    metrics: tuple[str, ...] = params.COMPARED_METRICS,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Paired differences of pairs of models, per instrument and for the macro mean, Holm-corrected.

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
    ``sd_boot`` is the bootstrap standard deviation of the difference, ``sd_seed`` the seed term
    ``sqrt(sd_seed_A^2 + sd_seed_B^2)`` (0 where both models were trained once); ``p_holm`` is
    Holm-adjusted within ``family`` (see :data:`CORRECTION`), of ``family_size`` finite p-values;
    ``better`` names the significantly better model (empty when not significant).
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
            for names, level, scores in ((ev.classes, "", ev.per_instrument), ((params.MACRO,), params.MACRO, ev.macro)):
                diff = (scores[a][metric] - scores[b][metric]).reshape(ev.n_boot + 1, -1)
                seed_term = np.hypot(seed_sd(ev.seeds, a, level, metric), seed_sd(ev.seeds, b, level, metric))
                rows += _rows(a, b, names, metric, diff, seed_term)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_holm", "family", "family_size",
                                                                        "significant", "better")])
    return holm_families(table, len(ev.classes))[list(COLUMNS)]
