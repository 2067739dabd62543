"""One instrument, one binary model: build, tune on validation, fit.

Every function here sees only the observed rows of one class (the caller drops the rest) and a 0/1
target. The fitted estimators are ordinary scikit-learn / XGBoost estimators; a class whose
training rows hold a single label gets a `DummyClassifier` that predicts its prior.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from baselines import defaults as D
from core.metrics import average_precision, has_both_classes


@dataclass
class InstrumentFit:
    """What fitting one class returns to the multi-label model."""

    estimator: BaseEstimator
    params: dict
    val_ap: float  # NaN where validation lacks a positive or a negative
    fit_time_s: float  # wall
    fit_cpu_s: float  # CPU time of this process: what the fit costs without contention


def positive_proba(estimator: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """P(positive) from a fitted binary estimator, also when it only ever saw one class.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    proba = estimator.predict_proba(X)
    positive = np.flatnonzero(np.asarray(estimator.classes_) == 1)
    if positive.size == 0:
        return np.zeros(len(X))
    return proba[:, positive[0]].astype(np.float64)


def _constant(y: np.ndarray, n_features: int) -> DummyClassifier:
    if y.size == 0:
        # No observed label at all: an uninformative 0.5, not an imputed target.
        y = np.array([0, 1])
    X = np.zeros((y.size, n_features))
    return DummyClassifier(strategy="prior").fit(X, y)


def _lr(C: float) -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "lr",
                LogisticRegression(
                    C=C, class_weight="balanced", max_iter=D.LR_MAX_ITER, solver=D.LR_SOLVER
                ),
            ),
        ]
    )


def _xgb(params: dict, y: np.ndarray, *, seed: int, early_stopping: bool) -> XGBClassifier:
    n_pos = int(y.sum())
    return XGBClassifier(
        n_estimators=D.XGB_MAX_TREES if early_stopping else D.XGB_DEFAULT_TREES,
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        scale_pos_weight=(y.size - n_pos) / n_pos,
        tree_method=D.XGB_TREE_METHOD,
        max_bin=D.XGB_MAX_BIN,
        eval_metric=D.XGB_EVAL_METRIC,
        early_stopping_rounds=D.XGB_EARLY_STOPPING_ROUNDS if early_stopping else None,
        n_jobs=1,
        random_state=seed,
    )


def _grid_points(grid: dict) -> list[dict]:
    names = sorted(grid)
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def _fit_candidates(kind, X, y, X_val, y_val, grid, seed):
    """Yield (estimator, params) for every grid point, fitted on (X, y) only."""
    for point in _grid_points(grid):
        if kind == "lr":
            yield _lr(point["C"]).fit(X, y), point
        else:
            est = _xgb(point, y, seed=seed, early_stopping=True)
            est.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
            yield est, {**point, "n_estimators": int(est.best_iteration) + 1}


def _fit_default(kind: str, X, y, seed: int) -> tuple[BaseEstimator, dict]:
    if kind == "lr":
        return _lr(D.LR_DEFAULT_C).fit(X, y), {"C": D.LR_DEFAULT_C}
    if kind == "xgb":
        est = _xgb(D.XGB_DEFAULT, y, seed=seed, early_stopping=False).fit(X, y, verbose=False)
        return est, {**D.XGB_DEFAULT, "n_estimators": D.XGB_DEFAULT_TREES}
    est = RandomForestClassifier(**D.RF_PARAMS, random_state=seed, n_jobs=1).fit(X, y)
    return est, dict(D.RF_PARAMS)


def fit_instrument(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    grid: dict,
    seed: int,
) -> InstrumentFit:
    """Fit one class; pick its hyper-parameters by validation AP when validation allows.

    Parameters
    ----------
    kind : {"lr", "xgb", "rf"}
    X, y : np.ndarray [shape=(n, d)], [shape=(n,)] 0/1
        Observed training rows of this class.
    X_val, y_val : np.ndarray [shape=(m, d)], [shape=(m,)] 0/1
        Observed validation rows of this class.
    grid : dict
        Parameter name -> candidate values (``{"C": (...)}`` for lr; ``max_depth``,
        ``learning_rate`` for xgb; ignored for rf).
    seed : int

    Returns
    -------
    InstrumentFit
    """
    start, start_cpu = time.perf_counter(), time.process_time()
    y, y_val = np.asarray(y, dtype=np.int8), np.asarray(y_val, dtype=np.int8)
    can_score = has_both_classes(y_val)
    if not has_both_classes(y):
        est = _constant(y, X.shape[1])
        params = {"constant": float(positive_proba(est, np.zeros((1, X.shape[1])))[0])}
    elif kind == "rf" or not can_score or not grid:
        est, params = _fit_default(kind, X, y, seed)
    else:
        best_ap = -np.inf
        for candidate, point in _fit_candidates(kind, X, y, X_val, y_val, grid, seed):
            ap = average_precision(y_val, positive_proba(candidate, X_val))
            if ap > best_ap:  # strict: ties keep the earlier (smaller) grid point
                est, params, best_ap = candidate, point, ap
    val_ap = average_precision(y_val, positive_proba(est, X_val))
    return InstrumentFit(
        est, params, float(val_ap), time.perf_counter() - start, time.process_time() - start_cpu
    )
