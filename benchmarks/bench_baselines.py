"""Training time of the per-instrument baselines, 5-fold selection included; CV beside test scores.

Default: synthetic arrays shaped like OpenMIC's split01_train (15,000 x 10 x 128 int64, ~2 observed
labels per clip, ~43 % positive, a learnable class signal), artists of 1 to 9 clips (5 on average),
2 processes. Targets on 2 cores: all 20 LRs and all 20 XGBoost models, each under 2 minutes.

    python benchmarks/bench_baselines.py [--clips N] [--n-jobs J] [--kinds lr xgb rf]
    python benchmarks/bench_baselines.py --data DIR    # a dataset folder (OpenMIC or demo set):
        # each kind trained on all of split01_train with CV selection; its CV score (mean ± std
        # over folds) beside its test score, and LogisticRegression() / XGBClassifier() with library
        # defaults trained on the same rows and pooling
    python benchmarks/bench_baselines.py --data DIR --embedding musicnn [--cache-dir C]
        # the same on the musicnn embedding, computed into (or read from) C's feature cache
        # (default: the toolkit's cache); clips without audio are left out of both splits
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

from baselines import PerInstrumentModel, pool
from core.metrics import masked_scores, mean_over_classes
from core.targets import is_positive
from features.demo.synthetic import make_synthetic

TARGET_S = {"lr": 120.0, "xgb": 120.0}


def synthetic_artists(n_clips: int, seed: int) -> np.ndarray:
    """Artist ids for `n_clips` clips, in runs of 1 to 9 clips (5 on average)."""
    sizes = np.random.default_rng(seed).integers(1, 10, n_clips)
    return np.repeat(np.arange(n_clips), sizes)[:n_clips]


def _time_kinds(kinds, n_clips: int, n_jobs: int, seed: int) -> None:
    X, Y_true, Y_mask = make_synthetic(n_clips, seed=seed)
    groups = synthetic_artists(n_clips, seed)
    print(
        f"train {X.shape} {X.dtype}, {Y_mask.sum() / n_clips:.2f} observed labels per clip, "
        f"{np.unique(groups).size} artists, n_jobs={n_jobs}"
    )
    print(
        f"{'kind':<5} {'train s':>8} {'CPU s/job':>9} {'target s':>9} {'pooling':>9} "
        f"{'CV AUC':>13} {'CV AP':>13}  chosen (first 3 classes)"
    )
    for kind in kinds:
        start = time.perf_counter()
        model = PerInstrumentModel(kind, seed=seed, n_jobs=n_jobs, progress=False).fit(
            X, Y_true, Y_mask, groups=groups
        )
        wall = time.perf_counter() - start
        target = TARGET_S.get(kind)
        verdict = "" if target is None else f"{target:>6.0f} {'ok' if wall < target else 'MISSED'}"
        cv = model.cv_macro()
        print(
            f"{kind:<5} {wall:>8.1f} {model.fit_cpu_s_ / n_jobs:>9.1f} {verdict:>9} "
            f"{model.pooling_:>9} {_pm(cv['roc_auc']):>13} {_pm(cv['ap']):>13}  {model.params_[:3]}"
        )
        print(f"      macro CV {model.pooling_scores_} (pooling -> mean fold ROC AUC)")
    print(
        "train s: wall time of fit; CPU s/job: CPU time of the per-class tasks / n_jobs, i.e. the"
    )
    print("wall time they would take on n_jobs idle cores (a contended machine inflates train s)")


def _pm(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f}±{pair[1]:.3f}"


def _library_defaults(F_train, Y_true, Y_mask, F_test) -> dict[str, np.ndarray]:
    """Test predictions of LogisticRegression() and XGBClassifier(), defaults, per class."""
    from sklearn.linear_model import LogisticRegression
    from xgboost import XGBClassifier

    out = {}
    for name, make in (
        ("LogisticRegression()", LogisticRegression),
        ("XGBClassifier()", lambda: XGBClassifier(n_jobs=1)),
    ):
        P = np.full((len(F_test), Y_true.shape[1]), np.nan)
        for k in range(Y_true.shape[1]):
            rows = Y_mask[:, k]
            y = is_positive(Y_true[rows, k])
            if y.any() and not y.all():
                P[:, k] = make().fit(F_train[rows], y).predict_proba(F_test)[:, 1]
        out[name] = P
    return out


def _dataset_comparison(
    root: Path,
    kinds,
    n_jobs: int,
    seed: int,
    embedding: str = "release",
    cache_dir: Path | None = None,
) -> None:
    """Fit each kind on all of split01_train with CV selection; CV and test scores side by side."""
    import tempfile

    from pipeline.embeddings import load_embedding
    from pipeline.settings import DEFAULT_CACHE, Settings
    from pipeline.stages import load_data

    s = Settings(cache_dir=str(cache_dir or DEFAULT_CACHE), jobs=n_jobs, seed=seed)
    data = load_data(root, s)
    ds = data.ds
    with tempfile.TemporaryDirectory() as run_dir:  # used only with --no-cache, which this is not
        emb = load_embedding(embedding, data, s, Path(run_dir))
    X, ok = emb.X, emb.ok
    train, test = ds.train_idx[ok[ds.train_idx]], ds.test_idx[ok[ds.test_idx]]
    print(f"{root}, {embedding} embedding {X.shape[1:]}: train {len(train)} clips "
          f"({len(np.unique(ds.artist_id[train]))} artists), test {len(test)} clips; "
          f"test scores on observed pairs")  # fmt: skip
    rows, poolings = [], set()
    for kind in kinds:
        model = PerInstrumentModel(kind, seed=seed, n_jobs=n_jobs, progress=False).fit(
            X[train], ds.Y_true[train], ds.Y_mask[train], groups=ds.artist_id[train],
            classes=ds.classes,
        )  # fmt: skip
        scores = masked_scores(model.predict_proba(X[test]), ds.Y_true[test], ds.Y_mask[test])
        cv = model.cv_macro()
        poolings.add(model.pooling_)
        rows.append({
            "model": kind, "pooling": model.pooling_,
            "test ROC AUC": mean_over_classes(scores["roc_auc"]),
            "test mAP": mean_over_classes(scores["ap"]),
            "CV ROC AUC": _pm(cv["roc_auc"]), "CV AP": _pm(cv["ap"]),
            "fallbacks": int(model.fallback_.sum()), "train s": model.train_time_s_,
        })  # fmt: skip
        if kind == "xgb":
            print("xgb trees per class:", [p.get("n_estimators") for p in model.params_])
    for pooling in sorted(poolings):
        F_train, F_test = pool(X[train], pooling), pool(X[test], pooling)
        twins = _library_defaults(F_train, ds.Y_true[train], ds.Y_mask[train], F_test)
        for name, P in twins.items():
            scores = masked_scores(P, ds.Y_true[test], ds.Y_mask[test])
            rows.append({
                "model": name, "pooling": pooling,
                "test ROC AUC": mean_over_classes(scores["roc_auc"]),
                "test mAP": mean_over_classes(scores["ap"]),
            })  # fmt: skip
    table = pd.DataFrame(rows).set_index("model")
    table["fallbacks"] = [("" if pd.isna(v) else str(int(v))) for v in table["fallbacks"]]
    print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep=""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=15000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", default=None, choices=["lr", "xgb", "rf"])
    parser.add_argument("--data", type=Path, help="dataset folder: CV and test scores")
    parser.add_argument(
        "--embedding",
        choices=["release", "musicnn"],
        default="release",
        help="with --data: the dataset's X (default) or musicnn",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="with --embedding musicnn: feature cache root"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    if args.data is not None:
        _dataset_comparison(
            args.data,
            tuple(args.kinds or ("lr", "xgb", "rf")),
            args.n_jobs,
            args.seed,
            args.embedding,
            args.cache_dir,
        )
    else:
        _time_kinds(args.kinds or ("lr", "xgb"), args.clips, args.n_jobs, args.seed)


if __name__ == "__main__":
    main()
