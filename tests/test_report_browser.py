"""The report in headless Chromium: no console error, every image decoded, escaping holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from reports_fake_run import CLASSES, make_fake_run

from reports import build_report
from reports.browser_check import browser_unavailable, check_report_in_browser

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_unavailable() is not None, reason=f"no headless browser: {browser_unavailable()}"),
]

PAYLOAD = "<script>window.__pwned=1</script>"
ARTIFACTS = Path(__file__).parent / "_artifacts"


def test_demo_report_renders_cleanly(tmp_path):
    run = make_fake_run(tmp_path / "run", n=200, source="demo")
    html = build_report(run, n_boot=100).path
    facts = check_report_in_browser(html, screenshot=ARTIFACTS / "report.png")
    assert facts["severe"] == [], facts["severe"]
    assert facts["n_images"] == 47 and facts["broken_images"] == []  # 27 + 20 diagnosis figures
    assert facts["n_instrument_sections"] == 20
    assert facts["n_sortable_tables"] >= 22
    assert not facts["pwned"]
    assert "Published OpenMIC-2018 numbers do not apply" in facts["text"]
    for shown in ("macro ROC AUC at selection", "Classifiers × embeddings", "Common test set",
                  "Data problems", "Pairs compared:"):
        assert shown in facts["text"], shown
    assert (ARTIFACTS / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_script_in_data_shows_as_text(tmp_path):
    classes = (PAYLOAD, *CLASSES[1:4])  # four instruments: the page's every kind of section
    run = make_fake_run(tmp_path / "run", n=150, source="openmic", description=f"desc {PAYLOAD}",
                        root=f"/data/{PAYLOAD}", models={"lr": 1.0, PAYLOAD: 2.5}, classes=classes,
                        history=False)
    facts = check_report_in_browser(build_report(run, n_boot=20).path)
    assert facts["pwned"] is False
    assert facts["n_script_elements"] == 1
    assert facts["text"].count(PAYLOAD) >= 5
    assert facts["severe"] == [] and facts["broken_images"] == []
    assert facts["n_instrument_sections"] == 4


def test_checker_sees_script_errors_and_broken_images(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        '<img alt="bad" src="data:image/png;base64,AAAA">'
        "<script>window.__pwned = 1; throw new Error('boom');</script></body></html>"
    )
    facts = check_report_in_browser(page)
    assert any("boom" in e["message"] for e in facts["severe"])
    assert facts["broken_images"] == ["bad"]
    assert facts["pwned"] is True
