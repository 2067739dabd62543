"""Time the bootstrap: 1,000 resamples x 20 instruments x 4 models on 5,085 test clips.

The OpenMIC-2018 test split has 5,085 clips with about 2 observed labels each. Prints seconds for
the metrics with intervals (``evaluate`` + ``metrics_table``) and for the paired comparisons. The
resamples draw artists (``--clips-per-artist``, 0: clips one by one); ``--seeds S`` gives the last
model S training seeds, scored on the common test set and carried into its comparisons.

    python benchmarks/bench_reports.py [--n-boot 1000] [--clips 5085] [--models 4]
                                       [--clips-per-artist 3] [--seeds 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports import compare_models, evaluate, metrics_table

N_CLASSES = 20
LABELS_PER_CLIP = 2.0


def fake_test_split(n_clips: int, n_models: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    Y_mask = rng.random((n_clips, N_CLASSES)) < LABELS_PER_CLIP / N_CLASSES
    Y_true = np.where(rng.random((n_clips, N_CLASSES)) < 0.45, 1.0, 0.0)
    probas = {
        f"model{m}": (1 / (1 + np.exp(-(1 + m) * (Y_true - 0.5) - rng.normal(0, 1, Y_true.shape))))
        for m in range(n_models)
    }
    return Y_true, Y_mask, probas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--clips", type=int, default=5085)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--clips-per-artist", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    Y_true, Y_mask, probas = fake_test_split(args.clips, args.models)
    artist_id = np.arange(args.clips) // args.clips_per_artist if args.clips_per_artist > 0 else None
    seed_probas = None
    if args.seeds > 1:
        last = list(probas)[-1]
        rng = np.random.default_rng(1)
        others = [np.clip(probas[last] + rng.normal(0, 0.05, Y_true.shape), 0, 1) for _ in range(args.seeds - 1)]
        seed_probas = {last: np.stack([probas[last], *others])}
    thresholds = {m: np.full(N_CLASSES, 0.45) for m in probas}
    classes = tuple(f"class{k}" for k in range(N_CLASSES))
    print(f"{args.clips} clips, {int(Y_mask.sum())} observed pairs, {N_CLASSES} instruments, "
          f"{args.models} models, {args.n_boot} resamples of "
          + (f"artists ({args.clips_per_artist} clips each)" if artist_id is not None else "clips")
          + (f", {args.seeds} seeds of the last model" if seed_probas else ""))

    start = time.perf_counter()
    ev = evaluate(Y_true, Y_mask, probas, classes=classes, thresholds=thresholds, artist_id=artist_id,
                  seed_probas=seed_probas, n_boot=args.n_boot, seed=0)
    t_eval = time.perf_counter() - start
    start = time.perf_counter()
    table = metrics_table(ev)
    t_table = time.perf_counter() - start
    start = time.perf_counter()
    comparisons = compare_models(ev)
    t_compare = time.perf_counter() - start
    print(f"evaluate (all metrics, all resamples): {t_eval:.2f} s")
    print(f"metrics table with intervals ({len(table)} rows): {t_table:.2f} s")
    print(f"paired comparisons + Holm over each metric's families ({len(comparisons)} rows): {t_compare:.2f} s")
    print(f"total: {t_eval + t_table + t_compare:.2f} s")


if __name__ == "__main__":
    main()
