"""``--cache-dir`` governs the pretrained weights too: musicnn and VGGish are read under it.

The run-level proof (a pipeline run that finds the musicnn weights only under ``--cache-dir`` and
writes nothing where ``$OPENMIC_COMPARE_CACHE`` points) is in tests/test_pipeline_run.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from features import vggish_params
from features.musicnn import params as musicnn_params
from features.musicnn.weights import cache_root, model_dir
from features.vggish_model import weights_dir
from pipeline.run_setup import CACHE_ENV_VAR, weights_in_cache_dir
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# What a process started during the run finds: musicnn's weight folder (VGGish's reads the same
# variable, checked above; its module imports TensorFlow, too slow for a child process here).
CHILD = "from features.musicnn.weights import cache_root; print(cache_root())"


def test_every_weight_loader_reads_the_same_variable():
    assert CACHE_ENV_VAR == musicnn_params.CACHE_ENV_VAR == vggish_params.CACHE_ENV_VAR


def test_weights_are_read_under_the_runs_cache_dir_and_the_environment_restored(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "from-env"))
    cache = tmp_path / "run-cache"
    with weights_in_cache_dir(Settings(cache_dir=str(cache))):
        assert cache_root() == cache / "musicnn" / musicnn_params.WHEEL_VERSION
        assert model_dir("MTT_musicnn") == cache / "musicnn" / "0.1.0" / "MTT_musicnn"
        assert weights_dir() == cache / "vggish"
        # Worker processes started during the run inherit it (joblib's and Dask's start so).
        child = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True,
                               text=True, timeout=120, env=dict(os.environ))  # fmt: skip
        assert child.returncode == 0, child.stderr
        assert child.stdout.split() == [str(cache / "musicnn" / "0.1.0")]
    assert os.environ[CACHE_ENV_VAR] == str(tmp_path / "from-env")
    assert cache_root() == tmp_path / "from-env" / "musicnn" / "0.1.0"


def test_a_relative_cache_dir_is_made_absolute_for_workers_elsewhere(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    with weights_in_cache_dir(Settings(cache_dir="cache")):
        assert os.environ[CACHE_ENV_VAR] == str(tmp_path / "cache")
        assert weights_dir() == tmp_path / "cache" / "vggish"
    assert CACHE_ENV_VAR not in os.environ


def test_no_cache_leaves_the_weights_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "from-env"))
    with weights_in_cache_dir(Settings(cache_dir=str(tmp_path / "unused"), no_cache=True)):
        assert cache_root() == tmp_path / "from-env" / "musicnn" / "0.1.0"
        assert weights_dir() == tmp_path / "from-env" / "vggish"
