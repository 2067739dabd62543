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

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.cache import DONE, NETWORK_CODE, StageCache, code_fingerprint, fingerprint
from pipeline.embeddings import feature_dir, musicnn_cache
from pipeline.settings import FT_MODEL, finetune_config
from pipeline.stages import StageResult, over_seeds, score_network

if TYPE_CHECKING:
    from pipeline.data import Data
    from pipeline.settings import Settings

# Rows each mode reads: the feature-cache extractor.
EXTRACTORS = {"head": "musicnn", "full": "musicnn_patches"}


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
                           feature_dir(s, run_dir), root=data.ds.root, n_jobs=s.jobs)


def train_finetune_model(data: Data, s: Settings, cache: StageCache, run_dir: Path, *, mode: str,
                         seed: int | None = None):
    """Train (or reuse, or resume) musicnn-ft in `mode` with `seed` (default the run's); returns
    (model, seconds, reused).

    In full mode the head-mode model of the same seed is trained (or reused) first and starts the
    run; `seconds` is the full mode's own training time (the head's is in the model's
    ``initialised_from``).
    """
    model, seconds, reused, _ = _train(data, s, cache, run_dir, mode, seed)
    return model, seconds, reused


def _train(data: Data, s: Settings, cache: StageCache, run_dir: Path, mode: str, seed: int | None):
    """`train_finetune_model`, plus the stage key (a full-mode run's key includes its head's)."""
    from cnn import FinetuneModel, train_finetune

    if mode not in EXTRACTORS:
        raise ValueError(f"mode must be one of {tuple(EXTRACTORS)}, given {mode!r}")
    config = finetune_config(s, mode, seed=seed)
    feats = finetune_features(data, s, run_dir, mode=mode)
    head, head_key = None, None
    if mode == "full":
        head, _, _, head_key = _train(data, s, cache, run_dir, "head", seed)
    key = fingerprint(data.key, FT_MODEL, data.cols, config.to_dict(), feats.identity, head_key,
                      code_fingerprint(*NETWORK_CODE))
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
                     mode: str | None = None) -> StageResult:
    """Train (or reuse) musicnn-ft in `mode` (default the run's ``--ft-mode``) once per seed,
    predict the test split, save the first seed's model into the run folder.

    Returns
    -------
    StageResult
        ``proba`` NaN for clips without audio (no rows in the feature cache); ``info`` is
        `pipeline.facts.model_info` plus the model's facts (mode, backbone, layer, pooling, what
        was frozen, sizes, the head it started from); ``problems`` the clips the feature cache
        could not compute.
    """
    mode = s.ft_mode if mode is None else mode
    feats = finetune_features(data, s, run_dir, mode=mode)

    def train_one(seed: int, keep: bool):
        model, seconds, reused = train_finetune_model(data, s, cache, run_dir, mode=mode, seed=seed)
        proba, info, problems = score_network(
            FT_MODEL, model, seconds, reused, data, feats, run_dir, keep=keep,
            model_input={"extractor": EXTRACTORS[mode], "params": dict(feats.params)},
        )
        return proba, {**info, **model.facts}, problems

    return over_seeds(s, FT_MODEL, train_one)
