"""`train_network`: masked training with early stopping, best-weight checkpoints and exact resume.

One loop trains every network of the toolkit: the spectrogram CNN (`train_cnn`) and the
fine-tuned musicnn (`cnn.finetune.train_finetune`). What differs between them -- statistics of
the training rows, the Keras model, the augmentation, the metadata and the saved class -- is a
`Network`; everything else is here. Keras' callbacks do the bookkeeping (`cnn.callbacks`).

Folder `out_dir` while training: ``backup/`` (weights and optimizer state after the last
finished epoch, Keras' `BackupAndRestore`), ``best-epochNNN.weights.h5`` (weights of the best
validation mAP so far, Keras' `ModelCheckpoint`), ``checkpoint.json`` (epoch, history,
early-stopping counters, dropout seed state, the network's statistics, config, train time so
far) and ``history.csv``. Calling again with the same `out_dir` and config continues after the
last finished epoch, exactly as an uninterrupted run would. When training ends the best weights
are loaded, thresholds chosen on validation, the model saved (`TrainedNetwork.save`) and the
checkpoint files removed; calling again then just loads the finished model.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from functools import partial
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cnn.callbacks import best_weights_path, history_frame, training_callbacks
from cnn.config import (
    BACKUP_DIRNAME,
    BEST_WEIGHTS_GLOB,
    CHECKPOINT_STATE_NAME,
    METADATA_NAME,
    CNNConfig,
    TrainingConfig,
)
from cnn.data import RowReader, steps_per_epoch, training_dataset, unpack_cache
from cnn.losses import MaskedBinaryCrossentropy, pack_targets, split_targets
from cnn.model import CNNNetwork
from cnn.network import Network
from cnn.predict import CNNModel, TrainedNetwork, predict_rows
from core.errors import DatasetError, ParameterError
from core.targets import TARGET_RULE
from core.thresholds import validation_thresholds
from core.versions import library_versions
from features.openmic import CLASSES

# The libraries a saved model depends on; their versions go into its metadata.json.
SAVED_MODEL_LIBRARIES = ("numpy", "tensorflow", "keras", "scikit-learn")


def train_cnn(
    cache,
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    config: CNNConfig | None = None,
    out_dir: str | Path = "cnn_model",
    *,
    progress: bool = True,
    callbacks: list | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> CNNModel:
    """Train the spectrogram CNN on rows `fit_idx`, early-stopped on rows `val_idx`.

    Parameters
    ----------
    cache : FeatureCache or np.ndarray [shape=(n, n_mels, n_frames)]
        Log-mel of every clip (`features.extract`), read row by row; rows with ``cache.ok``
        False are left out of training and validation.
    Y_true, Y_mask, fit_idx, val_idx, out_dir, progress, callbacks, classes
        See `train_network`.
    config : CNNConfig, optional
        Defaults to ``CNNConfig()``.

    Returns
    -------
    model : CNNModel
        Best-validation weights, thresholds maximising F1 on the observed validation pairs.
    """
    network = CNNNetwork(config or CNNConfig())
    return train_network(network, cache, Y_true, Y_mask, fit_idx, val_idx, out_dir,
                         progress=progress, callbacks=callbacks, classes=classes)


def train_network(
    network: Network,
    cache,
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    out_dir: str | Path,
    *,
    progress: bool = True,
    callbacks: list | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> TrainedNetwork:
    """Train `network` on rows `fit_idx` of a cache, early-stopped on rows `val_idx`.

    Parameters
    ----------
    network : Network
        The model to train and its settings (``network.config``).
    cache : FeatureCache or np.ndarray [shape=(n, *row_shape)]
        The rows the network reads (`features.extract`), read row by row; rows with
        ``cache.ok`` False are left out of training and validation.
    Y_true : np.ndarray [shape=(n, K)]
        Relevance per (clip, instrument), aligned with the cache rows; K = len(classes).
    Y_mask : np.ndarray [shape=(n, K)] bool
        Observed pairs; the others are masked out of the loss and of every score.
    fit_idx, val_idx : np.ndarray int
        Row indices of the training and validation clips.
    out_dir : str or Path
        Checkpoints while training, then the saved model (see the module docstring).
    progress : bool
        Keras progress bar per epoch, with val_loss and val_map added.
    callbacks : list of keras.callbacks.Callback, optional
        Extra callbacks, run after the checkpoint of each epoch is written.
    classes : tuple of str
        Names of the columns of `Y_true` (default all 20 OpenMIC classes, class-map order).

    Returns
    -------
    model : TrainedNetwork
        Of class ``network.result``: best-validation weights, thresholds maximising F1 on the
        observed validation pairs.
    """
    config, result = network.config, network.result
    data, ok, params = unpack_cache(cache, network.layout, network.rows)
    row_shape = tuple(int(d) for d in data.shape[1:])
    classes = tuple(str(c) for c in classes)
    Y_true, Y_mask = _check_labels(Y_true, Y_mask, len(data), len(classes))
    fit_idx = _usable_rows(fit_idx, ok, len(data), "fit_idx")
    val_idx = _usable_rows(val_idx, ok, len(data), "val_idx")
    out_dir = Path(out_dir)
    finished = _finished_model(result, out_dir, config, classes)
    if finished is not None:
        return finished
    out_dir.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    reader = RowReader(data)
    packed = pack_targets(Y_true, Y_mask, soft=config.soft_targets)
    steps = steps_per_epoch(len(fit_idx), config)
    state = _load_state(out_dir, config)
    if state is None:
        _remove_checkpoints(out_dir)  # of a run interrupted before its first epoch ended
        state = {"config": config.to_dict(), "epoch": -1, "history": [], "best_score": None,
                 "best_epoch": -1, "wait": 0, "stopped": False, "train_time_s": 0.0,
                 "statistics": network.statistics(reader, fit_idx), "random_state": []}
    statistics = state["statistics"]
    # Built and compiled the same way on resume: BackupAndRestore then loads the saved state.
    model = network.build(statistics, row_shape, len(classes))
    network.initialise(model, _base_rate_log_odds(packed[fit_idx]))
    model.compile(optimizer=_optimizer(config, steps), loss=MaskedBinaryCrossentropy())

    initial_epoch = state["epoch"] + 1
    if initial_epoch < config.epochs and not state["stopped"]:
        keras_callbacks = training_callbacks(
            out_dir, state, reader, val_idx, packed[val_idx], Y_true[val_idx], Y_mask[val_idx],
            patience=config.patience, epochs=config.epochs, steps=steps,
            predict_batch=network.predict_batch_clips,
        )
        dataset = training_dataset(reader, packed, fit_idx, config, partial(network.augment, statistics),
                                   network.example_shape(row_shape), initial_epoch=initial_epoch)
        model.fit(dataset, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps, shuffle=False,
                  verbose=_keras_verbosity(progress), callbacks=[*keras_callbacks, *(callbacks or [])])

    model.load_weights(_existing(best_weights_path(out_dir, state["best_epoch"])))
    P_val = predict_rows(model, reader, val_idx, batch_size=network.predict_batch_clips)
    thresholds, fallback = validation_thresholds(P_val, Y_true[val_idx], Y_mask[val_idx])
    metadata = {
        "format": result.file_format, "format_version": result.file_format_version,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "classes": list(classes), "target_rule": TARGET_RULE,
        "soft_targets": config.soft_targets, "threshold_fallback_classes": fallback,
        "frontend_params": params, **network.describe(statistics, row_shape, model),
        "config": config.to_dict(),
        "n_fit": len(fit_idx), "n_val": len(val_idx), "skipped_not_ok": int((~ok).sum()),
        "best_epoch": state["best_epoch"], "epochs_run": state["epoch"] + 1,
        "train_time_s": state["train_time_s"], "versions": library_versions(SAVED_MODEL_LIBRARIES),
    }
    trained = result(model, thresholds, history_frame(state["history"]), metadata)
    trained.save(out_dir)
    _remove_checkpoints(out_dir)
    reader.close()
    return trained


def _optimizer(config: TrainingConfig, steps: int) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up then cosine decay to ``lr * final_lr_fraction``."""
    total = config.epochs * steps
    warmup = min(round(config.warmup_epochs * steps), total - 1)
    start = config.lr * config.final_lr_fraction if warmup else config.lr
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=start, decay_steps=max(total - warmup, 1),
        alpha=config.final_lr_fraction, warmup_target=config.lr if warmup else None,
        warmup_steps=warmup,
    )
    return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay)


def _base_rate_log_odds(packed_fit: np.ndarray) -> np.ndarray:
    """Log-odds of each class's observed positive rate (0.5 where unobserved), clipped to [0.01, 0.99].

    Returns
    -------
    bias : np.ndarray [shape=(n_classes,), dtype=float32]
    """
    targets, mask = split_targets(packed_fit)
    rate = (targets * mask).sum(axis=0) / np.maximum(mask.sum(axis=0), 1.0)
    rate = np.where(mask.sum(axis=0) > 0, rate, 0.5).clip(0.01, 0.99)
    return np.log(rate / (1 - rate)).astype(np.float32)


def _remove_checkpoints(out_dir: Path) -> None:
    """Delete the files of an unfinished run: state, Keras' backup, best weights."""
    (out_dir / CHECKPOINT_STATE_NAME).unlink(missing_ok=True)
    shutil.rmtree(out_dir / BACKUP_DIRNAME, ignore_errors=True)
    for path in out_dir.glob(BEST_WEIGHTS_GLOB):
        path.unlink()


def _existing(path: Path) -> Path:
    """`path` of the best weights, or an error naming it and the fix."""
    if not path.is_file():
        raise DatasetError(
            f"{path}, the best weights of an unfinished run in {path.parent}, is missing: "
            f"delete {path.parent / CHECKPOINT_STATE_NAME} to train again from the start"
        )
    return path


def _load_state(out_dir: Path, config: TrainingConfig) -> dict | None:
    """The checkpoint state of an interrupted run in `out_dir`, or None to start afresh."""
    path = out_dir / CHECKPOINT_STATE_NAME
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    if state.get("config") != config.to_dict():
        raise ParameterError(
            f"{path} belongs to a run with another config ({state.get('config')}); "
            f"given {config.to_dict()}: resume with the same config or use another out_dir"
        )
    return state


def _finished_model(result: type[TrainedNetwork], out_dir: Path, config: TrainingConfig,
                    classes: tuple[str, ...]) -> TrainedNetwork | None:
    """The model a finished run with the same config and classes left in `out_dir`, or None."""
    if not (out_dir / METADATA_NAME).is_file():
        return None
    model = result.load(out_dir)
    if model.metadata.get("config") != config.to_dict():
        raise ParameterError(
            f"{out_dir} already holds a {result.__name__} trained with another config "
            f"({model.metadata.get('config')}); given {config.to_dict()}: use another out_dir"
        )
    if model.classes != classes:
        raise ParameterError(
            f"{out_dir} already holds a {result.__name__} trained for classes {list(model.classes)}; "
            f"given {list(classes)}: use another out_dir"
        )
    return model


def _check_labels(Y_true, Y_mask, n: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    Y_true = np.asarray(Y_true, dtype=np.float64)
    Y_mask = np.asarray(Y_mask)
    expected = (n, n_classes)
    if Y_true.shape != expected or Y_mask.shape != expected:
        raise ParameterError(
            f"Y_true and Y_mask must have shape {expected} (one row per cache row, one column per "
            "class; pass classes=... naming the columns); "
            f"given {Y_true.shape} and {Y_mask.shape}"
        )
    if Y_mask.dtype != bool:
        raise ParameterError(f"Y_mask must be bool, given dtype {Y_mask.dtype}")
    return Y_true, Y_mask


def _usable_rows(idx, ok: np.ndarray, n: int, name: str) -> np.ndarray:
    """`idx` as int64 without the rows the cache marks not ok; must keep at least one."""
    idx = np.asarray(idx, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ParameterError(f"{name} must index rows in [0, {n}); given {idx.min()}..{idx.max()}")
    idx = idx[ok[idx]]
    if idx.size == 0:
        raise ParameterError(f"{name} holds no usable clip (empty, or every row not ok in the cache)")
    return idx


def _keras_verbosity(progress: bool) -> int:
    """A live bar on a terminal; one line per epoch in a log file or pipe."""
    if not progress:
        return 0
    return 1 if sys.stdout.isatty() else 2
