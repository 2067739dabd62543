"""The musicnn-ft stage: fine-tune the pretrained musicnn on the run's labels, cached and resumable.

Mirrors the CNN's stage (`pipeline.stages.train_cnn_model`): the model is keyed by everything it
depends on, trained in a stable work folder where it checkpoints every epoch (an interrupted run
resumes there), then published to the cache. Two modes (`cnn.finetune`):

* ``head``: the backbone is frozen; its per-patch embeddings come from the feature cache, from
  the run's one musicnn pass per clip that also gives the classical models' layer
  (`pipeline.embeddings.musicnn_cache`); only the head trains.
* ``full``: the whole backbone trains too, from the log-mel patches (extractor
  "musicnn_patches"), starting from the head-mode model of the same run (trained first, or
  reused from the cache): linear probing, then fine-tuning.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.cache import DONE, StageCache, code_fingerprint, fingerprint
from pipeline.embeddings import feature_dir, musicnn_cache
from pipeline.facts import holdout_selection, model_info

if TYPE_CHECKING:
    from pipeline.settings import Settings
    from pipeline.stages import Data

FT_MODEL = "musicnn-ft"
# Rows each mode reads: the feature-cache extractor.
EXTRACTORS = {"head": "musicnn", "full": "musicnn_patches"}


def finetune_config(s: Settings, mode: str):
    """The `cnn.FinetuneConfig` of a run: the mode's defaults, the run's seed; --quick trains 3
    epochs; --ft-epochs sets the epochs of the run's own mode (not those of the head a full-mode
    run starts from)."""
    from cnn import FinetuneConfig

    config = FinetuneConfig(seed=s.seed) if mode == "head" else FinetuneConfig.full(seed=s.seed)
    if s.quick:
        config = dataclasses.replace(config, epochs=3, patience=0)
    if s.ft_epochs is not None and mode == s.ft_mode:
        config = dataclasses.replace(config, epochs=s.ft_epochs)
    return config


def finetune_features(data: Data, s: Settings, run_dir: Path, *, mode: str):
    """The rows `mode` reads for every clip (`features.extract.FeatureCache`), cached.

    Head mode: the backbone's embeddings at the config's layer, shape ``(n, 3, size)``, a view
    of the run's musicnn cache (`pipeline.embeddings.musicnn_cache`); full mode: the log-mel
    patches, ``(n, 3, 187, 96)`` float16.
    """
    from features.extract import extract_dataset

    config = finetune_config(s, mode)
    if mode == "head":
        return musicnn_cache(data, s, run_dir, model=config.backbone, layer=config.layer)
    return extract_dataset(data.ds.audio_path, data.ds.sample_key, EXTRACTORS[mode],
                           feature_dir(s, run_dir), n_jobs=s.jobs)


def train_finetune_model(data: Data, s: Settings, cache: StageCache, run_dir: Path, *, mode: str):
    """Train (or reuse, or resume) musicnn-ft in `mode`; returns (model, seconds, reused).

    In full mode the head-mode model is trained (or reused) first and starts the run; `seconds`
    is the full mode's own training time (the head's is in the model's ``initialised_from``).
    """
    model, seconds, reused, _ = _train(data, s, cache, run_dir, mode)
    return model, seconds, reused


def _train(data: Data, s: Settings, cache: StageCache, run_dir: Path, mode: str):
    """`train_finetune_model`, plus the stage key (a full-mode run's key includes its head's)."""
    from cnn import FinetuneModel, train_finetune

    if mode not in EXTRACTORS:
        raise ValueError(f"mode must be one of {tuple(EXTRACTORS)}, given {mode!r}")
    config = finetune_config(s, mode)
    feats = finetune_features(data, s, run_dir, mode=mode)
    head, head_key = None, None
    if mode == "full":
        head, _, _, head_key = _train(data, s, cache, run_dir, "head")
    key = fingerprint(data.key, FT_MODEL, data.cols, config.to_dict(), feats.params, head_key,
                      code_fingerprint("cnn"))
    stage = f"{FT_MODEL}-{mode}-{key}"
    done = cache.finished("models", stage)
    if done is not None:
        return FinetuneModel.load(done), json.loads((done / DONE).read_text())["train_time_s"], True, key
    # A stable work folder, not a temporary one: training checkpoints each epoch and resumes there.
    work = cache.path("models", f"{stage}.partial") or run_dir / ".work" / stage
    work.mkdir(parents=True, exist_ok=True)
    fit_idx = data.fit_idx[feats.ok[data.fit_idx]]
    val_idx = data.val_idx[feats.ok[data.val_idx]]
    start = time.perf_counter()
    model = train_finetune(feats, data.ds.Y_true[:, data.cols], data.ds.Y_mask[:, data.cols],
                           np.asarray(fit_idx), np.asarray(val_idx), config, work, head=head,
                           classes=data.classes)
    seconds = time.perf_counter() - start  # train_finetune has saved the finished model in `work`
    final = cache.publish("models", stage, work, {"train_time_s": seconds})
    return (FinetuneModel.load(final) if final != work else model), seconds, False, key


def finetune_results(data: Data, s: Settings, cache: StageCache, run_dir: Path, *,
                     mode: str) -> tuple[np.ndarray, dict[str, Any], dict[str, str]]:
    """Train (or reuse) musicnn-ft, predict the test split, save the model into the run folder.

    Returns
    -------
    proba : np.ndarray [shape=(n_test, n_classes), dtype=float32]
        NaN for clips without audio (no rows in the feature cache).
    info : dict
        ``run.json``'s entry: `pipeline.facts.model_info` plus the model's facts (mode, backbone,
        layer, pooling, what was frozen, sizes, the head it started from).
    problems : dict of str to str
        Clips the feature cache could not compute, key -> why.
    """
    feats = finetune_features(data, s, run_dir, mode=mode)
    model, seconds, reused = train_finetune_model(data, s, cache, run_dir, mode=mode)
    test_idx = data.test_idx
    start = time.perf_counter()
    proba = model.predict_proba(feats, test_idx).astype(np.float32)
    infer = (time.perf_counter() - start) / max(len(test_idx), 1)
    proba[~feats.ok[test_idx]] = np.nan
    val_idx = data.val_idx[feats.ok[data.val_idx]]
    selection = holdout_selection(model.predict_proba(feats, val_idx), *data.labels(val_idx), data.holdout)
    out = run_dir / "models" / FT_MODEL
    if out.exists():
        shutil.rmtree(out)
    model.save(out)
    info = model_info(FT_MODEL, model, seconds, infer, reused, out, selection=selection,
                      model_input={"extractor": EXTRACTORS[mode], "params": dict(feats.params)})
    return proba, {**info, **model.facts}, dict(feats.problems)
