"""The trained models of a run folder, each with its input and its validation thresholds.

`load_run_models` reads ``run.json`` and loads ``models/<id>.joblib`` (lr, xgb, rf),
``models/cnn/`` and ``models/musicnn-ft/``. A run folder written by another version of the
toolkit (no recorded inputs, an unknown format, a model file missing or made for other features)
stops with a `RunFolderError` that says what to do, before any audio is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import registry
from core.errors import DatasetError
from features.extractors import EXTRACTORS
from pipeline.facts import RUN_FORMAT  # the run.json format this version writes and reads
from tagging.inputs import RELEASE_EXTRACTORS, RunFolderError, WindowInput, window_input

BATCH_WINDOWS = 8  # windows per forward pass of a network


@dataclass
class RunModel:
    """One trained model ready to score windows.

    Attributes
    ----------
    id : str
        Its id in the run (``"lr@release"``, ``"cnn"``, ...).
    label : str
        Its label in the run's report.
    input : WindowInput
    classes : tuple of str
        The instruments it scores, in column order.
    thresholds : np.ndarray [shape=(n_classes,)]
        The run's per-instrument thresholds (present when probability >= threshold).
    model : PerInstrumentModel or TrainedNetwork
    """

    id: str
    label: str
    input: WindowInput
    classes: tuple[str, ...]
    thresholds: np.ndarray
    model: Any

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n_windows, n_classes)`` float64 of stacked window features `X`.

        A network always gets batches of `BATCH_WINDOWS` rows (the last one padded by repeating
        its last row): a new batch size would make TensorFlow trace the network again.
        """
        n = len(X)
        if hasattr(self.model, "model") and n % BATCH_WINDOWS:
            X = np.concatenate([X, np.repeat(X[-1:], BATCH_WINDOWS - n % BATCH_WINDOWS, axis=0)])
            return np.asarray(self.model.predict_proba(X, batch_size=BATCH_WINDOWS)[:n],
                              dtype=np.float64)
        return np.asarray(self.model.predict_proba(X), dtype=np.float64)


def _stale(run_json: Path, what: str) -> RunFolderError:
    return RunFolderError(
        f"{run_json}: {what}. The run folder was written by another version of the toolkit: "
        f"rerun the comparison with this one (python compare.py --config "
        f"{run_json.parent / 'settings.toml'} --out NEW_DIR), then tag with --run NEW_DIR"
    )


def read_run(run_dir: str | Path) -> dict:
    """``run.json`` of `run_dir`, checked to be of the format this toolkit reads."""
    run_json = Path(run_dir) / "run.json"
    if not run_json.is_file():
        raise RunFolderError(
            f"{run_json} not found: --run must be a run folder written by python compare.py "
            "(it holds run.json, predictions.npz and models/)"
        )
    try:
        run = json.loads(run_json.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RunFolderError(f"{run_json} is not readable JSON ({err}): rerun the comparison") from err
    fmt = (run.get("toolkit") or {}).get("run_format")
    if fmt is None or fmt < RUN_FORMAT:
        raise _stale(run_json, "it does not record which extractor made each model's input "
                               f"(run format {fmt or 1}, tagging needs {RUN_FORMAT})")
    if fmt > RUN_FORMAT:
        raise RunFolderError(
            f"{run_json} has run format {fmt}, newer than this toolkit reads ({RUN_FORMAT}): "
            "upgrade the toolkit (git pull; pip install -e .)"
        )
    return run


def load_run_models(run_dir: str | Path, models: list[str] | None = None, *,
                    hop_s: float | None = None) -> list[RunModel]:
    """Load the models `models` (default: every model of the run) of a run folder.

    Raises
    ------
    RunFolderError
        Unknown model ids, a run of another toolkit version, a missing or incompatible model.
    """
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    run_json = run_dir / "run.json"
    recorded = run.get("models") or {}
    wanted = list(recorded) if models is None else models
    unknown = [m for m in wanted if m not in recorded]
    if unknown:
        raise RunFolderError(
            f"{run_json} has no model {', '.join(unknown)}; its models are {', '.join(recorded)}"
        )
    out = []
    for model_id in wanted:
        info = recorded[model_id]
        spec = window_input(info.get("input", None), model_id, str(run_json), hop_s=hop_s)
        model, classes = _load(run_dir, model_id, info)
        _check_shape(model, model_id, spec, run_json)
        thresholds = np.asarray(info.get("thresholds", model.thresholds_), dtype=np.float64)
        if thresholds.shape != (len(classes),):
            raise _stale(run_json, f"{model_id} has {thresholds.size} thresholds for "
                                   f"{len(classes)} instruments")
        out.append(RunModel(model_id, info.get("label", model_id), spec, classes, thresholds, model))
    return out


def _load(run_dir: Path, model_id: str, info: dict) -> tuple[Any, tuple[str, ...]]:
    """The model object and its class names; a `RunFolderError` naming the file otherwise."""
    classifier = info.get("classifier", model_id.split("@")[0])
    spec = registry.BY_ID.get(classifier)
    try:
        if spec is not None:
            model = spec.load(run_dir / "models" / spec.saved_as.format(model=model_id))
            classes = model.classes_ if spec.kind == "classical" else model.classes
            return model, tuple(str(c) for c in classes)
    except DatasetError as err:
        raise _stale(run_dir / "run.json", f"{model_id} cannot be loaded ({err})") from err
    raise _stale(run_dir / "run.json", f"{model_id} is a {classifier!r} model, which this "
                                       "version does not know")


def _check_shape(model: Any, model_id: str, spec: WindowInput, run_json: Path) -> None:
    """The rows the input computes must be the rows the model was trained on."""
    params = spec.params
    if spec.extractor in RELEASE_EXTRACTORS:
        shape = (params["n_rows"], 128)
    else:
        shape = EXTRACTORS[spec.extractor].shape(params)
    trained = getattr(model, "feature_shape_", None)
    if trained is None:  # a network: its Keras input, None where any length is read
        trained = tuple(model.model.input_shape[1:])
    if any(t is not None and t != s for t, s in zip(trained, shape, strict=False)) or \
            len(trained) != len(shape):
        raise _stale(run_json, f"{model_id} reads rows of shape {tuple(trained)}, but its recorded "
                               f"input {spec.extractor} gives {shape}")
