"""Score one audio file with the models of a run: probabilities per window, and for the whole file.

Every distinct input of the models (`tagging.inputs.WindowInput`) slides its own 10 s window
over the file (`tagging.stream`); each window is extracted like a training clip from its own
audio, and every model reading that input scores it. Windows are scored in small batches, and
each batch's probabilities go to `on_rows` as soon as they exist, so that nothing but 20 numbers
per window and model stays in memory.

The whole-file probability of an instrument is its highest window probability: the file holds
the instrument if some 10 s of it does, which is the question each training clip answered, and
the run's thresholds (chosen on 10 s clips) then apply unchanged. A file of one window scores
exactly as that window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tagging.inputs import MIN_SECONDS, WINDOW_S, WindowInput, compute_inputs
from tagging.models import BATCH_WINDOWS, RunModel
from tagging.stream import open_stream, windows

# A file whose peak stays below -90 dBFS (quieter than 16-bit dither) is treated as silence.
SILENCE_PEAK = 10 ** (-90 / 20)


@dataclass
class Timeline:
    """One model's probabilities over a file's windows.

    Attributes
    ----------
    start_s, end_s : np.ndarray [shape=(n_windows,)]
        Window bounds in seconds.
    proba : np.ndarray [shape=(n_windows, n_classes), dtype=float32]
    """

    start_s: np.ndarray
    end_s: np.ndarray
    proba: np.ndarray

    @property
    def whole(self) -> np.ndarray:
        """Whole-file probability per instrument: the highest window's, float64 (n_classes,)."""
        return self.proba.max(axis=0).astype(np.float64)


@dataclass
class FileScore:
    """What scoring one file gave: its facts and every model's timeline."""

    path: Path
    sr: int
    channels: int
    duration_s: float
    peak_dbfs: float
    timelines: dict[str, Timeline] = field(default_factory=dict)

    @property
    def silent(self) -> bool:
        return self.peak_dbfs < 20 * np.log10(SILENCE_PEAK)


RowsCallback = Callable[[RunModel, np.ndarray, np.ndarray, np.ndarray], None]


def score_file(path: str | Path, models: list[RunModel], *, on_rows: RowsCallback | None = None
               ) -> FileScore:
    """Score `path` with every model of `models`.

    Parameters
    ----------
    path : str or Path
        Any file libsndfile decodes, of any length from `MIN_SECONDS`.
    models : list of RunModel
    on_rows : callable, optional
        ``on_rows(model, start_s, end_s, proba)`` for each scored batch of windows.

    Returns
    -------
    FileScore

    Raises
    ------
    features.audio.ClipError
        The file is missing, empty, unreadable, damaged or too short; nothing was scored.
    """
    path = Path(path)
    f, facts = open_stream(path, min_seconds=MIN_SECONDS)
    sr = facts.sr
    inputs = list(dict.fromkeys(m.input for m in models))
    readers = {spec: [m for m in models if m.input == spec] for spec in inputs}
    # One window grid per hop: inputs on the same grid share their window's computation.
    grids: dict[int, list[WindowInput]] = {}
    for spec in inputs:
        grids.setdefault(max(1, round(spec.hop_s * sr)), []).append(spec)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {m.id: [] for m in models}
    pending: dict[WindowInput, list] = {spec: [] for spec in inputs}

    def flush(spec: WindowInput) -> None:
        batch = pending[spec]
        if not batch:
            return
        start = np.array([b[0] for b in batch], dtype=np.float64) / sr
        end = np.array([b[1] for b in batch], dtype=np.float64) / sr
        X = np.stack([b[2] for b in batch])
        for model in readers[spec]:
            proba = model.predict(X)
            parts[model.id].append((start, end, proba.astype(np.float32)))
            if on_rows is not None:
                on_rows(model, start, end, proba)
        batch.clear()

    with f:
        hops = {hop: hop for hop in grids}
        for w in windows(f, facts, path, hops, round(WINDOW_S * sr), min_seconds=MIN_SECONDS):
            for spec, features in compute_inputs(grids[w.key], w.y, sr).items():
                pending[spec].append((w.start, w.stop, features))
                if len(pending[spec]) >= BATCH_WINDOWS:
                    flush(spec)
        for spec in inputs:
            flush(spec)
    peak_dbfs = 20 * np.log10(facts.peak) if facts.peak > 0 else float("-inf")
    result = FileScore(path, sr, facts.channels, facts.duration_s, float(peak_dbfs))
    for model in models:
        start, end, proba = (np.concatenate(a) for a in zip(*parts[model.id], strict=True))
        result.timelines[model.id] = Timeline(start, end, proba)
    return result
