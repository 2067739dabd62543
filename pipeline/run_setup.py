"""Where a run writes: its run folder, its log and the stage cache, each checked before any work."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# The variable both weight loaders read (features.musicnn.weights, features.vggish_model);
# features.musicnn.params names the same one.
from features.vggish_params import CACHE_ENV_VAR
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
