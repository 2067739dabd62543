"""Speed and memory of the spectrogram CNN at the default config, from a memory-mapped cache.

Writes a synthetic log-mel cache of `--clips` clips (128 x 1000 float16, 5 GB for the default
20,000, reused when it exists) into `--dir`, then trains with `CNNConfig()` for `--steps` steps
per epoch over two epochs (the band statistics stream every training clip) and predicts
`--infer` whole clips. Prints a table: training and inference clips per second, the time of the
statistics pass, the estimated time of the demo run (600 clips, default epochs) and peak RSS.
Target: peak RSS under 4 GB while training from the 20,000-clip cache.

    python benchmarks/bench_cnn.py                 # 20,000 clips, 5 GB in /tmp
    python benchmarks/bench_cnn.py --clips 2000    # quicker
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras

from benchmarks.memory import PeakRSS
from cnn import CNNConfig, model_cost, train_cnn

N_MELS, N_FRAMES, N_CLASSES = 128, 1000, 20
DEMO_TRAIN_CLIPS = 600
WRITE_CHUNK = 256


class Cache:
    def __init__(self, data: np.ndarray) -> None:
        self.data, self.ok, self.params = data, np.ones(len(data), dtype=bool), {}


def make_cache(path: Path, n_clips: int) -> np.memmap:
    """A .npy of random log-mel rows, written with plain file writes (no mapping, no RSS)."""
    shape = (n_clips, N_MELS, N_FRAMES)
    if path.is_file():
        existing = np.load(path, mmap_mode="r")
        if existing.shape == shape and existing.dtype == np.float16:
            return existing
    header = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(1, N_MELS, N_FRAMES))
    offset = header.offset
    del header
    rng = np.random.default_rng(0)
    pool = rng.normal(-6.0, 3.0, (WRITE_CHUNK, N_MELS, N_FRAMES)).astype(np.float16)
    with open(path, "r+b") as f:
        # Rewrite the header for the full shape, then the rows after it.
        f.seek(0)
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f2", "fortran_order": False, "shape": shape}
        )
        assert f.tell() == offset, "header size changed"
        for start in range(0, n_clips, WRITE_CHUNK):
            rows = min(WRITE_CHUNK, n_clips - start)
            f.write(np.roll(pool, start % N_FRAMES, axis=2)[:rows].tobytes())
    return np.load(path, mmap_mode="r")


class StepTimer(keras.callbacks.Callback):
    """Wall time of the training steps only (data waits included, validation excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds, self.steps = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        # Validation and checkpoint ran in the callbacks before this one; stop at the last step.
        self.seconds += self._last - self._t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=30, help="training steps per epoch (2 epochs)")
    parser.add_argument("--val", type=int, default=128, help="validation clips")
    parser.add_argument("--infer", type=int, default=256, help="clips predicted for inference speed")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic cache file")
    args = parser.parse_args()

    path = args.dir / f"bench_cnn_logmel_{args.clips}.npy"
    t0 = time.perf_counter()
    data = make_cache(path, args.clips)
    make_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    Y_true = rng.uniform(0, 1, (args.clips, N_CLASSES))
    Y_mask = rng.random((args.clips, N_CLASSES)) < 0.1
    val_idx = np.arange(args.clips - args.val, args.clips)
    fit_idx = np.arange(args.clips - args.val)
    config = CNNConfig(epochs=2, max_steps_per_epoch=args.steps, patience=0)
    out_dir = Path(tempfile.mkdtemp(prefix="bench_cnn_"))
    timer = StepTimer()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with PeakRSS(interval_s=0.1) as peak:
        t0 = time.perf_counter()
        model = train_cnn(Cache(data), Y_true, Y_mask, fit_idx, val_idx, config, out_dir,
                          progress=False, callbacks=[timer])
        train_total_s = time.perf_counter() - t0
        infer_idx = rng.choice(args.clips, size=min(args.infer, args.clips), replace=False)
        model.predict_proba(Cache(data), infer_idx[:8])  # warm-up (tracing)
        t0 = time.perf_counter()
        model.predict_proba(Cache(data), infer_idx)
        infer_s = time.perf_counter() - t0
    train_clips_s = timer.steps * config.batch_size / timer.seconds
    infer_clips_s = len(infer_idx) / infer_s
    default = CNNConfig()
    demo_s = DEMO_TRAIN_CLIPS * default.epochs / train_clips_s
    cost_full = model_cost(default, n_mels=N_MELS, n_frames=N_FRAMES)
    cost_crop = model_cost(default, n_mels=N_MELS, n_frames=default.train_frames or N_FRAMES)
    rows = [
        ("cache", f"{args.clips} clips x {N_MELS} x {N_FRAMES} float16, {data.nbytes / 1e9:.2f} GB ({make_s:.0f} s to write)"),
        ("model", f"{cost_full['params']:,} params; {cost_full['macs'] / 1e6:.0f} M MACs/clip whole, "
                  f"{cost_crop['macs'] / 1e6:.0f} M per {default.train_frames}-frame training crop"),
        ("train (2 epochs x steps, stats pass, val, ckpt)", f"{train_total_s:.1f} s"),
        ("training speed", f"{train_clips_s:.1f} clips/s ({timer.steps} steps of {config.batch_size})"),
        ("inference speed (whole clips)", f"{infer_clips_s:.1f} clips/s, {1e3 / infer_clips_s:.1f} ms/clip"),
        ("demo run estimate", f"{demo_s / 60:.1f} min for {DEMO_TRAIN_CLIPS} clips x {default.epochs} epochs (+val)"),
        ("peak RSS (sampled, process tree, train+predict)", f"{peak.peak / 2**30:.2f} GiB"),
        ("peak RSS (ru_maxrss, whole process)", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB "
                                                 f"(before training {rss_before / 2**20:.2f} GiB)"),
        ("cores", f"{os.cpu_count()} (figures under contention when the machine is shared)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    shutil.rmtree(out_dir, ignore_errors=True)
    if not args.keep:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
