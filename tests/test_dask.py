"""compare.py --dask on real Dask clusters of 2 worker processes on 127.0.0.1 (no mocks).

A run with ``--dask local:2`` predicts exactly what the same run without it predicts, and the run
without it never imports Dask; a worker killed during log-mel extraction or during the baselines'
cross-validated fitting costs neither a clip nor a digit; workers that see another dataset at the
run's (relative) path stop the run with exit code 2 and a message naming the worker and the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

pytest.importorskip("distributed")

from conftest import DEMO_CLIPS, make_openmic_folder
from distributed import Client

from baselines import PerInstrumentModel
from features.audio import load_audio
from features.demo.synthetic import make_synthetic
from features.extract import extract_dataset
from features.logmel import logmel
from features.openmic import load
from pipeline.cluster import TOOLKIT_PACKAGES, dask_cluster, parse_dask
from pipeline.settings import SettingsError, settings_from

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENTS = "drums,guitar,piano,voice"
# Runs compare.main in a fresh interpreter and reports which Dask modules it imported.
MAIN_THEN_MODULES = (
    "import json, sys, compare\n"
    "code = compare.main(sys.argv[1:])\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
    "print('DASK-MODULES', json.dumps(loaded))\n"
    "sys.exit(code)\n"
)


def _compare(args: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENMIC_COMPARE_CACHE": str(cache), "OPENMIC_ROOT": ""}
    return subprocess.run(
        [sys.executable, "-c", MAIN_THEN_MODULES, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def demo_root(demo_set) -> Path:
    """The session's demo set (tests/conftest.py: 64 clips, audio and labels), read only."""
    return demo_set


def _kill_when(client, ready, state: dict) -> threading.Thread:
    """A thread that kills (SIGKILL) a worker busy with a task as soon as `ready()` holds."""
    pids = client.run(os.getpid)

    def kill() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy and ready():
                state["pid"] = pids[busy[0]]
                os.kill(state["pid"], signal.SIGKILL)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_settings_accept_local_and_addresses_only(tmp_path):
    assert parse_dask("local:2") == 2
    assert parse_dask("local") == os.cpu_count()
    assert parse_dask("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    config = tmp_path / "run.toml"
    config.write_text('dask = "local:3"\n')
    assert settings_from({}, str(config)).dask == "local:3"
    assert 'dask = "local:3"' in settings_from({}, str(config)).to_toml()
    for bad in ("local:0", "local:two", "10.0.0.5:8786", "http://host:8786", "tcp://", 2):
        with pytest.raises(SettingsError, match=r"--dask must be|at least 1 worker"):
            settings_from({"dask": bad})


def test_local_cluster_predicts_exactly_what_a_plain_run_predicts(demo_root, tmp_path):
    args = ["--data", str(demo_root), "--models", "lr,xgb,rf", "--embeddings", "release",
            "--instruments", INSTRUMENTS, "--seed", "0", "--no-cache"]  # fmt: skip
    plain = _compare([*args, "--out", str(tmp_path / "plain")], tmp_path, tmp_path / "cache")
    assert plain.returncode == 0, plain.stderr[-3000:]
    # Without the flag, Dask is never imported (Dask is installed here: importorskip above).
    assert json.loads(plain.stdout.split("DASK-MODULES", 1)[1]) == []

    on_dask = _compare([*args, "--out", str(tmp_path / "dask"), "--dask", "local:2"], tmp_path,
                       tmp_path / "cache")  # fmt: skip
    assert on_dask.returncode == 0, on_dask.stderr[-3000:]
    assert "Dask: 2 workers" in on_dask.stderr
    assert "distributed" in json.loads(on_dask.stdout.split("DASK-MODULES", 1)[1])

    expected, got = np.load(tmp_path / "plain" / "predictions.npz"), np.load(tmp_path / "dask" / "predictions.npz")
    assert sorted(got.files) == sorted(expected.files)
    assert {"proba_lr@release", "proba_xgb@release", "proba_rf@release"} <= set(got.files)
    for name in expected.files:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_worker_killed_during_extraction_loses_no_clip(demo_root, tmp_path):
    ds = load(demo_root)
    # Every clip four times over (unique keys), in chunks of 8: 32 chunks, several per task batch.
    paths = np.tile(ds.audio_path, 4)
    keys = [f"{key}-{copy}" for copy in range(4) for key in ds.sample_key]
    state: dict = {}

    def markers() -> list[Path]:
        return sorted((tmp_path / "features").glob("*/chunks/*.json"))

    with dask_cluster("local:2", cache_dir=tmp_path / "cache") as client:
        killer = _kill_when(client, lambda: len(markers()) >= 3, state)
        early = {}

        def remember_early_markers() -> None:
            killer.join()
            early.update({m: m.stat().st_mtime_ns for m in markers()})

        watcher = threading.Thread(target=remember_early_markers, daemon=True)
        watcher.start()
        cache = extract_dataset(paths, keys, "logmel", tmp_path / "features", chunk_size=8,
                                progress=False)  # fmt: skip
        watcher.join()
        assert "pid" in state, "no worker was killed: the extraction ended first"
        assert not _alive(state["pid"])
        assert 3 <= len(early) < 4 * DEMO_CLIPS // 8  # killed mid-extraction
        client.wait_for_workers(2, timeout=60)  # the nanny restarted it

    assert cache.ok.all() and cache.problems == {}
    # Chunks finished before the kill were kept as they were, not computed again.
    assert all(marker.stat().st_mtime_ns == mtime for marker, mtime in early.items())
    for i, path in enumerate(ds.audio_path):
        y, sr = load_audio(path)
        # One BLAS thread, as in every worker (joblib's or Dask's): more threads sum the mel
        # projection in another order, which moves a float16 value by one step now and then.
        with threadpool_limits(1):
            direct = logmel(y, sr)
        for copy in range(4):
            np.testing.assert_array_equal(cache.data[copy * len(ds.audio_path) + i], direct)


def test_worker_killed_during_cross_validated_fit_changes_nothing():
    X, Y_true, Y_mask = make_synthetic(400, seed=3)
    groups = np.arange(400) // 4
    model = lambda: PerInstrumentModel("lr", n_folds=3, seed=0, progress=False)  # noqa: E731
    expected = model().fit(X, Y_true, Y_mask, groups=groups)

    state: dict = {}
    with dask_cluster("local:2") as client:
        start = time.monotonic()
        killer = _kill_when(client, lambda: time.monotonic() - start > 1.0, state)
        got = model().fit(X, Y_true, Y_mask, groups=groups)
        killer.join()
    assert "pid" in state, "no worker was killed: the fit ended first"
    assert not _alive(state["pid"])
    np.testing.assert_array_equal(got.predict_proba(X), expected.predict_proba(X))
    np.testing.assert_array_equal(got.thresholds_, expected.thresholds_)
    assert got.params_ == expected.params_


@contextlib.contextmanager
def cluster_in(folder: Path, **env: str) -> Iterator[str]:
    """A scheduler and 2 worker processes started with Dask's own commands, working in `folder`.

    `env` is added to the workers' environment. Yields the scheduler's address.
    """
    scheduler_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    quiet = {"cwd": folder, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                                  **quiet)]  # fmt: skip
    try:
        address = _scheduler_address(scheduler_file)
        processes.append(subprocess.Popen([*dask, "worker", address, "--nworkers", "2",
                                           "--nthreads", "1", "--host", "127.0.0.1",
                                           "--no-dashboard"], env={**os.environ, **env},
                                          **quiet))  # fmt: skip
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)  # the run checks the workers present
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)


def _scheduler_address(scheduler_file: Path) -> str:
    """The address in the scheduler's file, once the scheduler has written it whole."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return json.loads(scheduler_file.read_text())["address"]
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.1)
    raise TimeoutError(f"the scheduler wrote no address into {scheduler_file} within 60 s")


def test_workers_seeing_other_folders_stop_the_run(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    make_openmic_folder(here / "openmic-2018", n_clips=40, seed=0, audio="copy")
    # Where the workers run, the same relative path names another dataset.
    make_openmic_folder(there / "openmic-2018", n_clips=40, seed=1, audio="copy")
    with cluster_in(there) as address:
        args = ["--data", "openmic-2018", "--models", "lr", "--embeddings", "release",
                "--out", str(tmp_path / "run"), "--dask", address]  # fmt: skip
        relative_cache = _compare([*args, "--cache-dir", "cache"], here, tmp_path / "unused")
        other_data = _compare(args, here, tmp_path / "cache")

    assert relative_cache.returncode == 2, relative_cache.stderr[-3000:]
    assert "compare.py: error: the Dask workers do not match this machine" in relative_cache.stderr
    assert relative_cache.stderr.count(": does not see the cache folder cache as this machine") == 2
    assert other_data.returncode == 2, other_data.stderr[-3000:]
    message = other_data.stderr
    assert "compare.py: error: the Dask workers do not match this machine" in message
    workers = {line.split()[1] for line in message.splitlines() if line.startswith("  worker ")}
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert message.count("dataset openmic-2018/openmic-2018.npz: SHA-256") == 2
    assert "audio file openmic-2018/audio/" in message  # copies made at other times
    assert "shared by all machines" in message and "absolute paths" in message
    assert not (tmp_path / "run" / "predictions.npz").exists()


def test_workers_running_other_code_stop_the_run(tmp_path):
    # The workers import the toolkit from a copy in which one line of the baselines differs.
    copy = tmp_path / "toolkit"
    for package in TOOLKIT_PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "baselines" / "defaults.py").open("a") as fh:
        fh.write("LR_MAX_ITER = 2000\n")
    with cluster_in(tmp_path, PYTHONPATH=str(copy)) as address:
        with pytest.raises(SettingsError) as err, dask_cluster(address):
            pass
    message = str(err.value)
    lines = [line for line in message.splitlines() if line.startswith("  worker tcp://127.0.0.1:")]
    assert len(lines) == 2 and all("code fingerprint" in line for line in lines), message
    assert "its source differs" in message and "install the same toolkit" in message
