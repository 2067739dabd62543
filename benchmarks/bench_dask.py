"""What a Dask cluster costs over plain joblib on the same cores, and what more workers would give.

For log-mel extraction (`features.extract.extract_dataset`) and for the baselines' cross-validated
fitting (`baselines.PerInstrumentModel`, synthetic OpenMIC-shaped data from
`features.demo.synthetic.make_synthetic`) at a demo size and an OpenMIC-like size, prints the wall
time with plain joblib (loky, `--workers` processes) and inside `pipeline.cluster.dask_cluster`
(``local:<workers>``, the same number of single-threaded worker processes), the overhead ratio
(target: at most 1.15) of wall time and of CPU time (this process and its workers: steadier than
wall time on a machine shared with other work), the cluster's start and close times, and the
projected wall time and speed-up with more workers: each task's compute time is read from the
scheduler's task stream and the tasks are list-scheduled on k workers, the client's own time held
fixed. Then one XGBoost fit with and without `xgboost.dask` (needs ``dask[dataframe]``; skipped
without it).

    python benchmarks/bench_dask.py [--workers 2] [--extract-clips 500 2000]
                                    [--fit-clips 500 15000] [--kinds lr xgb rf] [--repeat 1]

Each figure is the fastest of `--repeat` runs, plain and cluster runs interleaved, so that other
load on the machine (os.getloadavg is printed) biases both alike.
"""

from __future__ import annotations

import argparse
import heapq
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from joblib import parallel_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines import PerInstrumentModel
from benchmarks.bench_features import make_clips
from features.demo.synthetic import make_synthetic
from features.extract import extract_dataset
from pipeline.cluster import dask_cluster

TARGET_OVERHEAD = 1.15
CLIPS_PER_ARTIST = 8  # synthetic artist groups for the cross-validation folds
XGB_FIT = dict(n_estimators=200, max_depth=4, learning_rate=0.05, subsample=0.8,
               colsample_bytree=0.5, tree_method="hist", max_bin=64, random_state=0)  # fmt: skip


def fastest(measure: Callable[[], float], repeat: int) -> float:
    return min(measure() for _ in range(repeat))


def timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def tree_cpu_s() -> float:
    """CPU seconds used so far by this process and its live descendants (joblib's and Dask's)."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def calls_per_task(stream: list[dict]) -> list[float]:
    """Compute seconds per call from the task stream, in the order the tasks started.

    joblib sends its calls in batches (task keys ``batch_of_<function>_<n>_calls-<id>``); each
    call of a batch is given the batch's compute time / n.
    """
    calls = []
    for task in sorted(stream, key=lambda t: min(s["start"] for s in t["startstops"])):
        compute = sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
        found = re.search(r"_(\d+)_calls-", task["key"])
        n = int(found.group(1)) if found else 1
        calls += [compute / n] * n
    return calls


def makespan(calls: list[float], workers: int) -> float:
    """Wall time of `calls` (seconds each) handed in order to the first free of `workers`."""
    free = [0.0] * workers
    for seconds in calls:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


class Case:
    """One stage at one size: plain joblib and cluster wall times, the cluster's per-call times."""

    def __init__(self, stage: str, size: str, run: Callable[[int], object]):
        self.stage, self.size, self.run = stage, size, run
        self.plain = self.dask = self.plain_cpu = self.dask_cpu = float("inf")
        self.calls: list[float] = []

    def measure(self, client, workers: int) -> None:
        from distributed import get_task_stream

        start = tree_cpu_s()
        with parallel_config(backend="loky"):  # plain joblib, inside the cluster's block
            self.plain = min(self.plain, timed(lambda: self.run(workers)))
        middle = tree_cpu_s()
        with get_task_stream(client) as stream:
            seconds = timed(lambda: self.run(workers))
        self.plain_cpu = min(self.plain_cpu, middle - start)
        self.dask_cpu = min(self.dask_cpu, tree_cpu_s() - middle)
        if seconds < self.dask:
            self.dask, self.calls = seconds, calls_per_task(stream.data)

    def projected(self, workers: int, measured_on: int) -> float:
        client_time = max(self.dask - makespan(self.calls, measured_on), 0.0)
        return client_time + makespan(self.calls, workers)


def extraction_case(paths: list[Path], scratch: Path) -> Case:
    keys = [p.stem for p in paths]

    def run(n_jobs: int) -> None:
        folder = Path(tempfile.mkdtemp(dir=scratch))
        try:
            cache = extract_dataset(paths, keys, "logmel", folder, n_jobs=n_jobs, progress=False)
            assert cache.ok.all(), cache.problems
        finally:
            shutil.rmtree(folder)

    return Case("log-mel extraction", f"{len(paths)} clips", run)


def fitting_case(kind: str, n_clips: int, seed: int = 0) -> Case:
    X, Y_true, Y_mask = make_synthetic(n_clips, seed=seed)
    groups = np.random.default_rng(seed).permutation(n_clips) // CLIPS_PER_ARTIST

    def run(n_jobs: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rare synthetic classes fall back: not timed here
            PerInstrumentModel(kind, seed=seed, n_jobs=n_jobs, progress=False).fit(
                X, Y_true, Y_mask, groups=groups
            )

    return Case(f"{kind} CV fit", f"{n_clips} clips", run)


def print_cases(cases: list[Case], workers: int, start_s: float, project: list[int]) -> None:
    print(f"\ncluster local:{workers}: started in {start_s:.1f} s (once per run)")
    print(f"{'stage':<20} {'size':>12} {'plain s':>8} {'dask s':>8} {'ratio':>6} {'target':>7} "
          f"{'plain CPU s':>11} {'dask CPU s':>10} {'ratio':>6} {'calls':>6} {'mean call s':>11}")  # fmt: skip
    for c in cases:
        ratio = c.dask / c.plain
        verdict = "ok" if ratio <= TARGET_OVERHEAD else "MISSED"
        print(f"{c.stage:<20} {c.size:>12} {c.plain:>8.1f} {c.dask:>8.1f} {ratio:>6.2f} {verdict:>7} "
              f"{c.plain_cpu:>11.1f} {c.dask_cpu:>10.1f} {c.dask_cpu / c.plain_cpu:>6.2f} "
              f"{len(c.calls):>6} {np.mean(c.calls):>11.3f}")  # fmt: skip
    print("ratio: cluster / plain joblib on the same cores, wall and CPU (this process and its "
          "workers), start and close excluded; on a busy machine the CPU ratio is the steadier")
    print(f"\nprojected wall s (speed-up over plain joblib on {workers} cores) with k single-threaded workers")
    print(f"{'stage':<20} {'size':>12} " + " ".join(f"{f'k={k}':>15}" for k in project))
    for c in cases:
        cells = []
        for k in project:
            wall = c.projected(k, workers)
            cells.append(f"{wall:>7.1f} ({c.plain / wall:>4.1f}x)")
        print(f"{c.stage:<20} {c.size:>12} " + " ".join(f"{cell:>15}" for cell in cells))
    print("(each call's compute time from the task stream, list-scheduled on k workers; the "
          "client's own time -- dispatch, transfers, writing rows -- held at its measured value; "
          "start-up and transfers over a real network not included)")


def xgboost_dask(client, sizes: list[int], workers: int, repeat: int) -> list[str]:
    """One XGBoost fit of `XGB_FIT` on n x 256 features: plain (1 and `workers` threads) and dask.

    Returns the lines of its table.
    """
    try:
        import xgboost.dask  # noqa: F401  (needs dask[dataframe])
    except ImportError as err:
        return [f"xgboost.dask: skipped ({err}); pip install 'dask[dataframe]' to measure it"]
    lines = [
        f"one XGBoost fit ({XGB_FIT['n_estimators']} trees, depth {XGB_FIT['max_depth']}, hist, "
        f"{XGB_FIT['max_bin']} bins) on n x 256 features",
        f"{'rows':>6} {'plain 1 thread s':>16} {f'plain {workers} threads s':>18} "
        f"{f'xgboost.dask {workers} workers s':>27}",
    ]
    for n in sizes:
        one, many, on_cluster = xgboost_fit_times(client, n, workers, repeat)
        lines.append(f"{n:>6} {one:>16.1f} {many:>18.1f} {on_cluster:>27.1f}")
    return lines


def xgboost_fit_times(client, n: int, workers: int, repeat: int) -> tuple[float, float, float]:
    """Seconds of one fit on n rows: 1 thread, `workers` threads, `xgboost.dask` on the cluster."""
    import dask.array as da
    from xgboost import XGBClassifier
    from xgboost.dask import DaskXGBClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 256)).astype(np.float32)
    y = (X[:, :8].sum(axis=1) + rng.normal(size=n) > 0).astype(np.int8)
    dX = da.from_array(X, chunks=(-(-n // workers), 256))  # one partition per worker
    dy = da.from_array(y, chunks=-(-n // workers))

    def on_cluster() -> None:
        with client.as_current():
            DaskXGBClassifier(n_jobs=1, **XGB_FIT).fit(dX, dy)

    def plain(threads: int) -> None:
        XGBClassifier(n_jobs=threads, **XGB_FIT).fit(X, y)

    on_cluster()  # the first fit starts XGBoost's collective on the workers
    return (
        fastest(lambda: timed(lambda: plain(1)), repeat),
        fastest(lambda: timed(lambda: plain(workers)), repeat),
        fastest(lambda: timed(on_cluster), repeat),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--extract-clips", type=int, nargs="*", default=[500, 2000])
    parser.add_argument("--fit-clips", type=int, nargs="*", default=[500, 15000])
    parser.add_argument("--kinds", nargs="*", default=["lr", "xgb", "rf"])
    parser.add_argument("--xgb-rows", type=int, nargs="*", default=[2000, 15000])
    parser.add_argument("--project", type=int, nargs="*", default=[2, 4, 8, 16, 32])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.workers} workers "
          f"either way (plain: joblib/loky processes; dask: local:{args.workers}, 1 thread each)")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        clips = make_clips(scratch / "clips", max([*args.extract_clips, 2 * args.workers]))
        cases = [extraction_case(clips[:n], scratch) for n in args.extract_clips]
        cases += [fitting_case(kind, n) for n in args.fit_clips for kind in args.kinds]
        warm = [extraction_case(clips[:2 * args.workers], scratch), fitting_case("lr", 200)]

        start = time.perf_counter()
        cluster = dask_cluster(f"local:{args.workers}")
        client = cluster.__enter__()
        start_s = time.perf_counter() - start
        try:
            for case in warm:  # loky's and Dask's workers import everything once
                case.measure(client, args.workers)
            for _ in range(args.repeat):
                for case in cases:
                    case.measure(client, args.workers)
                    print(f"  {case.stage}, {case.size}: plain {case.plain:.1f} s, dask "
                          f"{case.dask:.1f} s", flush=True)  # fmt: skip
            print_cases(cases, args.workers, start_s, args.project)
            print("\n" + "\n".join(xgboost_dask(client, args.xgb_rows, args.workers, args.repeat)))
        finally:
            start = time.perf_counter()
            cluster.__exit__(None, None, None)
            print(f"\ncluster local:{args.workers}: closed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
