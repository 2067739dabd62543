"""The stages of a run: data, embedding models, log-mel features, CNN; each reused when cached.

Each function takes the run's `Settings` and returns plain results, so compare.py only wires them
together; models come back with their training time and whether the cache supplied them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from core import registry
from pipeline.cache import (
    CLASSICAL_CODE,
    DONE,
    NETWORK_CODE,
    StageCache,
    code_fingerprint,
    fingerprint,
)
from pipeline.data import (  # noqa: F401  (re-exported: the stages of a run, in one place)
    Data,
    check_data,
    check_data_folder,
    found_dataset,
    load_data,
    resolve_dataset,
)
from pipeline.embeddings import Embedding, feature_dir
from pipeline.facts import cv_selection, holdout_selection, model_id, model_info
from pipeline.settings import Settings

# One logger name for every stage, as in compare.log.
log = logging.getLogger("compare")


def train_embedding_model(
    name: str, emb: Embedding, data: Data, s: Settings, cache: StageCache, run_dir: Path
):
    """Train (or reuse) one of lr / xgb / rf on embedding `emb`; returns (model, seconds, reused).

    The model is selected by cross-validation on all of ``split01_train`` (folds grouped by
    artist) and refitted on it; clips without the embedding (unreadable audio) are left out.
    """
    from baselines import PerInstrumentModel

    ds = data.ds
    key = fingerprint(data.key, name, emb.name, emb.identity, data.cols, s.seed, s.cv_folds,
                      code_fingerprint(*CLASSICAL_CODE))
    stage = f"{name}-{emb.name}-{key}"
    done = cache.finished("models", stage)
    if done is not None:
        model = PerInstrumentModel.load(done / "model.joblib")
        return model, json.loads((done / DONE).read_text())["train_time_s"], True
    rows = ds.train_idx[emb.ok[ds.train_idx]]
    y_true, y_mask = data.labels(rows)
    start = time.perf_counter()
    model = PerInstrumentModel(name, n_folds=s.cv_folds, seed=s.seed, n_jobs=s.jobs).fit(
        emb.X[rows], y_true, y_mask, groups=ds.artist_id[rows],
        classes=list(data.classes), embedding=emb.info["description"],
    )
    seconds = time.perf_counter() - start
    tmp = cache.scratch("models", run_dir)
    model.save(tmp / "model.joblib")
    cache.publish("models", stage, tmp, {"train_time_s": seconds})
    return model, seconds, False


def classical_results(name: str, emb: Embedding, data: Data, s: Settings, cache: StageCache,
                      run_dir: Path) -> StageResult:
    """Train (or reuse) classifier `name` on embedding `emb`, predict the test split, save it into
    the run folder as ``models/<name>@<embedding>.joblib``."""
    model, seconds, reused = train_embedding_model(name, emb, data, s, cache, run_dir)
    proba, infer = predict_embedding_model(model, emb, data.test_idx)
    mid = model_id(name, emb.name)
    path = run_dir / "models" / registry.BY_ID[name].saved_as.format(model=mid)
    model.save(path)
    info = model_info(name, model, seconds, infer, reused, path, embedding=emb.name,
                      selection=cv_selection(model, s.cv_folds), model_input=emb.input)
    return StageResult(proba, info, dict(emb.problems))


def predict_embedding_model(model, emb: Embedding, rows) -> tuple[Any, float]:
    """(n_rows, n_classes) float32 probabilities, NaN for clips without the embedding, and the
    seconds of prediction per clip."""
    proba = np.full((len(rows), len(model.classes_)), np.nan, dtype=np.float32)
    ok = emb.ok[rows]
    start = time.perf_counter()
    if ok.any():
        proba[ok] = model.predict_proba(emb.X[rows[ok]])
    return proba, (time.perf_counter() - start) / max(len(rows), 1)


def logmel_cache(data: Data, s: Settings, run_dir: Path):
    """The CNN's log-mel features of every clip (`features.extract.FeatureCache`), cached."""
    from features.extract import extract_dataset

    return extract_dataset(
        data.ds.audio_path, data.ds.sample_key, "logmel", feature_dir(s, run_dir),
        root=data.ds.root, n_jobs=s.jobs,
    )


def train_cnn_model(data: Data, feats, s: Settings, cache: StageCache, run_dir: Path, *,
                    seed: int | None = None):
    """Train (or reuse, or resume) the CNN with `seed` (default the run's); returns (model, seconds,
    reused)."""
    from cnn import CNNConfig, CNNModel, train_cnn

    config = CNNConfig.quick() if s.quick else CNNConfig()
    config = dataclasses.replace(config, seed=s.seed if seed is None else seed)
    if s.epochs is not None:
        config = dataclasses.replace(config, epochs=s.epochs)
    key = fingerprint(data.key, "cnn", data.cols, dataclasses.asdict(config), feats.identity,
                      code_fingerprint(*NETWORK_CODE))
    done = cache.finished("models", f"cnn-{key}")
    if done is not None:
        return CNNModel.load(done), json.loads((done / DONE).read_text())["train_time_s"], True
    # A stable work folder, not a temporary one: the CNN checkpoints each epoch and resumes there.
    work = cache.path("models", f"cnn-{key}.partial") or run_dir / ".work" / f"cnn-{key}"
    work.mkdir(parents=True, exist_ok=True)
    fit_idx = data.fit_idx[feats.ok[data.fit_idx]]
    val_idx = data.val_idx[feats.ok[data.val_idx]]
    Y_true = data.ds.Y_true[:, data.cols]
    Y_mask = data.ds.Y_mask[:, data.cols]
    start = time.perf_counter()
    model = train_cnn(feats, Y_true, Y_mask, np.asarray(fit_idx), np.asarray(val_idx), config, work,
                      classes=data.classes)
    seconds = time.perf_counter() - start  # train_cnn has saved the finished model in `work`
    final = cache.publish("models", f"cnn-{key}", work, {"train_time_s": seconds})
    return CNNModel.load(final) if final != work else model, seconds, False


@dataclasses.dataclass
class StageResult:
    """What a model's stage gives the run: test predictions, its ``run.json`` entry, problems.

    Every stage has this shape: `classical_results` (a classifier on an embedding), `cnn_results`
    and `pipeline.finetune.finetune_results` (the networks, named by `core.registry`).

    Attributes
    ----------
    proba : np.ndarray [shape=(n_test, n_classes), dtype=float32]
        The model saved in the run folder (a network's first seed); NaN for clips it cannot score.
    info : dict
        ``run.json``'s entry (`pipeline.facts.model_info` and the model's facts); a network's has
        ``seeds`` and, for several seeds, ``seed_runs`` (each seed's training time, cache use and
        hold-out ROC AUC) and ``seed_thresholds`` (each seed's validation thresholds).
    problems : dict of str to str
        Clips its features could not be computed for, key -> why.
    seed_probas : np.ndarray [shape=(n_seeds, n_test, n_classes)] or None
        Every seed's test predictions, first seed first; None with one seed.
    """

    proba: np.ndarray
    info: dict[str, Any]
    problems: dict[str, str]
    seed_probas: np.ndarray | None = None


def network_seeds(s: Settings) -> list[int]:
    """The seeds each network trains with (``--seeds N``): ``--seed`` and the N - 1 after it."""
    return [s.seed + i for i in range(s.seeds)]


def over_seeds(s: Settings, name: str, train_one) -> StageResult:
    """Train a network once per seed of the run; the first seed's model is the run's model.

    `train_one(seed, keep)` trains (or reuses) the network with `seed`, saves it into the run
    folder when `keep` (the first seed only) and returns ``(proba, info, problems)`` as in
    `StageResult`. The hold-out split is the run's for every seed: the spread is training's.
    """
    seeds = network_seeds(s)
    runs = []
    for i, seed in enumerate(seeds):
        proba, info, problems = train_one(seed, i == 0)
        if len(seeds) > 1:
            log.info("  %s seed %d %s (%.1f s of training)", name, seed,
                     "reused from cache" if info["reused_from_cache"] else "trained", info["train_time_s"])
        runs.append((proba, info, problems))
    proba, info, problems = runs[0]
    info = {**info, "seeds": seeds}
    if len(seeds) == 1:
        return StageResult(proba, info, problems)
    info["seed_runs"] = [
        {"seed": seed, "train_time_s": run_info["train_time_s"],
         "reused_from_cache": run_info["reused_from_cache"],
         "selection_roc_auc": run_info["selection"]["roc_auc"]["mean"]}
        for seed, (_, run_info, _) in zip(seeds, runs, strict=True)
    ]
    info["seed_thresholds"] = [run_info["thresholds"] for _, run_info, _ in runs]
    return StageResult(proba, info, problems, np.stack([run[0] for run in runs]))


def cnn_results(data: Data, s: Settings, cache: StageCache, run_dir: Path) -> StageResult:
    """Train (or reuse) the CNN once per seed, predict the test split, save the first into the run."""
    feats = logmel_cache(data, s, run_dir)

    def train_one(seed: int, keep: bool):
        model, seconds, reused = train_cnn_model(data, feats, s, cache, run_dir, seed=seed)
        return score_network("cnn", model, seconds, reused, data, feats, run_dir, keep=keep,
                             model_input={"extractor": "logmel", "params": dict(feats.params)})

    return over_seeds(s, "cnn", train_one)


def score_network(name: str, model, seconds: float, reused: bool, data: Data, feats, run_dir: Path, *,
                  keep: bool, model_input: dict) -> tuple[np.ndarray, dict, dict[str, str]]:
    """A trained network's test probabilities, run.json facts and data problems (`over_seeds`).

    The test split is predicted (NaN for a clip without input: the report leaves it out for
    every model) and timed per clip; the hold-out clips score its selection; with `keep` the
    model is saved into the run as ``models/<name>`` (what `compare.py tag` loads).
    """
    start = time.perf_counter()
    proba = model.predict_proba(feats, data.test_idx).astype(np.float32)
    infer = (time.perf_counter() - start) / max(len(data.test_idx), 1)
    proba[~feats.ok[data.test_idx]] = np.nan
    val_idx = data.val_idx[feats.ok[data.val_idx]]
    selection = holdout_selection(model.predict_proba(feats, val_idx), *data.labels(val_idx), data.holdout)
    out = run_dir / "models" / name
    if keep:
        if out.exists():
            shutil.rmtree(out)
        model.save(out)
    info = model_info(name, model, seconds, infer, reused, out, selection=selection, model_input=model_input)
    return proba, info, dict(feats.problems)
