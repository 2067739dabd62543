"""Speed and memory of `python compare.py tag`: seconds of audio scored per second, per model.

Two measurements on a run folder (make one with ``python compare.py --demo --quick --models
lr,xgb,rf,cnn,musicnn-ft``), on audio made by repeating one of the run's own clips and written
as FLAC (16-bit, 44.1 kHz stereo) block by block:

* speed: each model alone scores a `--seconds` file (default 120 s) at its default hop, in this
  process (`tagging.score.score_file`); then all models together, which share each window's
  computation. Printed: windows, wall seconds, seconds of audio per wall second, CPU seconds
  (all threads) per second of audio. Model loading is not counted.
* memory: the whole command (`tagging.command.main`: decoding, features, models, tags.csv,
  tags.json, the page) on a short file and on a `--hours` file (default 1 h), each in a fresh
  process, with the peak resident memory of that process (`benchmarks.memory.PeakRSS`), model
  loading included. Each model's default hop by default; `--memory-hop 10` (s, every model)
  makes the hour four times cheaper: the memory per window does not depend on the hop (one 10 s
  window and one block of audio are held at a time), the number of windows only adds 20
  probabilities per window and model.

    python benchmarks/bench_tag.py --run runs/<demo run> [--seconds 120] [--hours 1]

Wall times depend on what else runs on the machine: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.memory import PeakRSS

BLOCK_S = 60  # seconds of audio written at a time


def source_clip(run_dir: Path) -> tuple[np.ndarray, int]:
    """The first test clip of the run (its dataset's audio), (samples, channels) float32."""
    run = json.loads((run_dir / "run.json").read_text())
    key = str(np.load(run_dir / "predictions.npz")["sample_key"][0])
    path = Path(run["dataset"]["root"]) / "audio" / key[:3] / f"{key}.ogg"
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return y, sr


def write_long(path: Path, clip: np.ndarray, sr: int, seconds: float) -> Path:
    """`clip` repeated to `seconds`, written as 16-bit FLAC in blocks (memory stays flat)."""
    total = round(seconds * sr)
    reps = -(-BLOCK_S * sr // len(clip))
    block = np.tile(clip, (reps, 1))[: BLOCK_S * sr]
    with sf.SoundFile(path, "w", sr, clip.shape[1], format="FLAC", subtype="PCM_16") as f:
        done = 0
        while done < total:
            n = min(len(block), total - done)
            f.write(block[:n])
            done += n
    return path


def speed(run_dir: Path, path: Path, warm: Path, seconds: float) -> None:
    from tagging.models import load_run_models
    from tagging.score import score_file

    models = load_run_models(run_dir)
    score_file(warm, models)  # TensorFlow and the networks warm up outside the timing
    print(f"\nSpeed on {seconds:.0f} s of audio (44.1 kHz stereo FLAC), one process, "
          f"{os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'model':<14}{'input':<10}{'hop s':>7}{'windows':>9}{'wall s':>9}"
          f"{'audio s / s':>13}{'CPU s / audio s':>17}")
    for group in [[m] for m in models] + [models]:
        cpu, wall = time.process_time(), time.perf_counter()
        score = score_file(path, group)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        name = group[0].id if len(group) == 1 else "all together"
        kind = group[0].input.extractor if len(group) == 1 else "shared"
        n = sum(len(t.start_s) for t in score.timelines.values()) if len(group) > 1 else \
            len(score.timelines[group[0].id].start_s)
        hop = f"{group[0].input.hop_s:g}" if len(group) == 1 else "-"
        print(f"{name:<14}{kind:<10}{hop:>7}{n:>9}{wall:>9.1f}{score.duration_s / wall:>13.1f}"
              f"{cpu / score.duration_s:>17.3f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def memory(run_dir: Path, paths: list[tuple[str, Path]], hop: float | None) -> None:
    print(f"\nPeak memory of the whole tag command (fresh process each; windows every "
          f"{hop if hop else 'default'} s)")
    for label, path in paths:
        with tempfile.TemporaryDirectory() as out:
            args = [sys.executable, __file__, "--one", str(path), "--run", str(run_dir), "--out", out]
            if hop:
                args += ["--memory-hop", str(hop)]
            res = subprocess.run(args, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                print(res.stderr[-2000:])
                raise SystemExit(f"tag command failed on {path}")
            facts = json.loads(res.stdout.strip().splitlines()[-1])
            size = sum(f.stat().st_size for f in Path(out).iterdir())
        print(f"{label:<10} peak RSS {facts['peak'] / 2**20:7.0f} MiB (before loading the models: "
              f"{facts['loaded'] / 2**20:.0f} MiB), {facts['wall']:.0f} s wall, outputs "
              f"{size / 2**20:.1f} MiB, load average {os.getloadavg()[0]:.1f}")


def one(path: Path, run_dir: Path, out: str, hop: float | None) -> None:
    """In a fresh process: the tag command on `path`; prints peak RSS facts as JSON."""
    from benchmarks.memory import tree_rss_bytes
    from tagging.command import main

    loaded = tree_rss_bytes(os.getpid())  # Python and the toolkit's modules, before any model
    args = [str(path), "--run", str(run_dir), "--out", out] + (["--hop", str(hop)] if hop else [])
    with PeakRSS() as rss:
        start = time.perf_counter()
        code = main(args)
        wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(code)
    print(json.dumps({"peak": rss.peak, "loaded": loaded, "wall": wall}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, type=Path, help="a run folder of compare.py")
    p.add_argument("--seconds", type=float, default=120.0, help="audio for the speed figures")
    p.add_argument("--hours", type=float, default=1.0, help="the long file of the memory figure")
    p.add_argument("--memory-hop", type=float, default=0.0,
                   help="window hop for the memory runs in s (default 0: each model's default)")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.one:
        one(args.one, args.run, args.out, args.memory_hop or None)
        return
    clip, sr = source_clip(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        short = write_long(Path(tmp) / "short.flac", clip, sr, args.seconds)
        if not args.skip_speed:
            warm = write_long(Path(tmp) / "warm.flac", clip, sr, 10.0)
            speed(args.run, short, warm, args.seconds)
        start = time.perf_counter()
        long = write_long(Path(tmp) / "long.flac", clip, sr, args.hours * 3600)
        print(f"\n(wrote {args.hours:g} h of FLAC, {long.stat().st_size / 2**20:.0f} MiB, in "
              f"{time.perf_counter() - start:.0f} s)")
        memory(args.run, [(f"{args.seconds:.0f} s", short), (f"{args.hours:g} h", long)],
               args.memory_hop or None)


if __name__ == "__main__":
    main()
