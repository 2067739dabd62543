"""The files of a feature cache folder: reading and checking them (`features.extract`).

``manifest.json`` (written last: the cache is complete), ``data.npy`` (one row per clip) and
``chunks/NNNNN.json`` (one finished chunk each). A file that cannot be read as what it should be is
*damaged* and computed again by `features.extract`; a manifest of another format version is a
`DatasetError` (another version of the toolkit wrote it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.errors import DatasetError

FORMAT_VERSION = 3  # bump when the layout or an extractor's computation changes (3: every clip's file)
MANIFEST = "manifest.json"
DATA = "data.npy"
CHUNKS = "chunks"


def usable(folder: Path, shape: tuple[int, ...], dtype: str) -> bool:
    """True for a complete cache whose files can be read as these features.

    A manifest of another format version is not ours to overwrite: DatasetError. A manifest that
    is unreadable, or a ``data.npy`` that is missing, truncated or of another shape, makes the
    cache damaged (False): the caller computes it again.
    """
    if not (folder / MANIFEST).is_file():
        return False
    try:
        manifest = read_manifest(folder)
    except _Damaged:
        return False
    if manifest.get("shape") != list(shape) or manifest.get("dtype") != dtype:
        return False
    try:
        open_rows(folder, manifest)
    except DatasetError:
        return False
    return True


def open_data(path: Path, shape: tuple[int, ...], dtype: str) -> tuple[int, int]:
    """Keep a partial data file that fits, or create a zero-filled one (dropping stale markers).

    Returns the byte offset of the first row and the bytes per row. Rows are then written with
    `os.pwrite` rather than through a memory map, so that the written pages do not count in
    this process's resident memory.
    """
    if path.is_file():
        try:
            data = np.load(path, mmap_mode="r")
            if data.shape == shape and data.dtype == np.dtype(dtype) and complete(path, data):
                return data.offset, data[0].nbytes
        except (ValueError, OSError):
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    for marker in path.parent.glob(f"{CHUNKS}/*.json"):
        marker.unlink()
    data = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    return data.offset, data[0].nbytes


def complete(path: Path, data: np.memmap) -> bool:
    """The file holds every byte its header promises (a copy cut short does not)."""
    return path.stat().st_size >= data.offset + data.nbytes


def open_rows(folder: Path, manifest: dict) -> np.ndarray:
    """The read-only memory map of ``data.npy``, checked against the manifest's shape and dtype."""
    path = folder / DATA
    try:
        data = np.load(path, mmap_mode="r")
        sound = (list(data.shape) == manifest["shape"] and data.dtype == np.dtype(manifest["dtype"])
                 and complete(path, data))
    except (ValueError, OSError, EOFError):
        sound = False
    if not sound:
        raise DatasetError(
            f"{path} is missing, truncated or not the {manifest['dtype']} array of shape "
            f"{tuple(manifest['shape'])} that {folder / MANIFEST} describes; rerun "
            "extract_dataset, which computes the damaged cache again"
        )
    return data


class _Damaged(DatasetError):
    """A cache file that cannot be read (cut short, not JSON): computed again, not an error."""


def read_manifest(folder: Path) -> dict:
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise DatasetError(
            f"{folder} is not a complete feature cache (no {MANIFEST}); rerun extract_dataset"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _Damaged(f"{manifest_path} is not readable JSON ({err}); rerun extract_dataset, "
                       "which computes the damaged cache again") from None
    if not isinstance(manifest, dict):
        raise _Damaged(f"{manifest_path} is not a manifest; rerun extract_dataset")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{manifest_path} has format version {manifest.get('format_version')}, this toolkit "
            f"reads {FORMAT_VERSION}: it was written by another version of openmic-compare. "
            f"Delete {folder} (or use another --cache-dir) and run again"
        )
    for field in ("keys", "files", "problems", "params", "shape", "dtype", "keys_sha256", "extractor"):
        if field not in manifest:
            raise _Damaged(f"{manifest_path} lacks {field!r}; rerun extract_dataset")
    return manifest


def read_chunk(folder: Path, chunk: int) -> dict | None:
    """A finished chunk's record, or None when it is not finished (or its marker is damaged)."""
    try:
        record = json.loads(chunk_marker(folder, chunk).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and {"files", "problems"} <= set(record) else None


def chunk_marker(folder: Path, chunk: int) -> Path:
    return folder / CHUNKS / f"{chunk:05d}.json"
