"""Metrics of every model on the test set and on bootstrap resamples of its clips.

Resampling draws the test clips with replacement (``n_boot`` rows of ``n`` indices, seeded). Each
resample becomes a row of counts (how often each clip was drawn); the metrics of all resamples are
then computed at once as weighted metrics (:mod:`reports.metrics`). Row 0 of every result is the
point estimate on the test set itself (all weights 1); rows 1..n_boot are the resamples.

A resample that holds no positive or no negative observed pair of an instrument is *invalid* for
that instrument: all its metrics are NaN there, it is dropped from the interval (not averaged in),
and it is counted. A macro mean is valid where every instrument that is defined on the test set is
valid, so the same resamples serve every model and the comparisons are paired.
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
    n_observed, n_positive : np.ndarray [shape=(K,)], int -- support on the test set
    thresholds : dict model -> np.ndarray [shape=(K,)] or None (validation thresholds)
    n_boot, seed : int
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
    dropped: dict[str, int] = field(default_factory=dict)


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
            y, score, Wm = y_all[obs, k], proba[obs, k], Wk
            scored = np.isfinite(score)
            if not scored.all():  # NaN: no prediction (e.g. a clip without audio), left out for m only
                y, score, Wm = y[scored], score[scored], Wk[:, scored]
            row, counts = _instrument_scores(y, score, Wm, None if thr is None else float(thr[k]))
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
    """Score every model per instrument, macro and micro, on the test set and its resamples.

    Parameters
    ----------
    Y_true : np.ndarray [shape=(n, K)], float -- target ``Y_true >= 0.5`` on observed pairs
    Y_mask : np.ndarray [shape=(n, K)], bool -- observed pairs
    probas : dict model -> np.ndarray [shape=(n, K)]
        NaN marks a pair the model has no prediction for; it is left out of that model's metrics.
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
    n, K = Y_mask.shape
    if y_all.shape != (n, K) or len(classes) != K:
        raise ParameterError(
            f"Y_true, Y_mask and classes disagree: given Y_true.shape={y_all.shape}, "
            f"Y_mask.shape={Y_mask.shape}, len(classes)={len(classes)}"
        )
    thresholds = {m: (thresholds or {}).get(m) for m in probas}
    for m, thr in thresholds.items():
        if thr is not None and np.shape(thr) != (K,):
            raise ParameterError(f"thresholds of model {m!r} must have shape ({K},); given {np.shape(thr)}")
    W = resample_weights(n, n_boot=n_boot, seed=seed)

    pos_w = W @ (Y_mask & y_all).astype(np.float32)
    neg_w = W @ (Y_mask & ~y_all).astype(np.float32)
    valid = (pos_w > 0) & (neg_w > 0)
    defined = valid[0]
    macro_valid = valid[:, defined].all(axis=1) & defined.any()
    micro_valid = (pos_w.sum(axis=1) > 0) & (neg_w.sum(axis=1) > 0)

    probas = {m: np.asarray(p, dtype=np.float64) for m, p in probas.items()}
    for m, proba in probas.items():
        if proba.shape != (n, K):
            raise ParameterError(f"proba of model {m!r} must have shape {(n, K)}; given {proba.shape}")
    # Small matrix products: BLAS threads cost more than they give, and thrash on shared machines.
    with threadpool_limits(limits=1, user_api="blas"):
        per_instrument, micro_scores = _all_scores(y_all, Y_mask, probas, W, thresholds)
    macro, micro = {}, {}
    for m, scores in per_instrument.items():
        for value in scores.values():
            value[~valid] = np.nan
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
        n_observed=Y_mask.sum(axis=0),
        n_positive=(Y_mask & y_all).sum(axis=0),
        thresholds=thresholds,
        n_boot=n_boot,
        seed=seed,
        dropped=dropped,
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
