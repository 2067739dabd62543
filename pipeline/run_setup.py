"""Where a run writes: its run folder, its log and the stage cache, each checked before any work."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from core.atomic import atomic_write_json

# The variable both weight loaders read (features.musicnn.weights, features.vggish_model);
# features.musicnn.params names the same one.
from features.vggish_params import CACHE_ENV_VAR
from pipeline.cache import StageCache
from pipeline.facts import toolkit_info
from pipeline.settings import Settings, SettingsError


def prepare_run_dir(s: Settings, source: str) -> Path:
    """The run folder (``--out``, default ``runs/<timestamp>-<source>``), created and probed for writing."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(s.out) if s.out else Path("runs") / f"{stamp}-{source}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise SettingsError(
            f"cannot write to the output folder {run_dir} ({err.strerror}); choose another with --out"
        ) from None
    return run_dir


def setup_logging(run_dir: Path) -> None:
    """Log to stderr (plain messages) and to ``compare.log`` in the run folder (with times)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    logfile = logging.FileHandler(run_dir / "compare.log")
    logfile.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    root.addHandler(logfile)
    logging.captureWarnings(True)


# The layout and keys of what a cache folder holds (features, models). 2: features know their
# audio (`features.extract`), model keys hold their features' identity and code (`pipeline.cache`).
CACHE_FORMAT = 2
CACHE_MARKER = "cache.json"
# What a cache folder holds; the musicnn weights (musicnn/) and the demo sets (demo/) are
# checked by their own checksums and manifests and are shared by every format.
_CACHED_STAGES = ("features", "models")


def check_writable_cache(s: Settings) -> StageCache:
    """The stage cache under ``--cache-dir`` (created, its format checked), or none with ``--no-cache``.

    Raises
    ------
    SettingsError
        When the folder cannot be created, or holds features or models of another cache format
        (written by another version of the toolkit): the message says what to delete.
    """
    if s.no_cache:
        return StageCache(None)
    root = Path(s.cache_dir).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(f"cannot create the cache folder {root} ({err.strerror}); "
                            "choose another with --cache-dir, or run with --no-cache") from None
    check_cache_format(root)
    return StageCache(root)


def check_cache_format(root: Path) -> None:
    """Mark a new cache folder with this toolkit's cache format; refuse one of another format."""
    marker = root / CACHE_MARKER
    try:
        found = json.loads(marker.read_text()) if marker.is_file() else None
        fmt = found.get("cache_format") if isinstance(found, dict) else "unreadable"
    except (json.JSONDecodeError, UnicodeDecodeError):
        found, fmt = {}, "unreadable"
    if found is None:
        old = [name for name in _CACHED_STAGES if (root / name).is_dir()]
        if not old:
            atomic_write_json(marker, {"cache_format": CACHE_FORMAT, "written_by": toolkit_info()},
                              indent=1)
            return
        fmt = 1
    if fmt != CACHE_FORMAT:
        written_by = found.get("written_by") if isinstance(found, dict) else None
        by = written_by.get("version") if isinstance(written_by, dict) else "an earlier version"
        stale = ", ".join(str(root / name) for name in _CACHED_STAGES if (root / name).exists())
        raise SettingsError(
            f"the cache folder {root} holds features and models in cache format {fmt} (written by "
            f"openmic-compare {by}); this version reads format {CACHE_FORMAT} and will not mix "
            f"them. Delete {stale or marker} (the musicnn weights and demo sets there can stay), "
            "or choose another folder with --cache-dir"
        )


@contextlib.contextmanager
def weights_in_cache_dir(s: Settings) -> Iterator[None]:
    """Read and fetch pretrained weights (musicnn, VGGish) under ``--cache-dir`` while a run lasts.

    The weight loaders read ``$OPENMIC_COMPARE_CACHE`` in whichever process builds a network: this
    one, joblib's worker processes and the workers of a ``--dask local:N`` cluster, which all start
    during the run and inherit this process's environment. So the run sets it to its cache folder
    and restores it afterwards. With ``--no-cache`` the weights stay where the environment says
    (default ``~/.cache/openmic-compare``): fetching them anew for every run would cost a download.
    """
    if s.no_cache:
        yield
        return
    before = os.environ.get(CACHE_ENV_VAR)
    os.environ[CACHE_ENV_VAR] = str(Path(s.cache_dir).expanduser().absolute())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CACHE_ENV_VAR, None)
        else:
            os.environ[CACHE_ENV_VAR] = before
