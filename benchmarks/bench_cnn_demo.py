"""Quality and cost of CNN config variants on the synthetic demo set (same seed, same split).

Loads an OpenMIC-layout folder (`features.openmic.load`, e.g. the demo set `compare.py` writes),
builds or reuses its log-mel cache, then trains the CNN once per variant on the fit split
(``ds.validation_split(seed)``), early-stopped on the validation split, and scores the test
split. Prints one row per variant: epochs run, best epoch, wall and CPU seconds of training,
seconds per epoch per 1,000 clips, test macro ROC AUC and mAP, best validation mAP, and the
validation AUC/mAP of the restored (best) weights.

Scores are per instrument on the observed pairs only (`core.metrics.masked_scores`); a class
without a positive or a negative in a split is left out of that split's macro means.
Choose configs on the validation columns; the test columns are for information.

    python benchmarks/bench_cnn_demo.py --data /tmp/cacheQ/demo/openmic-demo-500-seed0 \\
        --cache /tmp/cacheQ/features --variants default,soft,quick
    python benchmarks/bench_cnn_demo.py --data DIR --cache DIR --variants default \\
        --set lr=1e-3 --set patience=10      # overrides applied to every variant
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn import CNNConfig, train_cnn
from core.metrics import masked_scores, mean_over_classes
from features.extract import extract_dataset
from features.openmic import load

# Named variants: a function of the base overrides (from --set) returning a config.
VARIANTS = {
    "default": lambda **o: CNNConfig(**o),
    "soft": lambda **o: CNNConfig(**{**o, "soft_targets": True}),
    "quick": lambda **o: CNNConfig.quick(**o),
    "no-early-stop": lambda **o: CNNConfig(**{"patience": 0, **o}),
}


def macro_scores(P: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray) -> tuple[float, float]:
    """Macro ROC AUC and mAP over the classes `core.metrics` can score.

    Parameters
    ----------
    P, Y_true : np.ndarray [shape=(n, n_classes)]
    Y_mask : np.ndarray [shape=(n, n_classes)] bool

    Returns
    -------
    auc, ap : float
    """
    scores = masked_scores(P, Y_true, Y_mask)
    return mean_over_classes(scores["roc_auc"]), mean_over_classes(scores["ap"])


def parse_overrides(items: list[str]) -> dict:
    """``["lr=1e-3", "train_frames=None"]`` -> ``{"lr": 0.001, "train_frames": None}``."""
    fields = {f.name: f for f in dataclasses.fields(CNNConfig)}
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in fields:
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {sorted(fields)}")
        default = getattr(CNNConfig(), name)
        if text == "None":
            out[name] = None
        elif isinstance(default, bool):
            out[name] = text.lower() in ("1", "true", "yes")
        elif isinstance(default, int) or name in ("train_frames", "max_steps_per_epoch"):
            out[name] = int(text)
        else:
            out[name] = float(text)
    return out


def config_for(name: str, overrides: dict) -> CNNConfig:
    """A named variant, or ``field=value[:field=value...]`` applied to the defaults."""
    if name in VARIANTS:
        return VARIANTS[name](**overrides)
    return CNNConfig(**{**overrides, **parse_overrides(name.split(":"))})


def run_variant(name: str, config: CNNConfig, cache, ds, fit_idx, val_idx, work: Path) -> dict:
    """Train one variant in `work`/`name` and score it; returns one table row."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = train_cnn(cache, ds.Y_true, ds.Y_mask, fit_idx, val_idx, config, work / name.replace("/", "_"),
                      progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    test_idx = ds.test_idx[cache.ok[ds.test_idx]]
    test_auc, test_map = macro_scores(model.predict_proba(cache, test_idx), ds.Y_true[test_idx], ds.Y_mask[test_idx])
    val_auc, val_map = macro_scores(model.predict_proba(cache, val_idx), ds.Y_true[val_idx], ds.Y_mask[val_idx])
    meta, history = model.metadata, model.history
    epochs = int(meta["epochs_run"])
    train_s = float(meta["train_time_s"])
    return {
        "variant": name, "epochs": epochs, "best": int(meta["best_epoch"]) + 1,
        "train_s": train_s, "wall_s": wall, "cpu_s": cpu,
        "s_per_epoch_per_1k": 1000 * train_s / max(epochs, 1) / max(len(fit_idx), 1),
        "test_auc": test_auc, "test_map": test_map,
        "best_val_map": float(np.nanmax(history["val_map"])) if len(history) else math.nan,
        "val_auc": val_auc, "val_map": val_map,
        "val_map_by_epoch": [round(float(v), 3) for v in history["val_map"]],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="OpenMIC-layout folder (the demo set)")
    p.add_argument("--cache", required=True, help="log-mel feature cache folder (built when missing)")
    p.add_argument("--variants", default="default,soft,quick",
                   help=f"comma-separated: {', '.join(VARIANTS)}, or FIELD=VALUE[:FIELD=VALUE] "
                        "(default: default,soft,quick)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a CNNConfig field in every variant (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="split and training seed (default: 0)")
    p.add_argument("--jobs", type=int, default=2, help="workers for the log-mel cache (default: 2)")
    p.add_argument("--work", help="folder for the trained models (default: a temporary folder)")
    args = p.parse_args(argv)

    overrides = {"seed": args.seed, **parse_overrides(args.set)}
    ds = load(args.data)
    cache = extract_dataset(ds.audio_path, ds.sample_key, "logmel", args.cache, n_jobs=args.jobs)
    fit_idx, val_idx = ds.validation_split(seed=args.seed)
    fit_idx, val_idx = fit_idx[cache.ok[fit_idx]], val_idx[cache.ok[val_idx]]
    print(f"{args.data}: {len(fit_idx)} fit, {len(val_idx)} validation, {len(ds.test_idx)} test clips; "
          f"log-mel {tuple(cache.data.shape[1:])}", flush=True)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_cnn_demo-") as tmp:
        work = Path(args.work or tmp)
        for name in [v for v in args.variants.split(",") if v]:
            config = config_for(name, overrides)
            rows.append(run_variant(name, config, cache, ds, fit_idx, val_idx, work))
            r = rows[-1]
            print(f"  {name}: {r['epochs']} epochs, {r['train_s']:.1f} s, test AUC {r['test_auc']:.3f}; "
                  f"val mAP by epoch {r['val_map_by_epoch']}", flush=True)

    header = (f"{'variant':<28} {'epochs':>6} {'best':>4} {'train_s':>8} {'cpu_s':>7} {'s/ep/1k':>7} "
              f"{'test_auc':>8} {'test_map':>8} {'bestvmap':>8} {'val_auc':>7} {'val_map':>7}")
    print("\n" + header)
    for r in rows:
        print(f"{r['variant']:<28} {r['epochs']:>6} {r['best']:>4} {r['train_s']:>8.1f} {r['cpu_s']:>7.1f} "
              f"{r['s_per_epoch_per_1k']:>7.1f} {r['test_auc']:>8.3f} {r['test_map']:>8.3f} "
              f"{r['best_val_map']:>8.3f} {r['val_auc']:>7.3f} {r['val_map']:>7.3f}")
    print("train_s: training loop (validation each epoch included); cpu_s: process CPU seconds of "
          "train_cnn; s/ep/1k: train_s per epoch per 1,000 fit clips. Machine contended.")


if __name__ == "__main__":
    main()
