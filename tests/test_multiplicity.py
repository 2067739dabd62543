"""The "> model" marks are corrected over every comparison the page makes for a metric: Holm over
the model pairs for the macro means, over instruments x pairs per instrument."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from reports_fake_run import fake_labels, fake_proba, make_fake_run

from reports import build_report, compare_models, evaluate
from reports.compare_models import holm_families
from reports.params import ALPHA

CLASSES = ("v", "w", "x", "y", "z")
SIGNALS = (("a", 1.0), ("b", 1.2), ("c", 1.4), ("d", 1.6))


def step_down_rejections(p: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Holm's procedure as first stated: walk the p-values up, reject while p_(i) <= alpha / (m - i)."""
    finite = np.flatnonzero(np.isfinite(p))
    reject = np.zeros(p.shape, bool)
    for i, j in enumerate(finite[np.argsort(p[finite], kind="mergesort")]):
        if p[j] >= alpha / (finite.size - i):  # the report marks where adjusted p < alpha
            break
        reject[j] = True
    return reject


@pytest.fixture(scope="module")
def four_models():
    """Four models of close quality on 300 clips (100 artists), five instruments."""
    rng = np.random.default_rng(0)
    Y_true, Y_mask = fake_labels(300, rng, n_classes=len(CLASSES), per_clip=2.0)
    probas = {m: fake_proba(Y_true, s, rng) for m, s in SIGNALS}
    ev = evaluate(Y_true, Y_mask, probas, classes=CLASSES, artist_id=np.arange(300) // 3, n_boot=300, seed=0)
    return compare_models(ev)


def test_each_metric_has_two_families_of_the_right_size(four_models):
    table = four_models
    n_pairs = 6  # every pair of 4 models
    for metric, rows in table.groupby("metric"):
        macro, per = rows[rows.instrument == "macro"], rows[rows.instrument != "macro"]
        assert len(macro) == n_pairs and len(per) == n_pairs * len(CLASSES)
        assert (macro.family_size == macro.p_value.notna().sum()).all() and macro.family_size.iloc[0] == n_pairs
        assert (per.family_size == per.p_value.notna().sum()).all()
        assert per.family.nunique() == 1 and macro.family.nunique() == 1
        assert macro.family.iloc[0] == f"{metric}: macro means, 6 model pairs"
        assert per.family.iloc[0] == f"{metric}: 5 instruments x 6 model pairs"


def test_marks_are_holm_over_the_whole_family(four_models):
    table = four_models
    for (_, _), rows in table.groupby(["metric", table.instrument == "macro"]):
        expected = step_down_rejections(rows.p_value.to_numpy())
        np.testing.assert_array_equal(rows.significant.to_numpy(), expected)
        assert (rows.p_holm.dropna() >= rows.p_value.dropna()).all()
        better = np.where(rows["diff"] > 0, rows.model_a, rows.model_b)
        np.testing.assert_array_equal(rows.better.to_numpy(), np.where(expected, better, ""))


def test_a_difference_significant_alone_loses_its_mark_in_the_family(four_models):
    """Macro ROC AUC: one pair has p < 0.05 on its own, but not once Holm counts the 6 pairs."""
    table = four_models
    macro = table.query("metric == 'roc_auc' and instrument == 'macro'")
    alone = macro[macro.p_value < ALPHA]
    assert len(alone) == 2  # two pairs would be marked without the correction
    lost = alone[~alone.significant]
    assert len(lost) == 1
    p = lost.p_value.item()
    # Holm: the second smallest of 6 p-values is compared with alpha / 5.
    assert ALPHA / 5 <= p < ALPHA and lost.p_holm.item() == pytest.approx(min(1.0, 5 * p))
    assert alone.significant.sum() == 1


def test_constructed_p_values_are_adjusted_within_their_family_only():
    """Four pairs with p = 0.01, 0.02, 0.03, 0.04: each below alpha alone; Holm over the four keeps
    only 0.01 (0.01 * 4 = 0.04 < 0.05, then 0.02 * 3 = 0.06). Another metric's rows, and the
    per-instrument rows, are families of their own and do not dilute these."""
    pairs = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")]
    rows = [dict(model_a=a, model_b=b, instrument="macro", metric="ap", diff=0.1, p_value=p)
            for (a, b), p in zip(pairs, (0.01, 0.02, 0.03, 0.04), strict=True)]
    rows += [dict(model_a=a, model_b=b, instrument="macro", metric="roc_auc", diff=-0.1, p_value=0.04)
             for a, b in pairs[:1]]
    rows += [dict(model_a=a, model_b=b, instrument=k, metric="ap", diff=0.1, p_value=0.001)
             for a, b in pairs for k in ("s", "t")]
    out = holm_families(pd.DataFrame(rows), n_instruments=2)
    ap = out.query("metric == 'ap' and instrument == 'macro'")
    np.testing.assert_allclose(ap.p_holm, [0.04, 0.06, 0.06, 0.06])
    np.testing.assert_array_equal(ap.significant, [True, False, False, False])
    np.testing.assert_array_equal(ap.significant, step_down_rejections(ap.p_value.to_numpy()))
    assert (ap.family_size == 4).all() and ap.better.tolist() == ["a", "", "", ""]
    alone = out.query("metric == 'roc_auc'")
    assert alone.family_size.item() == 1 and alone.significant.item() and alone.better.item() == "b"
    per = out.query("instrument != 'macro'")
    assert (per.family_size == 8).all() and np.allclose(per.p_holm, 0.008) and per.significant.all()
    assert set(per.family) == {"ap: 2 instruments x 4 model pairs"}


def test_report_states_the_family_and_the_method(tmp_path):
    run = make_fake_run(tmp_path / "run", n=150, classes=("bass", "cello", "drums", "flute"))  # 4 models on 2 embeddings: 4 pairs compared
    built = build_report(run, n_boot=60, seed=0)
    table = pd.read_csv(run / "comparisons.csv")
    assert {"family", "family_size", "p_holm", "sd_boot", "sd_seed"} <= set(table.columns)
    assert len(table.groupby(["model_a", "model_b"])) == 4
    assert (table[table.instrument == "macro"].family_size == 4).all()
    per = table[table.instrument != "macro"]
    np.testing.assert_array_equal(per.family_size, per.groupby("metric").p_value.transform("count"))
    html = (run / "report.html").read_text()
    assert "Holm's method over every macro comparison of that metric on this page" in html
    assert "the 4 model pairs compared" in html
    assert "instruments × the 4 model pairs compared" in html or "No significant difference" in html
    payload = json.loads((run / "metrics.json").read_text())
    assert payload["bootstrap"]["correction"].startswith("Holm over every comparison of a metric")
    assert len(payload["comparisons"]) == len(built.comparisons) == len(table)
