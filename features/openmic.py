"""OpenMIC-2018 in, validated arrays out.

`load(root)` reads a release folder (or a generated demo set in the same layout) into an `OpenMIC`
record: VGGish features `X`, partial labels `Y_true`/`Y_mask`, the official artist-conditional
split, artist ids and audio paths. Everything is checked on the way in; a bad file raises
`DatasetError` naming the file and the fix. Nothing is ever written into the dataset folder.

Label rule (the official baseline's, `core.targets`): for class k, only clips with ``Y_mask[:, k]``
have a target, and that target is ``Y_true[:, k] >= 0.5``. ``Y_mask`` is never a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ParameterError
from core.targets import is_positive, observed_targets
from features.openmic_files import (  # noqa: F401  (the dataset's names, read from here)
    CLASS_MAP_NAME,
    CLASSES,
    DATASET_DIRNAME,
    DEMO_NAME,
    METADATA_NAME,
    N_EMBEDDING,
    N_FRAMES,
    NPZ_NAME,
    PARTITION_NAMES,
    UNOBSERVED_VALUE,
    read_artist_ids,
    read_class_map,
    read_demo,
    read_npz,
    read_partitions,
    resolve_root,
)

MAX_REFINE_SWEEPS = 10  # of the validation split's group selection; it converges in a few
# Errata: FMA tracks whose source audio was corrupted upstream.
KNOWN_CORRUPT_TRACK_IDS: frozenset[str] = frozenset({
    "071826", "071827", "087435", "095253", "095259",
    "095263", "102144", "113025", "113604", "138485",
})  # fmt: skip


@dataclass(frozen=True, eq=False)
class OpenMIC:
    """The OpenMIC-2018 arrays, split and metadata, as returned by `load`.

    Attributes
    ----------
    root : Path
        The dataset folder.
    sample_key : np.ndarray [shape=(n,), dtype=str]
        Clip keys ``{track:06d}_{start_ms}``, sorted; row i of every array belongs to key i.
    X : np.ndarray [shape=(n, 10, 128), integer]
        Quantised VGGish embeddings as stored (int64 in the release), values 0..255.
    Y_true : np.ndarray [shape=(n, 20), float64]
        Aggregated relevance in [0, 1]; exactly 0.5 where unobserved.
    Y_mask : np.ndarray [shape=(n, 20), bool]
        True where the (clip, class) pair was annotated. Never a target.
    classes : tuple of str
        Class names in class-map order (equal to `CLASSES`).
    train_idx, test_idx : np.ndarray [shape=(n_train,), (n_test,), int64]
        Sorted row indices of the official split01 partitions.
    artist_id : np.ndarray [shape=(n,), int64]
        FMA artist id from the metadata file, -1 where it has none.
    audio_path : np.ndarray [shape=(n,), object]
        `Path` of ``audio/NNN/<key>.ogg`` for each clip (the file may be missing).
    demo : dict or None
        Contents of ``demo.json`` when the folder is a generated demo set.

    All arrays are read-only; copy them before modifying.
    """

    root: Path
    sample_key: np.ndarray
    X: np.ndarray
    Y_true: np.ndarray
    Y_mask: np.ndarray
    classes: tuple[str, ...]
    train_idx: np.ndarray
    test_idx: np.ndarray
    artist_id: np.ndarray
    audio_path: np.ndarray
    demo: dict | None = None

    def class_index(self, k: int | str) -> int:
        """Column of class `k`, given as an index (0..19) or a name (``"trumpet"``)."""
        if isinstance(k, str):
            if k not in self.classes:
                raise ParameterError(f"unknown class given k={k!r}; expected one of {self.classes}")
            return self.classes.index(k)
        if isinstance(k, (int, np.integer)) and 0 <= k < len(self.classes):
            return int(k)
        raise ParameterError(
            f"class index out of range: given k={k!r}, expected 0..{len(self.classes) - 1}"
        )

    def targets(
        self, k: int | str, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Observed rows of class `k` and their binary targets (`core.targets.observed_targets`).

        Parameters
        ----------
        k : int or str
            Class index or name.
        rows : np.ndarray [shape=(m,), int] or None
            Row indices to draw from (e.g. ``train_idx``); all rows when None.

        Returns
        -------
        idx : np.ndarray [shape=(n_observed,), int64]
            The rows of `rows` (indices into the arrays) where ``Y_mask[:, k]`` is True.
        y : np.ndarray [shape=(n_observed,), bool]
            ``Y_true[idx, k] >= 0.5``.

        Examples
        --------
        >>> idx, y = ds.targets("trumpet", ds.train_idx)
        >>> X_fit, y_fit = ds.X[idx].mean(axis=1), y
        """
        col = self.class_index(k)
        rows = _check_rows(rows, len(self.sample_key))
        observed, y = observed_targets(self.Y_true[rows], self.Y_mask[rows], col)
        return rows[observed], y

    def validation_split(
        self, *, fraction: float = 0.15, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Carve a validation set out of ``train_idx``, grouped by artist.

        No artist has clips on both sides; clips without an artist (-1) are groups of their own.
        Artist groups are visited in a seeded random order and each joins the validation side when
        that brings the side's counts closer to `fraction` of the train split's counts: clips, and
        per class the observed positives and observed negatives (a chi-square-like distance).
        This stratifies all 20 classes jointly as far as the groups allow.

        Parameters
        ----------
        fraction : float
            Target share of ``train_idx`` in the validation set, in (0, 1).
        seed : int
            Seed of the group order; the split is deterministic for a seed.

        Returns
        -------
        fit_idx, val_idx : np.ndarray [shape=(n_fit,), (n_val,), int64]
            Sorted, disjoint row indices whose union is ``train_idx``.
        """
        if not 0.0 < fraction < 1.0:
            raise ParameterError(f"fraction must lie in (0, 1): given fraction={fraction!r}")
        rows = self.train_idx
        if len(rows) < 2:
            raise ParameterError(f"cannot carve a validation set from {len(rows)} train clips")
        observed = self.Y_mask[rows]
        positive = observed & is_positive(self.Y_true[rows])
        stats = np.column_stack([np.ones(len(rows)), positive, observed & ~positive])
        groups = np.where(
            self.artist_id[rows] >= 0, self.artist_id[rows], -2 - np.arange(len(rows))
        )
        in_val = _greedy_group_selection(groups, stats, fraction, seed)
        if not in_val.any() or in_val.all():
            raise ParameterError(
                f"cannot carve fraction={fraction} of {len(rows)} train clips in "
                f"{len(np.unique(groups))} artist groups into two non-empty sides"
            )
        return rows[~in_val], rows[in_val]


def _check_rows(rows: np.ndarray | None, n: int) -> np.ndarray:
    """`rows` as int64 row indices into arrays of length `n` (all rows when None)."""
    if rows is None:
        return np.arange(n, dtype=np.int64)
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
        raise ParameterError(
            f"rows must be a 1-d integer array: given rows.shape={rows.shape}, dtype={rows.dtype}"
        )
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ParameterError(
            f"rows out of range 0..{n - 1}: given min={rows.min()}, max={rows.max()}"
        )
    return rows.astype(np.int64, copy=False)


def _greedy_group_selection(
    groups: np.ndarray, stats: np.ndarray, fraction: float, seed: int
) -> np.ndarray:
    """Mask of rows whose group was picked so that picked stats approach ``fraction * total``.

    Greedy in a seeded random group order, then refinement sweeps that toggle one group at a time
    while that lowers ``sum(weight * (target - picked)**2)``, ``weight = 1 / target`` (a
    chi-square-like distance), until a sweep changes nothing (at most `MAX_REFINE_SWEEPS`).
    """
    _, inverse = np.unique(groups, return_inverse=True)
    group_stats = np.zeros((inverse.max() + 1, stats.shape[1]))
    np.add.at(group_stats, inverse, stats)
    target = fraction * stats.sum(axis=0)
    weight = 1.0 / np.maximum(target, 1.0)
    current = np.zeros_like(target)
    picked = np.zeros(len(group_stats), dtype=bool)
    order = np.random.default_rng(seed).permutation(len(group_stats))
    for _ in range(MAX_REFINE_SWEEPS):
        changed = False
        for g in order:
            s = group_stats[g] if not picked[g] else -group_stats[g]
            # Change of the cost when s is added to (or, negated, removed from) the picked side.
            if np.dot(weight, s * s - 2.0 * s * (target - current)) < 0.0:
                current += s
                picked[g] = not picked[g]
                changed = True
        if not changed:
            break
    return picked[inverse]


def load(root: str | Path) -> OpenMIC:
    """Read and validate an OpenMIC-2018 folder.

    Parameters
    ----------
    root : str or Path
        The ``openmic-2018`` folder, or a folder that contains it.

    Returns
    -------
    OpenMIC

    Raises
    ------
    DatasetError
        A file is missing, unreadable or inconsistent; the message names it and the fix.

    Examples
    --------
    >>> ds = load("openmic-2018")
    >>> ds.X.shape, len(ds.train_idx), len(ds.test_idx)
    ((20000, 10, 128), 14915, 5085)
    """
    root = resolve_root(Path(root))
    classes = read_class_map(root / CLASS_MAP_NAME)
    keys, X, Y_true, Y_mask = read_npz(root / NPZ_NAME, len(classes))
    train_idx, test_idx = read_partitions(root / "partitions", keys)
    arrays = dict(
        sample_key=keys,
        X=X,
        Y_true=Y_true,
        Y_mask=Y_mask,
        train_idx=train_idx,
        test_idx=test_idx,
        artist_id=read_artist_ids(root / METADATA_NAME, keys),
        audio_path=np.array(
            [root / "audio" / key[:3] / f"{key}.ogg" for key in keys.tolist()], dtype=object
        ),
    )
    for a in arrays.values():
        a.setflags(write=False)
    return OpenMIC(root=root, classes=classes, demo=read_demo(root / DEMO_NAME), **arrays)


def known_corrupt(sample_key: Sequence[str] | np.ndarray) -> np.ndarray:
    """Mask of keys whose FMA track is in the release's errata (`KNOWN_CORRUPT_TRACK_IDS`).

    Returns
    -------
    np.ndarray [shape=(n,), bool]
    """
    return np.array([str(key)[:6] in KNOWN_CORRUPT_TRACK_IDS for key in sample_key], dtype=bool)


def label_statistics(ds: OpenMIC, splits: dict[str, np.ndarray]) -> pd.DataFrame:
    """Observed and positive label counts per split and class.

    Parameters
    ----------
    ds : OpenMIC
    splits : dict
        Split name -> row indices, e.g. ``{"train": fit_idx, "validation": val_idx, "test": ds.test_idx}``.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per (split, class) in class-map order: columns ``split, instrument,
        observed, positive`` (counts under `core.targets.TARGET_RULE`).
    """
    frames = []
    for name, rows in splits.items():
        rows = _check_rows(rows, len(ds.sample_key))
        observed = ds.Y_mask[rows]
        positive = observed & is_positive(ds.Y_true[rows])
        frames.append(pd.DataFrame({
            "split": name,
            "instrument": list(ds.classes),
            "observed": observed.sum(axis=0).astype(np.int64),
            "positive": positive.sum(axis=0).astype(np.int64),
        }))  # fmt: skip
    columns = ["split", "instrument", "observed", "positive"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
