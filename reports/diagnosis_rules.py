"""The rules that name why an instrument is hard, with every threshold of them in one place.

These rules and numbers were fixed before any real result was looked at (the commit that added
this module says so); change them only with a reason that does not come from a test split's
results. The page states them (:func:`rules_text`), and so does docs/architecture.md.

Four causes, each read from one statistic of the diagnosed model on the common test pairs of one
instrument, with a 95 % bootstrap interval:

``threshold``
    The ranking is good but the chosen threshold (or the calibration behind it) is not:
    ``f1_gap`` = the best positive-class F1 any threshold reaches on these pairs minus the F1 at
    the model's chosen threshold. Named when ROC AUC >= :data:`THRESHOLD_MIN_AUC`, the gap
    >= :data:`THRESHOLD_MIN_GAP` and its interval's lower end >= :data:`THRESHOLD_MIN_GAP_LOW`.
``confusion``
    False positives concentrate on clips where a specific other instrument plays: among the
    negatives of this instrument whose label of the other instrument is observed, the share of
    observed positives of the other instrument among the false positives over that share among
    all the negatives (``lift``). A candidate needs >= :data:`CONFUSION_MIN_FP` false positives
    with the other label observed; it is named when the lift >= :data:`CONFUSION_MIN_LIFT` and a
    one-sided Fisher exact test (false vs true negatives x other instrument present or not),
    Holm-corrected over the candidates, gives p < :data:`CONFUSION_ALPHA`.
``too_little_data``
    The score still rises with more training data: ``auc_gain`` = the test ROC AUC of the best
    classical model refitted on all training artists minus refitted on half of them (same
    selection, paired resamples). Named when the gain >= :data:`DATA_MIN_GAIN` and its interval's
    lower end > 0. Needs ``learning_curve.npz`` (written by compare.py); without it the cause is
    not assessed and the page says so.
``label_doubt``
    Errors (at the chosen threshold) concentrate where annotators disagreed. Agreement is
    ``|2 Y_true - 1|`` (1: unanimous, 0: split); pairs below :data:`LOW_AGREEMENT` are doubtful.
    ``error_rate_gap`` = error rate on doubtful pairs minus on the others, within positives and
    within negatives, averaged with the doubtful pairs' weights (so a different mix of positives
    and negatives in the two groups does not count). A class counts when it has
    >= :data:`DOUBT_MIN_PER_CLASS` pairs in each group. Named when the gap >= :data:`DOUBT_MIN_GAP`
    and its interval's lower end > 0.

The diagnosed model is the classical model with the highest selection-time macro ROC AUC
(cross-validation on the training split, ``run.json``); a run without a classical model takes the
network with the highest selection-time score, and a run without any such score its first model.
Never a test score. Instruments are listed hardest first by that model's positive-class F1 at its
chosen threshold on the test pairs. ``diagnosis.csv`` holds the statistics of every model.

Minimum support: an instrument with fewer than :data:`MIN_POSITIVES` positive or
:data:`MIN_NEGATIVES` negative test pairs gets "not enough evidence" instead of any cause; a cause
whose own support is missing (no candidate instrument, too few doubtful pairs, no learning curve)
is "not enough evidence" for that cause alone.
"""

from __future__ import annotations

import math

#: The causes, in the order the page lists them.
CAUSES = ("threshold", "confusion", "too_little_data", "label_doubt")
CAUSE_LABELS = {
    "threshold": "ranking fine, threshold off",
    "confusion": "confusion with a co-occurring instrument",
    "too_little_data": "too little data",
    "label_doubt": "label doubt",
}

#: Minimum support of an instrument on the common test pairs (per model).
MIN_POSITIVES = 10
MIN_NEGATIVES = 10

#: threshold: ranking good (ROC AUC), F1 gap to the best threshold large, and surely so.
THRESHOLD_MIN_AUC = 0.75
THRESHOLD_MIN_GAP = 0.15
THRESHOLD_MIN_GAP_LOW = 0.05

#: confusion: candidates, effect size and the multiple-testing corrected test.
CONFUSION_MIN_FP = 5
CONFUSION_MIN_LIFT = 2.0
CONFUSION_ALPHA = 0.05
#: At most this many confusing instruments are named (strongest lift first).
CONFUSION_MAX_NAMED = 3

#: too_little_data: ROC AUC gain from half to all of the training artists.
DATA_MIN_GAIN = 0.02
#: The learning curve's shares of the training artists (nested, grouped by artist).
LEARNING_CURVE_FRACTIONS = (0.25, 0.5, 1.0)

#: label_doubt: agreement below this is doubtful; the error-rate gap that names the cause.
LOW_AGREEMENT = 0.8
DOUBT_MIN_GAP = 0.15
DOUBT_MIN_PER_CLASS = 5
#: Agreement bins of the figure: [edge_i, edge_i+1), the last bin is exactly 1 (unanimous).
AGREEMENT_EDGES = (0.0, 0.6, 0.8, 1.0)

#: Reliability curve: equal-width bins of the predicted probability (also for the ECE).
CALIBRATION_BINS = 10

#: Bootstrap of the diagnosis: resamples (artists when predictions.npz names them, else clips).
N_BOOT = 500
CI_LEVEL = 0.95


def _ge(value: float, bar: float) -> bool:
    return value is not None and math.isfinite(value) and value >= bar


def threshold_named(roc_auc: float, gap: float, gap_low: float) -> bool:
    """The ``threshold`` rule (module docstring)."""
    return _ge(roc_auc, THRESHOLD_MIN_AUC) and _ge(gap, THRESHOLD_MIN_GAP) and _ge(gap_low, THRESHOLD_MIN_GAP_LOW)


def confusion_named(lift: float, p_holm: float) -> bool:
    """The ``confusion`` rule for one candidate instrument (module docstring)."""
    return _ge(lift, CONFUSION_MIN_LIFT) and p_holm is not None and math.isfinite(p_holm) and p_holm < CONFUSION_ALPHA


def data_named(gain: float, gain_low: float) -> bool:
    """The ``too_little_data`` rule (module docstring)."""
    return _ge(gain, DATA_MIN_GAIN) and gain_low is not None and math.isfinite(gain_low) and gain_low > 0


def doubt_named(gap: float, gap_low: float) -> bool:
    """The ``label_doubt`` rule (module docstring)."""
    return _ge(gap, DOUBT_MIN_GAP) and gap_low is not None and math.isfinite(gap_low) and gap_low > 0


def strength(cause: str, value: float) -> float:
    """How far a named cause's statistic is past its bar (value / bar), to order the causes."""
    bar = {"threshold": THRESHOLD_MIN_GAP, "confusion": CONFUSION_MIN_LIFT,
           "too_little_data": DATA_MIN_GAIN, "label_doubt": DOUBT_MIN_GAP}[cause]
    return value / bar


def rules_text() -> list[tuple[str, str]]:
    """The rules in words, (cause label, rule), for the page."""
    pct = round(CI_LEVEL * 100)
    return [
        ("model and order", "the diagnosed model is the classical model with the best selection-time "
                            "macro ROC AUC (cross-validation; never a test score), else the network with "
                            "the best hold-out score; instruments are listed hardest first by its "
                            "positive-class F1 at its chosen threshold"),
        ("support", f"an instrument with fewer than {MIN_POSITIVES} positive or {MIN_NEGATIVES} negative "
                    "test pairs gets \"not enough evidence\", never a cause; a cause whose own evidence "
                    "is missing is \"not enough evidence\" for that cause alone"),
        (CAUSE_LABELS["threshold"],
         f"ROC AUC ≥ {THRESHOLD_MIN_AUC} and the best F1 any threshold reaches on these pairs exceeds "
         f"the F1 at the chosen threshold by ≥ {THRESHOLD_MIN_GAP} (lower end of its {pct} % interval "
         f"≥ {THRESHOLD_MIN_GAP_LOW})"),
        (CAUSE_LABELS["confusion"],
         "among this instrument's negatives whose label of another instrument is observed, the share "
         "where the other instrument plays is compared between the false positives and all negatives "
         f"(lift); candidates have ≥ {CONFUSION_MIN_FP} such false positives; named when lift ≥ "
         f"{CONFUSION_MIN_LIFT:g} and a one-sided Fisher exact test, Holm-corrected over the "
         f"candidates, gives p < {CONFUSION_ALPHA} (at most {CONFUSION_MAX_NAMED} named)"),
        (CAUSE_LABELS["too_little_data"],
         "the best classical model (by its cross-validation score) refitted with the same selection "
         "on 25 %, 50 % and 100 % of the training artists: named when the test ROC AUC gains ≥ "
         f"{DATA_MIN_GAIN} from 50 % to 100 % and the lower end of the gain's interval is > 0"),
        (CAUSE_LABELS["label_doubt"],
         f"agreement |2·Y_true − 1| < {LOW_AGREEMENT} is doubtful; the error rate at the chosen "
         "threshold on doubtful pairs minus on the others, within positives and within negatives "
         f"(each with ≥ {DOUBT_MIN_PER_CLASS} pairs per group), weighted by the doubtful pairs: named "
         f"when ≥ {DOUBT_MIN_GAP} and the lower end of its interval is > 0"),
    ]
