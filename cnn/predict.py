"""A trained network with its thresholds, history and metadata; save, load, predict.

`TrainedNetwork` is what `cnn.train.train_network` returns; `CNNModel` (the spectrogram CNN) and
`cnn.finetune.FinetuneModel` (the fine-tuned musicnn) differ in the rows they read and their
file format. On disk (one folder): ``model.keras`` (network, standardisation included),
``metadata.json`` (classes, thresholds, normalisation statistics, front-end parameters, config,
versions, train time) and ``history.csv`` (epoch, loss, val_loss, val_map, lr).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import pandas as pd

from cnn.config import (
    FILE_FORMAT,
    FILE_FORMAT_VERSION,
    HISTORY_COLUMNS,
    HISTORY_NAME,
    METADATA_NAME,
    MODEL_NAME,
    STREAM_CHUNK_CLIPS,
)
from cnn.data import LOGMEL_LAYOUT, RowReader, iterate_rows, unpack_cache
from cnn.losses import MaskedBinaryCrossentropy  # noqa: F401  (registers the loss for loading)
from core.atomic import atomic_write, atomic_write_json, atomic_write_text
from core.errors import DatasetError, ParameterError


class TrainedNetwork:
    """A trained network: Keras model, thresholds, history and metadata.

    Parameters
    ----------
    model : keras.Model
        Input ``(batch, *row_shape)`` rows of a feature cache, output ``(batch, n_classes)``.
    thresholds : np.ndarray [shape=(n_classes,)]
        Per-instrument decision thresholds chosen on validation.
    history : pandas.DataFrame
        One row per epoch: epoch, loss, val_loss, val_map, lr.
    metadata : dict
        Everything else worth keeping (see `cnn.train.train_network`).
    """

    # Set by each subclass: its file format, the layout and kind of its input rows, and the
    # call that trains one (named in errors).
    file_format: ClassVar[str]
    file_format_version: ClassVar[int]
    layout: ClassVar[tuple[str, ...]]
    rows: ClassVar[str]
    trainer: ClassVar[str]
    predict_batch_clips: ClassVar[int] = STREAM_CHUNK_CLIPS

    def __init__(self, model: keras.Model, thresholds: np.ndarray, history: pd.DataFrame,
                 metadata: dict) -> None:
        self.model = model
        self.thresholds_ = np.asarray(thresholds, dtype=np.float64)
        self.history = history
        self.metadata = metadata

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.metadata["classes"])

    @property
    def train_time_s_(self) -> float:
        return float(self.metadata.get("train_time_s", float("nan")))

    def predict_proba(self, cache_or_array, idx: np.ndarray | None = None, *,
                      batch_size: int | None = None) -> np.ndarray:
        """Probabilities per instrument for rows `idx` (default all) of a cache or array.

        Rows are streamed from the cache `batch_size` clips at a time. Rows the cache marks
        as not ok (zeros) are predicted like any other; callers decide what to do with them.

        Parameters
        ----------
        cache_or_array : FeatureCache or np.ndarray [shape=(n, *row_shape)]
            Rows of the kind the model was trained on (`layout`); the axes its input fixes
            must match.
        idx : np.ndarray [shape=(m,)] int, optional
        batch_size : int, optional
            Clips per forward pass (default `predict_batch_clips`).

        Returns
        -------
        proba : np.ndarray [shape=(m, n_classes), dtype=float32]
        """
        data, _, _ = unpack_cache(cache_or_array, self.layout, self.rows)
        expected = tuple(self.model.input_shape[1:])
        if any(e is not None and e != d for e, d in zip(expected, data.shape[1:], strict=True)):
            shown = tuple("any" if e is None else e for e in expected)
            raise ParameterError(
                f"this model reads rows of shape {shown} ({', '.join(self.layout[1:])}); "
                f"given data of shape {data.shape}"
            )
        idx = np.arange(len(data)) if idx is None else np.asarray(idx, dtype=np.int64)
        return predict_rows(self.model, RowReader(data), idx, batch_size=batch_size or self.predict_batch_clips)

    def save(self, out_dir: str | Path) -> None:
        """Write model.keras, metadata.json and history.csv into `out_dir` (atomically each)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(out_dir / MODEL_NAME, self.model.save, keep_suffix=True)
        metadata = dict(self.metadata, thresholds=self.thresholds_.tolist())
        atomic_write_json(out_dir / METADATA_NAME, metadata, indent=2)
        atomic_write_text(out_dir / HISTORY_NAME, self.history.to_csv(index=False))

    @classmethod
    def load(cls, out_dir: str | Path) -> TrainedNetwork:
        """Load a model written by `save` (or by the training that made it)."""
        out_dir = Path(out_dir)
        meta_path = out_dir / METADATA_NAME
        if not meta_path.is_file() or not (out_dir / MODEL_NAME).is_file():
            raise DatasetError(
                f"{out_dir} holds no trained {cls.__name__} ({METADATA_NAME} and {MODEL_NAME} "
                f"needed): train one with {cls.trainer}"
            )
        metadata = json.loads(meta_path.read_text())
        fmt, version = cls.file_format, cls.file_format_version
        if metadata.get("format") != fmt or metadata.get("format_version") != version:
            raise DatasetError(
                f"{meta_path} is not a {cls.__name__} of format {fmt} v{version} "
                f"(given {metadata.get('format')} v{metadata.get('format_version')}): retrain it"
            )
        model = keras.models.load_model(out_dir / MODEL_NAME, compile=False)
        history_path = out_dir / HISTORY_NAME
        history = pd.read_csv(history_path) if history_path.is_file() else pd.DataFrame(columns=HISTORY_COLUMNS)
        return cls(model, np.asarray(metadata["thresholds"]), history, metadata)


class CNNModel(TrainedNetwork):
    """A trained spectrogram CNN: reads log-mel rows ``(n_mels, n_frames)`` (any n_frames)."""

    file_format = FILE_FORMAT
    file_format_version = FILE_FORMAT_VERSION
    layout = LOGMEL_LAYOUT
    rows = "log-mel"
    trainer = "cnn.train_cnn(..., out_dir)"


def predict_rows(model: keras.Model, reader: RowReader, idx: np.ndarray, *,
                 batch_size: int = STREAM_CHUNK_CLIPS) -> np.ndarray:
    """Model outputs for rows `idx` of `reader`, streamed (shape ``(len(idx), n_classes)``)."""
    n_classes = model.output_shape[-1]
    out = np.empty((len(idx), n_classes), dtype=np.float32)
    start = 0
    for x in iterate_rows(reader, idx, batch_size):
        out[start : start + len(x)] = model.predict_on_batch(x)
        start += len(x)
    return out
