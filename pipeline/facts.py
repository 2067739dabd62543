"""What a run records about itself: the facts in ``run.json`` and ``label_stats.csv``.

Which data it ran on (and whether published OpenMIC-2018 numbers apply), each model's description,
times, size and thresholds, the stage timings and the library versions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import registry
from core.atomic import atomic_write
from core.versions import library_versions
from pipeline.data import OPENMIC_SIZES, dataset_source, embedding_name  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from pipeline.data import Data
    from pipeline.settings import Settings

MODEL_DESCRIPTIONS = {spec.id: spec.description for spec in registry.MODELS}
CLASSIFIER_LABELS = {spec.id: spec.label for spec in registry.MODELS}
# 2: run.json records the toolkit's version and each model's "input" (the extractor and its
# parameters that turn audio into what the model reads), which `compare.py tag` needs.
RUN_FORMAT = 2


def release_input(ds) -> dict[str, Any] | None:
    """How the dataset's ``X`` is computed from audio, as a model's ``"input"``; None if unknown.

    The demo set records its embedding (the stand-in, or VGGish where its weights were present);
    the OpenMIC-2018 release's ``X`` is VGGish. Any other dataset's ``X`` is of unknown origin.
    """
    from features.demo.embed import STAND_IN_NAME, STAND_IN_RESAMPLER, VGGISH_NAME

    n_rows = int(ds.X.shape[1])
    if ds.demo:
        embedding = ds.demo.get("embedding", {})
        name = embedding.get("name") if isinstance(embedding, dict) else embedding
        if name == STAND_IN_NAME:
            resampler = embedding.get("resampler", STAND_IN_RESAMPLER)
            return {"extractor": "stand_in", "params": {"resampler": resampler, "n_rows": n_rows}}
        if name == VGGISH_NAME:
            return {"extractor": "vggish", "params": {"n_rows": n_rows}}
        return None
    if dataset_source(ds) == "openmic":
        return {"extractor": "vggish", "params": {"n_rows": n_rows}}
    return None


def toolkit_info() -> dict[str, Any]:
    """``run.json``'s "toolkit": the installed version and the run folder's format."""
    from importlib import metadata

    try:
        version = metadata.version("openmic-compare")
    except metadata.PackageNotFoundError:
        version = "unknown (not installed with pip)"
    return {"name": "openmic-compare", "version": version, "run_format": RUN_FORMAT}


def dataset_info(data: Data, root: Path, skipped: dict[str, str]) -> dict[str, Any]:
    """``run.json``'s "dataset": source, description, embedding, split sizes, skipped clips."""
    ds = data.ds
    source = dataset_source(ds)
    if source == "demo":
        demo = ds.demo or {}
        font = demo.get("sound_font", {})
        font = font.get("name", font) if isinstance(font, dict) else font
        description = (
            f"{demo.get('n_clips', len(ds.sample_key))} clips rendered from the {font} sound font, "
            f"seed {demo.get('seed', '?')}, {demo.get('labels_per_clip', '?')} observed labels per clip"
        )
    elif source == "openmic":
        description = "OpenMIC-2018 (Humphrey, Durand, McFee, ISMIR 2018), official split01"
    else:
        description = f"{len(data.ds.sample_key)} clips in OpenMIC-2018's layout at {root}"
    return {
        "source": source,
        "root": str(root),
        "description": description,
        "embedding": data.embedding,
        "n_train": len(data.train_idx),
        "n_fit": len(data.fit_idx),
        "n_val": len(data.val_idx),
        "holdout": data.holdout,
        "n_test": len(data.test_idx),
        "instruments": list(data.classes),
        "skipped_clips": skipped,
        "label_rule": "target = Y_true >= 0.5 on observed pairs (Y_mask) only",
    }


def model_size(path: Path) -> int:
    """Bytes of a saved model: a file, or every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def model_id(classifier: str, embedding: str | None) -> str:
    """The id of a model in the run folder: ``"lr@musicnn"``, or ``"cnn"`` without an embedding."""
    return classifier if embedding is None else f"{classifier}@{embedding}"


def model_info(
    name: str, model, seconds: float, infer: float, reused: bool, path: Path, *,
    embedding: str | None = None, selection: dict[str, Any] | None = None,
    model_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``run.json``'s entry for one model.

    Parameters
    ----------
    name : str
        The classifier, one of ``MODEL_DESCRIPTIONS``.
    model : fitted model with ``thresholds_`` [shape=(n_classes,)]
    seconds : float
        Training time (of the run that trained it, when reused from the cache).
    infer : float
        Seconds of prediction per test clip.
    reused : bool
        Whether the model came from the cache.
    path : Path
        Where it was saved in the run folder.
    embedding : str, optional
        The embedding it was trained on (None for the networks, which read audio features).
    selection : dict, optional
        Its selection-time score (`cv_selection`, `holdout_selection`).
    model_input : dict, optional
        What it reads, computed from audio: ``{"extractor": name, "params": {...}}`` (a feature
        cache extractor, or ``"stand_in"`` / ``"vggish"`` for the release embedding); None where
        the input cannot be computed from audio (an ``X`` of unknown origin).
    """
    import numpy as np

    label = CLASSIFIER_LABELS.get(name, name)
    return {
        "classifier": name,
        "embedding": embedding,
        "label": label if embedding is None else f"{label} · {embedding}",
        "selection": selection or {},
        "description": MODEL_DESCRIPTIONS[name],
        "train_time_s": float(seconds),
        "infer_time_per_clip_s": float(infer),
        "size_bytes": model_size(path),
        "thresholds": np.asarray(model.thresholds_, dtype=float).tolist(),
        "reused_from_cache": bool(reused),
        "input": model_input,
    }


def cv_selection(model, n_folds: int) -> dict[str, Any]:
    """Selection-time score of a cross-validated classical model, for ``run.json``.

    Per fold, the macro mean over instruments of the chosen configuration's held-out ROC AUC and
    AP (``model.cv_scores_``); then their mean and spread over folds, and the instruments that
    CV could not select for (their notes).
    """
    method = f"{n_folds}-fold cross-validation grouped by artist"
    if model.kind == "rf":  # the official recipe is untuned: CV scores it and sets its thresholds
        method += " (scores and thresholds only: the official recipe is not tuned)"
    out: dict[str, Any] = {"method": method}
    fold_macros = model.cv_fold_macros()
    for metric in ("roc_auc", "ap"):
        out[metric] = _spread(fold_macros[metric])
    out["warnings"] = [
        f"{name}: {'; '.join(notes)}"
        for name, fell_back, notes in zip(model.classes_, model.fallback_, model.notes_, strict=True)
        if fell_back and notes
    ]
    return out


def holdout_selection(proba, Y_true, Y_mask, holdout: dict[str, Any]) -> dict[str, Any]:
    """Selection-time score of a network: macro ROC AUC and AP on its hold-out, for ``run.json``."""
    from core.metrics import masked_scores, mean_over_classes

    scores = masked_scores(proba, Y_true, Y_mask)
    out: dict[str, Any] = {
        "method": f"hold-out of {holdout['n_clips']} clips grouped by artist "
                  f"({holdout['fraction']:.0%} of split01_train)",
    }
    for metric in ("roc_auc", "ap"):
        value = mean_over_classes(scores[metric])
        value = value if math.isfinite(value) else None
        out[metric] = {"mean": value, "std": None, "folds": [value]}
    out["warnings"] = list(holdout.get("warnings", []))
    return out


def _spread(values: list[float]) -> dict[str, Any]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return {
        "mean": float(v.mean()) if v.size else None,
        "std": float(v.std(ddof=1)) if v.size > 1 else None,
        "folds": [None if not np.isfinite(x) else float(x) for x in values],
    }


def run_record(
    s: Settings, data: Data, root: Path, skipped: dict[str, str],
    models: dict[str, dict[str, Any]], timings: dict[str, float], *,
    embeddings: dict[str, dict[str, Any]] | None = None, n_data_problems: int = 0,
) -> dict[str, Any]:
    """The contents of ``run.json`` (docs/architecture.md, "The run folder")."""
    dataset = dataset_info(data, root, skipped)
    dataset["data_problems"] = n_data_problems
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "toolkit": toolkit_info(),
        "seed": s.seed,
        "settings": dataclasses.asdict(s),
        "dataset": dataset,
        "embeddings": embeddings or {},
        "models": models,
        "timings": timings,
        "versions": library_versions(),
    }


def write_label_stats(data: Data, run_dir: Path) -> None:
    """``label_stats.csv``: observed and positive labels per split and selected instrument."""
    from features.openmic import label_statistics

    stats = label_statistics(
        data.ds, {"train": data.fit_idx, "validation": data.val_idx, "test": data.test_idx}
    )
    stats = stats[stats["instrument"].isin(data.classes)]
    atomic_write(run_dir / "label_stats.csv", lambda tmp: stats.to_csv(tmp, index=False))
