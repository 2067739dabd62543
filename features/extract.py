"""Cached, resumable, parallel feature extraction for a list of audio clips.

`extract_dataset` decodes every clip (`features.audio.load_audio`), computes one fixed-shape
array per clip with a named extractor, and stores them in one memory-mappable ``data.npy`` under
``cache_dir/<extractor>-<hash>/``, where the hash covers the extractor, its parameters and the
keys, so that changing any of them starts a new cache. Clips are processed in chunks; each
finished chunk leaves a marker ``chunks/NNNNN.json``, so an interrupted run resumes where it
stopped. ``manifest.json`` is written last, atomically: a cache is complete only when it exists.

The cache knows which audio each row came from. Every clip's file is recorded as it was read:
its path relative to the dataset root, size, modification time and SHA-256 of its bytes (or
"missing"). When a complete cache is reused, each file is compared with its record: same path,
size and modification time is the same file (no read); otherwise its bytes are hashed, and a
file with the recorded SHA-256 is the same audio (a dataset moved or copied elsewhere; its
record is refreshed). Exactly the clips whose audio differs are computed again, in place, and
the manifest is rewritten. `FeatureCache.identity` digests the extractor, its parameters, the keys
and every clip's SHA-256: what a model trained on these features is keyed on.

Only a clip's own problems are recorded: a missing, empty or undecodable file, or one of the
wrong duration (`features.audio.ClipError`). Such a clip does not stop a run: its row stays zero,
``ok`` is False and ``problems`` says why. Any other error (a bad extractor parameter, a full
disk, a bug) stops the extraction and is never recorded: finished chunks stay done, no manifest
is written, and the next call resumes. A cache whose files are damaged (a truncated ``data.npy``,
an unreadable manifest or chunk marker) is detected and computed again, never read as features.

Cache folder (plain files; the JSON is indented):

    data.npy            (n, *shape) array, one row per key in the order given; zeros where not ok
    chunks/NNNNN.json   {"files": {key: file}, "problems": {key: problem}} of one finished chunk
    manifest.json       {"format_version", "extractor", "params", "chunk_size", "keys_sha256",
                         "shape", "dtype", "keys": [...], "files": {key: file},
                         "problems": {key: problem}, "n_ok", "versions": {library: version}}

where a file is ``{"path": "audio/000/000046_3840.ogg", "size": 61234, "mtime_ns":
1732780800000000000, "sha256": "9f2c..."}`` or ``"missing"``, and a problem is the reason in
words, e.g. ``"duration 7.320 s, expected 10.000 s"``.
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
from core.errors import ParameterError
from core.versions import library_versions
from features.audio import CLIP_DURATION_S, ClipError, load_audio
from features.cache_files import (
    CHUNKS,
    DATA,
    FORMAT_VERSION,
    MANIFEST,
    chunk_marker,
    open_data,
    open_rows,
    read_chunk,
    read_manifest,
    usable,
)
from features.extractors import EXTRACTORS, Extractor
from features.identity import (
    audio_identity,
    compare_file,
    feature_identity,
    file_sha256,
    file_state,
    relative_name,
)

CHUNK_SIZE = 64  # clips per resumable unit
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
    identity : str
        16 hex digits of the SHA-256 of the extractor, its parameters and `audio_identity`:
        equal exactly when the features are.
    audio_identity : str
        16 hex digits of the SHA-256 of the keys, the content (SHA-256) of every clip's audio and
        the clips' problems: what the features were computed from.
    """

    data: np.ndarray
    keys: np.ndarray
    ok: np.ndarray
    problems: dict[str, str]
    params: dict
    path: Path
    identity: str = ""
    audio_identity: str = ""

    @classmethod
    def open(cls, folder: str | Path) -> FeatureCache:
        """Open a complete cache folder (one that has its manifest.json).

        Raises
        ------
        DatasetError
            When the folder has no readable manifest, was written by another format version, or
            its ``data.npy`` is missing, truncated or of another shape than the manifest says.
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        keys = np.asarray(manifest["keys"], dtype=str)
        problems = dict(manifest["problems"])
        audio = audio_identity(manifest)
        return cls(
            data=open_rows(folder, manifest),
            keys=keys,
            ok=np.array([key not in problems for key in keys], dtype=bool),
            problems=problems,
            params=manifest["params"],
            path=folder,
            identity=feature_identity(manifest["extractor"], manifest["params"], audio),
            audio_identity=audio,
        )


def extract_dataset(
    paths: Sequence[str | Path],
    keys: Sequence[str],
    extractor: str,
    cache_dir: str | Path,
    *,
    params: dict | None = None,
    root: str | Path | None = None,
    n_jobs: int = -1,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> FeatureCache:
    """Extract features for every clip, or reuse the cache made earlier of the same audio.

    Parameters
    ----------
    paths : sequence of str or Path [shape=(n,)]
        Audio files; missing, empty, undecodable or wrong-length ones are reported, not fatal.
    keys : sequence of str [shape=(n,)]
        Unique clip identifiers (OpenMIC sample keys), same order as `paths`.
    extractor : {"logmel", "vggish_examples", "musicnn", "musicnn_patches"}
        "logmel": `features.logmel.logmel`, float16 (n_mels, n_frames) per clip.
        "vggish_examples": `features.vggish.waveform_to_examples`, float32 (10, 96, 64) per clip,
        padded with the log of silence or cropped to `n_examples`. See `features.extractors`.
    cache_dir : str or Path
        Parent folder; the cache goes in ``cache_dir/<extractor>-<hash>/``.
    params : dict or None
        Overrides of the extractor's defaults (`EXTRACTORS[extractor].defaults`) and
        `expected_duration_s` (10.0: clips off by more than 0.01 s are reported; None: no check).
    root : str, Path or None
        The dataset folder: each clip's file is recorded by its path relative to it (a moved
        dataset keeps its records). None: paths are recorded as given.
    n_jobs : int
        joblib workers (processes); -1 uses all cores.
    progress : bool
        Show a tqdm bar on stderr.
    chunk_size : int
        Clips per resumable chunk (part of the cache's identity).

    Returns
    -------
    cache : FeatureCache
        Rows computed from exactly the audio the files hold now: a reused cache recomputes the
        clips whose audio changed since (module docstring).

    Raises
    ------
    ParameterError, OSError, ...
        Anything but a clip's own problem (`features.audio.ClipError`) stops the extraction:
        nothing of it is recorded, finished chunks are kept and the next call resumes.
    DatasetError
        The cache folder holds a manifest of another format version (written by another version
        of the toolkit): the message names the folder to delete.

    Examples
    --------
    >>> cache = extract_dataset(ds.audio_path, ds.sample_key, "logmel", "~/.cache/openmic-compare",
    ...                         root=ds.root)
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
    names = [relative_name(path, root) for path in paths]
    work = partial(_extract_recorded, spec, params=resolved)
    shape = (len(keys), *spec.shape(resolved))
    if usable(folder, shape, spec.dtype):
        _recompute_changed(folder, work, paths, names, keys, n_jobs, progress)
        return FeatureCache.open(folder)

    chunks = [range(start, min(start + chunk_size, len(keys))) for start in range(0, len(keys), chunk_size)]
    (folder / MANIFEST).unlink(missing_ok=True)  # a damaged cache: computed again below
    layout = open_data(folder / DATA, shape, spec.dtype)  # may drop stale chunk markers
    todo = [i for i in range(len(chunks)) if read_chunk(folder, i) is None]
    (folder / CHUNKS).mkdir(exist_ok=True)

    def mark_done(c: int, records: dict[int, tuple[dict | str, str | None]]) -> None:
        atomic_write_json(chunk_marker(folder, todo[c]), _chunk_record(records, keys, names), indent=1)

    initial = len(keys) - sum(len(chunks[c]) for c in todo)
    with tqdm(
        total=len(keys), initial=initial, disable=not progress, unit="clip", desc=folder.name
    ) as bar:
        _run_groups(work, paths, [chunks[c] for c in todo], folder, layout, mark_done, n_jobs, bar)

    files: dict[str, dict | str] = {}
    problems: dict[str, str] = {}
    for i in range(len(chunks)):
        record = read_chunk(folder, i)
        files.update(record["files"])
        problems.update(record["problems"])
    manifest = {
        **identity,
        "shape": list(shape),
        "dtype": spec.dtype,
        "keys": keys,
        "files": {key: files[key] for key in keys},
        "problems": {key: problems[key] for key in keys if key in problems},
        "n_ok": len(keys) - len(problems),
        "versions": library_versions(_VERSIONED),
    }
    atomic_write_json(folder / MANIFEST, manifest, indent=1)
    # Chunks finished by an earlier, interrupted call recorded their files then: check them now.
    _recompute_changed(folder, work, paths, names, keys, n_jobs, progress)
    return FeatureCache.open(folder)


def _resolve_params(spec: Extractor, params: dict | None) -> dict:
    resolved = {**DECODE_DEFAULTS, **spec.defaults}
    unknown = sorted(set(params or {}) - set(resolved))
    if unknown:
        raise ParameterError(f"unknown parameters {unknown}; allowed: {sorted(resolved)}")
    resolved.update(params or {})
    return resolved


def _recompute_changed(
    folder: Path,
    work: Callable,
    paths: list[Path],
    names: list[str],
    keys: list[str],
    n_jobs: int,
    progress: bool,
) -> None:
    """Compute again the clips whose audio is not the audio recorded; rewrite the manifest.

    A file with the recorded path, size and modification time counts as unchanged without being
    read; any other is hashed, and one with the recorded SHA-256 keeps its row (its record takes
    the file's new path and time). The manifest is rewritten only when a record changed.
    """
    manifest = read_manifest(folder)
    files, problems = manifest["files"], manifest["problems"]
    changed, refreshed = [], False
    for i, (key, path) in enumerate(zip(keys, paths, strict=True)):
        verdict = compare_file(path, names[i], files[key])
        if verdict == "changed":
            changed.append(i)
        elif verdict != "same":
            files[key], refreshed = verdict, True
    if changed:
        for i in changed:
            problems.pop(keys[i], None)
        data = np.load(folder / DATA, mmap_mode="r")
        layout = (data.offset, data[0].nbytes)

        def keep(_: int, records: dict[int, tuple[dict | str, str | None]]) -> None:
            record = _chunk_record(records, keys, names)
            files.update(record["files"])
            problems.update(record["problems"])

        desc = f"{folder.name}, changed audio"
        with tqdm(total=len(changed), disable=not progress, unit="clip", desc=desc) as bar:
            _run_groups(work, paths, [changed], folder, layout, keep, n_jobs, bar)
    if changed or refreshed:
        manifest["files"] = files
        manifest["problems"] = {key: problems[key] for key in keys if key in problems}
        manifest["n_ok"] = len(keys) - len(manifest["problems"])
        atomic_write_json(folder / MANIFEST, manifest, indent=1)


def _run_groups(
    work: Callable[[Path], tuple[np.ndarray | None, dict | str, str | None]],
    paths: list[Path],
    groups: list[Sequence[int]],
    folder: Path,
    layout: tuple[int, int],
    done: Callable[[int, dict[int, tuple[dict | str, str | None]]], None],
    n_jobs: int,
    bar: tqdm,
) -> None:
    """Compute the clips of each group in turn and write their rows; then `done(group, records)`.

    `records` maps each clip of the group (its index) to ``(file, problem)``: the state of its
    file as read, and its own problem or None. A clip's own problem becomes a zero row; any other
    error propagates, before that group is done.
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
                features, state, problem = next(results)
                records[i] = (state, problem)
                row = bytes(row_bytes) if problem is not None else features.tobytes()
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


def _chunk_record(records: dict[int, tuple[dict | str, str | None]], keys: list[str],
                  names: list[str]) -> dict[str, dict]:
    """``{"files": {key: file}, "problems": {key: problem}}`` of computed clips, paths named."""
    files = {keys[i]: state if state == "missing" else {"path": names[i], **state}
             for i, (state, _) in records.items()}
    problems = {keys[i]: problem for i, (_, problem) in records.items() if problem is not None}
    return {"files": files, "problems": problems}


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


def _extract_recorded(
    spec: Extractor, path: Path, *, params: dict
) -> tuple[np.ndarray | None, dict | str, str | None]:
    """`extract_clip`, with the state of the file it read: ``{"size", "mtime_ns", "sha256"}``
    (size and time from before the read) or ``"missing"``."""
    state = file_state(path)
    if state != "missing":
        try:
            state = {**state, "sha256": file_sha256(path)}
        except (FileNotFoundError, NotADirectoryError):
            state = "missing"
    features, problem = extract_clip(spec, path, params)
    return features, state, problem
