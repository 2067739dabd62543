"""The diagnosis finds a planted cause, and no other: constructed predictions, real rules.

Four instruments, every label observed, clips independent. In each case one cause is planted on
instrument 0 (``TARGET``); the others stay as they are. Agreement is mixed everywhere (half of the
labels doubtful) so that "label doubt" is always assessed, and a flat learning curve is given
unless the case plants one, so that "too little data" is assessed too.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from core.thresholds import best_f1_threshold
from reports import diagnosis_rules as rules
from reports.diagnosis import NAMED, NO_EVIDENCE, NOT_NAMED, diagnose
from reports.learning_curve_file import LearningCurve
from reports.run_models import model_infos

CLASSES = ("clarinet", "flute", "piano", "voice")
TARGET, PARTNER = 0, 2  # clarinet; the instrument a confusion is planted with (piano)
N = 800
PREVALENCE = 0.3
DOUBTFUL_SHARE = 0.5
MODEL = "lr@release"


def _labels(rng, present):
    """Y_true from true presence: doubtful labels at relevance 0.8 / 0.2 (agreement 0.6), else 1 / 0."""
    doubtful = rng.random(present.shape) < DOUBTFUL_SHARE
    Y_true = np.where(present, np.where(doubtful, 0.8, 1.0), np.where(doubtful, 0.2, 0.0))
    return Y_true, doubtful


def _noisy_scores(rng, y, signal):
    logit = signal * (y - 0.5) + rng.normal(0.0, 1.0, y.shape)
    return 1 / (1 + np.exp(-logit))


def _case(planted: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    present = rng.random((N, len(CLASSES))) < PREVALENCE
    Y_true, doubtful = _labels(rng, present)
    y = Y_true >= 0.5
    proba = _noisy_scores(rng, y, 3.0)
    # thresholds chosen on a separate draw of the same model (a "validation split"), never on these pairs
    val_y = rng.random((N, len(CLASSES))) < PREVALENCE
    val_p = _noisy_scores(rng, val_y, 3.0)
    thresholds = np.array([best_f1_threshold(val_y[:, k], val_p[:, k])[0] for k in range(len(CLASSES))])
    t = y[:, TARGET]
    if planted == "threshold":  # ranks perfectly, but every score sits above the chosen threshold
        proba[:, TARGET] = np.where(t, rng.uniform(0.93, 0.99, N), rng.uniform(0.80, 0.92, N))
        thresholds[TARGET] = 0.5
    elif planted == "confusion":  # false positives exactly where the partner plays, scored like positives
        partner = y[:, PARTNER]
        proba[:, TARGET] = np.where(t | partner, rng.uniform(0.5, 1.0, N), rng.uniform(0.0, 0.5, N))
        thresholds[TARGET] = 0.5
    elif planted == "label_doubt":  # the audio says `present`; doubtful labels say the opposite
        truth = present[:, TARGET]
        Y_true[:, TARGET] = np.where(doubtful[:, TARGET], np.where(truth, 0.2, 0.8), np.where(truth, 1.0, 0.0))
        proba[:, TARGET] = np.where(truth, rng.uniform(0.6, 1.0, N), rng.uniform(0.0, 0.4, N))
        thresholds[TARGET] = 0.5
    fractions = np.array(rules.LEARNING_CURVE_FRACTIONS)
    curve_proba = np.repeat(proba[None], len(fractions), axis=0)
    if planted == "too_little_data":  # the model refitted on fewer artists ranks worse
        for f, signal in ((0, 1.0), (1, 1.8)):
            curve_proba[f, :, TARGET] = _noisy_scores(rng, y[:, TARGET], signal)
    keys = np.array([f"{i:06d}_0" for i in range(N)])
    curve = LearningCurve(model=MODEL, fractions=fractions, n_artists=np.array([10, 20, 40]),
                          n_clips=np.array([100, 200, 400]), sample_key=keys, classes=CLASSES,
                          proba=curve_proba)
    return Y_true, proba, thresholds, keys, curve


def _run(Y_true, proba, thresholds, keys, curve, **kw):
    run_models = {MODEL: {"classifier": "lr", "embedding": "release",
                          "selection": {"roc_auc": {"mean": 0.8, "std": 0.01, "folds": [0.8]}}}}
    mask = np.ones(Y_true.shape, dtype=bool)
    return diagnose(Y_true, mask, {MODEL: proba}, pairs=mask, classes=CLASSES, sample_key=keys,
                    thresholds={MODEL: thresholds}, infos=model_infos(run_models, [MODEL]), curve=curve,
                    n_boot=200, seed=0, **kw)


def _status(diag, instrument=CLASSES[TARGET]):
    found = next(d for d in diag.instruments if d.instrument == instrument)
    return {cause: f.status for cause, f in found.findings.items()}, found


@pytest.mark.parametrize("planted", ["threshold", "confusion", "label_doubt", "too_little_data"])
def test_planted_cause_is_found_and_no_other(planted):
    diag = _run(*_case(planted))
    status, found = _status(diag)
    assert status[planted] == NAMED, found.findings[planted].evidence
    others = {c: s for c, s in status.items() if c != planted}
    assert others == dict.fromkeys(others, NOT_NAMED), {c: found.findings[c].evidence for c in others}
    if planted == "confusion":
        assert found.findings["confusion"].partners == [CLASSES[PARTNER]]
    # The instruments without a planted cause: nothing named, and every cause assessed.
    for name in CLASSES[1:]:
        assert set(_status(diag, name)[0].values()) == {NOT_NAMED}, name


def test_nothing_planted_names_nothing():
    diag = _run(*_case("none"))
    for name in CLASSES:
        assert set(_status(diag, name)[0].values()) == {NOT_NAMED}, name


def test_below_minimum_support_says_not_enough_evidence():
    Y_true, proba, thresholds, keys, curve = _case("threshold")
    mask = np.ones(Y_true.shape, dtype=bool)
    positives = np.flatnonzero(Y_true[:, TARGET] >= 0.5)
    mask[positives[rules.MIN_POSITIVES - 1:], TARGET] = False  # one positive short of the minimum
    mask[:, 1] = False  # flute: no observed pair at all
    run_models = {MODEL: {"classifier": "lr", "embedding": "release"}}
    diag = diagnose(Y_true, mask, {MODEL: proba}, pairs=mask, classes=CLASSES, sample_key=keys,
                    thresholds={MODEL: thresholds}, infos=model_infos(run_models, [MODEL]), curve=curve,
                    n_boot=50, seed=0)
    status, found = _status(diag)
    assert found.n_positive == rules.MIN_POSITIVES - 1
    assert set(status.values()) == {NO_EVIDENCE} and found.named == []
    flute = _status(diag, "flute")[1]
    assert flute.n_observed == 0 and np.isnan(flute.f1) and set(_status(diag, "flute")[0].values()) == {NO_EVIDENCE}
    assert diag.instruments[-1].instrument == "flute"  # no score: listed last
    named = diag.table.query("instrument == 'clarinet' and statistic == 'named'")
    assert len(named) == 4 and named.value.isna().all()  # empty in diagnosis.csv, never 0


def test_instruments_are_listed_hardest_first_by_f1_at_the_chosen_threshold():
    Y_true, proba, thresholds, keys, curve = _case("confusion")
    diag = _run(Y_true, proba, thresholds, keys, curve)
    y = Y_true >= 0.5
    f1 = [f1_score(y[:, k], proba[:, k] >= thresholds[k]) for k in range(len(CLASSES))]
    assert [d.instrument for d in diag.instruments] == [CLASSES[k] for k in np.argsort(f1)]
    assert [d.f1 for d in diag.instruments] == pytest.approx(sorted(f1))
