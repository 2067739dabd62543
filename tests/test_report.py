"""The run folder's outputs: files, self-contained HTML, escaping, published numbers, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from reports_fake_run import CLASSES, make_fake_run

from reports import build_report

PAYLOAD = "<script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = make_fake_run(tmp_path_factory.mktemp("demo") / "run", n=200, source="demo")
    build_report(run, n_boot=100, seed=0)
    return run


def test_run_folder_outputs(demo_run):
    table = pd.read_csv(demo_run / "metrics.csv")
    assert list(table.columns) == ["model", "instrument", "metric", "value", "ci_low", "ci_high"]
    assert set(table.model) == {"lr", "xgb", "cnn"}
    payload = json.loads((demo_run / "metrics.json").read_text())
    assert payload["run"]["dataset"]["source"] == "demo"
    assert payload["bootstrap"]["n_boot"] == 100
    assert set(payload["bootstrap"]["dropped_resamples"]) == {*CLASSES, "macro", "micro"}
    assert len(payload["metrics"]) == len(table)
    assert {"model_a", "model_b", "p_holm", "significant"} <= set(payload["comparisons"][0])
    pngs = sorted(p.name for p in (demo_run / "plots").glob("*.png"))
    assert {"f1-bars.png", "auc-heatmap.png", "f1-heatmap.png", "roc-grid.png", "pr-grid.png",
            "label-stats.png", "cnn-history.png"} <= set(pngs)
    assert sum(p.startswith("curves-") for p in pngs) == 20
    assert all((demo_run / "plots" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert not list(demo_run.glob("*.tmp-*"))


def test_report_is_self_contained(demo_run):
    html = (demo_run / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    srcs = re.findall(r'\ssrc="([^"]*)"', html)
    assert len(srcs) == 27 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "<link rel=\"stylesheet\"" not in html
    assert len(re.findall(r'<section class="instrument" id="inst-[a-z_]+">', html)) == 20
    assert 'id="inst-mallet_percussion"' in html


def test_demo_report_says_published_numbers_do_not_apply(demo_run):
    html = (demo_run / "report.html").read_text()
    assert "Published OpenMIC-2018 numbers do not apply" in html
    assert "synthetic demo set" in html
    assert "modeling-baseline" not in html and "random forest" not in html


@pytest.fixture(scope="module")
def openmic_run_with_payload(tmp_path_factory):
    """A real-OpenMIC run whose description, root, one model and one class carry a script tag."""
    classes = (PAYLOAD, *CLASSES[1:])
    run = make_fake_run(tmp_path_factory.mktemp("openmic") / "run", n=120, source="openmic",
                        description=f"desc {PAYLOAD}", root=f"/data/{PAYLOAD}",
                        models={"lr": 1.0, PAYLOAD: 2.0}, classes=classes, history=False)
    build_report(run, n_boot=20)
    return run


def test_openmic_report_shows_the_random_forest_beside_ours(openmic_run_with_payload):
    html = (openmic_run_with_payload / "report.html").read_text()
    assert "cosmir/openmic-2018 modeling-baseline" in html
    assert "do not apply" not in html
    assert re.search(r"<td class=\"name\">clarinet</td><td>0\.71</td><td>0\.09</td><td>0\.16</td>", html)
    assert "<td>0.705</td><td>0.784</td>" in html
    assert "cnn-history" not in html  # no history.csv, no training curves


def test_data_strings_are_escaped(openmic_run_with_payload):
    html = (openmic_run_with_payload / "report.html").read_text()
    assert PAYLOAD not in html
    assert html.count("&lt;script&gt;window.__pwned=1&lt;/script&gt;") >= 5
    assert html.count("<script") == 1  # only the report's own sorting script


def test_cli_rebuilds_the_report(tmp_path):
    run = make_fake_run(tmp_path / "run", n=80, classes=CLASSES[:4], history=False)
    done = subprocess.run([sys.executable, "-m", "reports", str(run), "--n-boot", "10"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("report.html") and (run / "report.html").is_file()
    missing = subprocess.run([sys.executable, "-m", "reports", str(tmp_path / "nope")],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_report_leaves_out_nan_predictions_per_model(tmp_path):
    """A CNN without audio for some test clips has NaN there; the report still builds, run.json or not."""
    run = make_fake_run(tmp_path / "run", n=80, classes=CLASSES[:3], history=False)
    with np.load(run / "predictions.npz") as z:
        arrays = dict(z)
    arrays["proba_cnn"][:7] = np.nan
    np.savez(run / "predictions.npz", **arrays)
    (run / "run.json").unlink()
    build_report(run, n_boot=10, seed=0)
    table = pd.read_csv(run / "metrics.csv")
    assert table.loc[table.model == "cnn", "value"].notna().any()
    assert (run / "report.html").is_file()
