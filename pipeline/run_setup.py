"""Where a run writes: its run folder, its log and the stage cache, each checked before any work."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from pathlib import Path

from pipeline.cache import StageCache
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


def check_writable_cache(s: Settings) -> StageCache:
    """The stage cache under ``--cache-dir`` (created), or none with ``--no-cache``."""
    if s.no_cache:
        return StageCache(None)
    root = Path(s.cache_dir).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(f"cannot create the cache folder {root} ({err.strerror}); "
                            "choose another with --cache-dir, or run with --no-cache") from None
    return StageCache(root)
