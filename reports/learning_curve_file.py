"""``learning_curve.npz``: the best classical model refitted on shares of the training artists.

Written by the pipeline during a run (:mod:`pipeline.learning_curve`), read by the report's
diagnosis ("too little data"). The report cannot refit (it reads run files only), so a run folder
without this file has no learning curve, and the page says so.

Arrays: ``model`` (str, the model id), ``fractions`` (F,) shares of the training artists,
``n_artists`` and ``n_clips`` (F,) what each refit was trained on, ``sample_key`` (n,) and
``classes`` (K,) as in ``predictions.npz``, ``proba`` (F, n, K) float32 test probabilities of each
refit (NaN where it could not score a clip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_write
from core.errors import DatasetError, ParameterError

LEARNING_CURVE_NPZ = "learning_curve.npz"
_KEYS = ("model", "fractions", "n_artists", "n_clips", "sample_key", "classes", "proba")


@dataclass(frozen=True)
class LearningCurve:
    """Test probabilities of one model refitted on growing shares of the training artists."""

    model: str
    fractions: np.ndarray  # (F,) float
    n_artists: np.ndarray  # (F,) int
    n_clips: np.ndarray  # (F,) int
    sample_key: np.ndarray  # (n,) str
    classes: tuple[str, ...]
    proba: np.ndarray  # (F, n, K) float64


def write_learning_curve(path: str | Path, curve: LearningCurve) -> Path:
    """Write ``curve`` to ``path`` atomically (normally ``RUN_DIR/learning_curve.npz``)."""
    F, n, K = np.shape(curve.proba)
    if (len(curve.fractions), len(curve.n_artists), len(curve.n_clips)) != (F, F, F) or \
            (len(curve.sample_key), len(curve.classes)) != (n, K):
        raise ParameterError(
            f"learning curve arrays disagree: proba.shape={np.shape(curve.proba)}, "
            f"{len(curve.fractions)} fractions, {len(curve.sample_key)} keys, {len(curve.classes)} classes"
        )
    arrays = {
        "model": np.asarray(curve.model), "fractions": np.asarray(curve.fractions, dtype=np.float64),
        "n_artists": np.asarray(curve.n_artists, dtype=np.int64),
        "n_clips": np.asarray(curve.n_clips, dtype=np.int64),
        "sample_key": np.asarray(curve.sample_key).astype(str),
        "classes": np.asarray(curve.classes).astype(str),
        "proba": np.asarray(curve.proba, dtype=np.float32),
    }

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return atomic_write(path, save)


def read_learning_curve(run_dir: str | Path) -> LearningCurve | None:
    """``RUN_DIR/learning_curve.npz``, or None when the run folder has none."""
    path = Path(run_dir) / LEARNING_CURVE_NPZ
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        missing = set(_KEYS) - set(z.files)
        if missing:
            raise DatasetError(f"{path} lacks {sorted(missing)}: rerun compare.py, or delete the file "
                               "to build the report without a learning curve")
        curve = LearningCurve(
            model=str(z["model"]), fractions=z["fractions"].astype(np.float64),
            n_artists=z["n_artists"].astype(np.int64), n_clips=z["n_clips"].astype(np.int64),
            sample_key=z["sample_key"].astype(str), classes=tuple(str(c) for c in z["classes"]),
            proba=z["proba"].astype(np.float64),
        )
    F = len(curve.fractions)
    if curve.proba.shape != (F, len(curve.sample_key), len(curve.classes)):
        raise DatasetError(f"{path}: proba has shape {curve.proba.shape}, expected "
                           f"({F}, {len(curve.sample_key)}, {len(curve.classes)}); rerun compare.py, "
                           "or delete the file to build the report without a learning curve")
    return curve
