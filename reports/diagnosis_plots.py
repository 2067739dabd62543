"""The diagnosis' small figures of one instrument: four panels in a row (drawing only).

Reliability curve at the chosen threshold, false-positive lift by co-occurring instrument (with
counts), learning curve, and error rate by annotator agreement. The numbers come from
:mod:`reports.diagnosis`; a panel without data says why in words.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.diagnosis import InstrumentDiagnosis

#: Lifts drawn per instrument (the named ones first, then the largest).
MAX_LIFTS_DRAWN = 6
FIGSIZE = (12.0, 2.7)


def _empty(ax, words: str) -> None:
    ax.text(0.5, 0.5, textwrap.fill(words, 34), ha="center", va="center", fontsize=6, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _reliability(ax, d: InstrumentDiagnosis) -> None:
    cal = d.calibration
    ok = cal["count"] > 0
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    ax.plot(cal["mean_score"][ok], cal["fraction_positive"][ok], "o-", ms=3, lw=1.1, color="C0")
    for x, y, n in zip(cal["mean_score"][ok], cal["fraction_positive"][ok], cal["count"][ok], strict=True):
        ax.annotate(f"{int(n)}", (x, y), fontsize=5, xytext=(2, -6), textcoords="offset points")
    ax.axvline(d.threshold, color="C3", lw=0.9, label=f"threshold {d.threshold:.2f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="predicted probability", ylabel="fraction positive",
           title="reliability (pairs per bin)")
    ax.legend(fontsize=6, loc="upper left")


def _lifts(ax, d: InstrumentDiagnosis) -> None:
    lifts = d.lifts[:MAX_LIFTS_DRAWN]
    if not lifts:
        _empty(ax, d.findings["confusion"].evidence)
        ax.set_title("false-positive lift", fontsize=9)
        return
    y = np.arange(len(lifts))
    values = np.array([np.nan_to_num(e["lift"]) for e in lifts])
    colors = ["C3" if e["named"] else "0.6" for e in lifts]
    ax.barh(y, values, color=colors)
    ax.axvline(1.0, color="0.3", lw=0.8)
    ax.set_yticks(y, [e["instrument"] for e in lifts], fontsize=6)
    ax.invert_yaxis()
    for i, e in enumerate(lifts):
        ax.annotate(f"{e['fp_pos']}/{e['fp_obs']} vs {e['neg_pos']}/{e['neg_obs']}", (values[i], i),
                    fontsize=5, xytext=(2, -2), textcoords="offset points")
    ax.set_xlim(0, max(2.5, 1.35 * float(values.max())))
    ax.set(xlabel="lift (FP share / negatives' share)", title="false-positive lift")


def _curve(ax, d: InstrumentDiagnosis) -> None:
    c = d.curve
    if c is None:
        _empty(ax, d.findings["too_little_data"].evidence)
        ax.set_title("learning curve", fontsize=9)
        return
    x = np.asarray(c["n_clips"], dtype=float)
    low = np.array([lo for lo, _ in c["ci"]])
    high = np.array([hi for _, hi in c["ci"]])
    err = np.clip(np.nan_to_num(np.vstack([c["roc_auc"] - low, high - c["roc_auc"]])), 0, None)
    ax.errorbar(x, c["roc_auc"], yerr=err, fmt="o-", ms=3, lw=1.1, capsize=2, color="C2")
    for xi, frac in zip(x, c["fractions"], strict=True):
        ax.annotate(f"{frac:.0%}", (xi, 0.02), fontsize=5, ha="center", xycoords=("data", "axes fraction"))
    ax.set(xlabel="training clips (share of artists)", ylabel="test ROC AUC", title=f"learning curve ({d.model})")
    ax.title.set_fontsize(8)


def _agreement(ax, d: InstrumentDiagnosis) -> None:
    ag = d.agreement
    labels = ag["bins"]
    x = np.arange(len(labels))
    for row, (name, color, shift) in enumerate((("positives", "C0", -0.2), ("negatives", "C1", 0.2))):
        count = ag["bin_count"][row]
        rate = np.divide(ag["bin_errors"][row], count, out=np.full(len(count), np.nan), where=count > 0)
        ax.bar(x + shift, np.nan_to_num(rate), 0.4, color=color, label=name)
        for xi, n, r in zip(x + shift, count, rate, strict=True):
            ax.annotate(f"{n}", (xi, np.nan_to_num(r)), fontsize=5, ha="center", xytext=(0, 1),
                        textcoords="offset points")
    ax.set_xticks(x, labels, fontsize=6)
    ax.set(ylim=(0, 1.1), xlabel="annotator agreement |2·Y_true − 1|", ylabel="error rate",
           title="errors by agreement (pairs)")
    ax.legend(fontsize=6, loc="upper right")


def plot_instrument_diagnosis(d: InstrumentDiagnosis) -> Figure:
    """The four small panels of one instrument's diagnosis, in a row."""
    fig = Figure(figsize=FIGSIZE)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas (no pyplot, as in reports.plots)
    axes = fig.subplots(1, 4)
    for ax, draw in zip(axes, (_reliability, _lifts, _curve, _agreement), strict=True):
        draw(ax, d)
        ax.tick_params(labelsize=6)
        ax.xaxis.label.set_fontsize(7)
        ax.yaxis.label.set_fontsize(7)
        if ax.title.get_fontsize() > 9:
            ax.title.set_fontsize(9)
    fig.subplots_adjust(left=0.045, right=0.99, bottom=0.2, top=0.88, wspace=0.38)  # fixed: fast
    return fig
