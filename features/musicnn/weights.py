"""The pretrained musicnn weights: fetched once from PyPI with pip, kept in the user cache, checked.

The four TensorFlow 1 checkpoints ship inside the `musicnn` 0.1.0 wheel (29 MB, ISC licence,
Music Technology Group, Universitat Pompeu Fabra). On first use ``pip download`` fetches that
wheel (pinned by its SHA-256, without installing it or its dependencies) and the files needed to
read the weights (``.index``, ``.data-00000-of-00001`` and ``config.json``; not the 1 MB training
graph ``.meta``) are unpacked into ``<cache>/musicnn/0.1.0/<MODEL>/``, where ``<cache>`` is
``$OPENMIC_COMPARE_CACHE`` or ``~/.cache/openmic-compare``. Each network's folder is assembled
under a temporary name and renamed into place, so it is either complete or absent. Every load
checks the SHA-256 of each file against the digests in `params.CHECKPOINT_SHA256`; nothing is
downloaded when the folder is there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from core.errors import DatasetError, ParameterError
from features.musicnn import params as p

CHUNK_BYTES = 1 << 20


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The folder holding one subfolder per network: ``<cache>/musicnn/0.1.0``.

    Parameters
    ----------
    cache_dir : str, Path or None
        The toolkit's cache folder; None reads ``$OPENMIC_COMPARE_CACHE`` (default
        ``~/.cache/openmic-compare``).
    """
    root = cache_dir if cache_dir is not None else os.environ.get(p.CACHE_ENV_VAR, p.DEFAULT_CACHE_DIR)
    return Path(root).expanduser() / "musicnn" / p.WHEEL_VERSION


def model_dir(model: str, *, cache_dir: str | Path | None = None) -> Path:
    """The cache folder of one network's checkpoint (it may not exist yet)."""
    check_model(model)
    return cache_root(cache_dir) / model


def check_model(model: str) -> None:
    """Raise ParameterError unless `model` is one of `params.MODELS`."""
    if model not in p.MODELS:
        raise ParameterError(f"model must be one of {list(p.MODELS)}, given model={model!r}")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def verify_folder(folder: str | Path, model: str) -> Path:
    """Check that `folder` holds `model`'s checkpoint files, byte for byte.

    Returns
    -------
    folder : Path

    Raises
    ------
    DatasetError
        A file is missing or its SHA-256 differs; the message names the file and the fix.
    """
    folder = Path(folder)
    fix = (
        f"delete the folder {folder}: it is fetched again on next use "
        "(or run `python -m features.musicnn fetch`)"
    )
    for name, expected in p.CHECKPOINT_SHA256[model].items():
        path = folder / name
        if not path.is_file():
            raise DatasetError(f"musicnn weights file {path} is missing; {fix}")
        actual = file_sha256(path)
        if actual != expected:
            raise DatasetError(
                f"musicnn weights file {path} has SHA-256 {actual}, not {expected} as in the "
                f"{p.WHEEL_FILE} wheel: it is damaged or was changed; {fix}"
            )
    return folder


def checkpoint_folder(model: str, *, cache_dir: str | Path | None = None, download: bool = True) -> Path:
    """The verified cache folder of `model`'s weights, fetched first when it is absent.

    Parameters
    ----------
    model : {"MTT_musicnn", "MSD_musicnn", "MTT_vgg", "MSD_vgg"}
    cache_dir : str, Path or None
        See `cache_root`.
    download : bool
        Fetch the wheel when the folder is absent; False raises instead.

    Returns
    -------
    folder : Path
        Holds ``.index``, ``.data-00000-of-00001`` and ``config.json``; the TensorFlow
        checkpoint prefix is ``str(folder) + "/"``.

    Raises
    ------
    DatasetError
        The folder is absent and cannot be fetched, or a file in it is damaged.
    """
    folder = model_dir(model, cache_dir=cache_dir)
    if not folder.is_dir():
        if not download:
            raise DatasetError(f"musicnn weights {folder} not found; {_how_to_fetch()}")
        fetch_weights(cache_dir=cache_dir)  # the wheel holds all four: unpack every missing one
    return verify_folder(folder, model)


def fetch_weights(
    models: Sequence[str] = p.MODELS,
    *,
    cache_dir: str | Path | None = None,
    wheel: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Make sure the weights of `models` are in the cache, downloading the wheel if needed.

    Parameters
    ----------
    models : sequence of str
        Networks to have (default: all four; one download serves them all).
    cache_dir : str, Path or None
        See `cache_root`.
    wheel : str, Path or None
        A copy of ``musicnn-0.1.0-py3-none-any.whl`` fetched by hand (checked against its
        SHA-256); None downloads it with pip when a folder is missing.
    progress : bool
        Say on stderr when the wheel is downloaded.

    Returns
    -------
    folders : dict
        Model name -> verified cache folder.

    Raises
    ------
    DatasetError
        pip cannot download the wheel (the message says how to fetch it by hand), the given wheel
        is not the expected one, or a cached file is damaged.
    """
    for model in models:
        check_model(model)
    root = cache_root(cache_dir)
    missing = [m for m in models if not (root / m).is_dir()]
    if missing:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".wheel-", dir=root) as tmp:
            if wheel is None:
                if progress:
                    print(f"Fetching the musicnn weights ({p.WHEEL_FILE}, 29 MB) with pip",
                          file=sys.stderr)
                wheel = download_wheel(tmp)
            _unpack(_checked_wheel(wheel), missing, root)
    return {m: verify_folder(root / m, m) for m in models}


def download_wheel(dest_dir: str | Path) -> Path:
    """Download the pinned wheel into `dest_dir` with ``pip download`` (nothing is installed).

    pip's own settings apply (``PIP_INDEX_URL``, proxies, ``pip.conf``), and it refuses a file
    whose SHA-256 is not `params.WHEEL_SHA256`.

    Returns
    -------
    wheel : Path

    Raises
    ------
    DatasetError
        pip failed (no network, registry unreachable, hash mismatch); the message quotes pip and
        says how to fetch the wheel by hand.
    """
    dest_dir = Path(dest_dir)
    requirements = dest_dir / "musicnn-requirements.txt"
    requirements.write_text(f"{p.WHEEL_REQUIREMENT} --hash=sha256:{p.WHEEL_SHA256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--require-hashes", "--disable-pip-version-check", "--no-input",
        "--dest", str(dest_dir), "-r", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = dest_dir / p.WHEEL_FILE
    if result.returncode != 0 or not wheel.is_file():
        said = (result.stderr.strip() or result.stdout.strip()).splitlines()[-3:]
        raise DatasetError(
            f"pip could not download {p.WHEEL_REQUIREMENT} (exit status {result.returncode}: "
            f"{' | '.join(said)}); {_how_to_fetch()}"
        )
    return wheel


def _checked_wheel(wheel: str | Path) -> Path:
    wheel = Path(wheel).expanduser()
    if not wheel.is_file():
        raise DatasetError(f"musicnn wheel {wheel} not found; {_how_to_fetch()}")
    actual = file_sha256(wheel)
    if actual != p.WHEEL_SHA256:
        raise DatasetError(
            f"{wheel} has SHA-256 {actual}, not {p.WHEEL_SHA256}: it is not the {p.WHEEL_FILE} "
            f"served by PyPI; {_how_to_fetch()}"
        )
    return wheel


def _unpack(wheel: Path, models: Sequence[str], root: Path) -> None:
    """Unpack each model's files into a temporary folder, check them, rename it into place."""
    with zipfile.ZipFile(wheel) as archive:
        for model in models:
            staging = root / f".{model}.tmp-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)  # left by a crash of a process with our pid
            staging.mkdir()
            try:
                for name in p.CHECKPOINT_SHA256[model]:
                    member = archive.open(f"musicnn/{model}/{name}")
                    with member as src, open(staging / name, "wb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK_BYTES)
                verify_folder(staging, model)
                try:
                    os.rename(staging, root / model)
                except OSError:
                    if not (root / model).is_dir():  # not merely another process finishing first
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)


def _how_to_fetch() -> str:
    return (
        f"to fetch the weights by hand, download {p.WHEEL_FILE} (SHA-256 {p.WHEEL_SHA256}) from "
        f"{p.WHEEL_PAGE_URL} on a machine with access and run "
        "`python -m features.musicnn fetch --wheel PATH/TO/THE.whl`"
    )
