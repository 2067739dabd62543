"""Cached, resumable, parallel feature extraction for a list of audio clips.

`extract_dataset` decodes every clip (`features.audio.load_audio`), computes one fixed-shape
array per clip with a named extractor, and stores them in one memory-mappable ``data.npy`` under
``cache_dir/<extractor>-<hash>/``, where the hash covers the extractor, its parameters and the
keys, so that changing any of them starts a new cache. Clips are processed in chunks; each
finished chunk leaves a marker ``chunks/NNNNN.json``, so an interrupted run resumes where it
stopped. ``manifest.json`` is written last, atomically: a cache is complete only when it exists.
Missing, corrupt or short clips never stop a run: their row stays zero, ``ok`` is False and
``problems`` says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from core.atomic import atomic_write_json
from core.errors import DatasetError, ParameterError
from core.versions import library_versions
from features import vggish_params
from features.audio import CLIP_DURATION_S, load_audio
from features.logmel import LOGMEL_PARAMS, logmel
from features.vggish import waveform_to_examples

CHUNK_SIZE = 64  # clips per resumable unit
FORMAT_VERSION = 1  # bump when the layout or an extractor's computation changes
MANIFEST = "manifest.json"
DATA = "data.npy"
CHUNKS = "chunks"
# Parameters read by the decoder rather than by the extractor itself.
DECODE_DEFAULTS = {"expected_duration_s": CLIP_DURATION_S}
_VERSIONED = ("numpy", "librosa", "soundfile", "soxr", "resampy", "joblib")


@dataclass(frozen=True)
class Extractor:
    """How to turn a decoded clip into one fixed-shape array.

    `compute(y, sr, params)` gets librosa-layout audio and the extractor's own parameters;
    `shape(params)` gives the shape of its result, `dtype` its type.
    """

    compute: Callable[[np.ndarray, int, dict], np.ndarray]
    defaults: dict
    shape: Callable[[dict], tuple[int, ...]]
    dtype: str


def _logmel(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    return logmel(y, sr, **params)


def _logmel_shape(params: dict) -> tuple[int, ...]:
    return (params["n_mels"], params["n_frames"])


def _vggish_examples(y: np.ndarray, sr: int, params: dict) -> np.ndarray:
    """VGGish examples padded (with the log of silence) or cropped to `n_examples`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # short clips are padded below
        examples = waveform_to_examples(
            y, sr, normalize_peak=params["normalize_peak"], resampler=params["resampler"]
        )
    out = np.full(_vggish_shape(params), np.log(vggish_params.LOG_OFFSET), dtype=np.float32)
    n = min(len(examples), params["n_examples"])
    out[:n] = examples[:n]
    return out


def _vggish_shape(params: dict) -> tuple[int, ...]:
    return (params["n_examples"], vggish_params.EXAMPLE_NUM_FRAMES, vggish_params.NUM_MEL_BINS)


EXTRACTORS: dict[str, Extractor] = {
    "logmel": Extractor(
        compute=_logmel,
        defaults=dict(LOGMEL_PARAMS),
        shape=_logmel_shape,
        dtype="float16",
    ),
    "vggish_examples": Extractor(
        compute=_vggish_examples,
        defaults=dict(normalize_peak=True, resampler="kaiser_best", n_examples=10),
        shape=_vggish_shape,
        dtype="float32",
    ),
}


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
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise DatasetError(
                f"{folder} is not a complete feature cache (no {MANIFEST}); rerun extract_dataset"
            )
        manifest = json.loads(manifest_path.read_text())
        keys = np.asarray(manifest["keys"], dtype=str)
        problems = dict(manifest["problems"])
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
        Audio files; missing or unreadable ones are reported, not fatal.
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
    if (folder / MANIFEST).is_file():
        return FeatureCache.open(folder)

    chunks = [range(start, min(start + chunk_size, len(keys))) for start in range(0, len(keys), chunk_size)]
    shape = (len(keys), *spec.shape(resolved))
    layout = _open_data(folder / DATA, shape, spec.dtype)  # may drop stale chunk markers
    todo = [i for i in range(len(chunks)) if not _chunk_marker(folder, i).is_file()]
    _run_chunks(spec, resolved, paths, keys, chunks, todo, folder, layout, n_jobs, progress)

    problems: dict[str, str] = {}
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


def _run_chunks(spec, params, paths, keys, chunks, todo, folder, layout, n_jobs, progress) -> None:
    """Compute the clips of the chunks in `todo`, writing each chunk's rows and then its marker."""
    offset, row_bytes = layout
    clip_ids = [i for c in todo for i in chunks[c]]
    results = iter(
        Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(extract_clip)(spec, paths[i], params) for i in clip_ids
        )
    )
    bar = tqdm(
        total=len(keys), initial=len(keys) - len(clip_ids), disable=not progress, unit="clip", desc=folder.name
    )
    (folder / CHUNKS).mkdir(exist_ok=True)
    fd = os.open(folder / DATA, os.O_WRONLY)
    try:
        for c in todo:
            problems = {}
            for i in chunks[c]:
                features, problem = next(results)
                if problem is not None:
                    problems[keys[i]] = problem
                row = bytes(row_bytes) if problem is not None else features.tobytes()
                if len(row) != row_bytes:
                    raise ValueError(
                        f"extractor gave {features.shape} {features.dtype} for {paths[i]}, "
                        f"which does not fill a {row_bytes}-byte row of {folder / DATA}"
                    )
                os.pwrite(fd, row, offset + i * row_bytes)
                bar.update()
            atomic_write_json(_chunk_marker(folder, c), {"problems": problems}, indent=1)
    finally:
        os.close(fd)
        bar.close()


def extract_clip(spec: Extractor, path: Path, params: dict) -> tuple[np.ndarray | None, str | None]:
    """Decode one clip and compute its features, or say why there are none.

    Parameters
    ----------
    spec : Extractor
    path : Path
        Audio file.
    params : dict
        Resolved parameters: the extractor's own plus `expected_duration_s`.

    Returns
    -------
    (features, None) on success, (None, reason) when the clip is missing, unreadable or unusable.
    """
    own = {k: v for k, v in params.items() if k not in DECODE_DEFAULTS}
    try:
        y, sr = load_audio(path, expected_duration_s=params["expected_duration_s"])
        return spec.compute(y, sr, own).astype(spec.dtype, copy=False), None
    except (DatasetError, ParameterError, OSError) as err:
        return None, str(err)


def _chunk_marker(folder: Path, chunk: int) -> Path:
    return folder / CHUNKS / f"{chunk:05d}.json"
