"""What the diagnosis adds to a run: the learning curve's refits, and the report's diagnosis.

Two measurements, each printed in wall seconds and in CPU seconds of this process (with
``--jobs 1`` everything runs here, so CPU seconds do not depend on how busy the machine is):

1. ``--run RUN_DIR --data DATASET``: the learning curve of a finished run (its best classical model
   refitted on 25 % and 50 % of the training artists, nothing cached), beside a refit of the same
   model on all the training artists (what training it cost).
2. Always: ``diagnose`` (every statistic, 500 resamples) and the 20 figures on a synthetic test
   split of ``--clips`` clips (5,085: OpenMIC-2018's split01_test) and ``--models`` models.

    python benchmarks/bench_diagnosis.py [--clips 5085] [--models 7] [--run RUN_DIR --data DATASET] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.diagnosis import diagnose
from reports.diagnosis_plots import plot_instrument_diagnosis
from reports.plots import figure_png
from reports.run_folder import read_predictions
from reports.run_models import model_infos

N_CLASSES = 20


class Clock:
    """Wall and process CPU seconds of a block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self) -> str:
        return f"{self.wall:.1f} s wall, {self.cpu:.1f} s CPU"


def bench_report(n_clips: int, n_models: int) -> None:
    rng = np.random.default_rng(0)
    Y_mask = rng.random((n_clips, N_CLASSES)) < 2.0 / N_CLASSES
    Y_true = np.where(rng.random((n_clips, N_CLASSES)) < 0.45, rng.choice([0.75, 1.0], (n_clips, N_CLASSES)),
                      rng.choice([0.0, 0.25], (n_clips, N_CLASSES)))
    probas = {f"lr@e{m}": 1 / (1 + np.exp(-(1 + m) * (Y_true - 0.5) - rng.normal(0, 1, Y_true.shape)))
              for m in range(n_models)}
    facts = {m: {"selection": {"roc_auc": {"mean": 0.7 + 0.01 * i}}} for i, m in enumerate(probas)}
    classes = tuple(f"class{k}" for k in range(N_CLASSES))
    print(f"synthetic test split: {n_clips} clips, {int(Y_mask.sum())} observed pairs, {n_models} models")
    with Clock() as stats:
        diag = diagnose(Y_true, Y_mask, probas, pairs=Y_mask, classes=classes,
                        sample_key=np.arange(n_clips).astype(str), thresholds=dict.fromkeys(probas),
                        infos=model_infos(facts, list(probas)), seed=0)
    print(f"diagnose, every model and instrument, {diag.n_boot} resamples ({len(diag.table)} rows): {stats}")
    with Clock() as figures:
        for d in diag.instruments:
            figure_png(plot_instrument_diagnosis(d), dpi=80, tight=False)
    print(f"{len(diag.instruments)} diagnosis figures: {figures}")


def bench_learning_curve(run_dir: Path, data: Path, jobs: int) -> None:
    from baselines import PerInstrumentModel
    from pipeline.cache import StageCache
    from pipeline.embeddings import load_embedding
    from pipeline.learning_curve import best_classical, write_run_learning_curve
    from pipeline.settings import Settings
    from pipeline.stages import load_data

    run = json.loads((run_dir / "run.json").read_text())
    s = Settings(jobs=jobs, seed=run.get("seed", 0), cv_folds=5)
    ds = load_data(data, s)
    pred = read_predictions(run_dir / "predictions.npz")
    models = run["models"]
    best = best_classical(models)
    out = run_dir / "bench-learning-curve"
    out.mkdir(exist_ok=True)
    with Clock() as curve:
        write_run_learning_curve(models, pred.probas, ds, s, StageCache(None), out)
    print(f"learning curve of {best} (refits on 25 % and 50 % of the training artists, jobs={jobs}): {curve}")
    emb = load_embedding(models[best]["embedding"], ds, s, out)
    rows = ds.train_idx[emb.ok[ds.train_idx]]
    y_true, y_mask = ds.labels(rows)
    with Clock() as full:
        PerInstrumentModel(models[best]["classifier"], n_folds=5, seed=s.seed, n_jobs=jobs, progress=False).fit(
            emb.X[rows], y_true, y_mask, groups=ds.ds.artist_id[rows], classes=list(ds.classes))
    print(f"the same model selected and fitted on all {len(rows)} training clips (jobs={jobs}): {full}")
    print(f"learning curve / full training: {curve.wall / full.wall:.2f} (wall), {curve.cpu / max(full.cpu, 1e-9):.2f} (CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=5085)
    parser.add_argument("--models", type=int, default=7)
    parser.add_argument("--run", type=Path, help="a finished run folder (for the learning curve)")
    parser.add_argument("--data", type=Path, help="its dataset folder")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    if args.run is not None:
        bench_learning_curve(args.run, args.data, args.jobs)
    bench_report(args.clips, args.models)


if __name__ == "__main__":
    main()
