"""Cost of `musicnn-ft` (the fine-tuned musicnn, `cnn.finetune`) projected to OpenMIC's size, on this CPU.

Measures, with the default configs (`FinetuneConfig()` for the head mode, `FinetuneConfig.full()`
for the full mode) and the real pretrained MTT_musicnn:

* the one-time cost of the head mode: the front end of one clip (decode, resample, mel: the real
  10 s fixture clip) and the backbone's forward pass per patch (3 patches per clip);
* training steps of each mode through the real training loop (`train_finetune`, tf.data input,
  checkpoints), on synthetic memory-mapped rows of the right shape: embeddings (head mode),
  log-mel patches (full mode: the default, whose input batch norm is frozen; every backbone
  weight trained; the front end frozen, ``freeze_through="front_end"``);
* prediction of held-out clips (validation pass of each epoch);

and projects the time of one epoch at OpenMIC's size: `--train` training clips (15,000: the
release's split01_train less a hold-out) plus `--val` hold-out clips (2,250). The median step
after the first (which traces the graph) is used. CPU seconds are printed beside wall seconds:
when the machine is shared, wall time overstates the cost.

    python benchmarks/bench_finetune.py                  # a few minutes on two cores
    python benchmarks/bench_finetune.py --full-steps 2   # fewer full-mode steps
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras

from benchmarks.memory import PeakRSS
from cnn import FinetuneConfig, train_finetune
from features.musicnn import params as mp

FIXTURE_CLIP = Path(__file__).resolve().parents[1] / "tests" / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"
N_PATCHES, N_CLASSES = 3, 20
OPENMIC_CLIPS = 20_000


class StepClock(keras.callbacks.Callback):
    """Wall and CPU seconds of every training step (data waits included, validation excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.wall, self.cpu = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self._t, self._c = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, batch, logs=None):
        self.wall.append(time.perf_counter() - self._t)
        self.cpu.append(time.process_time() - self._c)


def synthetic_rows(path: Path, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A memory-mapped .npy of smooth random rows in the networks' input range (0..9)."""
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    rng = np.random.default_rng(0)
    for i in range(shape[0]):
        rows[i] = np.clip(rng.normal(1.5, 0.7, shape[1:]), 0, 9)
    rows.flush()
    return np.load(path, mmap_mode="r")


def one_time_embedding_cost(config: FinetuneConfig) -> tuple[float, float]:
    """CPU seconds per clip of the front end (fixture clip) and per patch of the backbone."""
    from threadpoolctl import threadpool_limits

    from cnn.finetune import backbone_model
    from features.musicnn.frontend import file_to_patches

    with threadpool_limits(1):  # as in an extraction worker
        file_to_patches(FIXTURE_CLIP)
        cpu = time.process_time()
        for _ in range(3):
            patches = file_to_patches(FIXTURE_CLIP)
        front_end = (time.process_time() - cpu) / 3
    backbone = backbone_model(dataclasses.replace(config, mode="full"))
    batch = np.repeat(patches, mp.PREDICT_BATCH_PATCHES // len(patches) + 1, axis=0)[: mp.PREDICT_BATCH_PATCHES]
    backbone.predict_on_batch(batch)
    cpu = time.process_time()
    for _ in range(4):
        backbone.predict_on_batch(batch)
    return front_end, (time.process_time() - cpu) / (4 * len(batch))


def measure(name: str, config: FinetuneConfig, rows: np.ndarray, n_val: int, work: Path) -> dict:
    """Train `config` for its epochs on `rows` (last `n_val` rows validate) and time the steps."""
    n = len(rows)
    rng = np.random.default_rng(0)
    Y_true = rng.uniform(0, 1, (n, N_CLASSES))
    Y_mask = rng.random((n, N_CLASSES)) < 0.3
    fit_idx, val_idx = np.arange(n - n_val), np.arange(n - n_val, n)
    clock = StepClock()
    with PeakRSS(interval_s=0.2) as peak:
        model = train_finetune(rows, Y_true, Y_mask, fit_idx, val_idx, config, work / name, progress=False,
                               callbacks=[clock])
        t, c = time.perf_counter(), time.process_time()
        model.predict_proba(rows, val_idx)
        predict_wall, predict_cpu = time.perf_counter() - t, time.process_time() - c
    return {
        "name": name, "batch": config.batch_size, "steps": len(clock.wall),
        "step_wall": float(np.median(clock.wall[1:])), "step_cpu": float(np.median(clock.cpu[1:])),
        "predict_wall": predict_wall / n_val, "predict_cpu": predict_cpu / n_val,
        "trainable": model.facts["trainable_params"], "params": model.facts["params"], "peak": peak.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=15_000, help="training clips of the projection")
    parser.add_argument("--val", type=int, default=2_250, help="hold-out clips of the projection")
    parser.add_argument("--head-steps", type=int, default=40, help="head-mode steps measured")
    parser.add_argument("--full-steps", type=int, default=3, help="full-mode steps measured per variant")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    head = FinetuneConfig()
    full = FinetuneConfig.full()
    front_end_cpu, patch_cpu = one_time_embedding_cost(head)
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        work = Path(tmp)
        n_head = head.batch_size * args.head_steps + 64
        embeddings = synthetic_rows(work / "emb.npy", (n_head, N_PATCHES, head.embedding_size), "float32")
        results.append(measure("head", dataclasses.replace(head, epochs=1, max_steps_per_epoch=args.head_steps),
                               embeddings, 64, work))
        n_full = full.batch_size * (args.full_steps + 1) + 8
        patches = synthetic_rows(work / "patches.npy", (n_full, N_PATCHES, mp.PATCH_FRAMES, mp.N_MELS), "float16")
        variants = (("full (input batch norm frozen)", full.freeze_through),
                    ("full, nothing frozen", None), ("full, front end frozen", "front_end"))
        for name, freeze in variants:
            config = dataclasses.replace(full, epochs=1, max_steps_per_epoch=args.full_steps + 1,
                                         freeze_through=freeze)
            results.append(measure(name, config, patches, 8, work))

    print(f"One-time (head mode): front end {front_end_cpu:.2f} CPU s per clip; backbone forward "
          f"{patch_cpu * 1e3:.0f} CPU ms per patch ({N_PATCHES} per clip); embeddings of "
          f"{OPENMIC_CLIPS:,} clips: {OPENMIC_CLIPS * (front_end_cpu + N_PATCHES * patch_cpu) / 3600:.1f} "
          f"CPU hours ({OPENMIC_CLIPS * (front_end_cpu + N_PATCHES * patch_cpu) / 3600 / (os.cpu_count() or 1):.1f} "
          f"h on {os.cpu_count()} idle cores)")
    header = ("mode", "trainable / all params", "batch", "train ms/clip (wall | CPU)", "predict ms/clip (wall | CPU)",
              f"epoch at {args.train:,}+{args.val:,} clips (wall | CPU)", "peak RSS")
    print(" | ".join(header))
    for r in results:
        per_clip_wall, per_clip_cpu = r["step_wall"] / r["batch"], r["step_cpu"] / r["batch"]
        epoch_wall = args.train * per_clip_wall + args.val * r["predict_wall"]
        epoch_cpu = args.train * per_clip_cpu + args.val * r["predict_cpu"]
        print(" | ".join((
            r["name"], f"{r['trainable']:,} / {r['params']:,}", str(r["batch"]),
            f"{_ms(per_clip_wall)} | {_ms(per_clip_cpu)}",
            f"{_ms(r['predict_wall'])} | {_ms(r['predict_cpu'])}",
            f"{_duration(epoch_wall)} | {_duration(epoch_cpu)}", f"{r['peak'] / 2**30:.2f} GiB",
        )))
    print(f"({os.cpu_count()} cores; CPU time counts every core, so the wall time of an idle machine "
          "is about CPU time / cores where the work parallelises)")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}" if seconds < 1e-3 else f"{seconds * 1e3:.1f}"


if __name__ == "__main__":
    main()
