"""Every setting of the networks' training and of the spectrogram CNN, once, and fixed constants.

`TrainingConfig` holds what every network trained by `cnn.train.train_network` shares (epochs,
batch, learning rate schedule, early stopping, seed); `CNNConfig` adds the CNN's model and
augmentation (`cnn.finetune.FinetuneConfig` adds the fine-tuned musicnn's).

The defaults are sized for CPU training: about 7 s per epoch per 1,000 training clips of
128 x 1000 log-mel frames on two cores, so the 30 epochs of the demo run (317 to about 640 fit
clips) take 1 to 2.5 minutes. They were chosen on the validation mAP of the 500-clip demo set
(`benchmarks/bench_cnn_demo.py`): no mixup and a peak learning rate of 2e-3 beat mixup 0.1/0.3,
1e-3, 3e-3 and 6e-3, width 24, 200-frame crops and dropout 0.4; patience 10 because the
56-clip validation mAP is noisy. `CNNConfig.quick()` is a tiny variant for tests and smoke runs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from core.errors import ParameterError

# Units of the cached log-mel (`features.logmel`): natural log of the mel power, so a gain of
# g dB adds g * ln(10) / 10 to every value.
LOGMEL_PER_DB = math.log(10.0) / 10.0

# Name of every network's last dense layer, whose bias starts at the base rates (`cnn.train`).
OUTPUT_LAYER = "instruments"

# Saved-model layout inside an output folder.
MODEL_NAME = "model.keras"
METADATA_NAME = "metadata.json"
HISTORY_NAME = "history.csv"
BACKUP_DIRNAME = "backup"  # keras.callbacks.BackupAndRestore's folder
CHECKPOINT_STATE_NAME = "checkpoint.json"
# keras.callbacks.ModelCheckpoint fills in the 1-based epoch: a new file for each new best epoch.
BEST_WEIGHTS_NAME = "best-epoch{epoch:03d}.weights.h5"
BEST_WEIGHTS_GLOB = "best-epoch*.weights.h5"
FILE_FORMAT = "openmic-compare/cnn"
FILE_FORMAT_VERSION = 1
HISTORY_COLUMNS = ("epoch", "loss", "val_loss", "val_map", "lr")

# Clip rows read per chunk when streaming statistics or predictions from the cache.
STREAM_CHUNK_CLIPS = 64
# Batches prepared ahead of the training step by tf.data.
PREFETCH_BATCHES = 2
# Floor of the per-band standard deviation used for standardisation (log units).
MIN_STD = 1e-3


@dataclass
class TrainingConfig:
    """How a network is trained (`cnn.train.train_network`): the fields every model shares.

    epochs : maximum number of epochs; early stopping may end sooner.
    batch_size : clips per step.
    lr : peak learning rate of AdamW; cosine decay to ``lr * final_lr_fraction`` after a linear
        warm-up of ``warmup_epochs``.
    weight_decay : AdamW decoupled weight decay.
    patience : epochs without a better validation mAP before stopping (0: never stop early).
    max_steps_per_epoch : cap on the steps of one epoch (None: one pass over the fit clips); for
        benchmarks and smoke runs.
    soft_targets : train on the `Y_true` confidences of the observed pairs instead of
        ``Y_true >= 0.5``.
    seed : seeds weights, shuffling and augmentation; the run is deterministic.
    deterministic : call `tf.config.experimental.enable_op_determinism()` (process-wide).
    """

    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    warmup_epochs: float = 1.0
    final_lr_fraction: float = 0.02
    patience: int = 10
    max_steps_per_epoch: int | None = None
    soft_targets: bool = False
    seed: int = 0
    deterministic: bool = True

    def __post_init__(self) -> None:
        self._check_positive("epochs", "batch_size")
        self._check_non_negative("patience", "weight_decay", "warmup_epochs")
        if not self.lr > 0:
            raise ParameterError(f"{self._name}.lr must be > 0, given {self.lr!r}")
        if not 0.0 <= self.final_lr_fraction <= 1.0:
            raise ParameterError(
                f"{self._name}.final_lr_fraction must be in [0, 1], given {self.final_lr_fraction!r}"
            )
        self._check_none_or_positive("max_steps_per_epoch")

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _check_positive(self, *names: str) -> None:
        for name in names:
            if int(getattr(self, name)) < 1:
                raise ParameterError(f"{self._name}.{name} must be >= 1, given {getattr(self, name)!r}")

    def _check_non_negative(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) < 0:
                raise ParameterError(f"{self._name}.{name} must be >= 0, given {getattr(self, name)!r}")

    def _check_none_or_positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ParameterError(f"{self._name}.{name} must be None or >= 1, given {value!r}")

    def to_dict(self) -> dict:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainingConfig:
        """Inverse of `to_dict`; unknown keys raise ParameterError naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown {cls.__name__} fields {unknown}; known fields: {sorted(known)}")
        return cls(**values)


@dataclass
class CNNConfig(TrainingConfig):
    """Hyper-parameters of the spectrogram CNN and its training.

    Training: the fields of `TrainingConfig`, and
        train_frames : frames of the random crop each training clip is cut to (None: whole
            clip). Validation and prediction always use the whole clip (global pooling).
    Model
        width : channels of the stem; block b has ``width * 2**b`` channels (b = 0..n_blocks-1).
        n_blocks : conv blocks after the stem (3x3 conv, batch norm, ReLU, 2x2 max pooling).
        dense_units : hidden units of the head (0: linear head on the pooled features).
        dropout : dropout rate before the head's layers.
    Augmentation (each off when its strength is 0)
        mixup_alpha : Beta(alpha, alpha) mixing weight; see `cnn.augment.mixup_labels` for
            the label and mask rule.
        time_masks, time_mask_frames : number and maximum width of SpecAugment time masks.
        freq_masks, freq_mask_bands : number and maximum height of frequency masks.
        gain_db : a random offset uniform in [-gain_db, gain_db] dB added per clip.
    """

    width: int = 16
    n_blocks: int = 4
    dense_units: int = 128
    dropout: float = 0.2
    train_frames: int | None = 400
    mixup_alpha: float = 0.0
    time_masks: int = 2
    time_mask_frames: int = 40
    freq_masks: int = 2
    freq_mask_bands: int = 12
    gain_db: float = 6.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_positive("width", "n_blocks")
        self._check_non_negative("dense_units", "time_masks", "time_mask_frames", "freq_masks",
                                 "freq_mask_bands", "mixup_alpha", "gain_db")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"CNNConfig.dropout must be in [0, 1), given {self.dropout!r}")
        self._check_none_or_positive("train_frames")

    @classmethod
    def quick(cls, **overrides) -> CNNConfig:
        """A tiny, fast configuration for tests and smoke runs (seconds on two cores)."""
        settings = dict(width=12, n_blocks=3, dense_units=32, epochs=3, batch_size=8, lr=3e-3,
                        train_frames=96, patience=0, time_mask_frames=10, freq_mask_bands=8)
        settings.update(overrides)
        return cls(**settings)
