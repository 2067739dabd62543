"""Cross-validation folds grouped by artist: one seeded assignment per instrument.

Each instrument gets its own folds over its observed training rows, from scikit-learn's
`StratifiedGroupKFold`: no artist has clips in two folds of an instrument, and the instrument's
positives spread over the folds as evenly as the artists allow. Per-instrument folds, rather than
one assignment shared by all 20 instruments, keep a rare instrument's few positives in every fold;
a shared assignment can only balance the 20 instruments jointly and leaves rare ones with
positive-free folds. Clips without an artist (-1) are groups of their own.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from core.errors import ParameterError
from core.targets import is_positive

#: Fold id of a pair that takes no part in cross-validation (unobserved, or no folds possible).
NO_FOLD = -1


def artist_groups(groups: np.ndarray, n_clips: int) -> np.ndarray:
    """Group ids for cross-validation: the artist id, a group of its own where it is -1.

    Parameters
    ----------
    groups : np.ndarray [shape=(n_clips,)] int
        Artist id per clip (`features.openmic.OpenMIC.artist_id`), -1 where unknown.
    n_clips : int

    Returns
    -------
    np.ndarray [shape=(n_clips,), int64]
        Non-negative artist ids unchanged, each -1 replaced by a distinct id below -1.
    """
    groups = np.asarray(groups)
    if groups.shape != (n_clips,) or (groups.size and groups.dtype.kind not in "iu"):
        raise ParameterError(
            f"groups must hold one integer artist id per clip (-1 = unknown), shape ({n_clips},); "
            f"given groups.shape={groups.shape}, dtype={groups.dtype}: pass ds.artist_id[rows]"
        )
    groups = groups.astype(np.int64)
    unknown = groups < 0
    groups[unknown] = -2 - np.arange(int(unknown.sum()))
    return groups


def instrument_folds(
    groups: np.ndarray, y: np.ndarray, *, n_folds: int, seed: int
) -> tuple[np.ndarray, list[str]]:
    """Fold of each observed row of one instrument, grouped by artist, stratified by `y`.

    Parameters
    ----------
    groups : np.ndarray [shape=(m,)] int
        Group of each row (see `artist_groups`).
    y : np.ndarray [shape=(m,)] bool or 0/1
        The instrument's targets on its observed rows.
    n_folds : int >= 2
    seed : int
        Seed of the group order; the folds are deterministic for a seed.

    Returns
    -------
    folds : np.ndarray [shape=(m,), dtype=int8]
        0 .. n - 1, where n is `n_folds` or fewer when there are fewer groups (or fewer rows of
        the larger class) than folds; all `NO_FOLD` when fewer than two folds are possible.
    notes : list of str
        Why the folds differ from `n_folds` stratified folds, in words (empty when they do not).
    """
    y = np.asarray(y, dtype=np.int8)
    n_groups = np.unique(groups).size
    n_splits = min(n_folds, n_groups, int(np.bincount(y, minlength=2).max(initial=0)))
    folds = np.full(y.size, NO_FOLD, dtype=np.int8)
    if n_splits < 2:
        return folds, [f"{y.size} observed rows in {n_groups} artist groups: no cross-validation"]
    notes = []
    if n_splits < n_folds:
        notes.append(
            f"{n_splits} folds instead of {n_folds}: {n_groups} artist groups, {y.size} rows"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # "The least populated class has only m members": the per-fold notes say what it costs.
        warnings.simplefilter("ignore", UserWarning)
        for fold, (_, held) in enumerate(splitter.split(np.zeros(y.size), y, groups)):
            folds[held] = fold
    return folds, notes


def assign_folds(
    groups: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray, *, n_folds: int, seed: int
) -> tuple[np.ndarray, list[list[str]]]:
    """Per-instrument artist-grouped folds of every observed (clip, instrument) pair.

    Parameters
    ----------
    groups : np.ndarray [shape=(n,)] int
        Artist id per clip, -1 where unknown.
    Y_true : np.ndarray [shape=(n, n_classes)]
        Relevances; targets ``Y_true >= 0.5`` where observed.
    Y_mask : np.ndarray [shape=(n, n_classes)] bool
    n_folds : int >= 2
    seed : int

    Returns
    -------
    folds : np.ndarray [shape=(n, n_classes), dtype=int8]
        Fold of each observed pair; `NO_FOLD` where unobserved (or where no folds are possible).
    notes : list of list of str
        Per class, as `instrument_folds` gives them.

    Examples
    --------
    >>> folds, _ = assign_folds(ds.artist_id[ds.train_idx], ds.Y_true[ds.train_idx],
    ...                         ds.Y_mask[ds.train_idx], n_folds=5, seed=0)
    """
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ParameterError(f"n_folds must be an integer >= 2; given n_folds={n_folds!r}")
    group_ids = artist_groups(groups, len(Y_true))
    Y = is_positive(Y_true)
    folds = np.full(Y_true.shape, NO_FOLD, dtype=np.int8)
    notes = []
    for k in range(Y_true.shape[1]):
        rows = np.flatnonzero(Y_mask[:, k])
        folds[rows, k], class_notes = instrument_folds(
            group_ids[rows], Y[rows, k], n_folds=int(n_folds), seed=seed
        )
        notes.append(class_notes)
    return folds, notes
