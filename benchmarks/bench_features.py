"""Feature-extraction speed and memory, through `features.extract.extract_dataset`.

Measures clips/s for decoding only, the VGGish front end (resampy "kaiser_best" and soxr HQ) and
the CNN log-mel, on OpenMIC-format clips (hard links to the 44.1 kHz stereo 10 s OGG fixture),
with `--n-jobs` workers, and the peak resident memory of the whole process tree (this process
plus joblib's workers, read from /proc) while extracting `--clips` clips.

Targets on 2 cores: CNN log-mel within 2x of decode-only time, at least 40 clips/s.

    python benchmarks/bench_features.py --clips 2000 --n-jobs 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.memory import PeakRSS
from features.extract import EXTRACTORS, Extractor, extract_clip, extract_dataset

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"


def _channel_rms(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    return np.sqrt(np.mean(np.square(y), axis=1))[:1].astype(np.float32)


DECODE_ONLY = Extractor(compute=_channel_rms, defaults={}, shape=lambda params: (1,), dtype="float32")


def make_clips(folder: Path, n: int) -> list[Path]:
    """`n` OpenMIC-format clips: hard links to the fixture (copies where links are refused)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:06d}.ogg"
        try:
            os.link(FIXTURE, path)
        except OSError:
            shutil.copyfile(FIXTURE, path)
        paths.append(path)
    return paths


def cpu_ms_per_clip(extractor: str, params: dict | None, paths: list[Path]) -> float:
    """Single-process CPU time per clip (decode + features): robust to other load on the machine."""
    from threadpoolctl import threadpool_limits

    spec = EXTRACTORS[extractor]
    own = {**spec.defaults, **(params or {})}
    extract_clip(spec, paths[0], {**own, "expected_duration_s": None})  # warm caches and JIT
    with threadpool_limits(1):  # as in joblib's workers
        start = time.process_time()
        for path in paths:
            extract_clip(spec, path, {**own, "expected_duration_s": None})
        return (time.process_time() - start) / len(paths) * 1000


def run(name: str, extractor: str, params: dict | None, paths: list[Path], cache: Path, n_jobs: int) -> dict:
    keys = [p.stem for p in paths]
    with PeakRSS() as rss:
        start = time.perf_counter()
        result = extract_dataset(paths, keys, extractor, cache, params=params, n_jobs=n_jobs, progress=False)
        seconds = time.perf_counter() - start
    assert result.ok.all(), result.problems
    return {"name": name, "clips": len(paths), "seconds": seconds, "clips_per_s": len(paths) / seconds,
            "peak_rss_mb": rss.peak / 2**20, "cpu_ms": cpu_ms_per_clip(extractor, params, paths[:10])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=2000, help="clips for decode-only and log-mel (default 2000)")
    parser.add_argument("--vggish-clips", type=int, default=None,
                        help="clips for the VGGish front ends (default min(clips, 100): resampy is slow)")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    vggish_clips = args.vggish_clips or min(args.clips, 100)

    EXTRACTORS["decode"] = DECODE_ONLY
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        tmp = Path(tmp)
        paths = make_clips(tmp / "audio", max(args.clips, vggish_clips))
        # Warm-up: start the workers and fill the page cache, so every row measures the same thing.
        run("warm-up", "decode", None, paths[: 4 * args.n_jobs], tmp / "cache-warm", args.n_jobs)
        rows = [
            run("decode only", "decode", None, paths[: args.clips], tmp / "cache-decode", args.n_jobs),
            run("CNN log-mel (soxr)", "logmel", None, paths[: args.clips], tmp / "cache-logmel", args.n_jobs),
            run("VGGish front end, soxr_hq", "vggish_examples", {"resampler": "soxr_hq"},
                paths[:vggish_clips], tmp / "cache-vggish-soxr", args.n_jobs),
            run("VGGish front end, kaiser_best", "vggish_examples", {"resampler": "kaiser_best"},
                paths[:vggish_clips], tmp / "cache-vggish-kaiser", args.n_jobs),
        ]
    print(f"\nfeature extraction, n_jobs={args.n_jobs}, {os.cpu_count()} CPUs visible")
    print(f"{'stage':32s} {'clips':>6s} {'seconds':>8s} {'clips/s':>8s} {'peak RSS MB':>12s} {'CPU ms/clip':>12s}")
    for r in rows:
        print(f"{r['name']:32s} {r['clips']:6d} {r['seconds']:8.2f} {r['clips_per_s']:8.1f} "
              f"{r['peak_rss_mb']:12.0f} {r['cpu_ms']:12.1f}")
    decode, cnn = rows[0], rows[1]
    print(f"\nlog-mel / decode-only: wall {cnn['seconds'] / decode['seconds']:.2f}, CPU "
          f"{cnn['cpu_ms'] / decode['cpu_ms']:.2f} (target <= 2); log-mel {cnn['clips_per_s']:.1f} clips/s "
          f"measured, {args.n_jobs * 1000 / cnn['cpu_ms']:.1f} clips/s from CPU time on {args.n_jobs} "
          "idle cores (target >= 40)")
    print("CPU ms/clip: one process, one BLAS thread, 10 clips; wall figures depend on other load.")


if __name__ == "__main__":
    main()
