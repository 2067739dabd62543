"""Training time of the per-instrument baselines, hyper-parameter selection included.

Default: synthetic arrays shaped like OpenMIC's (15,000 x 10 x 128 int64, ~2 observed labels per
clip, ~43 % positive, a learnable class signal), 15 % carved out for validation, 2 processes.
Targets on 2 cores: all 20 LRs < 30 s, all 20 XGBoost models < 90 s.

    python benchmarks/bench_baselines.py [--clips N] [--n-jobs J] [--kinds lr xgb rf]
    python benchmarks/bench_baselines.py --data DIR    # a dataset folder (OpenMIC or demo set):
                                                       # macro AP / ROC AUC on its test split
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines import PerInstrumentModel
from core.metrics import masked_scores, mean_over_classes
from features.demo.synthetic import make_synthetic

TARGET_S = {"lr": 30.0, "xgb": 90.0}


def _synthetic_splits(n_clips: int, seed: int):
    X, Y_true, Y_mask = make_synthetic(n_clips, seed=seed)
    n_val = round(0.15 * n_clips)
    order = np.random.default_rng(seed).permutation(n_clips)
    val, fit = order[:n_val], order[n_val:]
    return (X[fit], Y_true[fit], Y_mask[fit]), (X[val], Y_true[val], Y_mask[val])


def _time_kinds(kinds, fit, val, n_jobs: int) -> None:
    print(f"fit {fit[0].shape} {fit[0].dtype}, validation {val[0].shape}, n_jobs={n_jobs}")
    print(
        f"{'kind':<5} {'train s':>8} {'CPU s/job':>9} {'target s':>9} {'pooling':>9} {'val mAP':>8}"
        "  chosen (first 3 classes)  [mean val AP per pooling]"
    )
    for kind in kinds:
        start = time.perf_counter()
        model = PerInstrumentModel(kind, n_jobs=n_jobs, progress=False).fit(
            *fit, X_val=val[0], Y_true_val=val[1], Y_mask_val=val[2]
        )
        wall = time.perf_counter() - start
        target = TARGET_S.get(kind)
        verdict = "" if target is None else f"{target:>6.0f} {'ok' if wall < target else 'MISSED'}"
        scores = " ".join(f"{p}={v:.3f}" for p, v in model.pooling_scores_.items())
        print(
            f"{kind:<5} {wall:>8.1f} {model.fit_cpu_s_ / n_jobs:>9.1f} {verdict:>9} {model.pooling_:>9} {np.nanmean(model.val_ap_):>8.3f}"
            f"  {model.params_[:3]}  [{scores}]"
        )
    print("train s: wall time of fit; CPU s/job: CPU time of the per-class fits / n_jobs, i.e. the")
    print(
        "wall time the fits would take on n_jobs idle cores (a contended machine inflates train s)"
    )


def _dataset_comparison(root: Path, kinds, n_jobs: int, seed: int) -> None:
    """Fit each kind on the fit split (tuned on validation) and score the test split."""
    from features.openmic import load

    ds = load(root)
    fit_idx, val_idx = ds.validation_split(seed=seed)
    test = ds.test_idx
    print(f"{root}: fit {len(fit_idx)}, validation {len(val_idx)}, test {len(test)} clips")
    summary, ap = {}, {}
    for kind in kinds:
        model = PerInstrumentModel(kind, seed=seed, n_jobs=n_jobs).fit(
            ds.X[fit_idx], ds.Y_true[fit_idx], ds.Y_mask[fit_idx],
            X_val=ds.X[val_idx], Y_true_val=ds.Y_true[val_idx], Y_mask_val=ds.Y_mask[val_idx],
            classes=ds.classes,
        )  # fmt: skip
        scores = masked_scores(model.predict_proba(ds.X[test]), ds.Y_true[test], ds.Y_mask[test])
        ap[kind] = scores["ap"]
        summary[kind] = {
            "macro_ap": mean_over_classes(scores["ap"]),
            "macro_roc_auc": mean_over_classes(scores["roc_auc"]),
            "pooling": model.pooling_,
            "train_time_s": model.train_time_s_,
        }
    print(pd.DataFrame.from_dict(summary, orient="index").rename_axis("kind").round(3).to_string())
    print(pd.DataFrame(ap, index=pd.Index(ds.classes, name="instrument")).round(3).to_string())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=15000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", default=["lr", "xgb"], choices=["lr", "xgb", "rf"])
    parser.add_argument("--data", type=Path, help="dataset folder: compare on its test split")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    if args.data is not None:
        _dataset_comparison(args.data, tuple(args.kinds), args.n_jobs, args.seed)
    else:
        _time_kinds(args.kinds, *_synthetic_splits(args.clips, args.seed), args.n_jobs)


if __name__ == "__main__":
    main()
