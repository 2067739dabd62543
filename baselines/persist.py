"""Saving and loading fitted baselines: one joblib file holding the model and its metadata.

The metadata says what the model expects (per-clip feature shape, embedding, class names) so that a
model is never applied to features it was not trained on. joblib files are pickles: load only files
you trust.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import joblib
import numpy as np

from baselines import defaults as D
from core.atomic import atomic_write
from core.errors import DatasetError, ParameterError
from core.versions import library_versions

EXPECTABLE = ("shape", "embedding", "classes", "pooling", "kind")
# The libraries a pickled model depends on; their versions are saved with it.
PICKLE_LIBRARIES = ("numpy", "scikit-learn", "xgboost", "joblib")


def model_metadata(model) -> dict:
    """Plain-JSON description of a fitted `PerInstrumentModel`, its CV evidence included.

    ``cv`` holds the per-class, per-fold held-out scores of the chosen configurations
    (``roc_auc``, ``ap``: n_classes lists of n_folds values, None where not computable), the
    fallbacks and notes; the fold assignment itself (`folds_`) travels with the pickled model.
    """
    return {
        "format": D.FILE_FORMAT,
        "format_version": D.FILE_FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": model.kind,
        "pooling": model.pooling_,
        "shape": list(model.feature_shape_),
        "x_dtype": model.x_dtype_,
        "x_range": list(model.x_range_),
        "embedding": model.embedding_,
        "classes": [str(c) for c in model.classes_],
        "thresholds": [float(t) for t in model.thresholds_],
        "params": model.params_,
        "cv": {
            "n_folds": model.n_folds,
            "criterion": D.CV_CRITERION,
            "pooling_scores": {p: _json_float(v) for p, v in model.pooling_scores_.items()},
            **{
                m: [[_json_float(v) for v in row] for row in model.cv_scores_[m]]
                for m in D.CV_METRICS
            },
            "fallback": [bool(f) for f in model.fallback_],
            "notes": [list(notes) for notes in model.notes_],
        },
        "seed": model.seed,
        "train_time_s": float(model.train_time_s_),
        "versions": library_versions(PICKLE_LIBRARIES),
    }


def _json_float(value: float) -> float | None:
    """A float for JSON: None where it is NaN (not computable)."""
    return None if np.isnan(value) else float(value)


def save_model(model, path: str | Path) -> None:
    """Dump ``{"metadata": ..., "model": model}`` to `path`, atomically (temp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"metadata": model_metadata(model), "model": model}
    atomic_write(path, lambda tmp: joblib.dump(payload, tmp))


def read_metadata(path: str | Path) -> dict:
    """The metadata of a saved model (loads the whole file)."""
    return _read_payload(Path(path))["metadata"]


def load_model(path: str | Path, *, cls: type, expect_features: dict | None = None):
    """Load a model saved by `save_model` and check it fits the features at hand.

    Parameters
    ----------
    path : str or Path
    cls : type
        The class the stored model must be an instance of.
    expect_features : dict or None
        Any of ``shape`` (per-clip shape, e.g. (10, 128)), ``embedding`` (str), ``classes``
        (sequence of names), ``pooling``, ``kind``; each must equal the saved value.

    Raises
    ------
    DatasetError
        The file is missing, not a saved baseline, or made for other features; the message names
        the file.
    """
    path = Path(path)
    expect = dict(expect_features or {})
    unknown = sorted(set(expect) - set(EXPECTABLE))
    if unknown:
        raise ParameterError(f"expect_features keys must be among {EXPECTABLE}; given {unknown}")
    payload = _read_payload(path)
    meta, model = payload["metadata"], payload["model"]
    if not isinstance(model, cls):
        raise DatasetError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
    for key, wanted in expect.items():
        saved = meta[key]
        if _normalise(saved) != _normalise(wanted):
            raise DatasetError(
                f"{path} was trained for features with {key}={saved!r}, but {key}={wanted!r} is "
                "expected: retrain the model on these features or load the model made for them"
            )
    _warn_version_drift(path, meta["versions"])
    return model


def _read_payload(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(
            f"{path} does not exist: save a fitted model there first (model.save(path))"
        )
    try:
        payload = joblib.load(path)
    except Exception as err:  # unpickling can fail in many ways; all mean the same to the user
        raise DatasetError(f"{path} could not be read as a saved baseline model: {err}") from err
    if not (
        isinstance(payload, dict) and payload.get("metadata", {}).get("format") == D.FILE_FORMAT
    ):
        raise DatasetError(f"{path} is not a model saved by baselines (format {D.FILE_FORMAT!r})")
    if payload["metadata"]["format_version"] > D.FILE_FORMAT_VERSION:
        raise DatasetError(
            f"{path} has format version {payload['metadata']['format_version']}, newer than this "
            f"toolkit reads ({D.FILE_FORMAT_VERSION}): upgrade the toolkit"
        )
    return payload


def _normalise(value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _warn_version_drift(path: Path, saved: dict) -> None:
    current = library_versions(PICKLE_LIBRARIES)
    drift = {
        k: (v, current.get(k)) for k, v in saved.items() if k != "python" and current.get(k) != v
    }
    if drift:
        warnings.warn(
            f"{path} was saved with other library versions (saved, now): {drift}; "
            "predictions may differ or loading may fail",
            UserWarning,
            stacklevel=3,
        )
