"""A run's parallel stages on a Dask cluster (``compare.py --dask``): connect, check, close.

Every parallel loop of the toolkit goes through `joblib.Parallel`. Inside `dask_cluster` they run
on the workers of a Dask cluster through joblib's Dask backend (`pipeline.dask_backend`): the
rendering of the demo set, feature extraction (one task per clip; the client writes the rows and
the chunk markers, so a finished chunk counts as done whichever worker computed it) and the
classical models' per-instrument cross-validated selection and fitting. The CNN trains in this
process, on its one accelerator.

Workers need what this machine has: the same toolkit, code and libraries, and the dataset and the
cache folder at the same paths. `dask_cluster` checks the toolkit and the cache folder as soon as
it is connected, `check_dataset` the dataset once the run knows it; both compute what they compare
on the workers themselves. A worker that dies takes only its running tasks with it: the scheduler
runs them again elsewhere (up to ``distributed.scheduler.allowed-failures`` times) and the
results are the ones a run without the cluster gets.

Nothing here imports Dask until a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from core.versions import library_versions
from pipeline.cache import code_fingerprint
from pipeline.settings import LOCAL, SettingsError, parse_dask  # noqa: F401  (re-exported)

log = logging.getLogger("compare")

DISTRIBUTION = "openmic-compare"
TOOLKIT_PACKAGES = ("core", "features", "baselines", "cnn", "reports", "pipeline")
# Libraries whose version can change a result computed on a worker.
RESULT_LIBRARIES = (
    "numpy", "scipy", "scikit-learn", "xgboost", "librosa", "soundfile", "soxr", "resampy",
    "pretty_midi", "pyfluidsynth", "joblib",
)
AUDIO_SAMPLE = 16  # audio files whose state each worker reports
CONNECT_TIMEOUT_S = 10
WORKERS_TIMEOUT_S = 60
# A local worker computes a task with the CPU a joblib process needs. Measured per log-mel clip:
# Dask's MALLOC_TRIM_THRESHOLD_ (set so that workers hand memory back sooner) costs ~25 % more
# CPU, malloc's per-thread arenas (tasks run in a thread, not the main one) ~10 %, and Dask's
# statistical profiler samples beside every task. None unsets a variable; thread limits stay.
LOCAL_WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.nanny.pre-spawn-environ.MALLOC_ARENA_MAX": 1,
    "distributed.worker.profile.enabled": False,
}
_SAME_PATHS = (
    "every worker must see the dataset and the cache folder at the paths this machine uses: put "
    "them on a file system shared by all machines, mounted at the same path everywhere, and give "
    "absolute paths (--data, --cache-dir); a relative path resolves in each worker's own "
    "working folder"
)
_SAME_CODE = (
    "install the same toolkit and libraries on every worker (pip install -e '.[dask]' from the "
    "same checkout) and restart the workers"
)

_client = None  # the client of the enclosing dask_cluster block, if any


@contextlib.contextmanager
def dask_cluster(value: str | None, *, cache_dir: str | Path | None = None) -> Iterator[Any]:
    """Run the `joblib.Parallel` loops of the block on a Dask cluster; without `value`, do nothing.

    Starts a local cluster (``"local[:N]"``: N single-threaded worker processes on 127.0.0.1,
    closed at the end of the block) or connects to a scheduler (an address; the cluster stays up),
    checks the workers present (`check_workers`; start a cluster's workers before the run: one
    that joins later is not checked) and sets joblib's backend for the block.

    Parameters
    ----------
    value : str or None
        The ``--dask`` setting (see `parse_dask`); None runs the block unchanged, Dask not imported.
    cache_dir : str or Path or None
        The cache folder, which workers must see as this machine does; None: not checked.

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    SettingsError
        Dask not installed, the scheduler unreachable or without workers, or workers that differ
        from this machine.
    """
    global _client
    if value is None:
        yield None
        return
    target = parse_dask(value)
    try:
        import dask
        import joblib
        from distributed import Client, LocalCluster
    except ImportError:
        raise SettingsError(
            f"--dask {value} needs Dask: pip install -e '.[dask]' (on every machine)"
        ) from None
    from pipeline.dask_backend import ClusterBackend, OneJobInTasks

    with contextlib.ExitStack() as stack:
        if isinstance(target, int):
            stack.enter_context(dask.config.set(LOCAL_WORKER_CONFIG))
            cluster = stack.enter_context(
                LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address=None)
            )  # fmt: skip
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            client = stack.enter_context(_connect(Client, target))
        check_workers(client, cache_dir=cache_dir)
        client.register_plugin(OneJobInTasks())
        stack.callback(client.unregister_worker_plugin, OneJobInTasks.name)
        stack.enter_context(joblib.parallel_config(backend=ClusterBackend(client=client)))
        _client = client
        try:
            yield client
        finally:
            _client = None


@contextlib.contextmanager
def _connect(Client, address: str) -> Iterator[Any]:
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise SettingsError(
            f"cannot reach the Dask scheduler at {address} ({err}); start one with "
            "`dask scheduler` and pass the address it prints to --dask"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise SettingsError(
                f"the Dask scheduler at {address} has no worker after {WORKERS_TIMEOUT_S} s; "
                f"start some with `dask worker {address}`"
            ) from None
        yield client


def check_workers(client, *, cache_dir: str | Path | None = None) -> None:
    """Stop unless every worker runs this toolkit, code and libraries and sees the cache folder.

    The facts are computed on each worker (`worker_facts`) and here, and compared.

    Parameters
    ----------
    client : distributed.Client
    cache_dir : str or Path or None
        A folder workers must see as this machine does: a file with a random token is written
        into it and read back on every worker. None: not checked.

    Raises
    ------
    SettingsError
        Naming each worker, what differs there and what to do.
    """
    probe = None
    if cache_dir is not None:
        probe = Path(cache_dir) / f".dask-probe-{secrets.token_hex(8)}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text(secrets.token_hex(16))
        except OSError:
            probe = None  # not writable here: the run stops on that with its own message
    try:
        _compare_facts(client, {"probe": None if probe is None else str(probe)})
    finally:
        if probe is not None:
            probe.unlink()


def check_dataset(ds) -> None:
    """Stop unless every worker of the active cluster sees the dataset as this machine does.

    Compares the SHA-256 of the dataset's npz, computed on each worker from the path this run
    uses (a relative path stays relative), and the state of a sample of its audio files. Does
    nothing outside a `dask_cluster` block.

    Parameters
    ----------
    ds : features.openmic.OpenMIC

    Raises
    ------
    SettingsError
        Naming each worker, what it sees there and what to do.
    """
    if _client is None:
        return
    from features.openmic import NPZ_NAME

    step = max(len(ds.audio_path) // AUDIO_SAMPLE, 1)
    facts = {
        "dataset": str(ds.root / NPZ_NAME),
        "audio": [str(path) for path in ds.audio_path[::step][:AUDIO_SAMPLE]],
    }
    _compare_facts(_client, facts)
    log.info("Dask: %d workers (scheduler %s) run this toolkit and see this dataset; the CNN, if "
             "any, trains in this process", len(_client.nthreads()), _client.scheduler.address)


def worker_facts(*, probe: str | None = None, dataset: str | None = None,
                 audio: list[str] | None = None) -> dict[str, Any]:
    """What a machine has that a run's results depend on; computed on each worker and here.

    Parameters
    ----------
    probe : str or None
        A file to read (the cache folder's probe).
    dataset : str or None
        A file to hash (the dataset's npz), as the run names it.
    audio : list of str or None
        Files whose state (`features.extract.file_state`) to report.

    Returns
    -------
    dict
        ``toolkit`` (version), ``code`` (fingerprint of the toolkit's packages), ``libraries``
        (name -> version) and, where asked, ``probe`` (its text or None), ``dataset`` (SHA-256 or
        None when unreadable) and ``audio`` (path -> state).
    """
    facts: dict[str, Any] = {
        "toolkit": metadata.version(DISTRIBUTION),
        "code": hashlib.sha256(
            "".join(code_fingerprint(p) for p in TOOLKIT_PACKAGES).encode()
        ).hexdigest()[:16],
        "libraries": library_versions(RESULT_LIBRARIES),
    }
    if probe is not None:
        facts["probe"] = _read_text(probe)
    if dataset is not None:
        facts["dataset"] = _sha256(dataset)
    if audio is not None:
        from features.extract import file_state

        facts["audio"] = {path: file_state(Path(path)) for path in audio}
    return facts


def _compare_facts(client, asked: dict[str, Any]) -> None:
    asked = {name: value for name, value in asked.items() if value is not None}
    here = worker_facts(**asked)
    found = client.run(worker_facts, **asked, on_error="return")
    problems = [
        (f"  worker {address}: {line}", fix)
        for address, facts in sorted(found.items())
        for line, fix in _differences(facts, here, asked)
    ]
    if problems:
        fixes = dict.fromkeys(fix for _, fix in problems)
        raise SettingsError(
            "the Dask workers do not match this machine:\n"
            + "\n".join(line for line, _ in problems)
            + "\nTo fix: " + "; and ".join(fixes)
        )


def _differences(theirs: Any, here: dict[str, Any], asked: dict[str, Any]) -> list[tuple[str, str]]:
    """(what differs on one worker, what to do) pairs; `theirs` is its facts or its error."""
    if isinstance(theirs, BaseException):
        return [(f"cannot run the toolkit's check ({type(theirs).__name__}: {theirs})", _SAME_CODE)]
    code = []
    if theirs["toolkit"] != here["toolkit"]:
        code.append(f"toolkit version {theirs['toolkit']} (here {here['toolkit']})")
    if theirs["code"] != here["code"]:
        code.append(f"code fingerprint {theirs['code']} (here {here['code']}): its source differs")
    for name in sorted(set(theirs["libraries"]) | set(here["libraries"])):
        mine, its = here["libraries"].get(name), theirs["libraries"].get(name)
        if mine != its:
            code.append(f"{name} {its or 'not installed'} (here {mine or 'not installed'})")
    paths = []
    if "probe" in asked and theirs["probe"] != here["probe"]:
        paths.append(f"does not see the cache folder {Path(asked['probe']).parent} as this "
                     f"machine does (cannot read the file {asked['probe']} just written here)")
    if "dataset" in asked and theirs["dataset"] != here["dataset"]:
        seen = "cannot read it" if theirs["dataset"] is None else f"SHA-256 {theirs['dataset'][:16]}"
        paths.append(f"dataset {asked['dataset']}: {seen} (here SHA-256 {here['dataset'][:16]})")
    for path in asked.get("audio", ()):
        if theirs["audio"][path] != here["audio"][path]:
            paths.append(f"audio file {path}: {theirs['audio'][path]} (here {here['audio'][path]})")
    return [(line, _SAME_CODE) for line in code] + [(line, _SAME_PATHS) for line in paths]


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
