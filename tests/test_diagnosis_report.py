"""The diagnosis in a built report: diagnosis.csv, the section, the rebuild, the browser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reports_fake_run import CLASSES, make_fake_run
from sklearn.metrics import roc_auc_score

from core.errors import DatasetError
from reports import build_report
from reports.__main__ import main as reports_main
from reports.browser_check import browser_unavailable, check_report_in_browser
from reports.diagnosis import COLUMNS, DIAGNOSIS_CSV
from reports.learning_curve_file import LEARNING_CURVE_NPZ, LearningCurve, write_learning_curve
from reports.run_folder import read_predictions

ARTIFACTS = Path(__file__).parent / "_artifacts"
SIX = CLASSES[:6]  # six instruments keep the report builds quick
DIAGNOSED = "lr@musicnn"  # the fake run's best classical model at selection (the CNN is best on test)


def _with_curve(run: Path, model: str = DIAGNOSED) -> LearningCurve:
    pred = read_predictions(run / "predictions.npz")
    rng = np.random.default_rng(3)
    noisy = [pred.probas[model] + rng.normal(0, s, pred.probas[model].shape) for s in (0.6, 0.3)]
    curve = LearningCurve(model=model, fractions=np.array([0.25, 0.5, 1.0]), n_artists=np.array([5, 10, 20]),
                          n_clips=np.array([50, 100, 200]), sample_key=pred.sample_key, classes=pred.classes,
                          proba=np.stack([*noisy, pred.probas[model]]))
    write_learning_curve(run / LEARNING_CURVE_NPZ, curve)
    return curve


def test_report_writes_diagnosis_csv_and_the_section(tmp_path):
    run = make_fake_run(tmp_path / "run", n=240, classes=SIX)
    _with_curve(run)
    html = build_report(run, n_boot=50).path.read_text()
    table = pd.read_csv(run / DIAGNOSIS_CSV)
    assert tuple(table.columns) == COLUMNS
    pred = read_predictions(run / "predictions.npz")
    assert set(table.model) == set(pred.probas) and set(table.instrument) == set(SIX)
    for model in pred.probas:  # one verdict row per model, instrument and cause
        named = table[(table.model == model) & (table.statistic == "named")]
        assert len(named) == 4 * len(SIX)
    # the point estimates are the plain metrics of the common pairs (every pair here)
    k = SIX.index("cello")
    obs = pred.Y_mask[:, k]
    auc = table.query("model == 'cnn' and instrument == 'cello' and statistic == 'roc_auc'").value.item()
    assert auc == pytest.approx(roc_auc_score(pred.Y_true[obs, k] >= 0.5, pred.probas["cnn"][obs, k]))
    n_pos = table.query("model == 'cnn' and instrument == 'cello' and statistic == 'n_positive'").value.item()
    assert n_pos == (pred.Y_true[obs, k] >= 0.5).sum()
    # only the diagnosed model has a learning curve
    assert set(table[table.statistic.str.startswith("roc_auc:")].model) == {DIAGNOSED}
    assert table.query("statistic == 'roc_auc:100%'").value.to_numpy() == pytest.approx(
        table.query(f"model == '{DIAGNOSED}' and statistic == 'roc_auc'").value.to_numpy())
    # the section: near the top (before the common test set), the diagnosed model, the rules, 20 figures
    assert html.index('id="diagnosis"') < html.index('id="common-test-set"')
    assert "Diagnosed model: <b>LR · musicnn</b>" in html
    assert "The rules (fixed before any result was looked at)" in html
    assert html.count('alt="diagnosis figures of') == len(SIX)
    assert len(list((run / "plots").glob("diagnosis-*.png"))) == len(SIX)


def test_python_m_reports_rebuilds_diagnosis_csv(tmp_path):
    run = make_fake_run(tmp_path / "run", n=150, classes=SIX)
    build_report(run, n_boot=30)
    first = (run / DIAGNOSIS_CSV).read_text()
    (run / DIAGNOSIS_CSV).unlink()
    assert reports_main([str(run), "--n-boot", "30"]) == 0
    assert (run / DIAGNOSIS_CSV).read_text() == first  # seeded: the same numbers again


def test_without_a_learning_curve_the_page_says_so(tmp_path):
    run = make_fake_run(tmp_path / "run", n=150, classes=SIX)
    html = build_report(run, n_boot=30).path.read_text()
    assert f"This run folder has no {LEARNING_CURVE_NPZ}" in html
    table = pd.read_csv(run / DIAGNOSIS_CSV)
    data_rows = table[(table.cause == "too_little_data")]
    assert list(data_rows.statistic.unique()) == ["named"] and data_rows.value.isna().all()


def test_a_learning_curve_of_other_clips_is_refused(tmp_path):
    run = make_fake_run(tmp_path / "run", n=150, classes=SIX)
    curve = _with_curve(run)
    write_learning_curve(run / LEARNING_CURVE_NPZ, LearningCurve(
        **{**curve.__dict__, "sample_key": curve.sample_key[::-1].copy()}))
    with pytest.raises(DatasetError, match="delete it to build the report without a learning curve"):
        build_report(run, n_boot=10)


def test_artists_are_resampled_when_predictions_name_them(tmp_path):
    run = make_fake_run(tmp_path / "run", n=150, classes=SIX)
    path = run / "predictions.npz"
    with np.load(path) as z:
        arrays = dict(z)
    np.savez(path, **{**arrays, "artist_id": np.arange(150) // 5})  # 30 artists of 5 clips
    html = build_report(run, n_boot=30).path.read_text()
    assert "resamples of the test artists" in html


@pytest.mark.browser
@pytest.mark.skipif(browser_unavailable() is not None, reason=f"no headless browser: {browser_unavailable()}")
def test_diagnosis_renders_in_chromium(tmp_path):
    run = make_fake_run(tmp_path / "run", n=240, classes=SIX)
    _with_curve(run)
    facts = check_report_in_browser(build_report(run, n_boot=50).path, screenshot=ARTIFACTS / "diagnosis.png")
    assert facts["severe"] == [] and facts["broken_images"] == []
    assert "Diagnosis: why is an instrument hard?" in facts["text"]
    assert facts["text"].count("too little data") >= len(SIX)  # one finding per instrument
