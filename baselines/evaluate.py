"""Masked AP and ROC AUC of the three baselines side by side, for quick comparisons on one dataset.

The full protocol (thresholded F1, bootstrap intervals, paired tests) lives in `reports/`; this is
the minimum needed to tell whether the baselines learnt something.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from baselines.defaults import KINDS
from baselines.model import PerInstrumentModel
from core.targets import observed_targets


def masked_scores(
    P: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray, *, classes: tuple[str, ...]
) -> pd.DataFrame:
    """AP and ROC AUC per class on the observed pairs only.

    Parameters
    ----------
    P : np.ndarray [shape=(n, n_classes)]
        Predicted probabilities.
    Y_true : np.ndarray [shape=(n, n_classes)]
    Y_mask : np.ndarray [shape=(n, n_classes)] bool
    classes : tuple of str

    Returns
    -------
    pd.DataFrame
        One row per class: instrument, observed, positive, ap, roc_auc (NaN where the observed
        pairs lack a positive or a negative).
    """
    rows = []
    for k, name in enumerate(classes):
        obs, y = observed_targets(Y_true, Y_mask, k)
        p = P[obs, k]
        scorable = y.any() and not y.all()
        rows.append(
            {
                "instrument": name,
                "observed": len(obs),
                "positive": int(y.sum()),
                "ap": average_precision_score(y, p) if scorable else np.nan,
                "roc_auc": roc_auc_score(y, p) if scorable else np.nan,
            }
        )
    return pd.DataFrame(rows)


def compare_baselines(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    kinds: tuple[str, ...] = KINDS,
    classes: tuple[str, ...] | None = None,
    seed: int = 0,
    n_jobs: int = -1,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each kind on `train` (tuned on `val`) and score it on `test`.

    Parameters
    ----------
    train, val, test : tuple (X, Y_true, Y_mask)
        X [shape=(n, 10, 128)], Y_true [shape=(n, 20)], Y_mask [shape=(n, 20)] bool.
    kinds : tuple of {"lr", "xgb", "rf"}
    classes, seed, n_jobs, progress
        Passed to `PerInstrumentModel`.

    Returns
    -------
    summary : pd.DataFrame
        Index kind; columns macro_ap, macro_roc_auc (means over classes), pooling, train_time_s.
    per_class : pd.DataFrame
        Columns kind, instrument, observed, positive, ap, roc_auc.
    """
    summary, per_class = [], []
    for kind in kinds:
        model = PerInstrumentModel(kind, seed=seed, n_jobs=n_jobs, progress=progress).fit(
            *train, X_val=val[0], Y_true_val=val[1], Y_mask_val=val[2], classes=classes
        )
        scores = masked_scores(
            model.predict_proba(test[0]), test[1], test[2], classes=tuple(model.classes_)
        )
        per_class.append(scores.assign(kind=kind))
        summary.append(
            {
                "kind": kind,
                "macro_ap": scores["ap"].mean(),
                "macro_roc_auc": scores["roc_auc"].mean(),
                "pooling": model.pooling_,
                "train_time_s": model.train_time_s_,
            }
        )
    per_class = pd.concat(per_class, ignore_index=True)
    return pd.DataFrame(summary).set_index("kind"), per_class[["kind", *scores.columns]]
