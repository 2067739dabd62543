"""Metrics of every model on the test set and on bootstrap resamples of its artists.

Resampling is by cluster (:mod:`reports.resampling`): the test clips are grouped by artist (a clip
without an artist is a group of its own), and each resample draws ``G`` groups with replacement out
of the ``G`` groups (seeded). A clip's weight in a resample is how often its group was drawn, so the
clips of one artist come and go together: their shared errors widen the intervals as they should. Without artists every clip is
its own group, which is the plain clip bootstrap (and, for the same seed, the same draws). The
metrics of all resamples are then computed at once as weighted metrics (:mod:`reports.metrics`).
Row 0 of every result is the point estimate on the test set itself (all weights 1); rows 1..n_boot
are the resamples.

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

from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from core.errors import ParameterError
from core.targets import is_positive
from reports import metrics, params
from reports.resampling import resample_weights, resampling_groups
from reports.seed_spread import SeedScores


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
    resampling_unit : str -- ``"artist"`` (clips grouped by artist) or ``"clip"`` (no artist given)
    n_groups : int -- groups the resamples draw from (artists, plus one per clip without artist)
    n_without_artist : int -- scored clips without an artist (each a group of its own)
    seeds : dict model -> SeedScores -- every seed's scores of the networks trained with S >= 2
        seeds (:mod:`reports.seed_spread`); empty when none was
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
    resampling_unit: str = "clip"
    n_groups: int = 0
    n_without_artist: int = 0
    seeds: dict[str, SeedScores] = field(default_factory=dict)
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


def _check_inputs(y_all, Y_mask, probas, classes, thresholds, seed_probas) -> None:
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
    for m, seeds in seed_probas.items():
        if m not in probas:
            raise ParameterError(f"seed_probas names model {m!r}, which has no proba; given models {list(probas)}")
        if seeds.ndim != 3 or seeds.shape[0] < 2 or seeds.shape[1:] != (n, K):
            raise ParameterError(
                f"seed_probas of model {m!r} must have shape (S, {n}, {K}) with S >= 2 seeds; "
                f"given {seeds.shape}"
            )


def _seed_thresholds(thresholds, seed_thresholds, m: str, shape: tuple[int, int]) -> list:
    """Each seed's validation thresholds: the given (S, K) ones, else the first seed's for every seed."""
    given = (seed_thresholds or {}).get(m)
    if given is None or thresholds[m] is None:
        return [thresholds[m]] * shape[0]
    given = np.asarray(given, dtype=np.float64)
    if given.shape != shape:
        raise ParameterError(f"seed_thresholds of model {m!r} must have shape (S, K) = {shape}; given {given.shape}")
    return list(given)


def _score_seeds(y_kept, mask, seed_probas, defined, micro_valid0: bool) -> dict[str, SeedScores]:
    """Every seed of every network scored on the common test set (all weights 1, no resampling).

    ``seed_probas``: model -> ((S, n_kept, K) probabilities, S thresholds); ``defined``: (K,) the
    instruments with a value on the common test set.
    """
    ones = np.ones((1, mask.shape[0]), dtype=np.float32)
    out = {}
    for m, (stack, thr) in seed_probas.items():
        per: dict[str, list] = {}
        macro: dict[str, list] = {}
        micro: dict[str, list] = {}
        for s in range(stack.shape[0]):
            scores, micro_scores = _all_scores(y_kept, mask, {m: stack[s]}, ones, {m: thr[s]})
            for name, value in scores[m].items():
                value = np.where(defined, value[0], np.nan)
                per.setdefault(name, []).append(value)
                macro.setdefault(name, []).append(value[defined].mean() if defined.any() else np.nan)
            for name, value in micro_scores[m].items():
                micro.setdefault(name, []).append(value[0] if micro_valid0 else np.nan)
        out[m] = SeedScores(
            per_instrument={k: np.stack(v) for k, v in per.items()},
            macro={k: np.asarray(v, dtype=np.float64) for k, v in macro.items()},
            micro={k: np.asarray(v, dtype=np.float64) for k, v in micro.items()},
        )
    return out


def evaluate(
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    probas: dict[str, np.ndarray],
    *,
    classes: tuple[str, ...],
    thresholds: dict[str, np.ndarray | None] | None = None,
    artist_id: np.ndarray | None = None,
    seed_probas: dict[str, np.ndarray] | None = None,
    seed_thresholds: dict[str, np.ndarray] | None = None,
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
    artist_id : np.ndarray [shape=(n,)], int, optional
        Artist of each test clip (negative: unknown, a group of its own). Given, the resamples draw
        artists (cluster bootstrap); None, they draw clips.
    seed_probas : dict model -> np.ndarray [shape=(S, n, K)], S >= 2, optional
        A network's probabilities from S training seeds (seed 0 is ``probas[model]``). Each seed is
        scored on the common test set (:attr:`Evaluation.seeds`); their NaNs shape that set too.
    seed_thresholds : dict model -> np.ndarray [shape=(S, K)], optional
        Each seed's validation thresholds; without them every seed uses ``thresholds[model]``.
    n_boot : int >= 1
    seed : int

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> ev = evaluate(Y_true, Y_mask, {"lr": p}, classes=CLASSES, artist_id=artists, n_boot=1000)  # doctest: +SKIP
    >>> ev.macro["lr"]["roc_auc"][0]  # macro AUC on the test set  # doctest: +SKIP
    """
    Y_mask = np.asarray(Y_mask, dtype=bool)
    y_all = is_positive(Y_true)
    probas = {m: np.asarray(p, dtype=np.float64) for m, p in probas.items()}
    thresholds = {m: (thresholds or {}).get(m) for m in probas}
    seed_probas = {m: np.asarray(p, dtype=np.float64) for m, p in (seed_probas or {}).items()}
    _check_inputs(y_all, Y_mask, probas, classes, thresholds, seed_probas)
    groups_all = resampling_groups(artist_id, Y_mask.shape[0])  # checks the shape before any work
    every_proba = dict(probas)
    for m, stack in seed_probas.items():
        every_proba.update({f"{m} (seed {s + 1} of {len(stack)})": p for s, p in enumerate(stack[1:], 1)})
    pairs, excluded = common_test_set(Y_mask, every_proba)
    kept = np.ones(Y_mask.shape[0], dtype=bool)
    kept[list(excluded)] = False
    if not kept.any():
        raise ParameterError(
            f"no test clip has a prediction from every model (models without any prediction: "
            f"{sorted({m for ms in excluded.values() for m in ms})}); leave those models out"
        )
    mask, y_kept = pairs[kept], y_all[kept]
    groups = resampling_groups(None if artist_id is None else groups_all[kept], int(kept.sum()))
    W = resample_weights(groups, n_boot=n_boot, seed=seed)

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
        seeds = _score_seeds(
            y_kept, mask,
            {m: (stack[:, kept], _seed_thresholds(thresholds, seed_thresholds, m, (len(stack), len(classes))))
             for m, stack in seed_probas.items()},
            defined, bool(micro_valid[0]),
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
    artists_kept = None if artist_id is None else np.asarray(artist_id)[kept]
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
        resampling_unit="clip" if artist_id is None else "artist",
        n_groups=int(groups.max()) + 1,
        n_without_artist=0 if artists_kept is None else int((artists_kept < 0).sum()),
        seeds=seeds,
    )
