"""Streaming input: rows of a memory-mapped feature cache, never the whole set in RAM.

`RowReader` reads clip rows by index. When the array is a `numpy.memmap` of a whole file
(what `features.extract.FeatureCache.data` is) the rows are read with positional reads
(``os.preadv``) instead of through the mapping: touched pages of a mapping count in the
process's resident memory, so a pass over a 5 GB cache would otherwise show a 5 GB RSS.
The page cache still helps; the kernel can drop those pages at will.

`training_dataset` is a tf.data pipeline over (epoch, step) pairs: each step's rows and
augmentation come from a generator seeded by ``(seed, epoch, step)``, so batches are the same
whatever the threading and a resumed run sees the same batches as an uninterrupted one. The rows
may have any shape (log-mel for the CNN, musicnn embeddings or patches for `cnn.finetune`); the
augmentation is the caller's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np
import tensorflow as tf

from cnn.config import PREFETCH_BATCHES, STREAM_CHUNK_CLIPS, TrainingConfig
from core.errors import ParameterError

LOGMEL_LAYOUT = ("n_clips", "n_mels", "n_frames")


def unpack_cache(cache_or_array, layout: tuple[str, ...] = LOGMEL_LAYOUT,
                 what: str = "log-mel") -> tuple[np.ndarray, np.ndarray, dict]:
    """(data, ok, params) from a FeatureCache-like object (``.data``, ``.ok``) or an array.

    Parameters
    ----------
    cache_or_array : FeatureCache or np.ndarray [shape=(n, *row_shape)]
    layout : tuple of str
        Names of the expected axes (their number is checked), for the error message.
    what : str
        What the rows hold, for the error message.

    Returns
    -------
    data : np.ndarray [shape=(n, *row_shape)]
    ok : np.ndarray [shape=(n,)] bool
        All True for a plain array.
    params : dict
        The cache's front-end parameters ({} when absent).
    """
    # A plain ndarray has a `.data` attribute too (its buffer): test for arrays first.
    is_array = isinstance(cache_or_array, np.ndarray)
    data = cache_or_array if is_array else getattr(cache_or_array, "data", cache_or_array)
    if not hasattr(data, "shape") or len(data.shape) != len(layout):
        raise ParameterError(
            f"expected a FeatureCache of {what} or an array of shape ({', '.join(layout)}); "
            f"given {type(cache_or_array).__name__} with shape {getattr(data, 'shape', None)}"
        )
    ok = None if is_array else getattr(cache_or_array, "ok", None)
    ok = np.ones(len(data), dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
    if ok.shape != (len(data),):
        raise ParameterError(f"cache.ok must have shape ({len(data)},), given {ok.shape}")
    params = {} if is_array else dict(getattr(cache_or_array, "params", None) or {})
    return data, ok, params


class RowReader:
    """Read clip rows by index as float32 without keeping them resident.

    Parameters
    ----------
    data : np.ndarray or np.memmap [shape=(n, *row_shape)]
    """

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = tuple(data.shape)
        self._fd = None
        self._lock = threading.Lock()
        filename = getattr(data, "filename", None)
        if isinstance(data, np.memmap) and filename and data.flags.c_contiguous:
            offset = int(getattr(data, "offset", 0))
            # Only a mapping of the whole file from `offset` tells where each row lies.
            if os.path.getsize(filename) == offset + data.nbytes:
                self._filename, self._offset = filename, offset
                self._row_bytes = data.nbytes // max(len(data), 1)

    def _file(self) -> int:
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self._filename, os.O_RDONLY)
            return self._fd

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Rows `idx`, in that order.

        Returns
        -------
        x : np.ndarray [shape=(len(idx), *row_shape), dtype=float32]
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.shape[0]):
            raise ParameterError(f"row indices must lie in [0, {self.shape[0]}); given {idx.min()}..{idx.max()}")
        if not hasattr(self, "_filename"):
            order = np.argsort(idx, kind="stable")  # sorted reads are kinder to any backing store
            out = np.empty((len(idx), *self.shape[1:]), dtype=np.float32)
            out[order] = self.data[idx[order]]
            return out
        buf = np.empty((len(idx), *self.shape[1:]), dtype=self.data.dtype)
        fd = self._file()
        for j, i in enumerate(idx):
            view = memoryview(buf[j]).cast("B")
            got = os.preadv(fd, [view], self._offset + int(i) * self._row_bytes)
            if got != self._row_bytes:
                raise ParameterError(f"short read of row {i} from {self._filename}: {got} bytes")
        return buf.astype(np.float32)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


def iterate_rows(reader: RowReader, idx: np.ndarray, chunk: int = STREAM_CHUNK_CLIPS) -> Iterator[np.ndarray]:
    """Yield float32 chunks of rows `idx`, in order, `chunk` clips at a time."""
    for start in range(0, len(idx), chunk):
        yield reader.read(idx[start : start + chunk])


def band_statistics(reader: RowReader, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per mel band over every frame of clips `idx`, streamed in float64.

    Returns
    -------
    mean, variance : np.ndarray [shape=(n_mels,), dtype=float64]
    """
    if len(idx) == 0:
        raise ParameterError("band_statistics needs at least one clip; given none")
    n_mels = reader.shape[1]
    total, total_sq, count = np.zeros(n_mels), np.zeros(n_mels), 0
    for x in iterate_rows(reader, np.sort(idx)):
        x = x.astype(np.float64)
        total += x.sum(axis=(0, 2))
        total_sq += np.square(x).sum(axis=(0, 2))
        count += x.shape[0] * x.shape[2]
    mean = total / count
    return mean, np.maximum(total_sq / count - mean**2, 0.0)


def steps_per_epoch(n_fit: int, config: TrainingConfig) -> int:
    """Full batches per pass over the fit clips (at least one), capped by the config."""
    steps = max(n_fit // config.batch_size, 1)
    return min(steps, config.max_steps_per_epoch or steps)


def training_dataset(
    reader: RowReader,
    packed: np.ndarray,
    fit_idx: np.ndarray,
    config: TrainingConfig,
    augment: Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]],
    example_shape: tuple[int, ...],
    *,
    initial_epoch: int = 0,
) -> tf.data.Dataset:
    """Augmented training batches for epochs ``initial_epoch .. config.epochs - 1``, in order.

    Parameters
    ----------
    reader : RowReader
    packed : np.ndarray [shape=(n, 2 * n_classes)]
        Packed targets of every row of the cache (`cnn.losses.pack_targets`).
    fit_idx : np.ndarray [shape=(n_fit,)]
        Rows to train on.
    config : TrainingConfig
        Seed, batch size, epochs and steps per epoch.
    augment : callable
        ``augment(x, packed, rng) -> (x, packed)`` on a batch of rows (float32) and their packed
        targets, with the batch's own generator; return them unchanged for no augmentation.
    example_shape : tuple of int
        Shape of one training example after `augment`.

    Returns
    -------
    dataset : tf.data.Dataset
        Elements ``(x, y)``: x float32 ``(batch, *example_shape)``, y float32
        ``(batch, 2 * n_classes)``.
    """
    fit_idx = np.asarray(fit_idx, dtype=np.int64)
    steps = steps_per_epoch(len(fit_idx), config)
    batch = min(config.batch_size, len(fit_idx))

    @lru_cache(maxsize=2)
    def order(epoch: int) -> np.ndarray:
        return np.random.default_rng([config.seed, epoch]).permutation(fit_idx)

    def make_batch(flat_step: np.int64) -> tuple[np.ndarray, np.ndarray]:
        epoch, step = divmod(int(flat_step), steps)
        rows = order(epoch)[step * batch : (step + 1) * batch]
        rng = np.random.default_rng([config.seed, epoch, step])
        x, y = augment(reader.read(rows), packed[rows], rng)
        return x.astype(np.float32), y.astype(np.float32)

    def load(flat_step):
        x, y = tf.numpy_function(make_batch, [flat_step], [tf.float32, tf.float32], stateful=False)
        x.set_shape((batch, *example_shape))
        y.set_shape((batch, packed.shape[1]))
        return x, y

    flat = tf.data.Dataset.range(initial_epoch * steps, config.epochs * steps)
    return flat.map(load, num_parallel_calls=PREFETCH_BATCHES, deterministic=True).prefetch(PREFETCH_BATCHES)
