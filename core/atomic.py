"""Atomic file writes: write ``name.tmp-<pid>`` in the same folder, then ``os.replace`` it.

Readers therefore see either the old file or the complete new one, never a partial one, and an
interrupted write leaves no temporary file behind (docs/architecture.md: "Files are written
atomically"). This module sits in the bottom layer (``core``) so every package may use it.
Folder-level renames (a whole work folder published at once) are not its business.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def temp_path(path: Path, keep_suffix: bool = False) -> Path:
    """The temporary name next to `path`: ``name.tmp-<pid>``.

    With `keep_suffix`, the name's endings stay last: ``best.weights.h5`` becomes
    ``best.tmp-<pid>.weights.h5``, for writers that insist on them (Keras).
    """
    tag = f".tmp-{os.getpid()}"
    if not keep_suffix:
        return path.with_name(path.name + tag)
    suffix = "".join(path.suffixes)
    return path.with_name(path.name[: len(path.name) - len(suffix)] + tag + suffix)


def atomic_write(
    path: str | Path, write: Callable[[Path], object], *, keep_suffix: bool = False, fsync: bool = False
) -> Path:
    """Call ``write(tmp)`` on a temporary file next to `path`, then rename it onto `path`.

    Parameters
    ----------
    path : str or Path
        Destination; its folder must exist.
    write : callable
        Writes the whole content to the path it is given (its return value is ignored).
    keep_suffix : bool
        Keep the file endings last in the temporary name (see `temp_path`).
    fsync : bool
        Flush the temporary file to disk before the rename (slower, survives power loss).

    Returns
    -------
    Path
        `path`. On any error the temporary file is removed and the error propagates.
    """
    path = Path(path)
    tmp = temp_path(path, keep_suffix)
    try:
        write(tmp)
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write `data` to `path` atomically; returns `path`."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), fsync=fsync)


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> Path:
    """Write `text` as UTF-8 to `path` atomically; returns `path`."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: str | Path, obj: Any, *, fsync: bool = False, **json_kw: Any) -> Path:
    """Write ``json.dumps(obj, **json_kw)`` to `path` atomically; returns `path`."""
    return atomic_write_text(path, json.dumps(obj, **json_kw), fsync=fsync)


def json_plain(obj: Any) -> Any:
    """`json.dump`'s ``default``: NumPy scalars and arrays and paths as plain JSON values."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
