"""Bootstrap resampling by cluster: the draws, the weights they give each clip, the intervals.

The test clips are grouped (`resampling_groups`: by artist, a clip without one a group of its
own); a resample draws ``G`` of the ``G`` groups with replacement (seeded), and a clip's weight
is how often its group was drawn (`resample_weights`). Without groups every clip is its own, the
plain clip bootstrap. `percentile_interval` turns replicates into intervals. Used by
:mod:`reports.bootstrap` (metrics and comparisons) and :mod:`reports.diagnosis_stats`.
"""

from __future__ import annotations

import warnings

import numpy as np

from core.errors import ParameterError
from reports import params


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


def resampling_groups(artist_id: np.ndarray | None, n: int) -> np.ndarray:
    """The group of each clip, numbered 0..G-1 in order of first appearance.

    Parameters
    ----------
    artist_id : np.ndarray [shape=(n,)], int, or None
        Artist of each clip; a negative id (-1: unknown) makes that clip a group of its own.
        None: every clip is its own group (the clip bootstrap).
    n : int -- number of clips

    Returns
    -------
    np.ndarray [shape=(n,)], int64 -- ``groups.max() + 1`` is the number of groups

    Examples
    --------
    >>> resampling_groups(np.array([7, 3, 7, -1, -1]), 5)
    array([0, 1, 0, 2, 3])
    """
    if artist_id is None:
        return np.arange(n, dtype=np.int64)
    artist_id = np.asarray(artist_id)
    if artist_id.shape != (n,):
        raise ParameterError(f"artist_id must have shape ({n},), one per test clip; given {artist_id.shape}")
    labels = np.where(artist_id >= 0, artist_id, -1 - np.arange(n))  # unknown: a group of its own
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="mergesort")] = np.arange(first.size)
    return rank[inverse.ravel()]


def resample_weights(groups: np.ndarray, *, n_boot: int, seed: int) -> np.ndarray:
    """Row of ones (the test set) stacked over ``n_boot`` rows of cluster-bootstrap weights.

    Each resample draws ``G`` of the ``G`` groups with replacement; a clip's weight is how often its
    group was drawn.

    Parameters
    ----------
    groups : np.ndarray [shape=(n,)], int -- group of each clip, 0..G-1 (:func:`resampling_groups`)
    n_boot : int >= 1
    seed : int

    Returns
    -------
    np.ndarray [shape=(n_boot + 1, n)], float32
    """
    groups = np.asarray(groups, dtype=np.int64)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    counts = counts_from_indices(resample_indices(n_groups, n_boot=n_boot, seed=seed), n_groups)
    return np.vstack([np.ones((1, groups.size), dtype=np.float32), counts[:, groups]])


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
