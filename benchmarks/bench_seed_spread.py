"""How much a network's test score moves with its training seed, on the demo set.

Runs ``compare.py --seeds N`` for the networks alone (the same data, split and hold-out for every
seed; only the training seed changes), then reads every seed's test predictions from the run's
``predictions.npz`` (``seedproba_<model>``) and prints, per network and metric, each seed's macro
score and the mean and sample standard deviation over seeds. The report quotes these standard
deviations for a network trained with one seed (``reports.params.MEASURED_SEED_SPREAD``).

Nothing is chosen from these numbers: they measure a spread, on the test split, to be quoted.

    python benchmarks/bench_seed_spread.py --seeds 5                      # cnn, the 500-clip demo set
    python benchmarks/bench_seed_spread.py --seeds 5 --models cnn,musicnn-ft --cache-dir /tmp/c
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.metrics import masked_scores, mean_over_classes  # noqa: E402
from core.targets import is_positive  # noqa: E402


def macro_f1(P: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray) -> float:
    """Mean over instruments of the positive-class F1 at 0.5 on the observed pairs."""
    scores = []
    for k in range(P.shape[1]):
        rows = Y_mask[:, k] & np.isfinite(P[:, k])
        y, hit = is_positive(Y_true[rows, k]), P[rows, k] >= 0.5
        if y.any():
            tp = np.sum(y & hit)
            scores.append(2 * tp / (np.sum(y) + np.sum(hit)))
    return float(np.mean(scores)) if scores else float("nan")


def seed_scores(run: Path, model: str) -> dict[str, list[float]]:
    """Each seed's macro ROC AUC, mAP and positive-class F1 at 0.5 on the test split."""
    with np.load(run / "predictions.npz") as z:
        Y_true, Y_mask = z["Y_true"], z["Y_mask"].astype(bool)
        seeds = z[f"seedproba_{model}"]
    out: dict[str, list[float]] = {"roc_auc": [], "ap": [], "f1": []}
    for P in seeds:
        scores = masked_scores(P, Y_true, Y_mask)
        out["roc_auc"].append(mean_over_classes(scores["roc_auc"]))
        out["ap"].append(mean_over_classes(scores["ap"]))
        out["f1"].append(macro_f1(P, Y_true, Y_mask))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="trainings per network (default 5)")
    parser.add_argument("--models", default="cnn", help="networks, comma-separated (default cnn)")
    parser.add_argument("--cache-dir", help="compare.py's cache folder (default: its default)")
    parser.add_argument("--out", help="run folder (default: a temporary one)")
    parser.add_argument("--jobs", type=int, default=-1)
    args = parser.parse_args(argv)
    run = Path(args.out or tempfile.mkdtemp(prefix="seed-spread-"))
    command = [sys.executable, str(ROOT / "compare.py"), "--demo", "--models", args.models,
               "--seeds", str(args.seeds), "--jobs", str(args.jobs), "--out", str(run)]
    if args.cache_dir:
        command += ["--cache-dir", args.cache_dir]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"\n{args.seeds} seeds per network in {time.perf_counter() - start:.0f} s; run folder {run}")
    print(f"\n{'model':<12} {'metric':<8} {'mean':>7} {'sd':>7}  per seed")
    for model in args.models.split(","):
        for metric, values in seed_scores(run, model).items():
            v = np.asarray(values)
            print(f"{model:<12} {metric:<8} {v.mean():7.4f} {v.std(ddof=1):7.4f}  "
                  + " ".join(f"{x:.4f}" for x in v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
