"""`PerInstrumentModel`: one binary classifier per OpenMIC instrument behind one multi-label API.

Each class k is trained only on the rows where ``Y_mask[:, k]`` (the pairs annotators were asked
about), with target ``Y_true[:, k] >= 0.5``; unobserved pairs never enter a loss, a hyper-parameter
choice or a threshold. Hyper-parameters, the pooling (when ``pooling="auto"``) and the decision
thresholds are chosen by cross-validation on the training rows, folds grouped by artist
(`baselines.folds`, `baselines.selection`); the final models are refitted on all training rows.
No test data is involved, and no separate validation split is needed.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from baselines import defaults as D
from baselines.checks import check_arrays, class_names
from baselines.folds import assign_folds
from baselines.instrument import positive_proba
from baselines.persist import load_model, save_model
from baselines.pooling import pool
from baselines.selection import InstrumentCV, select_and_fit
from core.errors import ParameterError
from core.metrics import has_both_classes, mean_over_classes
from core.targets import is_positive
from core.thresholds import FALLBACK_THRESHOLD, best_f1_threshold


class DegenerateClassWarning(UserWarning):
    """A class cannot be learnt, selected or thresholded normally (too few labels of one kind)."""


class PerInstrumentModel(BaseEstimator):
    """Per-instrument logistic regression, XGBoost or the official random forest.

    Parameters
    ----------
    kind : {"lr", "xgb", "rf"}
        ``"lr"``: StandardScaler + LogisticRegression(class_weight="balanced"), C by CV.
        ``"xgb"``: XGBClassifier(tree_method="hist", scale_pos_weight=neg/pos, row and feature
        subsampling), depth and learning rate by CV, number of trees from the folds' early-stopping
        curves (the candidate count with the best mean held-out AUC, `selection.tree_count`).
        ``"rf"``: the official OpenMIC baseline, RandomForestClassifier(max_depth=8,
        n_estimators=100) on clip means, untuned; CV only scores it and sets its thresholds.
    n_folds : int >= 2
        Cross-validation folds per instrument, grouped by artist (`baselines.folds`).
    pooling : {"auto", "mean", "mean_std"}
        How the (10, 128) frames become one vector. ``"auto"`` cross-validates both and keeps the
        one with the higher macro CV score (``"mean"`` for rf, as the official baseline).
    seed : int
        Seed of the folds and of every stochastic estimator (random_state).
    n_jobs : int
        Processes for the loop over (pooling, class) tasks (joblib; each model uses one thread).
    progress : bool
        Show a tqdm progress bar on stderr.
    grid : dict or None
        Hyper-parameter candidates, default `baselines.defaults.DEFAULT_GRIDS[kind]`;
        ``{"C": [...]}`` for lr, ``{"max_depth": [...], "learning_rate": [...]}`` for xgb.

    Attributes
    ----------
    estimators_ : list of fitted estimators, one per class
        Pipeline / XGBClassifier / RandomForestClassifier refitted on all observed training rows,
        or a DummyClassifier (constant prior) where training held a single label.
    thresholds_ : np.ndarray [shape=(n_classes,)]
        Per class, the F1-maximising threshold on the out-of-fold predictions of the chosen
        configuration (`core.thresholds`); 0.5 where they hold no positive.
    params_ : list of dict
        Chosen hyper-parameters per class (xgb: with the number of trees, ``n_estimators``).
    folds_ : np.ndarray [shape=(n_train, n_classes), dtype=int8]
        Fold of every observed training pair, -1 where unobserved (or no folds were possible).
    cv_scores_ : dict
        ``"roc_auc"`` and ``"ap"``: np.ndarray [shape=(n_classes, n_folds)], the chosen
        configuration's held-out score per class and fold; NaN where a fold lacks a positive or a
        negative. See `cv_summary` and `cv_macro`.
    fallback_ : np.ndarray [shape=(n_classes,), dtype=bool]
        True where the class got its kind's default configuration (or a constant) because CV could
        not select (`defaults.MIN_SCORED_FOLDS`).
    notes_ : list of list of str
        Per class, everything that departs from plain k-fold selection, in words: folds without a
        positive or a negative, fewer folds, fallbacks, constant predictions.
    pooling_ : str
    pooling_scores_ : dict
        Pooling -> macro CV score (mean over classes of the mean fold `CV_CRITERION`).
    classes_ : np.ndarray [shape=(n_classes,)] str
    feature_shape_ : tuple
        Per-clip shape of X, (10, 128) for OpenMIC.
    x_dtype_ : str
    x_range_ : tuple of float
        Minimum and maximum of the training X.
    embedding_ : str or None
        What X is, as passed to `fit` (e.g. "VGGish (OpenMIC release)").
    train_time_s_ : float
        Wall time of `fit`: folds, selection, thresholds and refits.
    fit_cpu_s_ : float
        CPU seconds of all per-class tasks (every pooling, grid point and fold), summed over
        processes.

    Examples
    --------
    >>> rows = ds.train_idx
    >>> model = PerInstrumentModel("lr", n_jobs=2).fit(
    ...     ds.X[rows], ds.Y_true[rows], ds.Y_mask[rows], groups=ds.artist_id[rows])
    >>> P = model.predict_proba(ds.X[ds.test_idx])          # (n_test, 20)
    >>> model.cv_summary()                                  # CV scores per instrument
    """

    def __init__(
        self,
        kind: str = "lr",
        *,
        n_folds: int = D.N_FOLDS,
        pooling: str = D.AUTO_POOLING,
        seed: int = 0,
        n_jobs: int = -1,
        progress: bool = True,
        grid: dict | None = None,
    ):
        self.kind = kind
        self.n_folds = n_folds
        self.pooling = pooling
        self.seed = seed
        self.n_jobs = n_jobs
        self.progress = progress
        self.grid = grid

    def fit(
        self,
        X: np.ndarray,
        Y_true: np.ndarray,
        Y_mask: np.ndarray,
        *,
        groups: np.ndarray,
        classes: tuple[str, ...] | None = None,
        embedding: str | None = None,
    ) -> PerInstrumentModel:
        """Select by artist-grouped CV, threshold on out-of-fold predictions, refit on all rows.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_frames, n_dims)]
            Frame embeddings of the training clips (OpenMIC: int64 0..255, (n, 10, 128)).
        Y_true : np.ndarray [shape=(n, n_classes)]
            Relevance in [0, 1]; read only where `Y_mask`.
        Y_mask : np.ndarray [shape=(n, n_classes)] bool
            True where the pair was annotated.
        groups : np.ndarray [shape=(n,)] int
            Artist id per clip (``ds.artist_id[rows]``), -1 where unknown (a group of its own): no
            artist has clips in two folds.
        classes : tuple of str or None
            Class names, default `features.openmic.CLASSES` (needs 20 columns).
        embedding : str or None
            What X is; saved with the model and checked by `load(expect_features=...)`.

        Returns
        -------
        self
        """
        start = time.perf_counter()
        kind, poolings, grid = self._check_params()
        X, Y_true, Y_mask = check_arrays(X, Y_true, Y_mask)
        names = class_names(classes, Y_true.shape[1])
        folds, fold_notes = assign_folds(
            groups, Y_true, Y_mask, n_folds=self.n_folds, seed=self.seed
        )
        Y = is_positive(Y_true)
        _warn_single_label_training(names, Y, Y_mask)

        fits = self._fit_all(kind, poolings, grid, X, Y, Y_mask, folds)
        scores = {p: mean_over_classes([f.score for f in fits[p]]) for p in poolings}
        self.pooling_ = max(
            poolings, key=lambda p: (np.nan_to_num(scores[p], nan=-1.0), -poolings.index(p))
        )
        chosen: list[InstrumentCV] = fits[self.pooling_]
        self.estimators_ = [f.estimator for f in chosen]
        self.params_ = [f.params for f in chosen]
        self.folds_ = folds
        self.cv_scores_ = {m: np.stack([f.fold_scores[m] for f in chosen]) for m in D.CV_METRICS}
        self.fallback_ = np.array([f.fallback for f in chosen])
        self.notes_ = [fold_notes[k] + f.notes for k, f in enumerate(chosen)]
        self.thresholds_ = np.array(
            [
                _oof_threshold(f.oof, Y[Y_mask[:, k], k], self.notes_[k])
                for k, f in enumerate(chosen)
            ]
        )
        self.pooling_scores_ = scores
        self.fit_cpu_s_ = sum(f.fit_cpu_s for p in poolings for f in fits[p])
        self.classes_ = np.array(names)
        self.feature_shape_ = tuple(X.shape[1:])
        self.x_dtype_ = str(X.dtype)
        self.x_range_ = (float(X.min()), float(X.max()))
        self.embedding_ = embedding
        self.train_time_s_ = time.perf_counter() - start
        _warn_fallbacks(names, self.fallback_, Y, Y_mask)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(instrument present) for every clip and class.

        Parameters
        ----------
        X : np.ndarray [shape=(n, *feature_shape_)]

        Returns
        -------
        np.ndarray [shape=(n, n_classes), dtype=float64]
        """
        check_is_fitted(self, "estimators_")
        X = np.asarray(X)
        if X.ndim != 3 or X.shape[1:] != self.feature_shape_:
            raise ParameterError(
                f"X must be (n, {', '.join(map(str, self.feature_shape_))}) like the training "
                f"features; given X.shape={X.shape}"
            )
        features = pool(X, self.pooling_)
        return np.stack([positive_proba(est, features) for est in self.estimators_], axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Presence decisions ``predict_proba(X) >= thresholds_``, bool (n, n_classes)."""
        return self.predict_proba(X) >= self.thresholds_

    def cv_summary(self) -> pd.DataFrame:
        """The CV evidence per class: one row per instrument.

        Returns
        -------
        pandas.DataFrame
            Index ``instrument``; columns ``roc_auc_mean``, ``roc_auc_std``, ``ap_mean``,
            ``ap_std`` (over the scored folds; std with ddof=1, NaN below two scored folds),
            ``folds_scored``, ``threshold``, ``fallback``, ``params``, ``notes`` ("; "-joined).
        """
        check_is_fitted(self, "cv_scores_")
        table = {}
        for metric in D.CV_METRICS:
            values = self.cv_scores_[metric]
            table[f"{metric}_mean"] = [_nan_stat(np.nanmean, row) for row in values]
            table[f"{metric}_std"] = [_fold_std(row) for row in values]
        table["folds_scored"] = np.isfinite(self.cv_scores_[D.CV_CRITERION]).sum(axis=1)
        table["threshold"] = self.thresholds_
        table["fallback"] = self.fallback_
        table["params"] = self.params_
        table["notes"] = ["; ".join(notes) for notes in self.notes_]
        return pd.DataFrame(table, index=pd.Index(self.classes_, name="instrument"))

    def cv_fold_macros(self) -> dict[str, np.ndarray]:
        """Each fold's macro CV score: the mean over the classes that fold could score.

        Returns
        -------
        dict
            ``"roc_auc"`` and ``"ap"`` -> float array (n_folds,), NaN for a fold that scored no class.
        """
        check_is_fitted(self, "cv_scores_")
        return {
            metric: np.array([mean_over_classes(col) for col in self.cv_scores_[metric].T])
            for metric in D.CV_METRICS
        }

    def cv_macro(self) -> dict[str, tuple[float, float]]:
        """Macro CV scores: mean and sample standard deviation over folds of `cv_fold_macros`.

        Returns
        -------
        dict
            ``"roc_auc"`` and ``"ap"`` -> (mean, std with ddof=1) over the scored folds; NaN where
            no fold (for the std: fewer than two) is scored. The report shows the same figures.
        """
        out = {}
        for metric, per_fold in self.cv_fold_macros().items():
            out[metric] = (_nan_stat(np.nanmean, per_fold), _fold_std(per_fold))
        return out

    def save(self, path: str | Path) -> None:
        """Write the fitted model, its CV evidence and metadata to `path` (joblib, atomic)."""
        check_is_fitted(self, "estimators_")
        save_model(self, path)

    @classmethod
    def load(cls, path: str | Path, *, expect_features: dict | None = None) -> PerInstrumentModel:
        """Read a model written by `save`; see `baselines.persist.load_model` for `expect_features`."""
        return load_model(path, cls=cls, expect_features=expect_features)

    def _check_params(self) -> tuple[str, tuple[str, ...], dict]:
        if self.kind not in D.KINDS:
            raise ParameterError(f"kind must be one of {D.KINDS}; given kind={self.kind!r}")
        if self.pooling == D.AUTO_POOLING:
            poolings = (D.RF_POOLING,) if self.kind == "rf" else D.POOLINGS
        elif self.pooling in D.POOLINGS:
            poolings = (self.pooling,)
        else:
            raise ParameterError(
                f"pooling must be {D.AUTO_POOLING!r} or one of {D.POOLINGS}; given pooling={self.pooling!r}"
            )
        grid = D.DEFAULT_GRIDS[self.kind] if self.grid is None else self.grid
        required = set(D.DEFAULT_GRIDS[self.kind])
        if set(grid) != required or any(len(grid[name]) == 0 for name in grid):
            raise ParameterError(
                f"grid for kind={self.kind!r} needs non-empty {sorted(required)}; given grid={grid!r}"
            )
        return self.kind, poolings, grid

    def _fit_all(self, kind, poolings, grid, X, Y, Y_mask, folds):
        """Run every (pooling, class) task in parallel; return pooling -> list of InstrumentCV."""
        jobs = []
        for p in poolings:
            F = pool(X, p)
            for k in range(Y.shape[1]):
                rows = Y_mask[:, k]
                jobs.append(
                    delayed(_keyed_fit)(
                        (p, k), kind, F[rows], Y[rows, k], folds[rows, k], grid, self.n_folds,
                        self.seed,
                    )
                )  # fmt: skip
        results = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")(jobs)
        bar = tqdm(
            results,
            total=len(jobs),
            desc=f"{kind}: {self.n_folds}-fold CV per instrument",
            disable=None if self.progress else True,
        )
        fits = {p: [None] * Y.shape[1] for p in poolings}
        for (p, k), fitted in bar:
            fits[p][k] = fitted
        return fits


def _keyed_fit(key, kind, X, y, folds, grid, n_folds, seed) -> tuple[tuple, InstrumentCV]:
    return key, select_and_fit(kind, X, y, folds, grid=grid, n_folds=n_folds, seed=seed)


def _oof_threshold(oof: np.ndarray, y: np.ndarray, notes: list[str]) -> float:
    """F1-best threshold on a class's out-of-fold predictions; the fallback (noted) without any."""
    scored = np.isfinite(oof)
    if not y[scored].any():
        notes.append(f"no out-of-fold prediction of a positive: threshold {FALLBACK_THRESHOLD}")
        return FALLBACK_THRESHOLD
    return best_f1_threshold(y[scored], oof[scored])[0]


def _nan_stat(stat, values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(stat(values)) if np.isfinite(values).any() else float("nan")


def _fold_std(values: np.ndarray) -> float:
    """Sample std (ddof=1) of the finite values; NaN for fewer than two."""
    values = np.asarray(values, dtype=np.float64)
    scored = values[np.isfinite(values)]
    return float(scored.std(ddof=1)) if scored.size > 1 else float("nan")


def _warn_single_label_training(names, Y: np.ndarray, Y_mask: np.ndarray) -> None:
    bad = [names[k] for k in range(Y.shape[1]) if not has_both_classes(Y[Y_mask[:, k], k])]
    if bad:
        warnings.warn(
            f"training has no positive or no negative for {bad}: each gets a constant prediction "
            "(its training prior); the other classes train normally",
            DegenerateClassWarning,
            stacklevel=3,
        )


def _warn_fallbacks(names, fallback: np.ndarray, Y: np.ndarray, Y_mask: np.ndarray) -> None:
    learnable = [has_both_classes(Y[Y_mask[:, k], k]) for k in range(Y.shape[1])]
    bad = [names[k] for k in range(Y.shape[1]) if fallback[k] and learnable[k]]
    if bad:
        warnings.warn(
            f"cross-validation could not select for {bad} (too few folds with a held-out positive "
            "and negative): each gets its default configuration; see notes_",
            DegenerateClassWarning,
            stacklevel=3,
        )
