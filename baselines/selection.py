"""Model selection for one instrument by cross-validation, then the refit on all its rows.

For each grid point, each fold's model is fitted on the other folds and predicts its held-out
part; the grid point with the best mean held-out `CV_CRITERION` wins. XGBoost grows its trees in
each fold until the held-out AUC stalls (early stopping), and the configuration's number of trees
is the candidate count with the best mean held-out AUC over folds (`tree_count`); every fold's
held-out predictions, and so its score, are then taken at that number of trees. The chosen configuration's out-of-fold predictions
are what the decision thresholds are chosen on. The final estimator is refitted on all rows.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from baselines import defaults as D
from baselines.folds import NO_FOLD
from baselines.instrument import (
    constant_model,
    fit_estimator,
    fit_xgb_early_stopping,
    positive_proba,
)
from core.metrics import average_precision, has_both_classes, roc_auc


@dataclass
class InstrumentCV:
    """What selecting and fitting one class returns to the multi-label model.

    ``fold_scores`` maps each of `CV_METRICS` to the chosen configuration's held-out score per fold,
    np.ndarray [shape=(n_folds,)], NaN where a fold lacks a positive or a negative (or does not
    exist). ``oof`` holds the out-of-fold predictions of that configuration, [shape=(m,)], NaN
    where a row has no fold.
    """

    estimator: BaseEstimator
    params: dict
    fold_scores: dict
    oof: np.ndarray
    notes: list = field(default_factory=list)
    fallback: bool = False  # True: the kind's default configuration, not a CV selection
    fit_cpu_s: float = 0.0  # CPU time of this process

    @property
    def score(self) -> float:
        """Mean held-out `CV_CRITERION` over the scored folds; NaN when none is scored."""
        values = self.fold_scores[D.CV_CRITERION]
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def grid_points(grid: dict) -> list[dict]:
    """Every combination of a grid ``{name: candidates}``, names in sorted order."""
    names = sorted(grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def select_and_fit(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    grid: dict,
    n_folds: int,
    seed: int,
) -> InstrumentCV:
    """Choose one class's configuration by CV on its observed rows; refit it on all of them.

    Parameters
    ----------
    kind : {"lr", "xgb", "rf"}
    X : np.ndarray [shape=(m, d)]
        Pooled features of the class's observed training rows.
    y : np.ndarray [shape=(m,)] 0/1
        Their targets.
    folds : np.ndarray [shape=(m,)] int
        Fold of each row (`baselines.folds.instrument_folds`), `NO_FOLD` where there is none.
    grid : dict
        Parameter name -> candidates; empty for rf (its official configuration is only scored).
    n_folds : int
        Length of the per-fold score arrays (the folds requested).
    seed : int

    Returns
    -------
    InstrumentCV
        With notes naming every fold that could not be scored and every fallback.
    """
    start_cpu = time.process_time()
    y = np.asarray(y, dtype=np.int8)
    if not has_both_classes(y):
        estimator = constant_model(y, X.shape[1])
        prior = float(positive_proba(estimator, X[:1])[0]) if len(X) else 0.5
        nan = np.full(n_folds, np.nan)
        return InstrumentCV(
            estimator,
            {"constant": prior},
            {m: nan.copy() for m in D.CV_METRICS},
            np.full(y.size, np.nan),
            [f"training holds {'no positive' if prior == 0 else 'no negative'}: constant "
             f"prediction {prior:g}, no cross-validation"],
            fallback=True,
            fit_cpu_s=time.process_time() - start_cpu,
        )  # fmt: skip
    notes = _fold_notes(y, folds)
    best = None
    for point in grid_points(grid) if kind != "rf" else [dict(D.RF_PARAMS)]:
        candidate = _cross_validate(kind, point, X, y, folds, n_folds=n_folds, seed=seed)
        if _n_scored(candidate) >= D.MIN_SCORED_FOLDS and (
            best is None or candidate.score > best.score  # strict: ties keep the earlier point
        ):
            best = candidate
    if best is None:
        best = _cross_validate(kind, dict(D.DEFAULT_PARAMS[kind]), X, y, folds, n_folds=n_folds,
                               seed=seed, n_trees=D.XGB_DEFAULT["n_estimators"])  # fmt: skip
        best.fallback = True
        notes.append(
            f"fewer than {D.MIN_SCORED_FOLDS} folds with a held-out positive and negative: "
            f"default configuration {best.params}, nothing selected"
        )
    best.estimator = fit_estimator(kind, best.params, X, y, seed=seed)
    best.notes = notes
    best.fit_cpu_s = time.process_time() - start_cpu
    return best


def tree_count(curves: list[np.ndarray]) -> int:
    """The candidate number of trees (`XGB_TREE_COUNTS`) with the best mean held-out AUC over folds.

    A fold that stopped early keeps its last value beyond its end: its held-out predictions at
    more trees are those of all the trees it has (as `positive_proba` makes them). Ties go to
    fewer trees; without any curve, `XGB_DEFAULT["n_estimators"]`. A few candidates rather than
    every count: on small folds the argmax over every count chases noise and picks a handful of
    trees (nested CV on the demo set and synthetic sets, `benchmarks/bench_baselines.py`).

    Parameters
    ----------
    curves : list of np.ndarray [shape=(n_trees_j,)]
        Held-out AUC per tree of each fold (`fit_xgb_early_stopping`).
    """
    if not curves:
        return D.XGB_DEFAULT["n_estimators"]
    length = max(D.XGB_TREE_COUNTS)
    padded = np.stack(
        [np.pad(c[:length], (0, length - len(c[:length])), mode="edge") for c in curves]
    )
    mean = padded.mean(axis=0)
    return max(D.XGB_TREE_COUNTS, key=lambda n: (mean[n - 1], -n))


def _fold_notes(y: np.ndarray, folds: np.ndarray) -> list[str]:
    """What each fold lacks, in words."""
    notes = []
    for fold in np.unique(folds[folds != NO_FOLD]):
        held = folds == fold
        for part, rows in (("held-out part", held), ("training part", ~held & (folds != NO_FOLD))):
            missing = [name for name, value in (("positive", 1), ("negative", 0))
                       if not np.any(y[rows] == value)]  # fmt: skip
            if missing:
                notes.append(f"fold {fold}: {part} has no {' and no '.join(missing)}")
    return notes


def _n_scored(cv: InstrumentCV) -> int:
    return int(np.isfinite(cv.fold_scores[D.CV_CRITERION]).sum())


def _cross_validate(
    kind: str,
    point: dict,
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    *,
    n_folds: int,
    seed: int,
    n_trees: int | None = None,
) -> InstrumentCV:
    """Held-out predictions and scores of one configuration on every fold.

    For xgb, `n_trees` fixes the number of trees; None finds it from the folds' early-stopping
    curves (`tree_count`: the candidate count with the best mean held-out AUC, or
    `XGB_DEFAULT["n_estimators"]` when no fold can stop early).
    """
    ids = [int(f) for f in np.unique(folds[folds != NO_FOLD])]
    oof = np.full(y.size, np.nan)
    models = {}
    params = dict(point)
    if kind == "xgb":
        curves = {}
        for fold in ids if n_trees is None else []:
            held, train = folds == fold, (folds != fold) & (folds != NO_FOLD)
            if has_both_classes(y[held]) and has_both_classes(y[train]):
                models[fold], curves[fold] = fit_xgb_early_stopping(
                    point, X[train], y[train], X[held], y[held], seed=seed
                )
        if n_trees is None:
            n_trees = tree_count(list(curves.values()))
        params["n_estimators"] = n_trees
    for fold in ids:
        held, train = folds == fold, (folds != fold) & (folds != NO_FOLD)
        model = models.get(fold)
        if model is None:
            model = fit_estimator(kind, params, X[train], y[train], seed=seed)
        n = params["n_estimators"] if kind == "xgb" else None
        oof[held] = positive_proba(model, X[held], n_trees=n)
    scores = {m: np.full(n_folds, np.nan) for m in D.CV_METRICS}
    for fold in ids:
        held = folds == fold
        scores["roc_auc"][fold] = roc_auc(y[held], oof[held])
        scores["ap"][fold] = average_precision(y[held], oof[held])
    return InstrumentCV(None, params, scores, oof)
