"""Cached, resumable, parallel feature extraction for a list of audio clips.

`extract_dataset` decodes every clip (`features.audio.load_audio`), computes one fixed-shape
array per clip with a named extractor, and stores them in one memory-mappable ``data.npy`` under
``cache_dir/<extractor>-<hash>/``, where the hash covers the extractor, its parameters and the
keys, so that changing any of them starts a new cache. Clips are processed in chunks; each
finished chunk leaves a marker ``chunks/NNNNN.json``, so an interrupted run resumes where it
stopped. ``manifest.json`` is written last, atomically: a cache is complete only when it exists.

Only a clip's own problems are recorded: a missing, empty or undecodable file, or one of the
wrong duration (`features.audio.ClipError`). Such a clip does not stop a run: its row stays zero,
``ok`` is False and ``problems`` says why. Any other error (a bad extractor parameter, a full
disk, a bug) stops the extraction and is never recorded: finished chunks stay done, no manifest
is written, and the next call resumes. Each recorded problem keeps the state of its file (size
and modification time, or "missing"); when a complete cache is reused, the clips whose file has
changed since are computed again, and the manifest is rewritten.

Cache folder (plain files; the JSON is indented):

    data.npy            (n, *shape) array, one row per key in the order given; zeros where not ok
    chunks/NNNNN.json   {"problems": {key: record}} of one finished chunk of `chunk_size` clips
    manifest.json       {"format_version", "extractor", "params", "chunk_size", "keys_sha256",
                         "shape", "dtype", "keys": [...], "problems": {key: record}, "n_ok",
                         "versions": {library: version}}

where a record is ``{"problem": "duration 7.320 s, expected 10.000 s", "file": {"size": 61234,
"mtime_ns": 1732780800000000000}}``, with ``"file": "missing"`` for a missing file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from core.atomic import atomic_write_json
from core.errors import DatasetError, ParameterError
from core.versions import library_versions
from features.audio import CLIP_DURATION_S, ClipError, load_audio
from features.extractors import EXTRACTORS, Extractor

CHUNK_SIZE = 64  # clips per resumable unit
FORMAT_VERSION = 2  # bump when the layout or an extractor's computation changes (2: file states)
MANIFEST = "manifest.json"
DATA = "data.npy"
CHUNKS = "chunks"
# Parameters read by the decoder rather than by the extractor itself.
DECODE_DEFAULTS = {"expected_duration_s": CLIP_DURATION_S}
_VERSIONED = ("numpy", "librosa", "soundfile", "soxr", "resampy", "joblib")


@dataclass(frozen=True)
class FeatureCache:
    """A complete feature cache: one row of `data` per key, in the order requested.

    Attributes
    ----------
    data : np.memmap [shape=(n, *feature_shape)], read-only; zeros where not `ok`
    keys : np.ndarray [shape=(n,), dtype=str]
    ok : np.ndarray [shape=(n,), dtype=bool]; False for missing/corrupt/short clips
    problems : dict
        key -> why the clip has no features.
    params : dict
        The extractor's resolved parameters (defaults filled in).
    path : Path
        The cache folder.
    """

    data: np.ndarray
    keys: np.ndarray
    ok: np.ndarray
    problems: dict[str, str]
    params: dict
    path: Path

    @classmethod
    def open(cls, folder: str | Path) -> FeatureCache:
        """Open a complete cache folder (one that has its manifest.json)."""
        folder = Path(folder)
        manifest = _read_manifest(folder)
        keys = np.asarray(manifest["keys"], dtype=str)
        problems = {key: record["problem"] for key, record in manifest["problems"].items()}
        return cls(
            data=np.load(folder / DATA, mmap_mode="r"),
            keys=keys,
            ok=np.array([key not in problems for key in keys], dtype=bool),
            problems=problems,
            params=manifest["params"],
            path=folder,
        )


def extract_dataset(
    paths: Sequence[str | Path],
    keys: Sequence[str],
    extractor: str,
    cache_dir: str | Path,
    *,
    params: dict | None = None,
    n_jobs: int = -1,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> FeatureCache:
    """Extract features for every clip, or reuse the cache made earlier with the same settings.

    Parameters
    ----------
    paths : sequence of str or Path [shape=(n,)]
        Audio files; missing, empty, undecodable or wrong-length ones are reported, not fatal.
    keys : sequence of str [shape=(n,)]
        Unique clip identifiers (OpenMIC sample keys), same order as `paths`.
    extractor : {"logmel", "vggish_examples"}
        "logmel": `features.logmel.logmel`, float16 (n_mels, n_frames) per clip.
        "vggish_examples": `features.vggish.waveform_to_examples`, float32 (10, 96, 64) per clip,
        padded with the log of silence or cropped to `n_examples`.
    cache_dir : str or Path
        Parent folder; the cache goes in ``cache_dir/<extractor>-<hash>/``.
    params : dict or None
        Overrides of the extractor's defaults (`EXTRACTORS[extractor].defaults`) and
        `expected_duration_s` (10.0: clips off by more than 0.01 s are reported; None: no check).
    n_jobs : int
        joblib workers (processes); -1 uses all cores.
    progress : bool
        Show a tqdm bar on stderr.
    chunk_size : int
        Clips per resumable chunk (part of the cache's identity).

    Returns
    -------
    cache : FeatureCache

    Raises
    ------
    ParameterError, OSError, ...
        Anything but a clip's own problem (`features.audio.ClipError`) stops the extraction:
        nothing of it is recorded, finished chunks are kept and the next call resumes.

    Examples
    --------
    >>> cache = extract_dataset(ds.audio_path, ds.sample_key, "logmel", "~/.cache/openmic-compare")
    >>> cache.data.shape, cache.ok.mean()
    ((20000, 128, 1000), 1.0)
    """
    keys = [str(k) for k in keys]
    paths = [Path(p) for p in paths]
    if extractor not in EXTRACTORS:
        raise ParameterError(f"extractor must be one of {sorted(EXTRACTORS)}, given {extractor!r}")
    if len(paths) != len(keys):
        raise ParameterError(f"paths and keys differ in length, given {len(paths)} and {len(keys)}")
    if not keys:
        raise ParameterError("no clips given: paths and keys are empty")
    if len(set(keys)) != len(keys):
        raise ParameterError("keys must be unique; given keys with duplicates")
    if chunk_size < 1:
        raise ParameterError(f"chunk_size must be positive, given chunk_size={chunk_size}")
    spec = EXTRACTORS[extractor]
    resolved = _resolve_params(spec, params)
    identity = {
        "format_version": FORMAT_VERSION,
        "extractor": extractor,
        "params": resolved,
        "chunk_size": chunk_size,
        "keys_sha256": hashlib.sha256("\n".join(keys).encode()).hexdigest(),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir).expanduser() / f"{extractor}-{digest}"
    work = partial(_extract_recorded, spec, params=resolved)
    if (folder / MANIFEST).is_file():
        _recheck_changed(folder, work, paths, keys, n_jobs, progress)
        return FeatureCache.open(folder)

    chunks = [range(start, min(start + chunk_size, len(keys))) for start in range(0, len(keys), chunk_size)]
    shape = (len(keys), *spec.shape(resolved))
    layout = _open_data(folder / DATA, shape, spec.dtype)  # may drop stale chunk markers
    todo = [i for i in range(len(chunks)) if not _chunk_marker(folder, i).is_file()]
    (folder / CHUNKS).mkdir(exist_ok=True)

    def mark_done(c: int, records: dict[int, dict]) -> None:
        problems = {keys[i]: record for i, record in records.items()}
        atomic_write_json(_chunk_marker(folder, todo[c]), {"problems": problems}, indent=1)

    initial = len(keys) - sum(len(chunks[c]) for c in todo)
    with tqdm(
        total=len(keys), initial=initial, disable=not progress, unit="clip", desc=folder.name
    ) as bar:
        _run_groups(work, paths, [chunks[c] for c in todo], folder, layout, mark_done, n_jobs, bar)

    problems: dict[str, dict] = {}
    for i in range(len(chunks)):
        problems.update(json.loads(_chunk_marker(folder, i).read_text())["problems"])
    manifest = {
        **identity,
        "shape": list(shape),
        "dtype": spec.dtype,
        "keys": keys,
        "problems": problems,
        "n_ok": len(keys) - len(problems),
        "versions": library_versions(_VERSIONED),
    }
    atomic_write_json(folder / MANIFEST, manifest, indent=1)
    return FeatureCache.open(folder)


def _resolve_params(spec: Extractor, params: dict | None) -> dict:
    resolved = {**DECODE_DEFAULTS, **spec.defaults}
    unknown = sorted(set(params or {}) - set(resolved))
    if unknown:
        raise ParameterError(f"unknown parameters {unknown}; allowed: {sorted(resolved)}")
    resolved.update(params or {})
    return resolved


def _open_data(path: Path, shape: tuple[int, ...], dtype: str) -> tuple[int, int]:
    """Keep a partial data file that fits, or create a zero-filled one (dropping stale markers).

    Returns the byte offset of the first row and the bytes per row. Rows are then written with
    `os.pwrite` rather than through a memory map, so that the written pages do not count in
    this process's resident memory.
    """
    if path.is_file():
        try:
            data = np.load(path, mmap_mode="r")
            if data.shape == shape and data.dtype == np.dtype(dtype):
                return data.offset, data[0].nbytes
        except (ValueError, OSError):
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    for marker in path.parent.glob(f"{CHUNKS}/*.json"):
        marker.unlink()
    data = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    return data.offset, data[0].nbytes


def _recheck_changed(
    folder: Path, work: Callable, paths: list[Path], keys: list[str], n_jobs: int, progress: bool
) -> None:
    """Compute again the recorded bad clips whose file changed since, and rewrite the manifest."""
    manifest = _read_manifest(folder)
    row = {key: i for i, key in enumerate(keys)}
    problems = manifest["problems"]
    changed = [row[k] for k, rec in problems.items() if file_state(paths[row[k]]) != rec["file"]]
    if not changed:
        return
    for i in changed:
        del problems[keys[i]]
    data = np.load(folder / DATA, mmap_mode="r")
    layout = (data.offset, data[0].nbytes)

    def keep(_: int, records: dict[int, dict]) -> None:
        problems.update({keys[i]: record for i, record in records.items()})

    desc = f"{folder.name}, changed files"
    with tqdm(total=len(changed), disable=not progress, unit="clip", desc=desc) as bar:
        _run_groups(work, paths, [changed], folder, layout, keep, n_jobs, bar)
    manifest["problems"] = dict(sorted(problems.items(), key=lambda item: row[item[0]]))
    manifest["n_ok"] = len(keys) - len(problems)
    atomic_write_json(folder / MANIFEST, manifest, indent=1)


def _run_groups(
    work: Callable[[Path], tuple[np.ndarray | None, dict | None]],
    paths: list[Path],
    groups: list[Sequence[int]],
    folder: Path,
    layout: tuple[int, int],
    done: Callable[[int, dict[int, dict]], None],
    n_jobs: int,
    bar: tqdm,
) -> None:
    """Compute the clips of each group in turn and write their rows; then `done(group, records)`.

    `records` maps the group's bad clips (their indices) to their problem records. A clip's own
    problem becomes a zero row and a record; any other error propagates, before that group is done.
    """
    offset, row_bytes = layout
    results = iter(
        Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(work)(paths[i]) for group in groups for i in group
        )
    )
    fd = os.open(folder / DATA, os.O_WRONLY)
    try:
        for g, group in enumerate(groups):
            records = {}
            for i in group:
                features, record = next(results)
                if record is not None:
                    records[i] = record
                row = bytes(row_bytes) if record is not None else features.tobytes()
                if len(row) != row_bytes:
                    raise ValueError(
                        f"extractor gave {features.shape} {features.dtype} for {paths[i]}, "
                        f"which does not fill a {row_bytes}-byte row of {folder / DATA}"
                    )
                os.pwrite(fd, row, offset + i * row_bytes)
                bar.update()
            done(g, records)
    finally:
        os.close(fd)


def extract_clip(spec: Extractor, path: Path, params: dict) -> tuple[np.ndarray | None, str | None]:
    """Decode one clip and compute its features, or say what is wrong with the clip.

    Parameters
    ----------
    spec : Extractor
    path : Path
        Audio file.
    params : dict
        Resolved parameters: the extractor's own plus `expected_duration_s`.

    Returns
    -------
    (features, None) on success; (None, problem) when the clip is missing, empty, undecodable or
    of the wrong duration, the problem in plain words (`features.audio.ClipError.problem`).

    Raises
    ------
    Any error that is not the clip's own (`ParameterError` for a bad extractor parameter, OSError,
    ...): it is not a property of the clip and must not be recorded as one.
    """
    own = {k: v for k, v in params.items() if k not in DECODE_DEFAULTS}
    try:
        y, sr = load_audio(path, expected_duration_s=params["expected_duration_s"])
    except ClipError as err:
        return None, err.problem
    return spec.compute(y, sr, own).astype(spec.dtype, copy=False), None


def file_state(path: Path) -> dict[str, int] | str:
    """The file state a problem is recorded with: ``{"size", "mtime_ns"}``, or ``"missing"``."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _extract_recorded(
    spec: Extractor, path: Path, *, params: dict
) -> tuple[np.ndarray | None, dict | None]:
    """`extract_clip`, the problem as a record with the file's state from before the read."""
    state = file_state(path)
    features, problem = extract_clip(spec, path, params)
    return features, None if problem is None else {"problem": problem, "file": state}


def _read_manifest(folder: Path) -> dict:
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise DatasetError(
            f"{folder} is not a complete feature cache (no {MANIFEST}); rerun extract_dataset"
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{manifest_path} has format version {manifest.get('format_version')}, this toolkit "
            f"reads {FORMAT_VERSION}; delete {folder} and rerun extract_dataset"
        )
    return manifest


def _chunk_marker(folder: Path, chunk: int) -> Path:
    return folder / CHUNKS / f"{chunk:05d}.json"
