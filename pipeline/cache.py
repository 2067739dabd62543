"""The stage cache: finished stage outputs in folders keyed by everything the stage depends on.

A stage writes into a scratch folder and publishes it under ``<cache>/<stage>/<key>/`` with a
``done.json`` marker, so a rerun with the same key reuses the output and an interrupted run leaves
no half-finished folder that looks finished.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_json, json_plain
from core.errors import ParameterError

DONE = "done.json"


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts: the key of a cached stage.

    Parameters
    ----------
    *parts : JSON-able values
        Everything the stage's output depends on; dict order does not matter, and values JSON
        cannot hold (paths, ...) count by their ``str``.

    Returns
    -------
    str
        16 hex digits.
    """
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_fingerprint(package: str, *more: str) -> str:
    """Hash of packages' source: a cached model is not reused after code it depends on changed.

    Parameters
    ----------
    package, *more : str
        Importable packages, e.g. ``"core", "features", "baselines"``; their ``*.py`` files are
        hashed where Python imports them from, with their paths inside each package.

    Returns
    -------
    str
        16 hex digits (one package: the hash of its files alone).
    """
    digest = hashlib.sha256()
    for name in (package, *more):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ParameterError(
                f"package must name an importable package of the toolkit; given package={name!r}, "
                "which Python does not find as a package"
            )
        if more:
            digest.update(f"package {name}\n".encode())
        for location in spec.submodule_search_locations:
            folder = Path(location)
            for path in sorted(folder.rglob("*.py")):
                digest.update(path.relative_to(folder).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# What each kind of model's result depends on, besides its features and settings: the code of
# these packages (`code_fingerprint`) is part of its cache key.
CLASSICAL_CODE = ("core", "features", "baselines")
NETWORK_CODE = ("core", "features", "cnn")


class StageCache:
    """Folders of finished stage outputs, each complete only once its ``done.json`` exists.

    Parameters
    ----------
    root : Path or None
        The cache folder; None caches nothing (``--no-cache``): `finished` finds nothing,
        `publish` leaves the output where it was written, and scratch folders go to the run folder.
    """

    def __init__(self, root: Path | None):
        self.root = root

    def path(self, stage: str, key: str) -> Path | None:
        """Where the output of `stage` with `key` lives (None without a cache)."""
        return None if self.root is None else self.root / stage / key

    def finished(self, stage: str, key: str) -> Path | None:
        """The folder of a finished output of `stage` with `key`, or None."""
        path = self.path(stage, key)
        if path is not None and (path / DONE).exists():
            return path
        return None

    def publish(self, stage: str, key: str, tmp: Path, info: dict[str, Any]) -> Path:
        """Move a finished temporary folder into place and mark it done (atomic rename).

        `info` is written as ``done.json``; returns the final folder (`tmp` without a cache).
        """
        write_json(tmp / DONE, info)
        final = self.path(stage, key)
        if final is None:
            return tmp
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def scratch(self, stage: str, run_dir: Path) -> Path:
        """A new empty folder to write a stage's output into before `publish`."""
        base = self.root / stage if self.root is not None else run_dir / ".work"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="partial-", dir=base))


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON atomically; NumPy scalars and arrays and paths become plain values."""
    atomic_write_json(path, obj, indent=2, default=json_plain)

