"""`train_cnn`: masked training with early stopping, per-epoch checkpoints and resume.

Folder `out_dir` while training: ``checkpoint.keras`` (model and optimizer state, learning-rate
schedule position included), ``checkpoint.json`` (epoch, history, early-stopping state,
normalisation statistics, config, train time so far), ``best.weights.h5`` (weights of the best
validation mAP) and ``history.csv``. Calling `train_cnn` again with the same `out_dir` and
config continues after the last finished epoch. When training ends the best weights are
restored, thresholds chosen on validation, the model saved (`CNNModel.save`) and the checkpoint
files removed; calling again then just loads the finished model.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from cnn.config import (
    BEST_WEIGHTS_NAME,
    CHECKPOINT_NAME,
    CHECKPOINT_STATE_NAME,
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    HISTORY_COLUMNS,
    HISTORY_NAME,
    METADATA_NAME,
    MIN_STD,
    CNNConfig,
)
from cnn.data import RowReader, band_statistics, steps_per_epoch, training_dataset, unpack_cache
from cnn.losses import MaskedBinaryCrossentropy, masked_bce, pack_targets, split_targets
from cnn.model import build_model, model_cost
from cnn.predict import CNNModel, predict_rows
from core.atomic import atomic_write, atomic_write_json, atomic_write_text
from core.errors import ParameterError
from core.metrics import masked_map
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
    Y_true : np.ndarray [shape=(n, K)]
        Relevance per (clip, instrument), aligned with the cache rows; K = len(classes).
    Y_mask : np.ndarray [shape=(n, K)] bool
        Observed pairs; the others are masked out of the loss and of every score.
    fit_idx, val_idx : np.ndarray int
        Row indices of the training and validation clips.
    config : CNNConfig, optional
        Defaults to ``CNNConfig()``.
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
    model : CNNModel
        Best-validation weights, thresholds maximising F1 on the observed validation pairs.
    """
    config = config or CNNConfig()
    data, ok, params = unpack_cache(cache)
    classes = tuple(str(c) for c in classes)
    Y_true, Y_mask = _check_labels(Y_true, Y_mask, len(data), len(classes))
    fit_idx = _usable_rows(fit_idx, ok, len(data), "fit_idx")
    val_idx = _usable_rows(val_idx, ok, len(data), "val_idx")
    out_dir = Path(out_dir)
    finished = _finished_model(out_dir, config, classes)
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
        mean, variance = band_statistics(reader, fit_idx)
        model = build_model(data.shape[1], mean, np.maximum(variance, MIN_STD**2), config,
                            n_classes=len(classes))
        _init_output_bias(model, packed[fit_idx])
        model.compile(optimizer=_optimizer(config, steps), loss=MaskedBinaryCrossentropy())
        state = {"config": config.to_dict(), "epoch": -1, "history": [], "best_score": -math.inf,
                 "best_epoch": -1, "wait": 0, "stopped": False, "train_time_s": 0.0,
                 "mean": mean.tolist(), "variance": variance.tolist()}
    else:
        model = keras.models.load_model(out_dir / CHECKPOINT_NAME)
        mean = np.asarray(state["mean"])

    tracker = _EpochEnd(out_dir, state, reader, packed, val_idx, Y_true, Y_mask, config)
    initial_epoch = state["epoch"] + 1
    if initial_epoch < config.epochs and not state["stopped"]:
        dataset = training_dataset(reader, packed, fit_idx, config, mean, initial_epoch=initial_epoch)
        model.fit(dataset, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps, shuffle=False,
                  verbose=_keras_verbosity(progress), callbacks=[tracker, *(callbacks or [])])

    if (out_dir / BEST_WEIGHTS_NAME).is_file():
        model.load_weights(out_dir / BEST_WEIGHTS_NAME)
    P_val = predict_rows(model, reader, val_idx)
    thresholds, fallback = validation_thresholds(P_val, Y_true[val_idx], Y_mask[val_idx])
    metadata = {
        "format": FILE_FORMAT, "format_version": FILE_FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "classes": list(classes), "target_rule": TARGET_RULE,
        "soft_targets": config.soft_targets, "threshold_fallback_classes": fallback,
        "n_mels": int(data.shape[1]), "n_frames": int(data.shape[2]),
        "frontend_params": params, "normalisation": {"mean": state["mean"], "variance": state["variance"]},
        "config": config.to_dict(), "cost": model_cost(config, n_mels=data.shape[1], n_frames=data.shape[2]),
        "n_fit": len(fit_idx), "n_val": len(val_idx), "skipped_not_ok": int((~ok).sum()),
        "best_epoch": state["best_epoch"], "epochs_run": state["epoch"] + 1,
        "train_time_s": state["train_time_s"], "versions": library_versions(SAVED_MODEL_LIBRARIES),
    }
    result = CNNModel(model, thresholds, _history_frame(state["history"]), metadata)
    result.save(out_dir)
    for name in (CHECKPOINT_NAME, CHECKPOINT_STATE_NAME, BEST_WEIGHTS_NAME):
        (out_dir / name).unlink(missing_ok=True)
    reader.close()
    return result


class _EpochEnd(keras.callbacks.Callback):
    """Validation, history, early stopping, best weights and the checkpoint, after each epoch."""

    def __init__(self, out_dir: Path, state: dict, reader: RowReader, packed: np.ndarray,
                 val_idx: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray, config: CNNConfig) -> None:
        super().__init__()
        self.out_dir, self.state, self.reader = out_dir, state, reader
        self.packed_val = packed[val_idx]
        self.val_idx, self.Y_true_val, self.Y_mask_val = val_idx, Y_true[val_idx], Y_mask[val_idx]
        self.config = config
        self.started = time.perf_counter()
        self.time_before = state["train_time_s"]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        P_val = predict_rows(self.model, self.reader, self.val_idx)
        val_loss = masked_bce(self.packed_val, P_val)
        val_map = masked_map(P_val, self.Y_true_val, self.Y_mask_val)
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        logs.update(val_loss=val_loss, val_map=val_map)
        state = self.state
        state["history"].append({"epoch": epoch, "loss": float(logs.get("loss", math.nan)),
                                 "val_loss": val_loss, "val_map": val_map, "lr": lr})
        # mAP needs a positive and a negative per class; a validation set without any falls
        # back on the loss (the choice cannot change between epochs: it depends on labels only).
        score = val_map if math.isfinite(val_map) else -val_loss
        if score > state["best_score"]:
            state.update(best_score=score, best_epoch=epoch, wait=0)
            atomic_write(self.out_dir / BEST_WEIGHTS_NAME, self.model.save_weights, keep_suffix=True)
        else:
            state["wait"] += 1
        if self.config.patience and state["wait"] >= self.config.patience:
            state["stopped"] = True
            self.model.stop_training = True
        state["epoch"] = epoch
        state["train_time_s"] = self.time_before + time.perf_counter() - self.started
        atomic_write(self.out_dir / CHECKPOINT_NAME, self.model.save, keep_suffix=True)
        atomic_write_json(self.out_dir / CHECKPOINT_STATE_NAME, state)
        atomic_write_text(self.out_dir / HISTORY_NAME, _history_frame(state["history"]).to_csv(index=False))


def _optimizer(config: CNNConfig, steps: int) -> keras.optimizers.Optimizer:
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


def _init_output_bias(model: keras.Model, packed_fit: np.ndarray) -> None:
    """Start the output layer at the log-odds of each class's observed positive rate.

    The first steps then learn features instead of base rates (and the initial loss is the
    entropy of the labels rather than a random number above it).
    """
    targets, mask = split_targets(packed_fit)
    rate = (targets * mask).sum(axis=0) / np.maximum(mask.sum(axis=0), 1.0)
    rate = np.where(mask.sum(axis=0) > 0, rate, 0.5).clip(0.01, 0.99)
    layer = model.layers[-1]
    layer.bias.assign(np.log(rate / (1 - rate)).astype(np.float32))


def _history_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def _load_state(out_dir: Path, config: CNNConfig) -> dict | None:
    """The checkpoint state of an interrupted run in `out_dir`, or None to start afresh."""
    path = out_dir / CHECKPOINT_STATE_NAME
    if not path.is_file() or not (out_dir / CHECKPOINT_NAME).is_file():
        return None
    state = json.loads(path.read_text())
    if state.get("config") != config.to_dict():
        raise ParameterError(
            f"{path} belongs to a run with another config ({state.get('config')}); "
            f"given {config.to_dict()}: resume with the same config or use another out_dir"
        )
    return state


def _finished_model(out_dir: Path, config: CNNConfig, classes: tuple[str, ...]) -> CNNModel | None:
    """The model a finished run with the same config and classes left in `out_dir`, or None."""
    if not (out_dir / METADATA_NAME).is_file():
        return None
    model = CNNModel.load(out_dir)
    if model.metadata.get("config") != config.to_dict():
        raise ParameterError(
            f"{out_dir} already holds a CNN trained with another config "
            f"({model.metadata.get('config')}); given {config.to_dict()}: use another out_dir"
        )
    if model.classes != classes:
        raise ParameterError(
            f"{out_dir} already holds a CNN trained for classes {list(model.classes)}; "
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
