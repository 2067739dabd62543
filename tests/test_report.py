"""The run folder's outputs: files, self-contained HTML, escaping, published numbers, CLI, the
common test set, missing metrics, selection scores, the embedding grid, data problems, old runs."""

from __future__ import annotations

import html as html_lib
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from reports_fake_run import CLASSES, EMBEDDINGS, PROBLEMS, blank_predictions, make_fake_run
from sklearn.metrics import roc_auc_score

from reports import build_report, read_predictions

PAYLOAD = "<script>window.__pwned=1</script>"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = make_fake_run(tmp_path_factory.mktemp("demo") / "run", n=200, source="demo")
    build_report(run, n_boot=100, seed=0)
    return run


def test_run_folder_outputs(demo_run):
    table = pd.read_csv(demo_run / "metrics.csv")
    assert list(table.columns) == ["model", "instrument", "metric", "value", "ci_low", "ci_high"]
    assert set(table.model) == {"lr@release", "xgb@release", "lr@musicnn", "cnn"}
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
    assert len(srcs) == 47 and all(s.startswith("data:image/png;base64,") for s in srcs)  # 20 diagnosis figures
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
    run = make_fake_run(tmp_path / "run", n=80, classes=CLASSES[:4], history=False, problems=())
    done = subprocess.run([sys.executable, "-m", "reports", str(run), "--n-boot", "10"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("report.html") and (run / "report.html").is_file()
    assert "No data problem was found" in (run / "report.html").read_text()  # a header-only file
    missing = subprocess.run([sys.executable, "-m", "reports", str(tmp_path / "nope")],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_report_builds_without_run_json(tmp_path):
    run = make_fake_run(tmp_path / "run", n=80, classes=CLASSES[:3], history=False)
    (run / "run.json").unlink()
    build_report(run, n_boot=10, seed=0)
    table = pd.read_csv(run / "metrics.csv")
    assert table.loc[table.model == "cnn", "value"].notna().any()
    assert (run / "report.html").is_file()


def _text(fragment: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _table(html: str, table_id: str) -> list[list[str]]:
    """The cell texts of the table with ``id=table_id``, one list per row (header row first)."""
    body = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S).group(1)
    return [[_text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def _section(html: str, section_id: str) -> str:
    return re.search(rf'<section class="instrument" id="{section_id}">(.*?)</section>', html, re.S).group(1)


def _macro(table: pd.DataFrame, model: str, metric: str) -> float:
    return table.query(f"model == '{model}' and instrument == 'macro' and metric == '{metric}'").value.item()


def test_a_clip_one_model_cannot_score_is_left_out_for_all_and_named(tmp_path):
    run = make_fake_run(tmp_path / "run", n=120, classes=CLASSES[:4], history=False)
    blank_predictions(run, "cnn", rows=slice(0, 5))
    build_report(run, n_boot=20)
    pred = read_predictions(run / "predictions.npz")
    table = pd.read_csv(run / "metrics.csv")
    kept = pred.Y_mask[5:]
    for model in pred.probas:
        n_obs = table.query(f"model == '{model}' and metric == 'n_observed'").set_index("instrument").value
        np.testing.assert_array_equal(n_obs[list(CLASSES[:4])].to_numpy(), kept.sum(axis=0), err_msg=model)
        assert (n_obs[list(CLASSES[:4])].to_numpy() < pred.Y_mask.sum(axis=0)).any()
    y = pred.Y_true[5:, 2] >= 0.5
    auc = table.query("model == 'lr@release' and instrument == 'bass' and metric == 'roc_auc'").value.item()
    np.testing.assert_allclose(auc, roc_auc_score(y[kept[:, 2]], pred.probas["lr@release"][5:, 2][kept[:, 2]]),
                               rtol=1e-6)
    payload = json.loads((run / "metrics.json").read_text())
    expected = {str(k): "no prediction from cnn" for k in pred.sample_key[:5]}
    assert payload["excluded_test_clips"] == expected
    html = (run / "report.html").read_text()
    assert _table(html, "excluded-clips")[1:] == [[k, why] for k, why in expected.items()]
    assert "115 of 120 test clips scored" in html


def test_an_instrument_without_predictions_is_missing_not_zero(tmp_path):
    """Every prediction of banjo from one model is NaN: no banjo metric for anyone, shown as a dash."""
    run = make_fake_run(tmp_path / "run", n=150, classes=CLASSES[:4], history=False)
    blank_predictions(run, "lr@musicnn", cols=1)
    build_report(run, n_boot=20)
    table = pd.read_csv(run / "metrics.csv")
    banjo = table[table.instrument == "banjo"]
    scored = banjo[~banjo.metric.isin(["n_observed", "n_positive", "threshold"])]
    assert len(scored) > 0 and scored.value.isna().all() and scored.ci_low.isna().all()
    assert (banjo[banjo.metric == "n_observed"].value == 0).all()
    others = ["accordion", "bass", "cello"]
    for model in ("lr@release", "cnn"):
        for metric in ("roc_auc", "f1_pos", "precision"):
            per = table.query(f"model == '{model}' and metric == '{metric}'").set_index("instrument").value
            np.testing.assert_allclose(_macro(table, model, metric), per[others].mean(), rtol=1e-9)
    payload = json.loads((run / "metrics.json").read_text())
    assert payload["macro_instruments"] == others
    assert all(r["value"] is None for r in payload["metrics"]
               if r["instrument"] == "banjo" and r["metric"] in ("precision", "f1_pos", "roc_auc"))
    html = (run / "report.html").read_text()
    section = _section(html, "inst-banjo")
    cells = [_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", section, re.S)]
    metric_cells = [c for i, c in enumerate(cells) if i % 11 >= 2]  # model, threshold, 9 metrics
    assert len(metric_cells) == 4 * 9 and all(c == "–" for c in metric_cells), metric_cells
    assert "No metric for banjo" in section
    note = _text(re.search(r'id="macro-count">(.*?)</p>', html, re.S).group(1))
    assert "over the 3 of 4 instruments" in note and "banjo (no observed pair with a prediction" in note


def test_selection_score_is_shown_beside_the_test_score(demo_run):
    html = (demo_run / "report.html").read_text()
    run = json.loads((demo_run / "run.json").read_text())
    table = pd.read_csv(demo_run / "metrics.csv")
    summary = _table(html, "summary-table")
    header = summary[0]
    for test, selected in (("macro ROC AUC", "macro ROC AUC at selection"), ("mAP", "mAP at selection")):
        assert header[header.index(test) + 1] == selected
    rows = {r[0]: r for r in summary[1:]}
    for model, facts in run["models"].items():
        row = rows[facts["label"]]
        for metric, col in (("roc_auc", "macro ROC AUC at selection"), ("ap", "mAP at selection")):
            sel = facts["selection"][metric]
            shown = f"{sel['mean']:.3f}" + (f" ± {sel['std']:.3f}" if sel["std"] is not None else "")
            gap = sel["mean"] - _macro(table, model, metric)
            assert row[header.index(col)] == f"{shown} gap {gap:+.3f}", (model, metric)
    assert "±" not in rows["CNN"][header.index("macro ROC AUC at selection")]
    assert "optimism of model selection" in _text(re.search(r'id="selection-note">(.*?)</p>', html, re.S).group(1))
    warnings = re.search(r'id="selection-warnings">(.*?)</div>', html, re.S).group(1)
    assert _text(warnings) == ("Warnings from model selection: CNN : 1 warning "
                               "hold-out has fewer than 20 observed labels for: banjo, organ")
    assert "<b>LR · musicnn</b> selected by 5-fold cross-validation grouped by artist" in html


def test_embedding_grid_pairs_and_facts(demo_run):
    html = (demo_run / "report.html").read_text()
    table = pd.read_csv(demo_run / "metrics.csv")
    for metric, header in (("roc_auc", "macro ROC AUC"), ("ap", "mAP")):
        grid = _table(html, f"grid-{metric}")
        assert grid[0] == [header, "release", "musicnn"]

        def shown(model, metric=metric):
            r = table.query(f"model == '{model}' and instrument == 'macro' and metric == '{metric}'").iloc[0]
            return f"{r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"

        assert grid[1] == ["LR", shown("lr@release"), shown("lr@musicnn")]
        assert grid[2] == ["XGBoost", shown("xgb@release"), "not trained"]
        assert grid[3] == ["CNN", shown("cnn")]
    comparisons = pd.read_csv(demo_run / "comparisons.csv")
    assert list(dict.fromkeys(zip(comparisons.model_a, comparisons.model_b, strict=True))) == [
        ("lr@release", "lr@musicnn"), ("lr@release", "cnn"), ("xgb@release", "cnn"), ("lr@musicnn", "cnn")]
    rule = _text(re.search(r'id="pair-rule">(.*?)</p>', html, re.S).group(1))
    assert "for each classifier, its embeddings against each other" in rule
    facts = {r[0]: r for r in _table(html, "embedding-facts")[1:]}
    assert facts["musicnn"] == ["musicnn", EMBEDDINGS["musicnn"]["description"],
                                EMBEDDINGS["musicnn"]["provenance"], "753", "4", "LR · musicnn"]
    assert facts["release"][-1] == "LR · release, XGBoost · release"


def test_data_problems_section(demo_run):
    html = (demo_run / "report.html").read_text()
    counts = _table(html, "problem-counts")
    assert counts[0] == ["problem (numbers as #)", "train", "test", "none", "total"]
    assert counts[1] == ["duration # s, expected # s", "1", "1", "0", "2"]
    assert sorted(counts[2:]) == [["audio file missing", "1", "0", "0", "1"], ["unreadable", "0", "0", "1", "1"]]
    assert _table(html, "problem-list")[1:] == [list(r) for r in PROBLEMS]
    assert "4 problems were found" in html and "left out of training, and out of testing" in html


def test_old_style_run_folder_still_renders(tmp_path):
    """Ids without "@", no embeddings, no selection, no data_problems.csv: as runs were written before."""
    run = make_fake_run(tmp_path / "run", n=100, classes=CLASSES[:4], history=False, legacy=True,
                        models={"lr": 1.5, "xgb": 2.0, "cnn": 3.0}, problems=None)
    build_report(run, n_boot=10)
    html = (run / "report.html").read_text()
    assert set(pd.read_csv(run / "metrics.csv").model) == {"lr", "xgb", "cnn"}
    comparisons = pd.read_csv(run / "comparisons.csv")
    assert set(zip(comparisons.model_a, comparisons.model_b, strict=True)) == {
        ("lr", "xgb"), ("lr", "cnn"), ("xgb", "cnn")}
    assert "every pair of models" in _text(re.search(r'id="pair-rule">(.*?)</p>', html, re.S).group(1))
    grid = _table(html, "grid-roc_auc")
    assert grid[0] == ["macro ROC AUC", "release"] and [r[0] for r in grid[1:]] == ["LR", "XGBoost", "CNN"]
    assert [r[0] for r in _table(html, "summary-table")[1:]] == ["LR · release", "XGBoost · release", "CNN"]
    assert "at selection" not in " ".join(_table(html, "summary-table")[0])
    assert "records no selection-time score" in html
    assert "no <code>data_problems.csv</code>" in html
    assert _table(html, "embedding-facts")[1][:2] == ["release", "stand-in: random projection"]
