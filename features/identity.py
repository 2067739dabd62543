"""Which audio a feature cache holds: each clip's file as read, and the cache's identity in 16 hex.

The records and comparisons `features.extract` keeps per clip (path relative to the dataset root,
size, modification time, SHA-256), and the digests `FeatureCache.identity` and
`FeatureCache.audio_identity` are made of.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def feature_identity(extractor: str, params: dict, audio_identity: str) -> str:
    """`FeatureCache.identity`: 16 hex digits over the extractor, its parameters and the audio.

    A view of a cache (one layer of "musicnn_layers") names what it holds with the extractor and
    parameters that would compute it alone, and keeps the audio's identity.
    """
    blob = json.dumps([extractor, params, audio_identity], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def relative_name(path: Path, root: str | Path | None) -> str:
    """`path` relative to `root` (POSIX separators), or as given where it is not inside it."""
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def compare_file(path: Path, name: str, recorded: dict | str) -> str | dict:
    """"same", "changed", or the refreshed record of a file that holds the recorded audio."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "same" if recorded == "missing" else "changed"
    if recorded == "missing":
        return "changed"
    if (recorded["path"], recorded["size"], recorded["mtime_ns"]) == (name, info.st_size, info.st_mtime_ns):
        return "same"
    if info.st_size != recorded["size"] or file_sha256(path) != recorded["sha256"]:
        return "changed"
    return {"path": name, "size": info.st_size, "mtime_ns": info.st_mtime_ns,
            "sha256": recorded["sha256"]}


def file_state(path: Path) -> dict[str, int] | str:
    """A file's ``{"size", "mtime_ns"}``, or ``"missing"``."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def audio_identity(manifest: dict) -> str:
    """16 hex digits over the keys, every clip's audio content and the clips' problems."""
    contents = [
        "missing" if manifest["files"][key] == "missing" else manifest["files"][key]["sha256"]
        for key in manifest["keys"]
    ]
    blob = json.dumps([manifest["keys_sha256"], contents, manifest["problems"]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
