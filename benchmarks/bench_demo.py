"""Demo set generation speed, and how learnable the result is.

Prints a table: clips, jobs, wall time, clips/s, CPU seconds per clip, and the macro ROC AUC of a
per-class logistic regression on clip-mean X (fitted on split01_train, scored on split01_test,
classes with both labels in the test split).

    python benchmarks/bench_demo.py [--clips N] [--jobs J] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from joblib.externals.loky import get_reusable_executor
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features import openmic
from features.demo import DEFAULT_CLIPS, make_demo


def cpu_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def macro_auc(ds: openmic.OpenMIC, C: float) -> tuple[float, int]:
    """Mean per-class test ROC AUC of LR on clip-mean X, and the number of classes averaged."""
    features = ds.X.mean(axis=1)
    aucs = []
    for k in range(len(ds.classes)):
        fit_rows, fit_target = ds.targets(k, ds.train_idx)
        test_rows, test_target = ds.targets(k, ds.test_idx)
        if len(np.unique(fit_target)) < 2 or len(np.unique(test_target)) < 2:
            continue
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
        model.fit(features[fit_rows], fit_target)
        aucs.append(roc_auc_score(test_target, model.predict_proba(features[test_rows])[:, 1]))
    return float(np.mean(aucs)), len(aucs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=DEFAULT_CLIPS)
    parser.add_argument("--jobs", type=int, default=-1)
    parser.add_argument("--keep", type=Path, default=None, help="generate here and keep it")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    out = args.keep or tmp / "demo"
    try:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        make_demo(out, n_clips=args.clips, n_jobs=args.jobs, progress=True)
        get_reusable_executor().shutdown(wait=True)  # reaped workers count in RUSAGE_CHILDREN
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        ds = openmic.load(out)
        auc_default, n_classes = macro_auc(ds, C=1.0)
        auc_strong, _ = macro_auc(ds, C=0.05)
        stats = ds.demo["label_statistics"]
        print(f"\n{'clips':>6} {'jobs':>5} {'wall s':>8} {'clips/s':>8} {'CPU s/clip':>11} "
              f"{'AUC C=1':>8} {'AUC C=.05':>9} {'classes':>7} {'pos share':>9}")  # fmt: skip
        print(f"{args.clips:>6} {args.jobs:>5} {wall:>8.1f} {args.clips / wall:>8.2f} "
              f"{cpu / args.clips:>11.3f} {auc_default:>8.3f} {auc_strong:>9.3f} {n_classes:>7} "
              f"{stats['positive_share']:>9.3f}")  # fmt: skip
        print(
            f"embedding: {ds.demo['embedding']['name']}; sound font: {ds.demo['sound_font']['name']}"
        )
        print(f"split: {ds.demo['split']}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
