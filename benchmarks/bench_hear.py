"""A HEAR module's cost as an embedding: load and probe, extraction per clip, memory, cache size.

Probes the module as a run does (`pipeline.hear.probe_params`: import, ``load_model``, 10 s of
noise, in one of the `--n-jobs` workers), then `features.extract.extract_dataset(..., "hear")` over `--clips` OpenMIC-format clips (hard
links to the 44.1 kHz stereo OGG fixture) with `--n-jobs` workers, each loading the module once.
Prints wall and CPU-free figures per clip, the projection to OpenMIC's 20,000 clips, the peak
resident memory of the process tree and the cache's bytes per clip.

    python benchmarks/bench_hear.py --module features.musicnn.hear --clips 40 --n-jobs 2
    python benchmarks/bench_hear.py --module hear21passt.base --clips 40      # once installed
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from joblib.externals.loky import get_reusable_executor

from benchmarks.bench_features import make_clips
from benchmarks.memory import PeakRSS
from features.extract import extract_dataset
from pipeline.hear import probe_params

OPENMIC_CLIPS = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", default="features.musicnn.hear", help="a HEAR 2021 module")
    parser.add_argument("--weights", default="", help="model_file_path for load_model")
    parser.add_argument("--clips", type=int, default=40, help="10 s clips (default 40)")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as rss:
        params = dict(probe_params(args.module, args.weights, args.n_jobs))
        probe_s = time.perf_counter() - start
        paths = make_clips(Path(tmp) / "clips", args.clips)
        start = time.perf_counter()
        cache = extract_dataset(paths, [p.stem for p in paths], "hear", Path(tmp) / "cache",
                                params=params, n_jobs=args.n_jobs, progress=False)
        seconds = time.perf_counter() - start
        get_reusable_executor().shutdown(wait=True)
        assert cache.ok.all(), cache.problems
        row_bytes = cache.data[0].nbytes
    n = args.clips
    print(f"{args.module} {params['version']}: {params['kind']} embeddings, {params['n_timestamps']} "
          f"per 10 s clip stored as {params['n_frames']} frames of {params['dim']} values, audio at "
          f"{params['sample_rate']} Hz ({params['resampler']})")
    print(f"{n} clips, {args.n_jobs} workers, {os.cpu_count()} CPUs, load average {load:.1f} before / "
          f"{os.getloadavg()[0]:.1f} after")
    print(f"load_model + probe (worker start-up included): {probe_s:.1f} s")
    print(f"extract_dataset('hear'): {seconds:.1f} s, {seconds / n:.3f} s per clip wall "
          f"(worker start-up and model loading included), {n / seconds:.2f} clips/s")
    print(f"projected for {OPENMIC_CLIPS:,} clips at this rate: {seconds / n * OPENMIC_CLIPS / 3600:.2f} h; "
          f"cache {row_bytes:,} bytes per clip ({row_bytes * OPENMIC_CLIPS / 2**30:.2f} GiB)")
    print(f"peak RSS of the process tree: {rss.peak / 2**20:,.0f} MiB")


if __name__ == "__main__":
    main()
