"""Metrics of every model on the test set and on bootstrap resamples of its clips.

Resampling draws the test clips with replacement (``n_boot`` rows of ``n`` indices, seeded). Each
resample becomes a row of counts (how often each clip was drawn); the metrics of all resamples are
then computed at once as weighted metrics (:mod:`reports.metrics`). Row 0 of every result is the
point estimate on the test set itself (all weights 1); rows 1..n_boot are the resamples.

Every model is scored on one *common test set*: the observed pairs (``Y_mask``) where every model
has a finite probability. A clip that some model could not score at all (its whole row NaN) is left
out for every model and named (:attr:`Evaluation.excluded`); it is not resampled either. So support,
metrics, intervals and paired comparisons all rest on the same pairs.

A resample that holds no positive or no negative pair of an instrument is *invalid* for that
instrument: all its metrics are NaN there, it is dropped from the interval (not averaged in), and it
is counted. An instrument without a positive or a negative on the common set itself has no metric
(NaN, never 0) and stays out of the macro means; a macro mean is the mean over the instruments that
have a value, valid where each of them is valid, so the same resamples serve every model and the
comparisons are paired.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from core.errors import ParameterError
from core.targets import is_positive
from reports import metrics, params


def resample_indices(n: int, *, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap draws of ``n`` clips with replacement.

    Returns
    -------
    np.ndarray [shape=(n_boot, n)], int64
    """
    if n < 1 or n_boot < 1:
        raise ParameterError(f"need n >= 1 clips and n_boot >= 1; given n={n}, n_boot={n_boot}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` clips occurs in each row of ``idx``.

    Parameters
    ----------
    idx : np.ndarray [shape=(B, r)], int, values in [0, n)
    n : int

    Returns
    -------
    np.ndarray [shape=(B, n)], float32 (exact integers)
    """
    out = np.empty((idx.shape[0], n), dtype=np.float32)
    for start in range(0, idx.shape[0], params.BOOT_CHUNK_ROWS):
        chunk = idx[start:start + params.BOOT_CHUNK_ROWS]
        flat = (chunk + n * np.arange(chunk.shape[0])[:, None]).ravel()
        out[start:start + chunk.shape[0]] = np.bincount(flat, minlength=chunk.shape[0] * n).reshape(-1, n)
    return out


def resample_weights(n: int, *, n_boot: int, seed: int) -> np.ndarray:
    """Row of ones (the test set) stacked over ``n_boot`` rows of bootstrap counts.

    Returns
    -------
    np.ndarray [shape=(n_boot + 1, n)], float32
    """
    counts = counts_from_indices(resample_indices(n, n_boot=n_boot, seed=seed), n)
    return np.vstack([np.ones((1, n), dtype=np.float32), counts])


@dataclass
class Evaluation:
    """Metrics of every model, on the test set (row 0) and on each resample (rows 1..).

    Attributes
    ----------
    models, classes : tuple of str
    per_instrument : dict model -> metric -> np.ndarray [shape=(n_boot + 1, K)]
    macro, micro : dict model -> metric -> np.ndarray [shape=(n_boot + 1,)]
    valid : np.ndarray [shape=(n_boot + 1, K)], bool -- resample holds a positive and a negative
    macro_valid, micro_valid : np.ndarray [shape=(n_boot + 1,)], bool
    n_observed, n_positive : np.ndarray [shape=(K,)], int -- support on the common test set
    thresholds : dict model -> np.ndarray [shape=(K,)] or None (validation thresholds)
    n_boot, seed : int
    pairs : np.ndarray [shape=(n, K)], bool -- the common test set, in the rows given to `evaluate`
    excluded : dict row -> tuple of models -- clips left out for all, and the models that gave them
        no prediction at all
    n_left_out : np.ndarray [shape=(K,)], int -- observed pairs outside the common test set
    dropped : dict instrument (or "macro", "micro") -> resamples dropped
    """

    models: tuple[str, ...]
    classes: tuple[str, ...]
    per_instrument: dict[str, dict[str, np.ndarray]]
    macro: dict[str, dict[str, np.ndarray]]
    micro: dict[str, dict[str, np.ndarray]]
    valid: np.ndarray
    macro_valid: np.ndarray
    micro_valid: np.ndarray
    n_observed: np.ndarray
    n_positive: np.ndarray
    thresholds: dict[str, np.ndarray | None]
    n_boot: int
    seed: int
    pairs: np.ndarray
    excluded: dict[int, tuple[str, ...]]
    n_left_out: np.ndarray
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def in_macro(self) -> np.ndarray:
        """np.ndarray [shape=(K,)], bool: the instruments with a value, which the macro means average."""
        return self.valid[0]


def _threshold_scores(y, score, W, threshold: float, suffix: str) -> tuple[dict, dict]:
    """Metrics at one threshold (names with ``suffix``) and the counts, for pooling into micro F1."""
    counts = metrics.confusion_counts(y, score, W, threshold)
    scores = metrics.scores_from_counts(counts)
    out = {m + suffix: scores[m] for m in params.THRESHOLD_METRICS}
    if not suffix:
        out[params.F1_POSNEG] = scores[params.F1_POSNEG]
    return out, counts


def _instrument_scores(y, score, W, threshold_k: float | None) -> tuple[dict, dict]:
    """All metrics of one (model, instrument), and its counts per threshold suffix."""
    row, counts = _threshold_scores(y, score, W, params.DEFAULT_THRESHOLD, "")
    pooled = {"": counts}
    if threshold_k is not None:
        at_val, pooled[params.VAL_THR_SUFFIX] = _threshold_scores(
            y, score, W, threshold_k, params.VAL_THR_SUFFIX
        )
        row.update(at_val)
    row.update(metrics.ranking_metrics(y, score, W))
    return row, pooled


def _all_scores(y_all, mask, probas, W, thresholds):
    """Per-instrument metrics, model -> metric -> (B+1, K), and micro metrics, model -> metric."""
    per: dict[str, dict[str, list]] = {m: {} for m in probas}
    pooled: dict[str, dict[str, dict[str, np.ndarray]]] = {m: {} for m in probas}
    for k in range(mask.shape[1]):
        obs = mask[:, k]
        Wk = W[:, obs].astype(np.float64)  # gathered once, shared by the models
        for m, proba in probas.items():
            thr = thresholds[m]
            row, counts = _instrument_scores(y_all[obs, k], proba[obs, k], Wk,
                                             None if thr is None else float(thr[k]))
            for name, value in row.items():
                per[m].setdefault(name, []).append(value)
            for suffix, c in counts.items():
                total = pooled[m].setdefault(suffix, {})
                for cell, value in c.items():
                    total[cell] = total.get(cell, 0) + value
    stacked = {m: {name: np.stack(cols, axis=1) for name, cols in d.items()} for m, d in per.items()}
    micro = {m: _micro(pooled[m]) for m in probas}
    return stacked, micro


def _micro(pooled: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {}
    for suffix, counts in pooled.items():
        scores = metrics.scores_from_counts(counts)
        out.update({m + suffix: scores[m] for m in params.THRESHOLD_METRICS})
    return out


def common_test_set(
    Y_mask: np.ndarray, probas: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:
    """The pairs every model is scored on, and the clips some model could not score at all.

    Parameters
    ----------
    Y_mask : np.ndarray [shape=(n, K)], bool -- observed pairs
    probas : dict model -> np.ndarray [shape=(n, K)] -- NaN where the model has no prediction

    Returns
    -------
    pairs : np.ndarray [shape=(n, K)], bool
        Observed and finite for every model (all False on an excluded clip's row).
    excluded : dict row -> tuple of models
        Clips (rows, ascending) whose whole row is NaN for at least one model, with those models.
    """
    finite = np.ones(Y_mask.shape, dtype=bool)
    unscored: dict[int, list[str]] = {}
    for m, proba in probas.items():
        scored = np.isfinite(proba)
        finite &= scored
        for row in np.flatnonzero(~scored.any(axis=1)):
            unscored.setdefault(int(row), []).append(m)
    return Y_mask & finite, {row: tuple(unscored[row]) for row in sorted(unscored)}


def _check_inputs(y_all, Y_mask, probas, classes, thresholds) -> None:
    n, K = Y_mask.shape
    if y_all.shape != (n, K) or len(classes) != K:
        raise ParameterError(
            f"Y_true, Y_mask and classes disagree: given Y_true.shape={y_all.shape}, "
            f"Y_mask.shape={Y_mask.shape}, len(classes)={len(classes)}"
        )
    for m, proba in probas.items():
        if proba.shape != (n, K):
            raise ParameterError(f"proba of model {m!r} must have shape {(n, K)}; given {proba.shape}")
    for m, thr in thresholds.items():
        if thr is not None and np.shape(thr) != (K,):
            raise ParameterError(f"thresholds of model {m!r} must have shape ({K},); given {np.shape(thr)}")


def evaluate(
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    probas: dict[str, np.ndarray],
    *,
    classes: tuple[str, ...],
    thresholds: dict[str, np.ndarray | None] | None = None,
    n_boot: int = params.N_BOOT,
    seed: int = params.BOOT_SEED,
) -> Evaluation:
    """Score every model per instrument, macro and micro, on the common test set and its resamples.

    Parameters
    ----------
    Y_true : np.ndarray [shape=(n, K)], float -- target ``Y_true >= 0.5`` on observed pairs
    Y_mask : np.ndarray [shape=(n, K)], bool -- observed pairs
    probas : dict model -> np.ndarray [shape=(n, K)]
        NaN marks a pair the model has no prediction for; that pair is left out for every model, and
        a clip without any prediction from some model is left out for every model (see
        :func:`common_test_set`).
    classes : tuple of str [length=K]
    thresholds : dict model -> np.ndarray [shape=(K,)] or None, optional
        Validation thresholds; models without them get no ``*_at_val_thr`` metrics.
    n_boot : int >= 1
    seed : int

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> ev = evaluate(Y_true, Y_mask, {"lr": p}, classes=CLASSES, n_boot=1000, seed=0)  # doctest: +SKIP
    >>> ev.macro["lr"]["roc_auc"][0]  # macro AUC on the test set  # doctest: +SKIP
    """
    Y_mask = np.asarray(Y_mask, dtype=bool)
    y_all = is_positive(Y_true)
    probas = {m: np.asarray(p, dtype=np.float64) for m, p in probas.items()}
    thresholds = {m: (thresholds or {}).get(m) for m in probas}
    _check_inputs(y_all, Y_mask, probas, classes, thresholds)
    pairs, excluded = common_test_set(Y_mask, probas)
    kept = np.ones(Y_mask.shape[0], dtype=bool)
    kept[list(excluded)] = False
    if not kept.any():
        raise ParameterError(
            f"no test clip has a prediction from every model (models without any prediction: "
            f"{sorted({m for ms in excluded.values() for m in ms})}); leave those models out"
        )
    mask, y_kept = pairs[kept], y_all[kept]
    W = resample_weights(int(kept.sum()), n_boot=n_boot, seed=seed)

    pos_w = W @ (mask & y_kept).astype(np.float32)
    neg_w = W @ (mask & ~y_kept).astype(np.float32)
    valid = (pos_w > 0) & (neg_w > 0)
    defined = valid[0]
    macro_valid = valid[:, defined].all(axis=1) & defined.any()
    micro_valid = (pos_w.sum(axis=1) > 0) & (neg_w.sum(axis=1) > 0)

    # Small matrix products: BLAS threads cost more than they give, and thrash on shared machines.
    with threadpool_limits(limits=1, user_api="blas"):
        per_instrument, micro_scores = _all_scores(
            y_kept, mask, {m: p[kept] for m, p in probas.items()}, W, thresholds
        )
    macro, micro = {}, {}
    for m, scores in per_instrument.items():
        for value in scores.values():
            value[~valid] = np.nan  # no positive or no negative: missing, never 0
        macro[m] = {
            name: np.where(macro_valid, value[:, defined].mean(axis=1) if defined.any() else np.nan, np.nan)
            for name, value in scores.items()
        }
        micro[m] = {name: np.where(micro_valid, v, np.nan) for name, v in micro_scores[m].items()}

    dropped = {c: int((~valid[1:, k]).sum()) for k, c in enumerate(classes)}
    dropped[params.MACRO] = int((~macro_valid[1:]).sum())
    dropped[params.MICRO] = int((~micro_valid[1:]).sum())
    return Evaluation(
        models=tuple(probas),
        classes=tuple(classes),
        per_instrument=per_instrument,
        macro=macro,
        micro=micro,
        valid=valid,
        macro_valid=macro_valid,
        micro_valid=micro_valid,
        n_observed=pairs.sum(axis=0),
        n_positive=(pairs & y_all).sum(axis=0),
        thresholds=thresholds,
        n_boot=n_boot,
        seed=seed,
        dropped=dropped,
        pairs=pairs,
        excluded=excluded,
        n_left_out=(Y_mask & ~pairs).sum(axis=0),
    )


def percentile_interval(
    replicates: np.ndarray, *, level: float = params.CI_LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the finite replicates (axis 0); NaN where fewer than 2 are finite.

    Parameters
    ----------
    replicates : np.ndarray [shape=(B, ...)] -- NaN marks a dropped resample
    level : float in (0, 1)

    Returns
    -------
    (low, high) : two np.ndarray [shape=(...)]
    """
    tail = (1 - level) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        low, high = np.nanpercentile(replicates, [tail, 100 - tail], axis=0)
    enough = np.isfinite(replicates).sum(axis=0) >= 2
    return np.where(enough, low, np.nan), np.where(enough, high, np.nan)
