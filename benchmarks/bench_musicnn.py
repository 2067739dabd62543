"""musicnn extraction speed: the polyphase resampler against the resampy path, in the same run.

On 10 s OpenMIC-format clips (hard links to the 44.1 kHz stereo OGG fixture, so every clip is
real audio), three measurements:

* one clip's stages, single-threaded CPU time: decode, resampling to 16 kHz (resampy's
  ``kaiser_best`` through ``librosa.resample``, the toolkit's path before `features.resample`,
  and `features.resample`), mel + patches, the network (3 patches, MTT_musicnn penultimate);
* whole extraction of `--clips` clips (decode, front end, network) by `--n-jobs` worker
  processes, once with each resampler: wall time, and the CPU time the workers spent per clip
  (measured inside them, all threads counted);
* `features.extract.extract_dataset("musicnn_layers")`, the toolkit's own path with its cache,
  for the penultimate and max_pool layers in one pass: wall time (worker start-up included) and
  the peak RSS of the process tree, measured first, before this process imports TensorFlow.

The machine may be shared: wall-clock figures then depend on the other load (the load average
is printed), so every figure is given with its CPU time too, and the rate on `--n-jobs`
otherwise idle cores is derived from the CPU time per clip. The weights must be in the cache
(`python -m features.musicnn fetch`).

    python benchmarks/bench_musicnn.py --clips 40 --n-jobs 2
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
from features.audio import load_audio, to_mono
from features.extract import extract_dataset
from features.musicnn import params as p
from features.musicnn.frontend import resample_like_librosa

OPENMIC_CLIPS = 20_000
PATHS = ("resampy", "polyphase")


def resample_16k(mono: np.ndarray, sr: int, path: str) -> np.ndarray:
    """The musicnn front end's resampling by `path`: resampy (as before) or `features.resample`."""
    if path == "resampy":
        import librosa

        return librosa.resample(mono, orig_sr=sr, target_sr=p.SAMPLE_RATE_HZ, res_type=p.RESAMPLER)
    return resample_like_librosa(mono, sr)


def mel_patches(mono16k: np.ndarray) -> np.ndarray:
    """`features.musicnn.extractor.clip_patches` after the resampling: log-mel, 3 patches."""
    from features.musicnn.extractor import clip_patches

    return clip_patches(mono16k, p.SAMPLE_RATE_HZ, {"n_patches": 3})


def embed(patches: np.ndarray) -> np.ndarray:
    from features.musicnn.extractor import patch_layers

    return patch_layers(patches, "MTT_musicnn", ["penultimate"])["penultimate"]


def extract_one(path: Path, how: str) -> tuple[np.ndarray, float]:
    """One clip's penultimate embeddings (3, 200) with resampler `how`, and the CPU seconds."""
    start = time.process_time()
    y, sr = load_audio(path)
    rows = embed(mel_patches(resample_16k(to_mono(y, dtype=np.float32), sr, how)))
    return rows, time.process_time() - start


def whole_extraction(paths: list[Path], how: str, n_jobs: int) -> tuple[float, float, np.ndarray]:
    """Wall seconds for all clips, workers' CPU seconds per clip, the embeddings."""
    with Parallel(n_jobs=n_jobs) as parallel:
        parallel(delayed(extract_one)(q, how) for q in paths[: 2 * n_jobs])  # TF, JIT in each worker
        start = time.perf_counter()
        results = parallel(delayed(extract_one)(q, how) for q in paths)
        wall = time.perf_counter() - start
    return wall, float(np.mean([cpu for _, cpu in results])), np.stack([rows for rows, _ in results])


def stage_cpu(path: Path, repeats: int = 5) -> dict[str, float]:
    """Single-threaded CPU milliseconds of each stage of one clip (best of `repeats`)."""
    from threadpoolctl import threadpool_limits

    def best(fn) -> float:
        fn()  # warm caches, JIT, the network
        times = []
        for _ in range(repeats):
            start = time.process_time()
            fn()
            times.append(time.process_time() - start)
        return min(times) * 1000

    y, sr = load_audio(path)
    mono = to_mono(y, dtype=np.float32)
    mono16k = resample_16k(mono, sr, "polyphase")
    patches = mel_patches(mono16k)
    with threadpool_limits(1):
        return {
            "decode (OGG, 44.1 kHz stereo)": best(lambda: load_audio(path)),
            "resample, resampy (librosa.resample)": best(lambda: resample_16k(mono, sr, "resampy")),
            "resample, features.resample": best(lambda: resample_16k(mono, sr, "polyphase")),
            "mel + patches": best(lambda: mel_patches(mono16k)),
            "network, 3 patches (all its threads)": best(lambda: embed(patches)),
        }


def cached_extraction(paths: list[Path], n_jobs: int) -> tuple[float, int]:
    """Wall seconds and peak process-tree RSS of `extract_dataset(..., "musicnn_layers")`."""
    with tempfile.TemporaryDirectory() as cache, PeakRSS() as rss:
        start = time.perf_counter()
        keys = [q.stem for q in paths]
        result = extract_dataset(paths, keys, "musicnn_layers", cache, n_jobs=n_jobs, progress=False,
                                 params={"layers": ["max_pool", "penultimate"]})
        seconds = time.perf_counter() - start
        get_reusable_executor().shutdown(wait=True)  # its workers hold TensorFlow
    assert result.ok.all(), result.problems
    return seconds, rss.peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=40, help="10 s clips per path (default 40)")
    parser.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    n, n_jobs = args.clips, args.n_jobs
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_clips(Path(tmp) / "clips", n)
        cached_s, cached_peak = cached_extraction(paths, n_jobs)  # before TensorFlow is imported here
        runs = {how: whole_extraction(paths, how, n_jobs) for how in PATHS}
        get_reusable_executor().shutdown(wait=True)
        stages = stage_cpu(paths[0])
    load_after = os.getloadavg()

    print(f"{n} clips of 10 s, {n_jobs} workers, {os.cpu_count()} CPUs; load average (1, 5, 15 min) "
          f"{', '.join(f'{x:.1f}' for x in load_before)} before, "
          f"{', '.join(f'{x:.1f}' for x in load_after)} after")
    print("\none clip, single-threaded CPU ms per stage:")
    for name, ms in stages.items():
        print(f"  {name:40s} {ms:8.1f}")
    print(f"  {'resampling speed-up':40s} {stages['resample, resampy (librosa.resample)'] / stages['resample, features.resample']:7.1f}x")

    print(f"\nwhole extraction (decode, front end, network), {n_jobs} workers:")
    print(f"  {'path':12s} {'wall s':>8s} {'clips/s':>8s} {'CPU s/clip':>11s} {'clips/s idle':>13s} "
          f"{'20k clips idle':>15s}")
    for how, (wall, cpu, _) in runs.items():
        idle = n_jobs / cpu
        print(f"  {how:12s} {wall:8.1f} {n / wall:8.2f} {cpu:11.3f} {idle:13.2f} "
              f"{OPENMIC_CLIPS / idle / 3600:14.2f}h")
    (old_wall, old_cpu, old_rows), (new_wall, new_cpu, new_rows) = runs["resampy"], runs["polyphase"]
    print(f"  speed-up: {old_wall / new_wall:.2f}x wall (shared machine), {old_cpu / new_cpu:.2f}x CPU per clip; "
          f"embeddings max |difference| {np.abs(old_rows - new_rows).max():.2e}")
    print(f"\nextract_dataset('musicnn_layers', max_pool + penultimate, one pass): {cached_s:.1f} s wall, "
          f"{n / cached_s:.2f} clips/s incl. worker start-up; peak RSS {cached_peak / 2**20:,.0f} MiB "
          "(process tree)")


if __name__ == "__main__":
    main()
