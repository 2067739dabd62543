"""Reading the run folder's inputs and writing its outputs atomically.

The layout is fixed by docs/architecture.md ("The run folder"): ``predictions.npz`` and
``run.json`` are the inputs every report needs; ``label_stats.csv`` and
``models/cnn/history.csv`` are optional. ``predictions.npz`` may lack ``artist_id`` (written before
the report resampled artists: its clips are then resampled one by one) and holds
``seedproba_<model>`` only for networks trained with several seeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.atomic import atomic_write, atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)
from core.errors import DatasetError, ParameterError
from reports import params


@dataclass(frozen=True)
class Predictions:
    """The test split's targets and every model's probabilities.

    Attributes
    ----------
    sample_key : np.ndarray [shape=(n,)], str
    classes : tuple of str [length=K]
    Y_true : np.ndarray [shape=(n, K)], float64
    Y_mask : np.ndarray [shape=(n, K)], bool
    probas : dict of str -> np.ndarray [shape=(n, K)], float
        One entry per model, in the order they were written.
    artist_id : np.ndarray [shape=(n,)], int64, or None
        Artist of each test clip (-1: unknown); None in a file written without it.
    seed_probas : dict of str -> np.ndarray [shape=(S, n, K)], float
        The networks trained with S >= 2 seeds: every seed's probabilities, seed 0 first (equal to
        ``probas[model]``); empty when none was.
    """

    sample_key: np.ndarray
    classes: tuple[str, ...]
    Y_true: np.ndarray
    Y_mask: np.ndarray
    probas: dict[str, np.ndarray]
    artist_id: np.ndarray | None = None
    seed_probas: dict[str, np.ndarray] = field(default_factory=dict)


def to_json(obj: object) -> str:
    """JSON text with NaN/inf written as ``null`` (strict JSON) and numpy values unwrapped."""
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False)


def _jsonable(obj: object) -> object:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _check_predictions(sample_key, classes, Y_true, Y_mask, probas, artist_id=None, seed_probas=None) -> None:
    n_k = (len(sample_key), len(classes))
    if Y_true.shape != n_k or Y_mask.shape != n_k:
        raise ParameterError(
            f"Y_true and Y_mask must have shape (len(sample_key), len(classes)) = {n_k}; "
            f"given Y_true.shape={Y_true.shape}, Y_mask.shape={Y_mask.shape}"
        )
    if not probas:
        raise ParameterError("probas must hold at least one model; given an empty mapping")
    for name, p in probas.items():
        if not isinstance(name, str) or not name:
            raise ParameterError(f"model names must be non-empty strings; given {name!r}")
        if np.shape(p) != n_k:
            raise ParameterError(f"proba of model {name!r} must have shape {n_k}; given {np.shape(p)}")
    if artist_id is not None and (artist_id.shape != n_k[:1] or not np.issubdtype(artist_id.dtype, np.integer)):
        raise ParameterError(
            f"artist_id must be integers of shape ({n_k[0]},), one per test clip (-1: unknown); "
            f"given dtype {artist_id.dtype}, shape {artist_id.shape}"
        )
    for name, stack in (seed_probas or {}).items():
        if name not in probas:
            raise ParameterError(f"seed_probas names model {name!r}, which has no proba; models: {list(probas)}")
        if stack.ndim != 3 or stack.shape[0] < 2 or stack.shape[1:] != n_k:
            raise ParameterError(
                f"seed_probas of model {name!r} must have shape (S, {n_k[0]}, {n_k[1]}) with S >= 2 "
                f"seeds; given {stack.shape}"
            )
        if not np.array_equal(np.asarray(stack[0], np.float32), np.asarray(probas[name], np.float32),
                              equal_nan=True):
            raise ParameterError(
                f"seed_probas[{name!r}][0] must be the first seed's probabilities, equal to "
                f"probas[{name!r}] (the model saved in models/); given different values"
            )


def write_predictions(
    path: str | Path,
    sample_key: np.ndarray,
    classes: tuple[str, ...] | list[str] | np.ndarray,
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    probas: Mapping[str, np.ndarray],
    *,
    artist_id: np.ndarray | None = None,
    seed_probas: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write the test split's targets and predictions to ``predictions.npz`` atomically.

    Parameters
    ----------
    path : str or Path
        Destination file (normally ``RUN_DIR/predictions.npz``).
    sample_key : np.ndarray [shape=(n,)], str
    classes : sequence of str [length=K], class-map order
    Y_true : np.ndarray [shape=(n, K)], float
    Y_mask : np.ndarray [shape=(n, K)], bool
    probas : mapping of model name -> np.ndarray [shape=(n, K)]
        Stored as ``proba_<model>`` (float32), in the mapping's order. For a network trained with
        several seeds, the first seed's model (the one saved in ``models/``).
    artist_id : np.ndarray [shape=(n,)], int, optional
        Artist of each test clip (-1: unknown), stored as ``artist_id`` (int64); the report's
        bootstrap resamples artists. Without it the report resamples clips and says so.
    seed_probas : mapping of model name -> np.ndarray [shape=(S, n, K)], S >= 2, optional
        A network's test probabilities from S training seeds, the first equal to ``probas[model]``;
        stored as ``seedproba_<model>`` (float32).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> write_predictions(run_dir / "predictions.npz", keys, CLASSES, Y_true, Y_mask,
    ...                   {"lr": p_lr, "cnn": p_cnn}, artist_id=artists)  # doctest: +SKIP
    """
    sample_key = np.asarray(sample_key).astype(str)
    classes = np.asarray(classes).astype(str)
    Y_true = np.asarray(Y_true, dtype=np.float64)
    Y_mask = np.asarray(Y_mask, dtype=bool)
    artist_id = None if artist_id is None else np.asarray(artist_id)
    seed_probas = {m: np.asarray(p, dtype=np.float32) for m, p in (seed_probas or {}).items()}
    _check_predictions(sample_key, classes, Y_true, Y_mask, probas, artist_id, seed_probas)
    arrays = {"sample_key": sample_key, "classes": classes, "Y_true": Y_true, "Y_mask": Y_mask}
    if artist_id is not None:
        arrays["artist_id"] = artist_id.astype(np.int64)
    arrays.update({params.PROBA_PREFIX + m: np.asarray(p, dtype=np.float32) for m, p in probas.items()})
    arrays.update({params.SEED_PROBA_PREFIX + m: p for m, p in seed_probas.items()})

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object keeps numpy from appending ".npz"
            np.savez_compressed(f, **arrays)

    return atomic_write(path, save)


def _prefixed(z, prefix: str) -> dict[str, np.ndarray]:
    return {f[len(prefix):]: z[f].astype(np.float64) for f in z.files if f.startswith(prefix)}


def read_predictions(path: str | Path) -> Predictions:
    """Read a ``predictions.npz`` written by :func:`write_predictions` (with or without ``artist_id``)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} not found: run compare.py first, or give the run folder it wrote")
    with np.load(path, allow_pickle=False) as z:
        missing = {"sample_key", "classes", "Y_true", "Y_mask"} - set(z.files)
        if missing:
            raise DatasetError(f"{path} lacks {sorted(missing)}: rewrite it with write_predictions")
        pred = Predictions(
            sample_key=z["sample_key"].astype(str),
            classes=tuple(str(c) for c in z["classes"]),
            Y_true=z["Y_true"].astype(np.float64),
            Y_mask=z["Y_mask"].astype(bool),
            probas=_prefixed(z, params.PROBA_PREFIX),
            artist_id=z["artist_id"] if "artist_id" in z.files else None,
            seed_probas=_prefixed(z, params.SEED_PROBA_PREFIX),
        )
    try:
        _check_predictions(pred.sample_key, pred.classes, pred.Y_true, pred.Y_mask, pred.probas,
                           pred.artist_id, pred.seed_probas)
    except ParameterError as err:
        raise DatasetError(f"{path} is inconsistent: {err}; rewrite it with write_predictions") from err
    return pred


def read_run_json(run_dir: str | Path) -> dict:
    """The run's metadata (``run.json``); an empty dict when the file is absent."""
    path = Path(run_dir) / params.RUN_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path} is not valid JSON ({err}); fix or delete it") from err


def read_optional_csv(run_dir: str | Path, name: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """``RUN_DIR/name`` as a DataFrame, or None when absent; checks the required columns."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    df = pd.read_csv(path)
    missing = set(columns) - set(df.columns)
    if missing:
        raise DatasetError(f"{path} lacks the columns {sorted(missing)}; expected {list(columns)}")
    return df
