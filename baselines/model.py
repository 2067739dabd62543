"""`PerInstrumentModel`: one binary classifier per OpenMIC instrument behind one multi-label API.

Each class k is trained only on the rows where ``Y_mask[:, k]`` (the pairs annotators were asked
about), with target ``Y_true[:, k] >= 0.5``; unobserved pairs never enter a loss, a hyper-parameter
choice or a threshold. Hyper-parameters, the pooling (when ``pooling="auto"``) and the decision
thresholds are chosen on the validation split passed to `fit`, never on test data.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from baselines import defaults as D
from baselines.instrument import InstrumentFit, fit_instrument, positive_proba
from baselines.persist import load_model, save_model
from baselines.pooling import pool
from core.errors import ParameterError
from core.metrics import has_both_classes, mean_over_classes
from core.targets import is_positive
from core.thresholds import FALLBACK_THRESHOLD, validation_thresholds
from features.openmic import CLASSES


class DegenerateClassWarning(UserWarning):
    """A class cannot be learnt or thresholded normally (single-class training or validation)."""


class PerInstrumentModel(BaseEstimator):
    """Per-instrument logistic regression, XGBoost or the official random forest.

    Parameters
    ----------
    kind : {"lr", "xgb", "rf"}
        ``"lr"``: StandardScaler + LogisticRegression(class_weight="balanced"), C by validation AP.
        ``"xgb"``: XGBClassifier(tree_method="hist", scale_pos_weight=neg/pos), depth and learning
        rate by validation AP, number of trees by early stopping on validation.
        ``"rf"``: the official OpenMIC baseline, RandomForestClassifier(max_depth=8,
        n_estimators=100) on clip means, untuned.
    pooling : {"auto", "mean", "mean_std"}
        How the (10, 128) frames become one vector. ``"auto"`` fits both and keeps the one with the
        higher mean validation AP over classes (``"mean"`` for rf, as the official baseline).
    seed : int
        Seed of every stochastic estimator (random_state).
    n_jobs : int
        Processes for the loop over (class, pooling) jobs (joblib; each model uses one thread).
    progress : bool
        Show a tqdm progress bar on stderr.
    grid : dict or None
        Hyper-parameter candidates, default `baselines.defaults.DEFAULT_GRIDS[kind]`;
        ``{"C": [...]}`` for lr, ``{"max_depth": [...], "learning_rate": [...]}`` for xgb.

    Attributes
    ----------
    estimators_ : list of fitted estimators, one per class
        Pipeline / XGBClassifier / RandomForestClassifier, or a DummyClassifier (constant prior)
        where training held a single label.
    thresholds_ : np.ndarray [shape=(n_classes,)]
        F1-maximising validation thresholds (`core.thresholds`; 0.5 where validation has no positive).
    pooling_ : str
    pooling_scores_ : dict
        Pooling -> mean validation AP over classes (only the candidates fitted).
    params_ : list of dict
        Chosen hyper-parameters per class.
    val_ap_ : np.ndarray [shape=(n_classes,)]
        Validation AP per class (NaN where validation lacks a positive or a negative).
    classes_ : np.ndarray [shape=(n_classes,)] str
    feature_shape_ : tuple
        Per-clip shape of X, (10, 128) for OpenMIC.
    x_dtype_ : str
    x_range_ : tuple of float
        Minimum and maximum of the training X.
    embedding_ : str or None
        What X is, as passed to `fit` (e.g. "VGGish (OpenMIC release)").
    train_time_s_ : float
        Wall time of `fit`, selection and thresholds included.
    fit_cpu_s_ : float
        CPU seconds of all per-class fits (every pooling and grid point), summed over processes.

    Examples
    --------
    >>> model = PerInstrumentModel("lr", n_jobs=2).fit(
    ...     X[fit_idx], Y_true[fit_idx], Y_mask[fit_idx],
    ...     X_val=X[val_idx], Y_true_val=Y_true[val_idx], Y_mask_val=Y_mask[val_idx])
    >>> P = model.predict_proba(X[test_idx])          # (n_test, 20)
    """

    def __init__(
        self,
        kind: str = "lr",
        *,
        pooling: str = D.AUTO_POOLING,
        seed: int = 0,
        n_jobs: int = -1,
        progress: bool = True,
        grid: dict | None = None,
    ):
        self.kind = kind
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
        X_val: np.ndarray,
        Y_true_val: np.ndarray,
        Y_mask_val: np.ndarray,
        classes: tuple[str, ...] | None = None,
        embedding: str | None = None,
    ) -> PerInstrumentModel:
        """Fit one model per class on its observed rows; choose everything else on validation.

        Parameters
        ----------
        X : np.ndarray [shape=(n, n_frames, n_dims)]
            Frame embeddings (OpenMIC: int64 0..255, (n, 10, 128)).
        Y_true : np.ndarray [shape=(n, n_classes)]
            Relevance in [0, 1]; read only where `Y_mask`.
        Y_mask : np.ndarray [shape=(n, n_classes)] bool
            True where the pair was annotated.
        X_val, Y_true_val, Y_mask_val : np.ndarray
            The validation split, shaped like the above.
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
        X, Y_true, Y_mask = _check_split("", X, Y_true, Y_mask)
        X_val, Y_true_val, Y_mask_val = _check_split("_val", X_val, Y_true_val, Y_mask_val)
        if X_val.shape[1:] != X.shape[1:] or Y_true_val.shape[1] != Y_true.shape[1]:
            raise ParameterError(
                f"validation must have the training's per-clip shapes; given X.shape={X.shape}, "
                f"X_val.shape={X_val.shape}, Y_true.shape={Y_true.shape}, Y_true_val.shape={Y_true_val.shape}"
            )
        names = _class_names(classes, Y_true.shape[1])
        Y, Y_v = is_positive(Y_true), is_positive(Y_true_val)
        _warn_single_label_training(names, Y, Y_mask)

        fits = self._fit_all(kind, poolings, grid, X, Y, Y_mask, X_val, Y_v, Y_mask_val)
        scores = {p: mean_over_classes([f.val_ap for f in fits[p]]) for p in poolings}
        self.pooling_ = max(
            poolings, key=lambda p: (np.nan_to_num(scores[p], nan=-1.0), -poolings.index(p))
        )
        chosen: list[InstrumentFit] = fits[self.pooling_]

        self.estimators_ = [f.estimator for f in chosen]
        self.feature_shape_ = tuple(X.shape[1:])
        # Validation scores through predict_proba itself, so that thresholds match what users see
        # (BLAS results may differ in the last bits between row subsets).
        P_val = self.predict_proba(X_val)
        self.thresholds_, fallback = validation_thresholds(P_val, Y_true_val, Y_mask_val)
        if fallback:
            warnings.warn(
                f"no observed positive in validation for {[names[k] for k in fallback]}: "
                f"threshold set to {FALLBACK_THRESHOLD}",
                DegenerateClassWarning,
                stacklevel=2,
            )
        self.params_ = [f.params for f in chosen]
        self.val_ap_ = np.array([f.val_ap for f in chosen])
        self.pooling_scores_ = scores
        self.fit_cpu_s_ = sum(f.fit_cpu_s for p in poolings for f in fits[p])
        self.classes_ = np.array(names)
        self.x_dtype_ = str(X.dtype)
        self.x_range_ = (float(X.min()), float(X.max()))
        self.embedding_ = embedding
        self.train_time_s_ = time.perf_counter() - start
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

    def save(self, path: str | Path) -> None:
        """Write the fitted model and its metadata to `path` (joblib, atomic)."""
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

    def _fit_all(self, kind, poolings, grid, X, Y, Y_mask, X_val, Y_v, Y_mask_val):
        """Fit every (pooling, class) job in parallel; return pooling -> list of InstrumentFit."""
        jobs = []
        for p in poolings:
            F, F_val = pool(X, p), pool(X_val, p)
            for k in range(Y.shape[1]):
                rows, vrows = Y_mask[:, k], Y_mask_val[:, k]
                jobs.append(
                    delayed(_keyed_fit)(
                        (p, k),
                        kind,
                        F[rows],
                        Y[rows, k],
                        F_val[vrows],
                        Y_v[vrows, k],
                        grid,
                        self.seed,
                    )
                )
        results = Parallel(n_jobs=self.n_jobs, return_as="generator_unordered")(jobs)
        bar = tqdm(
            results,
            total=len(jobs),
            desc=f"{kind} per instrument",
            disable=None if self.progress else True,
        )
        fits = {p: [None] * Y.shape[1] for p in poolings}
        for (p, k), fitted in bar:
            fits[p][k] = fitted
        return fits


def _keyed_fit(key, kind, X, y, X_val, y_val, grid, seed) -> tuple[tuple, InstrumentFit]:
    return key, fit_instrument(kind, X, y, X_val, y_val, grid=grid, seed=seed)


def _check_split(suffix: str, X, Y_true, Y_mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, Y_true, Y_mask = np.asarray(X), np.asarray(Y_true, dtype=np.float64), np.asarray(Y_mask)
    if X.ndim != 3 or X.shape[0] == 0:
        raise ParameterError(
            f"X{suffix} must be (n_clips, n_frames, n_dims), n_clips > 0; given X{suffix}.shape={X.shape}"
        )
    if Y_true.ndim != 2 or Y_true.shape[0] != X.shape[0] or Y_mask.shape != Y_true.shape:
        raise ParameterError(
            f"Y_true{suffix} and Y_mask{suffix} must be (n_clips, n_classes) with the n_clips of X{suffix}; "
            f"given X{suffix}.shape={X.shape}, Y_true{suffix}.shape={Y_true.shape}, Y_mask{suffix}.shape={Y_mask.shape}"
        )
    if Y_mask.dtype != bool:
        raise ParameterError(
            f"Y_mask{suffix} must be bool (True = annotated); given dtype={Y_mask.dtype}"
        )
    if not np.isfinite(X).all():
        raise ParameterError(
            f"X{suffix} holds NaN or infinity; given X{suffix}.dtype={X.dtype}: clean the features"
        )
    observed = Y_true[Y_mask]
    if not (np.isfinite(observed).all() and ((observed >= 0) & (observed <= 1)).all()):
        raise ParameterError(
            f"observed Y_true{suffix} must lie in [0, 1]; given values from {observed.min()} to {observed.max()}"
        )
    return X, Y_true, Y_mask


def _class_names(classes: tuple[str, ...] | None, n_classes: int) -> tuple[str, ...]:
    if classes is None:
        classes = CLASSES
    if len(classes) != n_classes:
        raise ParameterError(
            f"need one class name per column of Y_true ({n_classes}); given {len(classes)} names: "
            f"pass classes=... matching Y_true"
        )
    return tuple(str(c) for c in classes)


def _warn_single_label_training(names, Y: np.ndarray, Y_mask: np.ndarray) -> None:
    bad = [names[k] for k in range(Y.shape[1]) if not has_both_classes(Y[Y_mask[:, k], k])]
    if bad:
        warnings.warn(
            f"training has no positive or no negative for {bad}: each gets a constant prediction "
            "(its training prior); the other classes train normally",
            DegenerateClassWarning,
            stacklevel=3,
        )
