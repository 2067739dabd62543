"""Sliding 10 s windows over an audio file of any length, read in blocks: memory stays flat.

The file is decoded by libsndfile (`soundfile.SoundFile`) block by block, as `float32` samples
exactly as `features.audio.load_audio` decodes a training clip, and each window is handed out in
librosa's layout ``(channels, samples)``. Only the last window's worth of samples (plus one block)
is held, whatever the file's length.

Windows start at 0 and every hop; where the regular windows leave the end of the file uncovered,
one more window ends at the end of the file. A file no longer than one window gives one window:
the whole file (the extractors pad it the way they pad a short training clip).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from features.audio import EMPTY, MISSING, ClipError, probe_audio

BLOCK_FRAMES = 65536  # samples per channel read at a time (1.5 s at 44.1 kHz)
SOUNDFILE_FIX = (
    "if it plays elsewhere, convert it to WAV or FLAC (e.g. ffmpeg -i FILE out.flac), otherwise "
    "it is damaged; this toolkit decodes audio with "
    f"libsndfile {sf.__libsndfile_version__} (WAV, FLAC, OGG Vorbis/Opus, MP3 and what libsndfile "
    "lists in soundfile.available_formats())"
)


@dataclass(frozen=True)
class Window:
    """One window of one hop grid.

    Attributes
    ----------
    key : object
        Which hop grid it belongs to (the caller's key).
    start, stop : int
        Sample positions in the file.
    y : np.ndarray [shape=(n_channels, stop - start), dtype=float32]
    """

    key: object
    start: int
    stop: int
    y: np.ndarray


@dataclass
class StreamFacts:
    """What streaming learnt about the file (complete once the windows are exhausted)."""

    sr: int
    channels: int
    header_frames: int
    frames: int = 0
    peak: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.frames / self.sr


def open_stream(path: str | Path, *, min_seconds: float) -> tuple[sf.SoundFile, StreamFacts]:
    """Open `path` for streaming after the header checks of `features.audio.probe_audio`.

    Raises
    ------
    ClipError
        Missing, empty, unreadable (with what to do for a format libsndfile cannot read), or
        shorter than `min_seconds`.
    """
    path = Path(path)
    try:
        n_frames, sr = probe_audio(path)
    except ClipError as err:
        raise ClipError(path, err.problem, _fix(err.problem)) from err
    _check_min_length(path, n_frames, sr, min_seconds)
    f = sf.SoundFile(path)
    return f, StreamFacts(sr=int(sr), channels=f.channels, header_frames=int(n_frames))


def _fix(problem: str) -> str:
    """What to do about a file's problem, in the words of someone tagging their own files."""
    if problem == MISSING:
        return "check the path"
    if problem == EMPTY:
        return "the file holds no audio: export or copy it again"
    return SOUNDFILE_FIX


def _check_min_length(path: Path, n_frames: int, sr: int, min_seconds: float) -> None:
    if n_frames < round(min_seconds * sr):
        raise ClipError(
            path,
            f"too short: {n_frames / sr:.3f} s, less than one {min_seconds} s frame of the embedding",
            f"nothing can be scored; give at least {min_seconds} s of audio",
        )


def windows(
    f: sf.SoundFile, facts: StreamFacts, path: Path, hops: dict[object, int], length: int,
    *, min_seconds: float, block_frames: int = BLOCK_FRAMES,
) -> Iterator[Window]:
    """Every window of every hop grid, in order of their end.

    Parameters
    ----------
    f : soundfile.SoundFile
        Open for reading, at its start.
    facts : StreamFacts
        Filled in as the file is read: frames decoded and peak magnitude.
    path : Path
        For error messages.
    hops : dict of key -> int
        Hop in samples of each grid.
    length : int
        Window length in samples.
    min_seconds : float
        Shortest file accepted (checked again on the samples actually decoded).

    Raises
    ------
    ClipError
        The stream cannot be decoded further, holds NaN or infinite samples, or is shorter than
        `min_seconds`.
    """
    buf = np.zeros((0, facts.channels), dtype=np.float32)
    buf_start = 0  # file position of buf[0]
    next_start = dict.fromkeys(hops, 0)
    last_start: dict[object, int | None] = dict.fromkeys(hops)
    while True:
        block = _read_block(f, path, block_frames)
        if block is None:
            break
        facts.frames += len(block)
        facts.peak = max(facts.peak, float(np.abs(block).max()))
        buf = np.concatenate([buf, block]) if len(buf) else block
        end = buf_start + len(buf)
        ready = []
        for key, hop in hops.items():
            while next_start[key] + length <= end:
                ready.append((next_start[key] + length, key, next_start[key]))
                last_start[key] = next_start[key]
                next_start[key] += hop
        for stop, key, start in sorted(ready, key=lambda r: (r[0], str(r[1]))):
            yield Window(key, start, stop, _slice(buf, buf_start, start, stop))
        # Keep what a later window needs: from the next start, and the last `length` samples
        # for a final window that ends at the end of the file.
        keep_from = min(min(next_start.values()), max(end - length, 0))
        if keep_from > buf_start:
            buf = buf[keep_from - buf_start :].copy()
            buf_start = keep_from
    _check_min_length(path, facts.frames, facts.sr, min_seconds)
    n = facts.frames
    for key in hops:
        last = last_start[key]
        if last is None or last + length < n:
            start = max(n - length, 0)
            yield Window(key, start, n, _slice(buf, buf_start, start, n))


def _slice(buf: np.ndarray, buf_start: int, start: int, stop: int) -> np.ndarray:
    """Samples [start, stop) of the file in librosa layout, as `load_audio` returns them."""
    return np.ascontiguousarray(buf[start - buf_start : stop - buf_start].T)


def _read_block(f: sf.SoundFile, path: Path, block_frames: int) -> np.ndarray | None:
    """The next block (frames, channels) float32, or None at the end of the stream."""
    try:
        block = f.read(block_frames, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError) as err:
        reason = (getattr(err, "error_string", "") or str(err)).strip().rstrip(".")
        raise ClipError(path, f"unreadable after {f.tell() / f.samplerate:.1f} s: {reason}",
                        SOUNDFILE_FIX) from err
    if len(block) == 0:
        return None
    if not np.isfinite(block).all():
        raise ClipError(path, "non-finite samples (NaN or inf)",
                        "the file is damaged; export it again")
    return block
