"""A network's seed spread: predictions.npz's seedproba_<model> and artist_id, every seed scored on the
common test set, the spread in the comparisons, and what the page and the files say."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from reports_fake_run import fake_labels, fake_proba, make_fake_run
from scipy.stats import norm
from sklearn.metrics import f1_score, roc_auc_score

from core.errors import DatasetError, ParameterError
from reports import (
    build_report,
    compare_models,
    evaluate,
    params,
    read_predictions,
    write_predictions,
)
from reports.resampling import percentile_interval

CLASSES = ("s", "t", "u", "v")
#: Few instruments keep the report builds (one plot per instrument) quick.
FEW = ("accordion", "banjo", "bass", "cello", "clarinet")


def _macro_auc(Y_true, pairs, proba) -> float:
    """Mean over instruments of scikit-learn's ROC AUC on the given pairs."""
    y = Y_true >= 0.5
    return float(np.mean([roc_auc_score(y[pairs[:, k], k], proba[pairs[:, k], k]) for k in range(y.shape[1])]))


@pytest.fixture(scope="module")
def case():
    """LR weak, CNN clearly better with its first seed; seeds 2 and 3 of the CNN far apart."""
    rng = np.random.default_rng(11)
    n = 400
    Y_true, Y_mask = fake_labels(n, rng, n_classes=len(CLASSES), per_clip=2.5)
    lr = fake_proba(Y_true, 1.2, rng)
    cnn = [fake_proba(Y_true, s, rng) for s in (2.4, 0.6, 4.5)]
    cnn[0][:5] = np.nan  # five clips without audio: no CNN prediction from any seed
    for p in cnn[1:]:
        p[:5] = np.nan
    return {"Y_true": Y_true, "Y_mask": Y_mask, "lr": lr, "cnn": np.stack(cnn), "artist": np.arange(n) // 4}


def _evaluate(case, *, seeds: bool, **kw):
    return evaluate(case["Y_true"], case["Y_mask"], {"lr": case["lr"], "cnn": case["cnn"][0]}, classes=CLASSES,
                    artist_id=case["artist"], seed_probas={"cnn": case["cnn"]} if seeds else None,
                    n_boot=400, seed=0, **kw)


def test_every_seed_is_scored_on_the_common_test_set(case):
    ev = _evaluate(case, seeds=True)
    assert list(ev.seeds) == ["cnn"] and ev.seeds["cnn"].n_seeds == 3
    expected = [_macro_auc(case["Y_true"], ev.pairs, p) for p in case["cnn"]]
    np.testing.assert_allclose(ev.seeds["cnn"].macro["roc_auc"], expected, rtol=1e-9)
    np.testing.assert_allclose(ev.seeds["cnn"].macro["roc_auc"][0], ev.macro["cnn"]["roc_auc"][0], rtol=1e-12)
    assert ev.pairs[:5].sum() == 0 and set(ev.excluded) == set(range(5))


def test_seed_thresholds_score_each_seed_at_its_own(case):
    thr = np.array([[0.5, 0.4, 0.6, 0.5], [0.3, 0.35, 0.4, 0.45], [0.7, 0.6, 0.65, 0.8]])
    ev = _evaluate(case, seeds=True, thresholds={"cnn": thr[0]}, seed_thresholds={"cnn": thr})
    y = case["Y_true"] >= 0.5
    for s in range(3):
        for k in range(len(CLASSES)):
            obs = ev.pairs[:, k]
            want = f1_score(y[obs, k], case["cnn"][s][obs, k] >= thr[s, k])
            assert ev.seeds["cnn"].per_instrument["f1_pos_at_val_thr"][s, k] == pytest.approx(want, rel=1e-9)
    with pytest.raises(ParameterError, match=r"\(3, 4\)"):
        _evaluate(case, seeds=True, thresholds={"cnn": thr[0]}, seed_thresholds={"cnn": thr[:2]})


def test_a_network_whose_seeds_differ_a_lot_loses_its_mark(case):
    one = compare_models(_evaluate(case, seeds=False)).set_index(["metric", "instrument"])
    ev = _evaluate(case, seeds=True)
    many = compare_models(ev).set_index(["metric", "instrument"])
    before, after = one.loc[("roc_auc", "macro")], many.loc[("roc_auc", "macro")]
    assert before.significant and before.better == "cnn" and before.sd_seed == 0
    assert not after.significant and after.better == ""
    assert after["diff"] == before["diff"]  # the first seed's model is the one compared
    # Independently: sd over the seeds from scikit-learn, sd of the resampled differences from the
    # evaluation's replicates, and the normal p-value of the combined standard error.
    seed_sd = np.std([_macro_auc(case["Y_true"], ev.pairs, p) for p in case["cnn"]], ddof=1)
    replicates = (ev.macro["lr"]["roc_auc"] - ev.macro["cnn"]["roc_auc"])[1:]
    replicates = replicates[np.isfinite(replicates)]
    sd_boot = replicates.std(ddof=1)
    se = np.sqrt(sd_boot ** 2 + seed_sd ** 2)
    assert after.sd_seed == pytest.approx(seed_sd, rel=1e-9) and after.sd_boot == pytest.approx(sd_boot, rel=1e-9)
    assert after.p_value == pytest.approx(2 * norm.sf(abs(after["diff"]) / se), rel=1e-9)
    low, high = np.percentile(replicates, [2.5, 97.5])
    d = after["diff"]
    assert after.ci_low == pytest.approx(d - (d - low) * se / sd_boot, rel=1e-9)
    assert after.ci_high == pytest.approx(d + (high - d) * se / sd_boot, rel=1e-9)
    assert after.ci_high - after.ci_low > 1.5 * (before.ci_high - before.ci_low)
    # The metric interval of the CNN itself stays its first seed's bootstrap interval.
    np.testing.assert_allclose(percentile_interval(ev.macro["cnn"]["roc_auc"][1:]),
                               percentile_interval(_evaluate(case, seeds=False).macro["cnn"]["roc_auc"][1:]))


def test_predictions_round_trip_and_bad_input(tmp_path, case):
    keys = np.array([f"{i:06d}_0" for i in range(len(case["lr"]))])
    args = (keys, CLASSES, case["Y_true"], case["Y_mask"], {"lr": case["lr"], "cnn": case["cnn"][0]})
    path = write_predictions(tmp_path / "p.npz", *args, artist_id=case["artist"], seed_probas={"cnn": case["cnn"]})
    pred = read_predictions(path)
    np.testing.assert_array_equal(pred.artist_id, case["artist"])
    assert pred.artist_id.dtype == np.int64 and list(pred.seed_probas) == ["cnn"]
    np.testing.assert_array_equal(pred.seed_probas["cnn"], case["cnn"].astype(np.float32))
    assert list(pred.probas) == ["lr", "cnn"]
    old = read_predictions(write_predictions(tmp_path / "old.npz", *args))
    assert old.artist_id is None and old.seed_probas == {}
    with pytest.raises(ParameterError, match="first seed"):
        write_predictions(tmp_path / "x.npz", *args, seed_probas={"cnn": case["cnn"][::-1]})
    with pytest.raises(ParameterError, match="S >= 2"):
        write_predictions(tmp_path / "x.npz", *args, seed_probas={"cnn": case["cnn"][:1]})
    with pytest.raises(ParameterError, match="'rf'"):
        write_predictions(tmp_path / "x.npz", *args, seed_probas={"rf": case["cnn"]})
    with pytest.raises(ParameterError, match="artist_id"):
        write_predictions(tmp_path / "x.npz", *args, artist_id=case["artist"][:-1])
    assert not (tmp_path / "x.npz").exists()
    with np.load(path) as z:
        arrays = dict(z)
    arrays["seedproba_cnn"] = arrays["seedproba_cnn"][:, :10]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=r"bad\.npz is inconsistent.*rewrite it"):
        read_predictions(tmp_path / "bad.npz")


def _add_seeds(run, seeds=(0, 1, 2)):
    """Rewrite a fake run's predictions with CNN seeds (the first the existing CNN) and list them."""
    pred = read_predictions(run / "predictions.npz")
    rng = np.random.default_rng(4)
    others = [fake_proba(pred.Y_true, s, rng) for s in (0.3, 5.0)][: len(seeds) - 1]
    write_predictions(run / "predictions.npz", pred.sample_key, pred.classes, pred.Y_true, pred.Y_mask,
                      pred.probas, artist_id=pred.artist_id,
                      seed_probas={"cnn": np.stack([pred.probas["cnn"], *others])})
    facts = json.loads((run / "run.json").read_text())
    facts["models"]["cnn"]["seeds"] = list(seeds)
    (run / "run.json").write_text(json.dumps(facts))


def test_report_shows_each_seeded_networks_spread(tmp_path):
    run = make_fake_run(tmp_path / "run", n=160, classes=FEW)
    _add_seeds(run)
    built = build_report(run, n_boot=60)
    spread = pd.read_csv(run / "seed_spread.csv")
    assert list(spread.columns) == ["model", "instrument", "metric", "n_seeds", "seed_mean", "seed_sd"]
    assert set(spread.model) == {"cnn"} and (spread.n_seeds == 3).all()
    auc = spread.query("instrument == 'macro' and metric == 'roc_auc'")
    seeds = read_predictions(run / "predictions.npz").seed_probas["cnn"]
    pairs = np.isfinite(seeds).all(axis=0) & read_predictions(run / "predictions.npz").Y_mask
    values = [_macro_auc(read_predictions(run / "predictions.npz").Y_true, pairs, p) for p in seeds]
    assert auc.seed_mean.item() == pytest.approx(np.mean(values), rel=1e-6)
    assert auc.seed_sd.item() == pytest.approx(np.std(values, ddof=1), rel=1e-6)
    assert len(built.seed_spread) == len(spread)
    cnn_rows = built.comparisons[(built.comparisons.model_b == "cnn") & (built.comparisons.instrument == "macro")]
    assert (cnn_rows.sd_seed > 0).all()
    html = (run / "report.html").read_text()
    assert "was trained with 3 seeds (0, 1, 2)" in html
    assert f"seeds: {np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} (n=3)" in html
    assert "sqrt(sd_boot^2 + sd_seed_A^2 + sd_seed_B^2)" in html
    assert "unmeasured seed spread" not in html
    payload = json.loads((run / "metrics.json").read_text())
    assert payload["seeds"] == [{"id": "cnn", "label": "CNN", "n_seeds": 3, "seeds": [0, 1, 2], "measured": None}]
    assert len(payload["seed_spread"]) == len(spread)


def test_a_network_trained_once_has_an_unmeasured_spread(tmp_path, monkeypatch):
    run = make_fake_run(tmp_path / "run", n=120, classes=FEW, clips_per_artist=6)
    monkeypatch.setitem(params.MEASURED_SEED_SPREAD, "cnn", None)  # as before it was measured
    build_report(run, n_boot=30)
    html = (run / "report.html").read_text()
    # 20 artists and 4 clips without one: fewer groups than params.FEW_GROUPS, and the page says so
    assert "Only 24 groups were resampled" in html
    assert "<b>CNN</b> was trained with one seed: its score has an <b>unmeasured seed spread</b>" in html
    assert "Its typical seed spread on the demo set: not measured." in html
    assert pd.read_csv(run / "seed_spread.csv").empty
    measured = {"n_seeds": 5, "sd": {"roc_auc": 0.0123, "ap": 0.0201},
                "command": "python benchmarks/bench_seed_spread.py --seeds 5"}
    monkeypatch.setitem(params.MEASURED_SEED_SPREAD, "cnn", measured)
    build_report(run, n_boot=30)
    html = (run / "report.html").read_text()
    assert "measured a standard deviation over 5 seeds of 0.012 (roc_auc), 0.020 (ap)" in html
    assert "python benchmarks/bench_seed_spread.py --seeds 5" in html


@pytest.mark.parametrize("artists", [None, 3])
def test_rebuild_from_old_and_new_predictions(tmp_path, artists):
    """``python -m reports RUN_DIR`` on a predictions.npz without artist_id (older runs) and with it."""
    run = make_fake_run(tmp_path / "run", n=90, clips_per_artist=artists, classes=FEW)
    res = subprocess.run([sys.executable, "-m", "reports", str(run), "--n-boot", "40"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    boot = json.loads((run / "metrics.json").read_text())["bootstrap"]
    html = (run / "report.html").read_text()
    if artists is None:
        assert boot["resampling_unit"] == "clip" and boot["n_groups"] == 90
        assert "predictions.npz records no artist, so the intervals are clip-level" in html
    else:
        # 90 clips, 3 per artist, every 25th (3 clips) without one: 30 artists and 3 own groups
        artist = np.where(np.arange(90) % 25 == 24, -1, np.arange(90) // 3)
        assert boot["resampling_unit"] == "artist"
        assert boot["n_groups"] == len(np.unique(artist[artist >= 0])) + 3
        assert boot["n_clips_without_artist"] == 3
        assert "artist-level intervals" in html and "clip-level" not in html
    assert "groups were resampled" not in html  # 90 and 33 groups: enough
