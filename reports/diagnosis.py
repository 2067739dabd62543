"""Why is an instrument hard? Four causes, read from a run's files by fixed rules.

:func:`diagnose` computes, for every model and instrument on the common test pairs, the statistics
of :mod:`reports.diagnosis_stats` with bootstrap intervals, applies the rules of
:mod:`reports.diagnosis_rules`, and returns the tidy table of ``diagnosis.csv`` and, for the
diagnosed model, one :class:`InstrumentDiagnosis` per instrument (hardest first) for the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import DatasetError
from core.targets import is_positive
from reports import diagnosis_rules as rules
from reports import diagnosis_stats as stats
from reports import metrics
from reports.learning_curve_file import LEARNING_CURVE_NPZ, LearningCurve
from reports.run_models import ModelInfo

#: Columns of diagnosis.csv.
COLUMNS = ("instrument", "model", "cause", "statistic", "value", "ci_low", "ci_high", "n")
DIAGNOSIS_CSV = "diagnosis.csv"
NAMED, NOT_NAMED, NO_EVIDENCE = "named", "not named", "not enough evidence"


@dataclass
class Finding:
    """One cause of one (model, instrument): whether the rule names it, and the evidence in words."""

    cause: str
    status: str
    value: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    evidence: str = ""
    #: confusion only: the instruments named, strongest lift first.
    partners: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return rules.CAUSE_LABELS[self.cause]


@dataclass
class InstrumentDiagnosis:
    """The diagnosis of one instrument for one model, with what its small figures draw."""

    instrument: str
    model: str
    n_observed: int
    n_positive: int
    threshold: float
    f1: float
    enough: bool
    findings: dict[str, Finding]
    calibration: dict
    lifts: list[dict]
    curve: dict | None
    agreement: dict

    @property
    def named(self) -> list[Finding]:
        """The named causes, strongest (furthest past its bar) first."""
        found = [f for f in self.findings.values() if f.status == NAMED]
        return sorted(found, key=lambda f: -rules.strength(f.cause, f.value))


@dataclass
class Diagnosis:
    """What :func:`diagnose` found.

    Attributes
    ----------
    model : str -- the diagnosed model's id
    how : str -- why that model, in words
    table : pandas.DataFrame -- the rows of diagnosis.csv (:data:`COLUMNS`), every model
    instruments : list of InstrumentDiagnosis -- the diagnosed model's, hardest first
    units : str -- ``"artists"`` or ``"clips"``: what the bootstrap resampled
    n_boot, seed : int
    curve_note : str or None -- why there is no learning curve, when there is none
    """

    model: str
    how: str
    table: pd.DataFrame
    instruments: list[InstrumentDiagnosis]
    units: str
    n_boot: int
    seed: int
    curve_note: str | None


def diagnosed_model(infos: dict[str, ModelInfo]) -> tuple[str, str]:
    """The model the page diagnoses and why: best selection-time macro ROC AUC, classical first.

    Never reads a test score (see :mod:`reports.diagnosis_rules`).
    """
    def selection_auc(info: ModelInfo) -> float:
        value = (((info.facts.get("selection") or {}).get("roc_auc")) or {}).get("mean")
        return float(value) if isinstance(value, (int, float)) else float("nan")

    for pool, words in (([i for i in infos.values() if i.classical], "classical model with the best "
                         "cross-validated macro ROC AUC"),
                        (list(infos.values()), "model with the best selection-time macro ROC AUC")):
        scored = [(selection_auc(i), i.id) for i in pool if np.isfinite(selection_auc(i))]
        if scored:
            auc, best = max(scored, key=lambda t: t[0])
            return best, f"{words} ({auc:.3f} at selection)"
    first = next(iter(infos))
    return first, "the run's first model (run.json records no selection-time score)"


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}" if np.isfinite(x) else "–"


def _ci(low: float, high: float) -> str:
    return f" [{_fmt(low)}, {_fmt(high)}]" if np.isfinite(low) and np.isfinite(high) else ""


class _Rows:
    """Collects the rows of diagnosis.csv."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, inst: str, model: str, cause: str, statistic: str, values, n: int) -> tuple[float, float, float]:
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        low, high = stats.interval(values[1:]) if values.size > 1 else (float("nan"), float("nan"))
        self.rows.append((inst, model, cause, statistic, float(values[0]), low, high, int(n)))
        return float(values[0]), low, high

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(COLUMNS))


def _threshold(rows: _Rows, inst, model, y, s, W, thr) -> tuple[Finding, dict, float]:
    t = stats.threshold_stats(y, s, W, thr)
    n = len(y)
    rows.add(inst, model, "threshold", "threshold", [thr], n)
    auc = rows.add(inst, model, "threshold", "roc_auc", t["roc_auc"], n)[0]
    f1 = rows.add(inst, model, "threshold", "f1_at_threshold", t["f1_at_threshold"], n)[0]
    best = rows.add(inst, model, "threshold", "f1_best", t["f1_best"], n)[0]
    gap, low, high = rows.add(inst, model, "threshold", "f1_gap", t["f1_gap"], n)
    cal = stats.calibration(y, s, W)
    rows.add(inst, model, "threshold", "ece", cal["ece"], n)
    named = rules.threshold_named(auc, gap, low)
    evidence = (f"ROC AUC {_fmt(auc)}; F1 {_fmt(f1)} at threshold {_fmt(thr)} vs {_fmt(best)} at the best "
                f"threshold (gap {_fmt(gap)}{_ci(low, high)})")
    return Finding("threshold", NAMED if named else NOT_NAMED, gap, low, high, evidence), cal, f1


def _confusion(rows: _Rows, inst, model, k, classes, y, s, W, thr, Y_true_rows, Y_mask_rows):
    neg = ~y
    other_obs = Y_mask_rows[neg].copy()
    other_obs[:, k] = False
    other_pos = other_obs & is_positive(Y_true_rows[neg])
    fp = s[neg] >= thr
    lf = stats.fp_lift(fp, other_pos, other_obs, W[:, neg])
    candidates = np.flatnonzero(np.isfinite(lf["p_value"]))
    lifts = []
    for j in candidates:
        name = classes[j]
        n_fp, n_neg = int(lf["fp_obs"][0, j]), int(lf["neg_obs"][0, j])
        rows.add(inst, model, "confusion", f"share_fp:{name}", stats.ratio(lf["fp_pos"][:, j], lf["fp_obs"][:, j]), n_fp)
        rows.add(inst, model, "confusion", f"share_neg:{name}", stats.ratio(lf["neg_pos"][:, j], lf["neg_obs"][:, j]), n_neg)
        lift, low, high = rows.add(inst, model, "confusion", f"lift:{name}", lf["lift"][:, j], n_fp)
        rows.add(inst, model, "confusion", f"p_holm:{name}", [lf["p_holm"][j]], n_fp)
        lifts.append({"instrument": name, "fp_pos": int(lf["fp_pos"][0, j]), "fp_obs": n_fp,
                      "neg_pos": int(lf["neg_pos"][0, j]), "neg_obs": n_neg, "lift": lift, "ci_low": low,
                      "ci_high": high, "p_holm": float(lf["p_holm"][j]),
                      "named": rules.confusion_named(lift, float(lf["p_holm"][j]))})
    lifts.sort(key=lambda d: (-d["named"], -np.nan_to_num(d["lift"], nan=-1.0)))
    n_fp = int(fp.sum())
    if not lifts:
        finding = Finding("confusion", NO_EVIDENCE, evidence=(
            f"{n_fp} false positives; no other instrument's label is observed on "
            f"{rules.CONFUSION_MIN_FP} or more of them"))
        return finding, lifts
    named = [d for d in lifts if d["named"]][: rules.CONFUSION_MAX_NAMED]
    top = named[0] if named else lifts[0]
    words = "; ".join(
        f"{d['instrument']} present in {d['fp_pos']} of the {d['fp_obs']} false positives and {d['neg_pos']} "
        f"of the {d['neg_obs']} negatives where its label is observed (lift {_fmt(d['lift'], 1)}{_ci(d['ci_low'], d['ci_high'])}, Holm p "
        f"{_fmt(d['p_holm'], 3)})" for d in (named or [top]))
    value = max(d["lift"] for d in named) if named else top["lift"]
    finding = Finding("confusion", NAMED if named else NOT_NAMED, value, top["ci_low"], top["ci_high"],
                      words, partners=[d["instrument"] for d in named])
    return finding, lifts


def _curve(rows: _Rows, inst, model, y, k, rows_idx, W, curve: LearningCurve | None):
    if curve is None or curve.model != model:
        return None, None
    P = curve.proba[:, rows_idx, k]  # (F, m)
    ok = np.isfinite(P).all(axis=0)
    yk, Wk = y[ok], W[:, ok]
    aucs = []
    for f, frac in enumerate(curve.fractions):
        values = metrics.ranking_metrics(yk, P[f, ok], Wk)["roc_auc"]
        pct = round(100 * frac)
        rows.add(inst, model, "too_little_data", f"train_clips:{pct}%", [curve.n_clips[f]], int(curve.n_artists[f]))
        rows.add(inst, model, "too_little_data", f"roc_auc:{pct}%", values, int(ok.sum()))
        aucs.append(values)
    points = {"fractions": curve.fractions, "n_clips": curve.n_clips,
              "roc_auc": np.array([a[0] for a in aucs]),
              "ci": [stats.interval(a[1:]) for a in aucs]}
    half = np.flatnonzero(np.isclose(curve.fractions, 0.5))
    full = np.flatnonzero(np.isclose(curve.fractions, 1.0))
    if not (len(half) and len(full)):
        return Finding("too_little_data", NO_EVIDENCE, evidence="the learning curve lacks 50 % or 100 %"), points
    gain, low, high = rows.add(inst, model, "too_little_data", "auc_gain:50%-100%",
                               aucs[full[0]] - aucs[half[0]], int(ok.sum()))
    named = rules.data_named(gain, low)
    evidence = (f"test ROC AUC {_fmt(aucs[half[0]][0])} with 50 % of the training artists, "
                f"{_fmt(aucs[full[0]][0])} with all (gain {_fmt(gain)}{_ci(low, high)})")
    return Finding("too_little_data", NAMED if named else NOT_NAMED, gain, low, high, evidence), points


def _doubt(rows: _Rows, inst, model, y, s, W, thr, Y_true_k):
    error = (s >= thr) != y
    ag = stats.agreement_errors(y, stats.agreement(Y_true_k), error, W)
    rate_low = rows.add(inst, model, "label_doubt", "error_rate:doubtful", ag["rate_low"], ag["n_low"])[0]
    rate_high = rows.add(inst, model, "label_doubt", "error_rate:agreed", ag["rate_high"], ag["n_high"])[0]
    for b, label in enumerate(ag["bins"]):
        for row, cls in enumerate(("positive", "negative")):
            count = int(ag["bin_count"][row, b])
            rate = ag["bin_errors"][row, b] / count if count else float("nan")
            rows.add(inst, model, "label_doubt", f"error_rate:{cls}:agreement {label}", [rate], count)
    if not ag["classes_used"]:
        return Finding("label_doubt", NO_EVIDENCE, evidence=(
            f"{ag['n_low']} doubtful and {ag['n_high']} agreed pairs: fewer than "
            f"{rules.DOUBT_MIN_PER_CLASS} of positives or negatives in each group")), ag
    gap, low, high = rows.add(inst, model, "label_doubt", "error_rate_gap", ag["gap"], ag["n_low"])
    named = rules.doubt_named(gap, low)
    evidence = (f"error rate {_fmt(100 * rate_low, 0)} % on {ag['n_low']} doubtful labels (agreement < "
                f"{rules.LOW_AGREEMENT:g}) vs {_fmt(100 * rate_high, 0)} % on {ag['n_high']} others; within-class "
                f"gap {_fmt(gap)}{_ci(low, high)}")
    return Finding("label_doubt", NAMED if named else NOT_NAMED, gap, low, high, evidence), ag


def _one(rows, inst, k, model, classes, Y_true, Y_mask, proba, pairs, W, thr, curve) -> InstrumentDiagnosis:
    idx = np.flatnonzero(pairs[:, k])
    y = is_positive(Y_true[idx, k])
    s = proba[idx, k]
    Wk = W[:, idx]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    rows.add(inst, model, "support", "n_positive", [n_pos], len(idx))
    rows.add(inst, model, "support", "n_negative", [n_neg], len(idx))
    enough = n_pos >= rules.MIN_POSITIVES and n_neg >= rules.MIN_NEGATIVES
    threshold, cal, f1 = _threshold(rows, inst, model, y, s, Wk, thr)
    confusion, lifts = _confusion(rows, inst, model, k, classes, y, s, Wk, thr, Y_true[idx], Y_mask[idx])
    data, points = _curve(rows, inst, model, y, k, idx, Wk, curve)
    doubt, ag = _doubt(rows, inst, model, y, s, Wk, thr, Y_true[idx, k])
    if data is None:
        data = Finding("too_little_data", NO_EVIDENCE, evidence=(
            f"no learning curve for this model in {LEARNING_CURVE_NPZ}" if curve is not None
            else f"the run folder has no {LEARNING_CURVE_NPZ}"))
    findings = {f.cause: f for f in (threshold, confusion, data, doubt)}
    if not enough:
        for f in findings.values():
            f.status = NO_EVIDENCE
    for f in findings.values():
        rows.add(inst, model, f.cause, "named",
                 [float("nan") if f.status == NO_EVIDENCE else float(f.status == NAMED)], len(idx))
    return InstrumentDiagnosis(
        instrument=inst, model=model, n_observed=len(idx), n_positive=n_pos, threshold=thr, f1=f1,
        enough=enough, findings=findings, calibration=cal, lifts=lifts, curve=points, agreement=ag,
    )


def _aligned_curve(curve: LearningCurve | None, sample_key: np.ndarray, classes) -> LearningCurve | None:
    if curve is None:
        return None
    if tuple(curve.classes) != tuple(classes) or not np.array_equal(curve.sample_key, sample_key):
        raise DatasetError(
            f"{LEARNING_CURVE_NPZ} does not hold the test clips and classes of predictions.npz: rerun "
            "compare.py, or delete it to build the report without a learning curve"
        )
    return curve


def diagnose(
    Y_true: np.ndarray,
    Y_mask: np.ndarray,
    probas: dict[str, np.ndarray],
    *,
    pairs: np.ndarray,
    classes: tuple[str, ...],
    sample_key: np.ndarray,
    thresholds: dict[str, np.ndarray | None],
    infos: dict[str, ModelInfo],
    curve: LearningCurve | None = None,
    artist_id: np.ndarray | None = None,
    n_boot: int = rules.N_BOOT,
    seed: int = 0,
    default_threshold: float = 0.5,
) -> Diagnosis:
    """Diagnose every model on every instrument; order the diagnosed model's instruments hardest first.

    Parameters
    ----------
    Y_true, Y_mask : np.ndarray [shape=(n, K)] -- the test split (target ``Y_true >= 0.5`` where observed)
    probas : dict model id -> np.ndarray [shape=(n, K)]
    pairs : np.ndarray [shape=(n, K)], bool -- the common test pairs every model is scored on
    classes : tuple of str [length=K]
    sample_key : np.ndarray [shape=(n,)], str
    thresholds : dict model id -> (K,) chosen thresholds, or None (then ``default_threshold``)
    infos : dict model id -> ModelInfo -- to choose the diagnosed model (:func:`diagnosed_model`)
    curve : LearningCurve, optional -- ``learning_curve.npz`` (the "too little data" cause)
    artist_id : np.ndarray [shape=(n,)], optional -- resample artists instead of clips
    n_boot : int >= 1
    seed : int

    Returns
    -------
    Diagnosis
    """
    Y_true = np.asarray(Y_true, dtype=np.float64)
    Y_mask = np.asarray(Y_mask, dtype=bool)
    curve = _aligned_curve(curve, np.asarray(sample_key).astype(str), classes)
    groups = np.arange(len(Y_true)) if artist_id is None else np.asarray(artist_id)
    W = stats.resample_weights(groups, n_boot=n_boot, seed=seed)
    model, how = diagnosed_model({m: infos[m] for m in probas})
    rows = _Rows()
    found: dict[str, list[InstrumentDiagnosis]] = {}
    for m, proba in probas.items():
        thr = thresholds.get(m)
        found[m] = [
            _one(rows, name, k, m, classes, Y_true, Y_mask, np.asarray(proba, dtype=np.float64), pairs, W,
                 float(thr[k]) if thr is not None else default_threshold, curve)
            for k, name in enumerate(classes)
        ]
    ordered = sorted(found[model], key=lambda d: (not np.isfinite(d.f1), np.nan_to_num(d.f1, nan=0.0)))
    note = None
    if curve is None:
        note = (f"This run folder has no {LEARNING_CURVE_NPZ} (compare.py writes it during a run; the "
                "report itself cannot refit models): no learning curve, and \"too little "
                "data\" is not assessed.")
    elif curve.model != model:
        note = f"The learning curve in {LEARNING_CURVE_NPZ} is of {curve.model}, not of the diagnosed model."
    return Diagnosis(model=model, how=how, table=rows.frame(), instruments=ordered,
                     units="clips" if artist_id is None else "artists", n_boot=n_boot, seed=seed,
                     curve_note=note)
