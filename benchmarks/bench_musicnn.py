"""musicnn extraction speed and memory on 10 s OpenMIC-format clips, and the time for 20,000 clips.

Three measurements on the 44.1 kHz stereo OGG fixture (hard links, so every clip is real audio):

* both stages through `features.extract.extract_dataset("musicnn")` with `--n-jobs` workers (each
  imports TensorFlow and builds its own network), with the peak resident memory of the process
  tree; measured first, while this process has not imported TensorFlow;
* the front end alone: decode + resampy ``kaiser_best`` + mel + patches, `--n-jobs` processes;
* the network alone: the 3 patches of each clip through MTT_musicnn (penultimate layer) in
  batches of `--batch-patches`, in this process (TensorFlow uses every core it is given).

Wall-clock figures depend on what else runs on the machine, so CPU times are printed too (front
end single-threaded per clip, network per patch with all its threads), and the projection for
20,000 clips on `--n-jobs` otherwise idle cores is made from them. The weights must be in the
cache (`python -m features.musicnn fetch`).

    python benchmarks/bench_musicnn.py --clips 200 --n-jobs 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_features import make_clips
from benchmarks.memory import PeakRSS
from features.extract import extract_dataset
from features.musicnn import params as p
from features.musicnn.frontend import file_to_patches

OPENMIC_CLIPS = 20_000


def end_to_end(paths: list[Path], n_jobs: int) -> tuple[float, int]:
    """Wall seconds and peak process-tree RSS of `extract_dataset(..., "musicnn")`."""
    with tempfile.TemporaryDirectory() as cache, PeakRSS() as rss:
        start = time.perf_counter()
        keys = [q.stem for q in paths]
        result = extract_dataset(paths, keys, "musicnn", cache, n_jobs=n_jobs, progress=False)
        seconds = time.perf_counter() - start
        get_reusable_executor().shutdown(wait=True)  # its workers hold TensorFlow
    assert result.ok.all(), result.problems
    return seconds, rss.peak


def front_end(paths: list[Path], n_jobs: int) -> tuple[float, float, np.ndarray]:
    """Wall seconds for every clip with `n_jobs` processes, CPU seconds per clip, the patches."""
    from threadpoolctl import threadpool_limits

    Parallel(n_jobs=n_jobs)(delayed(file_to_patches)(path) for path in paths[:n_jobs])  # start, JIT
    start = time.perf_counter()
    patches = Parallel(n_jobs=n_jobs)(delayed(file_to_patches)(path) for path in paths)
    seconds = time.perf_counter() - start
    get_reusable_executor().shutdown(wait=True)
    with threadpool_limits(1):  # as in a worker
        cpu = time.process_time()
        for path in paths[:10]:
            file_to_patches(path)
        cpu_per_clip = (time.process_time() - cpu) / len(paths[:10])
    return seconds, cpu_per_clip, np.stack(patches)


def network(patches: np.ndarray, batch_patches: int) -> tuple[float, float]:
    """Wall seconds for every patch and CPU seconds per patch, MTT_musicnn's penultimate layer."""
    from features.musicnn.hear import load_model

    embedding = load_model(name="MTT_musicnn", layer="penultimate")
    flat = patches.reshape(-1, p.PATCH_FRAMES, p.N_MELS)
    embedding.embed_patches(flat[:batch_patches])  # trace the graph once
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(flat), batch_patches):
        embedding.embed_patches(flat[i : i + batch_patches])
    return time.perf_counter() - start, (time.process_time() - cpu) / len(flat)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=200, help="10 s clips per stage (default 200)")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--batch-patches", type=int, default=p.PREDICT_BATCH_PATCHES,
                        help=f"patches per forward pass (default {p.PREDICT_BATCH_PATCHES})")
    args = parser.parse_args()
    n = args.clips
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_clips(Path(tmp) / "clips", n)
        e2e_s, e2e_peak = end_to_end(paths, args.n_jobs)
        fe_s, fe_cpu, patches = front_end(paths, args.n_jobs)
        with PeakRSS() as net_rss:
            net_s, net_cpu = network(patches, args.batch_patches)
    per_clip = patches.shape[1]

    print(f"{n} clips of 10 s ({per_clip} patches each), {args.n_jobs} workers, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} before / {os.getloadavg()[0]:.1f} after")
    print(f"{'stage':40s} {'clips/s':>8s} {'20k clips':>10s}  notes")
    rows = [
        ("extract_dataset('musicnn'), both stages", e2e_s,
         f"incl. worker start-up; peak RSS {e2e_peak / 2**20:,.0f} MiB (process tree)"),
        ("front end (decode, resample, mel)", fe_s,
         f"{args.n_jobs} processes; CPU {fe_cpu * 1000:.0f} ms per clip"),
        (f"network (batches of {args.batch_patches} patches)", net_s,
         f"1 process; CPU {net_cpu * 1000:.0f} ms per patch; peak RSS {net_rss.peak / 2**20:,.0f} MiB"),
    ]  # fmt: skip
    for name, seconds, note in rows:
        print(f"{name:40s} {n / seconds:8.2f} {seconds / n * OPENMIC_CLIPS / 3600:9.2f}h  {note}")
    cpu_per_clip = fe_cpu + per_clip * net_cpu
    idle_h = cpu_per_clip * OPENMIC_CLIPS / args.n_jobs / 3600
    print(f"projected for {OPENMIC_CLIPS:,} clips: {e2e_s / n * OPENMIC_CLIPS / 3600:.2f} h measured "
          f"through extract_dataset here; {idle_h:.2f} h from CPU time "
          f"({cpu_per_clip:.2f} s per clip) on {args.n_jobs} otherwise idle cores")


if __name__ == "__main__":
    main()
