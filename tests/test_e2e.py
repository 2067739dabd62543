"""End to end: the shared `compare.py --quick` run on the demo set, then the same command again.

The first run is the session's `pipeline_run` (tests/conftest.py: every model kind on the
session's demo set, also used by tests/test_tag.py). Checks every file of the run folder, that the
metrics agree with predictions.npz (recomputed here with scikit-learn on the observed pairs),
that a rerun reuses every cached stage, and that the report passes the browser check.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_CLIPS, PIPELINE_ARGS, compare_env
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
EMBEDDINGS = ("release", "musicnn")
CLASSICAL = tuple(f"{c}@{e}" for e in EMBEDDINGS for c in ("lr", "xgb", "rf"))
MODELS = (*CLASSICAL, "cnn", "musicnn-ft")


def _compare(args: list[str], cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args],
        cwd=cwd, env=compare_env(cache), capture_output=True, text=True, timeout=900,
    )


@pytest.fixture(scope="module")
def quick_run(pipeline_run):
    """The shared run, and the same command again into run2 (its cache is now complete)."""
    work, _, cache, first = pipeline_run
    second = _compare([*PIPELINE_ARGS, "--out", str(work / "run2")], work, cache)
    assert second.returncode == 0, second.stderr[-3000:]
    return work, first, second


def test_run_folder_has_every_file(quick_run):
    work, first, _ = quick_run
    run = work / "run"
    for name in ("report.html", "metrics.csv", "metrics.json", "predictions.npz", "run.json",
                 "settings.toml", "compare.log", "label_stats.csv"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    for model in CLASSICAL:
        assert (run / "models" / f"{model}.joblib").is_file()
    assert (run / "models" / "cnn" / "history.csv").is_file()
    assert any((run / "models" / "cnn").glob("*.keras"))
    # The demo set says plainly what it is, and the summary names the report.
    assert "SYNTHETIC demo set" in first.stderr
    assert str((run / "report.html").resolve()) in first.stdout
    run_info = json.loads((run / "run.json").read_text())
    assert run_info["dataset"]["source"] == "demo"
    assert "VGGish" not in run_info["dataset"]["embedding"] or "stand-in" in run_info["dataset"]["embedding"]
    assert set(run_info["models"]) == set(MODELS)
    assert set(run_info["embeddings"]) == set(EMBEDDINGS)
    assert "musicnn" in run_info["embeddings"]["musicnn"]["provenance"]
    for model in CLASSICAL:
        selection = run_info["models"][model]["selection"]
        assert selection["method"].startswith("5-fold cross-validation grouped by artist")
        assert len(selection["roc_auc"]["folds"]) == 5
    assert run_info["models"]["cnn"]["selection"]["method"].startswith("hold-out of")
    assert (run / "data_problems.csv").is_file()


def test_summary_shows_the_macro_metrics_of_metrics_csv(quick_run):
    work, first, second = quick_run
    metrics = pd.read_csv(work / "run" / "metrics.csv").set_index(["model", "instrument", "metric"])
    for out, cached in ((first.stdout, False), (second.stdout, True)):
        rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] in ([m] for m in MODELS)}
        assert set(rows) == set(MODELS), out
        for model in MODELS:
            for metric in ("f1_posneg", "roc_auc", "ap"):
                r = metrics.loc[(model, "macro", metric)]
                assert f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" in rows[model], (model, metric)
            assert rows[model].endswith("(cached)") == cached, rows[model]


def test_metrics_agree_with_predictions(quick_run):
    run = quick_run[0] / "run"
    pred = np.load(run / "predictions.npz", allow_pickle=False)
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics.columns) == ["model", "instrument", "metric", "value", "ci_low", "ci_high"]
    classes = [str(c) for c in pred["classes"]]
    assert len(classes) == 20
    y = pred["Y_true"] >= 0.5
    # One common test set: the observed pairs that every model predicted.
    mask = pred["Y_mask"] & np.all([np.isfinite(pred[f"proba_{m}"]) for m in MODELS], axis=0)
    checked = 0
    for model in MODELS:
        proba = pred[f"proba_{model}"]
        assert proba.shape == y.shape
        rows = metrics[metrics["model"] == model].set_index(["instrument", "metric"])["value"]
        aucs, aps = [], []
        for k, name in enumerate(classes):
            obs = mask[:, k]
            if y[obs, k].all() or not y[obs, k].any():
                continue
            auc = roc_auc_score(y[obs, k], proba[obs, k])
            ap = average_precision_score(y[obs, k], proba[obs, k])
            assert rows[(name, "roc_auc")] == pytest.approx(auc, abs=1e-6), (model, name)
            assert rows[(name, "ap")] == pytest.approx(ap, abs=1e-6), (model, name)
            aucs.append(auc)
            aps.append(ap)
            checked += 1
        assert rows[("macro", "roc_auc")] == pytest.approx(np.mean(aucs), abs=1e-6)
        assert rows[("macro", "ap")] == pytest.approx(np.mean(aps), abs=1e-6)
    assert checked >= len(MODELS) * 10


def test_rerun_reuses_every_cached_stage(quick_run):
    work, _, second = quick_run
    log = second.stderr
    for model in MODELS:
        assert f"{model} reused from cache" in log, model
    assert "reused" in log  # the demo set too
    first = np.load(work / "run" / "predictions.npz")
    again = np.load(work / "run2" / "predictions.npz")
    for model in MODELS:
        np.testing.assert_allclose(first[f"proba_{model}"], again[f"proba_{model}"], rtol=1e-5, atol=1e-6)


@pytest.mark.browser
def test_report_passes_the_browser_check(quick_run):
    from reports.browser_check import browser_unavailable, check_report_in_browser

    why = browser_unavailable()
    if why:
        pytest.skip(why)
    run = quick_run[0] / "run"
    facts = check_report_in_browser(run / "report.html", ROOT / "tests" / "_artifacts" / "e2e-report.png")
    assert facts["severe"] == []
    assert facts["n_images"] > 5 and facts["broken_images"] == []
    assert facts["n_instrument_sections"] == 20
    assert "synthetic" in facts["text"].lower()


def test_ctrl_c_leaves_a_consistent_run_and_a_rerun_finishes(quick_run, tmp_path):
    """SIGINT while the CNN stage runs: exit 130, no half-written file; the rerun completes."""
    import signal
    import time

    work = quick_run[0]
    cache = work / "cache-interrupt"
    out = tmp_path / "run"
    args = ["--demo", "--demo-size", str(DEMO_CLIPS), "--quick", "--models", "lr,cnn",
            "--embeddings", "release", "--jobs", "2", "--out", str(out)]
    # The demo set is copied from the shared run's cache, so the interrupted run starts at the models.
    shutil.copytree(work / "cache" / "demo", cache / "demo")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "compare.py"), *args], cwd=tmp_path, env=compare_env(cache),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (out / "compare.log").exists() and "Training cnn" in (out / "compare.log").read_text():
            break
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again to resume" in err
    # Nothing half-written: no temporary files, no predictions or report from an unfinished run.
    assert not list(out.rglob("*.tmp*"))
    assert not (out / "predictions.npz").exists() and not (out / "report.html").exists()
    assert (cache / "models").is_dir() and any(p.name.startswith("lr-") for p in (cache / "models").iterdir())

    again = _compare(args, tmp_path, cache)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "lr@release reused from cache" in again.stderr
    assert (out / "report.html").is_file() and (out / "predictions.npz").is_file()


def test_instrument_subset_runs_end_to_end(quick_run, tmp_path):
    """--instruments trumpet,violin: the original project's single-instrument use, done right."""
    work = quick_run[0]
    out = tmp_path / "run"
    res = _compare(["--demo", "--demo-size", str(DEMO_CLIPS), "--quick", "--models", "lr,rf,cnn",
                    "--instruments", "trumpet,violin", "--out", str(out)], work, work / "cache")
    # Both embeddings come from the module's cache: the musicnn features are not computed again.
    assert "lr@musicnn" in res.stderr
    assert res.returncode == 0, res.stderr[-3000:]
    pred = np.load(out / "predictions.npz")
    assert [str(c) for c in pred["classes"]] == ["trumpet", "violin"]
    assert pred["proba_lr@musicnn"].shape == pred["proba_cnn"].shape == (len(pred["sample_key"]), 2)
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["instrument"]) == {"trumpet", "violin", "macro", "micro"}


def test_no_cache_reads_and_writes_no_cache(demo_set, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "run"
    # Without a cache the demo set lives under the run folder: put the session's copy there.
    demo = shutil.copytree(demo_set, out / ".demo" / "demo" / demo_set.name)
    res = _compare(["--demo", "--demo-size", str(DEMO_CLIPS), "--quick", "--no-cache", "--models",
                    "lr,cnn", "--embeddings", "release", "--out", str(out)], tmp_path, cache)
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"({DEMO_CLIPS} clips, reused) at {demo}" in res.stderr
    assert not cache.exists()
    assert (out / "report.html").is_file() and (out / "models" / "cnn" / "history.csv").is_file()
    assert not (out / ".work").exists()  # intermediate features and checkpoints are removed
