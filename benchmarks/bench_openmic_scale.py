"""How long a full default run takes at OpenMIC-2018's size, projected from measured stage rates.

A default run on OpenMIC-2018 (20,000 clips; 14,915 in split01_train, 5,085 in split01_test)
checks every clip's header, extracts musicnn (one forward pass per clip) and the CNN's log-mel
from the audio, fits lr, xgb and rf with 5-fold artist-grouped cross-validation on both
embeddings (release X and musicnn), trains the CNN (85 % fit, 15 % hold-out, up to 30 epochs,
early stopping) and builds the report (bootstrap, comparisons, plots, HTML). Running that takes
hours, so each stage is measured here on a sample, by its CPU time, and projected:

* header probe, musicnn and log-mel extraction: CPU seconds per clip on the 44.1 kHz stereo OGG
  fixture (decode included in each extractor), measured in `--cores` worker processes at once as
  a run extracts, times 20,000, spread over `--cores` cores;
* lr, xgb, rf: `PerInstrumentModel.fit` on synthetic clips of each embedding's shape (~2
  observed labels per clip, as OpenMIC) at two sizes (`--train-samples`), CPU time of the
  per-instrument tasks, extrapolated to 14,915 clips along the line through the two (a fixed
  cost per task plus a cost per row: lr and XGBoost's histogram trees grow about linearly in
  rows, rf somewhat faster), over `--cores` processes;
* CNN: CPU time per training step and per predicted clip (`--cnn-steps` steps on a synthetic
  log-mel cache), times 12,678 fit clips for each of the 30 epochs (the most early stopping
  allows), plus the hold-out predicted every epoch and the test split once;
* report: `reports.build_report` on a fake run folder of OpenMIC's test size with the default
  run's 7 models (its bootstrap timed alone as well).

CPU time divided by the cores is what the stage would take on that many otherwise idle cores if
it used them all; on a shared machine the wall time is longer, so CPU time is what is measured.
The same projection from the measured wall times is printed beside it: on an idle machine it is
the better estimate (a stage that cannot keep every core busy, the CNN's steps, costs its wall
time). The musicnn weights must be in the cache.

    python benchmarks/bench_openmic_scale.py                 # about 3 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_baselines import synthetic_artists
from benchmarks.bench_features import FIXTURE

TESTS = Path(__file__).resolve().parents[1] / "tests"  # the reports tests' fake run folder

N_CLIPS, N_TRAIN, N_TEST = 20_000, 14_915, 5_085
HOLDOUT_FRACTION = 0.15
DEFAULT_MODELS = ("lr@release", "xgb@release", "rf@release", "lr@musicnn", "xgb@musicnn",
                  "rf@musicnn", "cnn")
EMBEDDING_SHAPES = {"release": (10, 128), "musicnn": (3, 200)}


def cpu_seconds(fn, repeats: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call of `fn`, after one warm-up call."""
    fn()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.process_time() - cpu) / repeats, (time.perf_counter() - wall) / repeats


def extraction_rates(repeats: int, cores: int) -> dict[str, tuple[float, float]]:
    """CPU and wall seconds per clip: header probe, musicnn (one pass), log-mel.

    The extractors run as a run runs them (`features.extract.extract_dataset` with ``--jobs``
    `cores`): in `cores` joblib worker processes at once, each one timing `repeats` clips after a
    warm-up clip (TensorFlow, the numba kernel), CPU time measured inside it (all its threads).
    Timed in this process instead, TensorFlow's second thread and BLAS threads would add CPU time
    that does no work on a run's busy cores: the musicnn extraction then measured 211 ms instead of
    123 ms of CPU per clip, and the whole extraction's wall time agrees with the latter
    (benchmarks/bench_musicnn.py).
    """
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    from features.audio import probe_audio

    rates = {"header probe (data problems)": cpu_seconds(lambda: probe_audio(FIXTURE), 50)}
    stages = {"musicnn extraction (decode, front end, network)": ("musicnn_layers", repeats),
              "log-mel extraction (decode, log-mel)": ("logmel", 4 * repeats)}
    with Parallel(n_jobs=cores) as parallel:
        for stage, (name, n) in stages.items():
            per_worker = parallel(delayed(_clip_seconds)(name, n) for _ in range(cores))
            rates[stage] = tuple(np.mean(per_worker, axis=0))
    get_reusable_executor().shutdown(wait=True)  # its workers hold TensorFlow
    return rates


def _clip_seconds(name: str, repeats: int) -> tuple[float, float]:
    """In a worker: (CPU, wall) seconds per clip of extractor `name` on the fixture clip."""
    from features.extract import EXTRACTORS, extract_clip

    spec = EXTRACTORS[name]
    resolved = {**spec.defaults, "expected_duration_s": 10.0}
    return cpu_seconds(lambda: extract_clip(spec, FIXTURE, resolved), repeats)


def classical_rates(n_clips: int, n_jobs: int) -> dict[str, tuple[float, float]]:
    """CPU and wall seconds of each default classifier's selection and fit on `n_clips` clips."""
    from baselines import PerInstrumentModel
    from features.demo.synthetic import make_synthetic

    X, Y_true, Y_mask = make_synthetic(n_clips, seed=0)
    groups = synthetic_artists(n_clips, 0)
    flat = X.reshape(n_clips, -1)
    out = {}
    for embedding, shape in EMBEDDING_SHAPES.items():
        features = flat[:, : int(np.prod(shape))].reshape(n_clips, *shape).astype(np.float32)
        for kind in ("lr", "xgb", "rf"):
            start = time.perf_counter()
            model = PerInstrumentModel(kind, seed=0, n_jobs=n_jobs, progress=False)
            model.fit(features, Y_true, Y_mask, groups=groups)
            out[f"{kind}@{embedding}"] = (model.fit_cpu_s_, time.perf_counter() - start)
    return out


def extrapolate(sizes: tuple[int, int], costs: tuple[float, float], n: int) -> float:
    """The cost at `n` on the line through two measured (size, cost) points (never below the
    larger measurement)."""
    (n1, n2), (c1, c2) = sizes, costs
    return max(c2, c2 + (c2 - c1) / (n2 - n1) * (n - n2))


def cnn_rates(steps: int, infer_clips: int) -> tuple[tuple[float, float], tuple[float, float], int]:
    """(CPU, wall) seconds per training step and per predicted clip, and the batch size."""
    import keras

    from benchmarks.bench_cnn import Cache, make_cache
    from cnn import CNNConfig, train_cnn

    class StepClock(keras.callbacks.Callback):
        """CPU and wall time from the end of the first step (traced) to the end of the last."""

        def on_train_batch_end(self, batch, logs=None):
            now = (time.process_time(), time.perf_counter())
            if batch == 0:
                self.first = now
            self.last, self.steps = now, batch

    n = max(steps * 32 + 64, infer_clips + 64)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_cache(Path(tmp) / "logmel.npy", n)
        rng = np.random.default_rng(0)
        Y_true = rng.uniform(0, 1, (n, 20))
        Y_mask = rng.random((n, 20)) < 0.1
        config = CNNConfig(epochs=1, max_steps_per_epoch=steps + 1, patience=0)
        clock = StepClock()
        model = train_cnn(Cache(data), Y_true, Y_mask, np.arange(n - 64), np.arange(n - 64, n), config,
                          Path(tmp) / "cnn", progress=False, callbacks=[clock])
        step = tuple((b - a) / clock.steps for a, b in zip(clock.first, clock.last, strict=True))
        idx = np.arange(infer_clips)
        predict = cpu_seconds(lambda: model.predict_proba(Cache(data), idx), 1)
    return step, (predict[0] / infer_clips, predict[1] / infer_clips), config.batch_size


def report_rates(n_boot: int) -> dict[str, tuple[float, float]]:
    """CPU and wall seconds of the bootstrap alone and of the whole report, OpenMIC's test size."""
    sys.path.insert(0, str(TESTS))
    from reports_fake_run import make_fake_run

    from reports import build_report, evaluate

    signals = {m: 1.0 + 0.3 * i for i, m in enumerate(DEFAULT_MODELS)}
    with tempfile.TemporaryDirectory() as tmp:
        run = make_fake_run(Path(tmp) / "run", n=N_TEST, source="openmic", models=signals,
                            problems=())
        with np.load(run / "predictions.npz") as pred:
            probas = {m: pred[f"proba_{m}"] for m in DEFAULT_MODELS}
            Y_true, Y_mask, classes = pred["Y_true"], pred["Y_mask"], tuple(pred["classes"])
        thresholds = {m: np.full(len(classes), 0.5) for m in probas}
        boot = once(lambda: evaluate(Y_true, Y_mask, probas, classes=classes, thresholds=thresholds,
                                     n_boot=n_boot, seed=0))
        report = once(lambda: build_report(run, n_boot=n_boot, seed=0))
    return {"bootstrap (inside the report)": boot, "report (bootstrap, plots, HTML)": report}


def once(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2, help="cores the projection assumes (default 2)")
    parser.add_argument("--train-samples", type=int, nargs=2, default=(750, 3000),
                        help="the two numbers of synthetic training clips the classifiers are "
                             "timed on (default 750 3000)")
    parser.add_argument("--cnn-steps", type=int, default=8, help="CNN training steps timed (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="clips per extractor timing (default 3)")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    args = parser.parse_args()
    cores = args.cores
    load_before = os.getloadavg()
    t0 = time.perf_counter()

    # (stage, measured as, CPU s, wall s, projected s on `cores` idle cores from the CPU time,
    # the same from the wall time: per clip in each of `cores` workers, or of work using them all)
    rows = []
    for stage, (cpu, wall) in extraction_rates(args.repeats, cores).items():
        rows.append((stage, f"{cpu * 1e3:.1f} ms CPU/clip", cpu, wall, cpu * N_CLIPS / cores,
                     wall * N_CLIPS / (cores if "extraction" in stage else 1)))
    small, large = sorted(args.train_samples)
    at_small, at_large = classical_rates(small, cores), classical_rates(large, cores)
    for model, (cpu, wall) in at_large.items():
        projected = extrapolate((small, large), (at_small[model][0], cpu), N_TRAIN)
        projected_wall = extrapolate((small, large), (at_small[model][1], wall), N_TRAIN)
        rows.append((f"{model}: 5-fold CV selection + refit",
                     f"{at_small[model][0]:.1f} / {cpu:.1f} CPU s at {small} / {large}", cpu, wall,
                     projected / cores, projected_wall))
    (step_cpu, step_wall), (clip_cpu, clip_wall), batch = cnn_rates(args.cnn_steps, 64)
    n_val = round(N_TRAIN * HOLDOUT_FRACTION)
    n_fit = N_TRAIN - n_val
    epochs = 30
    steps = np.ceil(n_fit / batch) * epochs
    rows.append((f"cnn: {epochs} epochs x {n_fit:,} fit clips", f"{step_cpu:.2f} CPU s/step of {batch}",
                 step_cpu, step_wall, step_cpu * steps / cores, step_wall * steps))
    predicted = n_val * epochs + N_TEST
    rows.append((f"cnn: hold-out ({n_val:,}) every epoch, test once", f"{clip_cpu * 1e3:.1f} ms CPU/clip",
                 clip_cpu, clip_wall, clip_cpu * predicted / cores, clip_wall * predicted))
    for stage, (cpu, wall) in report_rates(args.n_boot).items():
        in_report = not stage.startswith("report")
        rows.append((stage, f"{cpu:.1f} CPU s", cpu, wall, None if in_report else cpu,
                     None if in_report else wall))

    print(f"Projected default run on OpenMIC-2018 ({N_CLIPS:,} clips, {N_TRAIN:,} train, {N_TEST:,} test) "
          f"on {cores} otherwise idle cores, from rates measured here ({os.cpu_count()} CPUs; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; measuring took "
          f"{time.perf_counter() - t0:.0f} s)")
    print(f"{'stage':52s} {'measured':>34s} {'wall/CPU':>9s} {'projected':>10s} {'from wall':>10s}")
    total = total_wall = 0.0
    for stage, measured, cpu, wall, projected, projected_wall in rows:
        if projected is None:
            shown = shown_wall = "(in the report)"
        else:
            shown, shown_wall = f"{projected / 60:6.1f} min", f"{projected_wall / 60:6.1f} min"
        print(f"{stage:52s} {measured:>34s} {wall / cpu:9.2f} {shown:>10s} {shown_wall:>10s}")
        total += projected or 0.0
        total_wall += projected_wall or 0.0
    print(f"{'total':52s} {'':>34s} {'':>9s} {total / 60:6.1f} min {total_wall / 60:6.1f} min  "
          f"({total / 3600:.2f} h from CPU time, {total_wall / 3600:.2f} h from wall time)")
    shares = sorted(((p or 0.0) / total, s) for s, _, _, _, p, _ in rows)[::-1][:3]
    print("largest: " + "; ".join(f"{s} {f:.0%}" for f, s in shares))
    print("wall/CPU: measured wall time over CPU time of the sample (above 1/cores: other load, "
          "or a stage that does not use every core; the extractions' are per worker, 1 when busy)")
    print("from wall: the same projection from the measured wall times; on an idle machine the "
          "better estimate (a stage that cannot keep every core busy costs its wall time), under "
          "other load an overestimate")


if __name__ == "__main__":
    main()
