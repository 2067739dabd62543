"""The callbacks of `train_network`: Keras' own, plus the validation score and the resumable state.

Order within an epoch's end (`training_callbacks`):

1. `ValidationScore` predicts the validation clips and adds ``val_loss``, ``val_map`` (masked,
   `core.metrics`) and ``lr`` to the epoch's logs, where the next callbacks read them;
2. `ResumableEarlyStopping` (Keras' `EarlyStopping`) counts epochs without a better score and stops;
3. Keras' `ModelCheckpoint` writes the weights of each new best epoch to a new file
   (``best-epochNNN.weights.h5``), so an interrupted write never replaces the last good one;
4. Keras' `BackupAndRestore` writes weights and optimizer state (the learning-rate schedule's
   position included) to ``backup/`` and restores them when `fit` starts again;
5. `TrainingState` writes, last, what Keras keeps in memory only: history, early-stopping
   counters and the dropout layers' random-seed state, into ``checkpoint.json``.

A run resumed from these files continues exactly as if it had not stopped: same batches
(`cnn.data`), weights, optimizer and seed state, early-stopping counters and best score.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from cnn.config import (
    BACKUP_DIRNAME,
    BEST_WEIGHTS_GLOB,
    BEST_WEIGHTS_NAME,
    CHECKPOINT_STATE_NAME,
    HISTORY_COLUMNS,
    HISTORY_NAME,
)
from cnn.data import RowReader
from cnn.losses import masked_bce
from cnn.predict import predict_rows
from core.atomic import atomic_write_json, atomic_write_text
from core.errors import DatasetError
from core.metrics import masked_map, scorable_classes


class ValidationScore(keras.callbacks.Callback):
    """Masked validation loss and mAP, and the learning rate, into each epoch's logs.

    Parameters
    ----------
    reader : RowReader
    val_idx : np.ndarray [shape=(n_val,)] int
        Validation rows of the cache.
    packed_val : np.ndarray [shape=(n_val, 2 * n_classes)]
        Their packed targets (`cnn.losses.pack_targets`), for the loss.
    Y_true_val, Y_mask_val : np.ndarray [shape=(n_val, n_classes)]
        Their labels, for the mAP.
    batch_size : int
        Clips per forward pass.
    """

    def __init__(self, reader: RowReader, val_idx: np.ndarray, packed_val: np.ndarray,
                 Y_true_val: np.ndarray, Y_mask_val: np.ndarray, batch_size: int) -> None:
        super().__init__()
        self.reader, self.val_idx, self.packed_val = reader, val_idx, packed_val
        self.Y_true_val, self.Y_mask_val, self.batch_size = Y_true_val, Y_mask_val, batch_size

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        P_val = predict_rows(self.model, self.reader, self.val_idx, batch_size=self.batch_size)
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        # float64 scalars: Keras compares monitored values with keras.ops, which would round a
        # Python float to float32.
        logs.update(val_loss=np.float64(masked_bce(self.packed_val, P_val)),
                    val_map=np.float64(masked_map(P_val, self.Y_true_val, self.Y_mask_val)),
                    lr=np.float64(lr))


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' `EarlyStopping`, its counters continued from an interrupted run's `state`.

    Parameters
    ----------
    state : dict
        The training state (`TrainingState`); ``best_score`` None on a fresh run.
    **kwargs
        Passed to `keras.callbacks.EarlyStopping`.
    """

    def __init__(self, state: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.state["best_score"] is not None:
            self.best = np.float64(self.state["best_score"])
            self.best_epoch, self.wait = self.state["best_epoch"], self.state["wait"]


class TrainingState(keras.callbacks.Callback):
    """The state Keras keeps in memory only, written after each epoch and restored on resume.

    Parameters
    ----------
    out_dir : Path
    state : dict
        Updated in place: ``epoch`` (last finished), ``history`` (rows of `HISTORY_COLUMNS`),
        ``best_score``, ``best_epoch``, ``wait``, ``stopped``, ``train_time_s``, ``random_state``.
    stopper : ResumableEarlyStopping
        Whose counters are saved.
    steps : int
        Training steps per epoch, to check that the restored optimizer matches the state.
    """

    def __init__(self, out_dir: Path, state: dict, stopper: ResumableEarlyStopping, steps: int) -> None:
        super().__init__()
        self.out_dir, self.state, self.stopper, self.steps = out_dir, state, stopper, steps

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.started, self.time_before = time.perf_counter(), self.state["train_time_s"]
        if self.state["epoch"] < 0:
            return
        # BackupAndRestore has run: its optimizer must be at the end of the state's last epoch.
        done, expected = int(self.model.optimizer.iterations), (self.state["epoch"] + 1) * self.steps
        if done != expected:
            raise DatasetError(
                f"{self.out_dir / BACKUP_DIRNAME} holds {done} training steps but "
                f"{self.out_dir / CHECKPOINT_STATE_NAME} records {expected} (epoch {self.state['epoch']}): "
                f"they were written apart; delete {self.out_dir / CHECKPOINT_STATE_NAME} to train again from the start"
            )
        for variable, value in zip(_random_state(self.model), self.state["random_state"], strict=True):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        state, stopper = self.state, self.stopper
        state["history"].append({"epoch": epoch, **{c: float(logs[c]) for c in HISTORY_COLUMNS[1:]}})
        state.update(
            epoch=epoch, best_score=float(stopper.best), best_epoch=int(stopper.best_epoch),
            wait=int(stopper.wait), stopped=bool(self.model.stop_training),
            train_time_s=self.time_before + time.perf_counter() - self.started,
            random_state=[np.asarray(v).tolist() for v in _random_state(self.model)],
        )
        atomic_write_json(self.out_dir / CHECKPOINT_STATE_NAME, state)
        atomic_write_text(self.out_dir / HISTORY_NAME, history_frame(state["history"]).to_csv(index=False))
        keep = best_weights_path(self.out_dir, state["best_epoch"])
        for path in self.out_dir.glob(BEST_WEIGHTS_GLOB):
            if path != keep:
                path.unlink()


def training_callbacks(out_dir: Path, state: dict, reader: RowReader, val_idx: np.ndarray,
                       packed_val: np.ndarray, Y_true_val: np.ndarray, Y_mask_val: np.ndarray, *,
                       patience: int, epochs: int, steps: int,
                       predict_batch: int) -> list[keras.callbacks.Callback]:
    """The callbacks of one `fit` call, in the order of the module docstring.

    The score is the validation mAP; a validation set without an observed positive and negative
    for any class has none, and the validation loss is used instead (the choice depends on the
    labels only, so it is the same in every epoch). ``patience`` 0 (never stop) becomes a
    patience longer than the run, so that the best epoch is still tracked.
    """
    if scorable_classes(Y_true_val, Y_mask_val).any():
        monitor, mode = "val_map", "max"
    else:
        monitor, mode = "val_loss", "min"
    stopper = ResumableEarlyStopping(state, monitor=monitor, mode=mode, patience=patience or epochs)
    best = None if state["best_score"] is None else np.float64(state["best_score"])
    pattern = str(out_dir).replace("{", "{{").replace("}", "}}") + "/" + BEST_WEIGHTS_NAME
    return [
        ValidationScore(reader, val_idx, packed_val, Y_true_val, Y_mask_val, predict_batch),
        stopper,
        keras.callbacks.ModelCheckpoint(pattern, monitor=monitor, mode=mode, save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best),
        keras.callbacks.BackupAndRestore(str(out_dir / BACKUP_DIRNAME), double_checkpoint=True),
        TrainingState(out_dir, state, stopper, steps),
    ]


def best_weights_path(out_dir: Path, epoch: int) -> Path:
    """The file `ModelCheckpoint` writes for the (0-based) `epoch`."""
    return out_dir / BEST_WEIGHTS_NAME.format(epoch=epoch + 1)


def history_frame(rows: list[dict]) -> pd.DataFrame:
    """The history rows as a DataFrame with the columns `HISTORY_COLUMNS`."""
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def _random_state(model: keras.Model) -> list:
    """The variables Keras leaves out of saved weights: the seed generators' states (dropout).

    Keras documents ``model.variables`` as ``model.weights`` plus random seeds.
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]
