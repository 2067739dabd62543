"""Speed of the data-problem check (`features.problems.find_data_problems`) on an OpenMIC folder.

Prints clips/s for the header check with each `--n-jobs` value, and for the full decode on the
first `--decode-clips` clips. Each figure is the best of `--repeats` runs after one warm-up run,
so the files are in the page cache: a first run on a cold disk is slower, bound by its seeks.

    python -m features.demo /tmp/demo800 --clips 800
    python benchmarks/bench_problems.py /tmp/demo800 --n-jobs 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.openmic import load
from features.problems import find_data_problems


def clips_per_s(ds, *, rows: np.ndarray, n_jobs: int, decode: bool, repeats: int) -> float:
    """Best clips/s over `repeats` timed runs, after one untimed run."""
    find_data_problems(ds, rows=rows, n_jobs=n_jobs, decode=decode, progress=False)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        find_data_problems(ds, rows=rows, n_jobs=n_jobs, decode=decode, progress=False)
        best = min(best, time.perf_counter() - start)
    return len(rows) / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="an OpenMIC-layout folder with audio")
    parser.add_argument("--n-jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decode-clips", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    ds = load(args.data)
    every = np.arange(len(ds.sample_key))
    print(f"{args.data}: {len(every)} clips")
    for n_jobs in args.n_jobs:
        rate = clips_per_s(ds, rows=every, n_jobs=n_jobs, decode=False, repeats=args.repeats)
        print(f"header check, n_jobs={n_jobs}: {rate:,.0f} clips/s "
              f"({20000 / rate:.1f} s for the 20,000 clips of OpenMIC-2018)")
    subset = every[: args.decode_clips]
    rate = clips_per_s(ds, rows=subset, n_jobs=1, decode=True, repeats=1)
    print(f"full decode, n_jobs=1, {len(subset)} clips: {rate:,.0f} clips/s")


if __name__ == "__main__":
    main()
