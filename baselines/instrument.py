"""One instrument, one binary estimator: how each kind is built, fitted and asked for P(present).

Every function here sees only observed rows of one class (the caller drops the rest) and a 0/1
target. The estimators are ordinary scikit-learn / XGBoost estimators; a class whose training rows
hold a single label gets a `DummyClassifier` that predicts its prior.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from baselines import defaults as D
from core.metrics import has_both_classes


def positive_proba(
    estimator: BaseEstimator, X: np.ndarray, *, n_trees: int | None = None
) -> np.ndarray:
    """P(positive) from a fitted binary estimator, also when it only ever saw one class.

    Parameters
    ----------
    estimator : fitted estimator
    X : np.ndarray [shape=(n, d)]
    n_trees : int or None
        XGBoost only: predict with the first `n_trees` trees (all when None or when it has fewer).

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
    """
    if n_trees is not None and isinstance(estimator, XGBClassifier):
        # A fold model that stopped early may hold fewer trees: it predicts with all it has.
        n_trees = min(n_trees, estimator.get_booster().num_boosted_rounds())
        proba = estimator.predict_proba(X, iteration_range=(0, n_trees))
    else:
        proba = estimator.predict_proba(X)
    positive = np.flatnonzero(np.asarray(estimator.classes_) == 1)
    if positive.size == 0:
        return np.zeros(len(X))
    return proba[:, positive[0]].astype(np.float64)


def constant_model(y: np.ndarray, n_features: int) -> DummyClassifier:
    """A classifier that predicts the prior of `y` (0.5 when `y` is empty)."""
    y = np.asarray(y, dtype=np.int8)
    if y.size == 0:
        # No observed label at all: an uninformative 0.5, not an imputed target.
        y = np.array([0, 1], dtype=np.int8)
    return DummyClassifier(strategy="prior").fit(np.zeros((y.size, n_features)), y)


def make_estimator(kind: str, params: dict, y: np.ndarray, *, seed: int) -> BaseEstimator:
    """The unfitted estimator of `kind` with hyper-parameters `params`, for training targets `y`.

    Parameters
    ----------
    kind : {"lr", "xgb", "rf"}
    params : dict
        ``{"C"}`` for lr; ``{"max_depth", "learning_rate", "n_estimators"}`` for xgb;
        ``{"max_depth", "n_estimators"}`` for rf.
    y : np.ndarray [shape=(n,)] 0/1
        The targets it will be fitted on (XGBoost weighs positives by negatives / positives).
    seed : int
    """
    if kind == "lr":
        lr = LogisticRegression(
            C=params["C"],
            class_weight=D.LR_CLASS_WEIGHT,
            max_iter=D.LR_MAX_ITER,
            solver=D.LR_SOLVER,
        )
        return Pipeline([("scale", StandardScaler()), ("lr", lr)])
    if kind == "xgb":
        n_pos = int(np.sum(y))
        return XGBClassifier(
            n_estimators=params["n_estimators"],
            max_depth=params["max_depth"],
            learning_rate=params["learning_rate"],
            subsample=D.XGB_SUBSAMPLE,
            colsample_bytree=D.XGB_COLSAMPLE_BYTREE,
            scale_pos_weight=(len(y) - n_pos) / max(n_pos, 1),
            tree_method=D.XGB_TREE_METHOD,
            max_bin=D.XGB_MAX_BIN,
            eval_metric=D.XGB_EVAL_METRIC,
            n_jobs=1,
            random_state=seed,
        )
    return RandomForestClassifier(
        max_depth=params["max_depth"],
        n_estimators=params["n_estimators"],
        n_jobs=1,
        random_state=seed,
    )


def fit_estimator(kind: str, params: dict, X: np.ndarray, y: np.ndarray, *, seed: int):
    """`make_estimator` fitted on (X, y); a prior-predicting `constant_model` when y is one class.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    y : np.ndarray [shape=(n,)] 0/1
    """
    if not has_both_classes(y):
        return constant_model(y, X.shape[1])
    return make_estimator(kind, params, y, seed=seed).fit(X, y)


def fit_xgb_early_stopping(
    params: dict,
    X: np.ndarray,
    y: np.ndarray,
    X_held: np.ndarray,
    y_held: np.ndarray,
    *,
    seed: int,
) -> tuple[XGBClassifier, np.ndarray]:
    """Grow up to `XGB_MAX_TREES` trees, stopping when the held-out AUC stalls.

    Parameters
    ----------
    params : dict
        ``max_depth`` and ``learning_rate``.
    X, y : np.ndarray [shape=(n, d)], [shape=(n,)] 0/1, both classes present
    X_held, y_held : np.ndarray [shape=(m, d)], [shape=(m,)] 0/1, both classes present

    Returns
    -------
    model : XGBClassifier
        Holds the trees grown until early stopping (best + `XGB_EARLY_STOPPING_ROUNDS`).
    held_auc : np.ndarray [shape=(n_trees,)]
        Held-out AUC after each tree (entry i: the first i + 1 trees).
    """
    model = make_estimator("xgb", {**params, "n_estimators": D.XGB_MAX_TREES}, y, seed=seed)
    model.set_params(early_stopping_rounds=D.XGB_EARLY_STOPPING_ROUNDS)
    model.fit(X, y, eval_set=[(X_held, y_held)], verbose=False)
    return model, np.asarray(model.evals_result()["validation_0"][D.XGB_EVAL_METRIC])
