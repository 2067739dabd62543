"""A small fake run folder for the reports tests: random labels, predictions with signal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from reports.run_folder import write_predictions

CLASSES = (
    "accordion", "banjo", "bass", "cello", "clarinet", "cymbals", "drums", "flute", "guitar",
    "mallet_percussion", "mandolin", "organ", "piano", "saxophone", "synthesizer", "trombone",
    "trumpet", "ukulele", "violin", "voice",
)


def fake_labels(n: int, rng: np.random.Generator, *, n_classes: int = 20, per_clip: float = 3.0):
    """Y_true (n, K) with soft values and Y_mask (n, K) with about ``per_clip`` observed per row."""
    Y_mask = rng.random((n, n_classes)) < per_clip / n_classes
    prevalence = rng.uniform(0.2, 0.6, n_classes)
    positive = rng.random((n, n_classes)) < prevalence
    soft = np.where(positive, rng.choice([0.5, 0.75, 1.0], (n, n_classes)),
                    rng.choice([0.0, 0.25], (n, n_classes)))
    return np.where(Y_mask, soft, 0.5), Y_mask


def fake_proba(Y_true: np.ndarray, signal: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities that rank positives higher by ``signal`` (logit units)."""
    logit = signal * ((Y_true >= 0.5) - 0.5) + rng.normal(0.0, 1.0, Y_true.shape)
    return (1 / (1 + np.exp(-logit))).astype(np.float32)


#: Default models: two classifiers on two embeddings (XGBoost not on musicnn), and the CNN.
MODELS = {"lr@release": 1.5, "xgb@release": 2.0, "lr@musicnn": 2.5, "cnn": 3.0}
CLASSIFIER_NAMES = {"lr": "LR", "xgb": "XGBoost", "rf": "RF"}
EMBEDDINGS = {
    "release": {"description": "VGGish, as shipped with the release", "provenance": "openmic-2018.npz",
                "dim": 128, "frames_per_clip": 10},
    "musicnn": {"description": "musicnn MSD penultimate layer", "provenance": "features.musicnn port",
                "dim": 753, "frames_per_clip": 4},
}
#: data_problems.csv rows of a fake run: (key, split, problem).
PROBLEMS = (
    ("000123_0", "train", "audio file missing"),
    ("000456_0", "test", "duration 7.320 s, expected 10.000 s"),
    ("000789_0", "train", "duration 3.100 s, expected 10.000 s"),
    ("001000_0", "none", "unreadable: bad header"),
)


def _selection(classical: bool, signal: float, n_val: int) -> dict:
    """A selection record: 5-fold CV for a classical model, a hold-out for a network."""
    auc, ap = min(0.8 + 0.05 * signal, 0.99), min(0.7 + 0.05 * signal, 0.99)
    if classical:
        folds = [auc - 0.02, auc - 0.01, auc, auc + 0.01, auc + 0.02]
        ap_folds = [ap - 0.03, ap, ap, ap, ap + 0.03]
        return {"method": "5-fold cross-validation grouped by artist",
                "roc_auc": {"mean": float(np.mean(folds)), "std": float(np.std(folds)), "folds": folds},
                "ap": {"mean": float(np.mean(ap_folds)), "std": float(np.std(ap_folds)), "folds": ap_folds},
                "warnings": []}
    return {"method": f"hold-out of {n_val} clips grouped by artist",
            "roc_auc": {"mean": auc, "std": None, "folds": [auc]},
            "ap": {"mean": ap, "std": None, "folds": [ap]},
            "warnings": ["hold-out has fewer than 20 observed labels for: banjo, organ"]}


def _model_facts(model_id: str, signal: float, index: int, K: int, n_val: int, rng, legacy: bool) -> dict:
    facts = {"train_time_s": 10.0 * (index + 1), "infer_time_per_clip_s": 0.001 * (index + 1),
             "size_bytes": 10_000 * (index + 1), "thresholds": list(rng.uniform(0.3, 0.6, K)),
             "description": f"model {model_id}"}
    if legacy:
        return facts
    if "@" in model_id:
        classifier, embedding = model_id.split("@", 1)
    else:  # a plain classical id is on the release's embedding, any other plain id is a network
        classifier, embedding = model_id, ("release" if model_id in CLASSIFIER_NAMES else None)
    label = ({"cnn": "CNN"}.get(model_id, model_id) if embedding is None
             else f"{CLASSIFIER_NAMES[classifier]} · {embedding}")
    facts.update(classifier=classifier, embedding=embedding, label=label)
    facts["selection"] = _selection(embedding is not None, signal, n_val)
    return facts


def make_fake_run(
    run_dir: Path,
    *,
    n: int = 300,
    seed: int = 0,
    source: str = "demo",
    models: dict[str, float] | None = None,
    description: str = "fake run for the tests",
    root: str = "/data/demo",
    classes: tuple[str, ...] = CLASSES,
    history: bool = True,
    legacy: bool = False,
    problems: tuple[tuple[str, str, str], ...] | None = PROBLEMS,
    clips_per_artist: int | None = 3,
) -> Path:
    """Write predictions.npz, run.json, label_stats.csv, data_problems.csv (and the CNN history).

    Parameters
    ----------
    models : dict model id -> signal (logit units), default :data:`MODELS`
    legacy : bool
        Write run.json as runs did before embeddings were a dimension: no ``embeddings``, and models
        without ``classifier``, ``embedding``, ``label`` or ``selection``.
    problems : tuple of (key, split, problem) or None
        Rows of data_problems.csv (no file when None, a header only when empty).
    clips_per_artist : int or None
        Consecutive clips share an artist (``artist_id = row // clips_per_artist``; every 25th
        clip has none, -1); None writes predictions.npz without ``artist_id``, as older runs did.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    models = models or MODELS
    K = len(classes)
    Y_true, Y_mask = fake_labels(n, rng, n_classes=K)
    probas = {m: fake_proba(Y_true, s, rng) for m, s in models.items()}
    keys = np.array([f"{i:06d}_{10 * i}" for i in range(n)])
    artist_id = None
    if clips_per_artist is not None:
        artist_id = np.where(np.arange(n) % 25 == 24, -1, np.arange(n) // clips_per_artist)
    write_predictions(run_dir / "predictions.npz", keys, classes, Y_true, Y_mask, probas, artist_id=artist_id)
    run = {
        "created": "2026-11-28T10:00:00Z",
        "seed": seed,
        "dataset": {
            "source": source, "root": root, "description": description,
            "embedding": "VGGish (OpenMIC release)" if source == "openmic" else "stand-in: random projection",
            "n_train": 4 * n, "n_val": n, "n_test": n,
            "skipped_clips": {"000123_0": "unreadable audio", "000456_0": "shorter than 10 s"},
        },
        "models": {m: _model_facts(m, s, i, K, n, rng, legacy) for i, (m, s) in enumerate(models.items())},
        "timings": {"features": 12.5, "train": 80.0, "evaluate": 3.0},
        "versions": {"python": "3.11", "numpy": np.__version__},
    }
    if not legacy:
        used = {f["embedding"] for f in run["models"].values()}
        run["embeddings"] = {name: facts for name, facts in EMBEDDINGS.items() if name in used}
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
    stats = pd.DataFrame([
        {"split": split, "instrument": c, "observed": int(obs * (k + 5)), "positive": int(obs * (k + 5) * 0.4)}
        for split, obs in (("train", 40), ("validation", 8), ("test", 10))
        for k, c in enumerate(classes)
    ])
    stats.to_csv(run_dir / "label_stats.csv", index=False)
    if problems is not None:
        pd.DataFrame(list(problems), columns=["key", "split", "problem"]).to_csv(
            run_dir / "data_problems.csv", index=False)
    if history:
        (run_dir / "models" / "cnn").mkdir(parents=True, exist_ok=True)
        epochs = np.arange(1, 11)
        pd.DataFrame({"epoch": epochs, "loss": 1 / epochs, "val_loss": 1.2 / epochs ** 0.8,
                      "val_map": 0.5 + 0.03 * epochs, "lr": 1e-3 * 0.8 ** epochs}).to_csv(
            run_dir / "models" / "cnn" / "history.csv", index=False)
    return run_dir


def blank_predictions(run_dir: Path, model: str, *, rows=slice(None), cols=slice(None)) -> None:
    """Set ``proba_<model>[rows, cols]`` of the run's predictions.npz to NaN (no prediction there)."""
    path = Path(run_dir) / "predictions.npz"
    with np.load(path) as z:
        arrays = dict(z)
    arrays[f"proba_{model}"][rows, cols] = np.nan
    np.savez(path, **arrays)
