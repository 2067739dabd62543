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
) -> Path:
    """Write predictions.npz, run.json, label_stats.csv (and the CNN history) into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    models = models or {"lr": 1.5, "xgb": 2.0, "cnn": 3.0}
    K = len(classes)
    Y_true, Y_mask = fake_labels(n, rng, n_classes=K)
    probas = {m: fake_proba(Y_true, s, rng) for m, s in models.items()}
    keys = np.array([f"{i:06d}_{10 * i}" for i in range(n)])
    write_predictions(run_dir / "predictions.npz", keys, classes, Y_true, Y_mask, probas)
    run = {
        "created": "2026-11-28T10:00:00Z",
        "seed": seed,
        "dataset": {
            "source": source, "root": root, "description": description,
            "embedding": "VGGish (OpenMIC release)" if source == "openmic" else "stand-in: random projection",
            "n_train": 4 * n, "n_val": n, "n_test": n,
            "skipped_clips": {"000123_0": "unreadable audio", "000456_0": "shorter than 10 s"},
        },
        "models": {
            m: {"train_time_s": 10.0 * (i + 1), "infer_time_per_clip_s": 0.001 * (i + 1),
                "size_bytes": 10_000 * (i + 1), "thresholds": list(rng.uniform(0.3, 0.6, K)),
                "description": f"model {m}"}
            for i, m in enumerate(models)
        },
        "timings": {"features": 12.5, "train": 80.0, "evaluate": 3.0},
        "versions": {"python": "3.11", "numpy": np.__version__},
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
    stats = pd.DataFrame([
        {"split": split, "instrument": c, "observed": int(obs * (k + 5)), "positive": int(obs * (k + 5) * 0.4)}
        for split, obs in (("train", 40), ("validation", 8), ("test", 10))
        for k, c in enumerate(classes)
    ])
    stats.to_csv(run_dir / "label_stats.csv", index=False)
    if history:
        (run_dir / "models" / "cnn").mkdir(parents=True, exist_ok=True)
        epochs = np.arange(1, 11)
        pd.DataFrame({"epoch": epochs, "loss": 1 / epochs, "val_loss": 1.2 / epochs ** 0.8,
                      "val_map": 0.5 + 0.03 * epochs, "lr": 1e-3 * 0.8 ** epochs}).to_csv(
            run_dir / "models" / "cnn" / "history.csv", index=False)
    return run_dir
