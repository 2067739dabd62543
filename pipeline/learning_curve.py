"""The learning curve of the report's diagnosis: the best classical model on fewer training artists.

The best classical model of the run (by its cross-validated macro ROC AUC, never a test score) is
refitted with the same selection (the same `PerInstrumentModel` with the same folds, grid and
seed) on nested shares of the training artists (`reports.diagnosis_rules.LEARNING_CURVE_FRACTIONS`,
grouped: an artist's clips are all in or all out), and each refit predicts the test split. The
share 100 % is the run's model itself. The predictions go to ``RUN_DIR/learning_curve.npz``
(`reports.learning_curve_file`), where the report reads them ("too little data"). Refits are
cached like the models.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cache import CLASSICAL_CODE, DONE, StageCache, code_fingerprint, fingerprint
from pipeline.embeddings import Embedding, load_embedding
from pipeline.settings import CLASSICAL_MODELS
from pipeline.stages import predict_embedding_model
from reports.diagnosis_rules import LEARNING_CURVE_FRACTIONS
from reports.learning_curve_file import LEARNING_CURVE_NPZ, LearningCurve, write_learning_curve

if TYPE_CHECKING:
    from pipeline.data import Data
    from pipeline.settings import Settings

log = logging.getLogger("compare")


def best_classical(models: dict[str, dict[str, Any]]) -> str | None:
    """The classical model id with the highest cross-validated macro ROC AUC (run.json facts), or None."""
    scored = []
    for mid, facts in models.items():
        mean = ((facts.get("selection") or {}).get("roc_auc") or {}).get("mean")
        if facts.get("classifier") in CLASSICAL_MODELS and facts.get("embedding") and isinstance(mean, (int, float)):
            scored.append((float(mean), mid))
    return max(scored)[1] if scored else None


def artist_subsets(groups: np.ndarray, fractions, *, seed: int) -> list[np.ndarray]:
    """Nested row subsets holding ``ceil(f x artists)`` whole artists for each share ``f``.

    Parameters
    ----------
    groups : np.ndarray [shape=(n,)], int -- artist of each training row; -1 (unknown) is a
        group of its own per row
    fractions : sequence of float in (0, 1], ascending
    seed : int -- the order in which artists are taken

    Returns
    -------
    list of np.ndarray of row positions (sorted), one per share; each holds the previous one.
    """
    groups = np.asarray(groups)
    own = np.where(groups < 0, -1 - np.arange(len(groups)), groups)
    artists = np.random.default_rng(seed).permutation(np.unique(own))
    out = []
    for f in fractions:
        chosen = artists[: max(1, math.ceil(f * len(artists)))]
        out.append(np.flatnonzero(np.isin(own, chosen)))
    return out


def _refit_proba(name, emb, data: Data, rows, s: Settings, cache: StageCache, run_dir: Path, share: float):
    """(test probabilities, seconds of training, reused) of `name` selected and fitted on `rows` (cached)."""
    from baselines import DegenerateClassWarning, PerInstrumentModel

    ds = data.ds
    key = fingerprint(data.key, name, emb.name, emb.identity, data.cols, s.seed, s.cv_folds,
                      code_fingerprint(*CLASSICAL_CODE), "learning-curve", share, rows.tolist())
    stage = f"{name}-{emb.name}-lc{round(100 * share)}-{key}"
    done = cache.finished("models", stage)
    if done is not None:
        return np.load(done / "proba.npy"), json.loads((done / DONE).read_text())["train_time_s"], True
    y_true, y_mask = data.labels(rows)
    start = time.perf_counter()
    with warnings.catch_warnings():  # few artists: folds without positives are expected, and noted
        warnings.simplefilter("ignore", DegenerateClassWarning)
        model = PerInstrumentModel(name, n_folds=s.cv_folds, seed=s.seed, n_jobs=s.jobs, progress=False).fit(
            emb.X[rows], y_true, y_mask, groups=ds.artist_id[rows], classes=list(data.classes),
            embedding=emb.info["description"],
        )
    seconds = time.perf_counter() - start
    proba, _ = predict_embedding_model(model, emb, data.test_idx)
    tmp = cache.scratch("models", run_dir)
    np.save(tmp / "proba.npy", proba)
    cache.publish("models", stage, tmp, {"train_time_s": seconds})
    return proba, seconds, False


def write_run_learning_curve(
    models: dict[str, dict[str, Any]], probas: dict[str, np.ndarray], data: Data, s: Settings,
    cache: StageCache, run_dir: Path, *, embeddings: dict[str, Embedding] | None = None,
) -> Path | None:
    """Refit the run's best classical model on shares of the training artists; write learning_curve.npz.

    Parameters
    ----------
    models : dict model id -> run.json facts (``classifier``, ``embedding``, ``selection``)
    probas : dict model id -> (n_test, K) test probabilities of the run's models
    data, s, cache, run_dir : the run's data, settings, stage cache and folder
    embeddings : dict name -> Embedding, optional
        The run's embeddings as loaded (a ``hear:`` entry's is named after its module); one not
        given is loaded by name (``release``, ``musicnn``).

    Returns
    -------
    Path of the file, or None when the run has no classical model with a selection score.
    """
    mid = best_classical(models)
    if mid is None:
        return None
    name, emb_name = models[mid]["classifier"], models[mid]["embedding"]
    given = embeddings or {}
    emb = given[emb_name] if emb_name in given else load_embedding(emb_name, data, s, run_dir)
    rows = data.train_idx[emb.ok[data.train_idx]]
    fractions = np.asarray(LEARNING_CURVE_FRACTIONS, dtype=np.float64)
    subsets = artist_subsets(data.ds.artist_id[rows], fractions, seed=s.seed)
    proba = np.empty((len(fractions), *probas[mid].shape), dtype=np.float32)
    n_artists = []
    for f, (share, subset) in enumerate(zip(fractions, subsets, strict=True)):
        groups = data.ds.artist_id[rows[subset]]
        n_artists.append(len(np.unique(np.where(groups < 0, -1 - np.arange(len(groups)), groups))))
        if len(subset) == len(rows):  # all the artists: the run's model itself
            proba[f] = probas[mid]
            continue
        proba[f], seconds, reused = _refit_proba(name, emb, data, rows[subset], s, cache, run_dir, share)
        log.info("  learning curve: %s on %.0f %% of the training artists (%d, %d clips) %s (%.1f s of training)",
                 mid, 100 * share, n_artists[-1], len(subset), "reused from cache" if reused else "refitted",
                 seconds)
    curve = LearningCurve(
        model=mid, fractions=fractions, n_artists=np.asarray(n_artists), n_clips=np.array([len(x) for x in subsets]),
        sample_key=data.ds.sample_key[data.test_idx], classes=tuple(data.classes), proba=proba,
    )
    return write_learning_curve(run_dir / LEARNING_CURVE_NPZ, curve)
