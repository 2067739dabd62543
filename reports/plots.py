"""Figures of the report, as matplotlib Figures (drawing only; the numbers come from elsewhere).

Figures are made with ``matplotlib.figure.Figure`` and rendered by the Agg canvas, never through
pyplot: no display, no global figure registry, nothing to close. :func:`figure_png` turns a figure
into PNG bytes (without the software tag, so the report holds no URL at all).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports import params

Curves = dict[str, np.ndarray]  # fpr, tpr, precision, recall of one (model, instrument)
Labels = dict[str, str]  # model id -> display label, in drawing order


def figure_png(fig: Figure, *, dpi: int = params.PLOT_DPI, tight: bool = True) -> bytes:
    """PNG bytes of ``fig``, rendered by Agg; ``tight=False`` skips the (costly) tight bounding box."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                metadata={"Software": None})
    return buf.getvalue()


def _palette(labels: Labels) -> dict[str, tuple]:
    """One colour per model, the same in every figure (husl beyond the 10 colourblind-safe ones)."""
    palette = "colorblind" if len(labels) <= 10 else "husl"
    return dict(zip(labels, sns.color_palette(palette, len(labels)), strict=True))


def _figure(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kw
) -> tuple[Figure, object]:
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas
    return fig, fig.subplots(nrows, ncols, **kw)


def _grid(n_panels: int, *, n_cols: int = 5, size: float = 2.6) -> tuple[Figure, np.ndarray]:
    n_rows = max(1, math.ceil(n_panels / n_cols))
    fig, axes = _figure(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_metric_bars(table: pd.DataFrame, metric: str, labels: Labels) -> Figure:
    """Per-instrument bars of ``metric`` grouped by model, with the interval as whiskers.

    Parameters
    ----------
    table : pd.DataFrame -- metrics.csv rows (model, instrument, metric, value, ci_low, ci_high)
    metric : str
    labels : dict model id -> label -- bar order within a group
    """
    models = tuple(labels)
    rows = table[(table.metric == metric) & ~table.instrument.isin([params.MACRO, params.MICRO])]
    instruments = list(dict.fromkeys(rows.instrument))
    colors = _palette(labels)
    width = 0.8 / max(1, len(models))
    fig, ax = _figure(figsize=(max(8.0, 0.55 * len(instruments) * max(1, len(models)) ** 0.5), 4.2))
    x = np.arange(len(instruments))
    for i, m in enumerate(models):
        r = rows[rows.model == m].set_index("instrument").reindex(instruments)
        value = r.value.to_numpy(dtype=float)
        # a point estimate can fall outside its percentile interval: whiskers then start at the bar
        err = np.vstack([value - r.ci_low.to_numpy(dtype=float), r.ci_high.to_numpy(dtype=float) - value])
        ax.bar(x + (i - (len(models) - 1) / 2) * width, value, width, color=colors[m], label=labels[m],
               yerr=np.clip(np.nan_to_num(err), 0, None), capsize=1.5, error_kw={"elinewidth": 0.8})
    ax.set_xticks(x, instruments, rotation=60, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(params.METRIC_LABELS.get(metric, metric))
    ax.legend(ncols=min(4, len(models)), fontsize=8, loc="lower left")
    ax.set_title(f"{params.METRIC_LABELS.get(metric, metric)} per instrument (95 % bootstrap interval)")
    return fig


def _draw_curve(ax, curves: dict[str, Curves], scores: dict[str, float], kind: str, colors,
                labels: Labels) -> None:
    x_key, y_key = ("fpr", "tpr") if kind == "roc" else ("recall", "precision")
    label = "AUC" if kind == "roc" else "AP"
    for m, c in curves.items():
        if c[x_key].size:
            drawstyle = "steps-post" if kind == "pr" else "default"
            ax.plot(c[x_key], c[y_key], color=colors[m], lw=1.2, drawstyle=drawstyle,
                    label=f"{labels[m]} {label} {scores[m]:.3f}")
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="lower right" if kind == "roc" else "lower left")
    else:
        ax.text(0.5, 0.5, "no positive or\nno negative", ha="center", va="center", fontsize=8)


def plot_curve_grid(
    curves: dict[str, dict[str, Curves]], scores: dict[str, dict[str, float]], kind: str,
    labels: Labels,
) -> Figure:
    """One panel per instrument with every model's ROC (``kind="roc"``) or PR (``"pr"``) curve.

    Parameters
    ----------
    curves : dict instrument -> model -> curves (see :func:`reports.metrics.instrument_curves`)
    scores : dict instrument -> model -> AUC or AP (for the legend)
    kind : {"roc", "pr"}
    labels : dict model id -> label
    """
    colors = _palette(labels)
    fig, axes = _grid(len(curves))
    for ax, (name, per_model) in zip(axes, curves.items(), strict=False):
        _draw_curve(ax, per_model, scores[name], kind, colors, labels)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    fig.supxlabel("false positive rate" if kind == "roc" else "recall")
    fig.supylabel("true positive rate" if kind == "roc" else "precision")
    fig.tight_layout()
    return fig


def plot_instrument_curves(
    curves: dict[str, Curves], auc: dict[str, float], ap: dict[str, float], labels: Labels
) -> Figure:
    """ROC and PR panels of one instrument, every model overlaid."""
    colors = _palette(labels)
    fig, (ax_roc, ax_pr) = _figure(1, 2, figsize=(7.5, 3.3))
    _draw_curve(ax_roc, curves, auc, "roc", colors, labels)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    _draw_curve(ax_pr, curves, ap, "pr", colors, labels)
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.91, wspace=0.22)  # fixed: fast
    return fig


def plot_heatmap(table: pd.DataFrame, metric: str, labels: Labels) -> Figure:
    """Instrument x model heatmap of ``metric`` (test-set values, annotated; a missing value is blank)."""
    rows = table[(table.metric == metric) & ~table.instrument.isin([params.MICRO])]
    instruments = list(dict.fromkeys(rows.instrument))
    grid = rows.pivot(index="instrument", columns="model", values="value").reindex(
        index=instruments, columns=list(labels)
    ).rename(columns=labels)
    fig, ax = _figure(figsize=(2.4 + 0.9 * len(labels), 0.32 * len(instruments) + 2.0))
    sns.heatmap(grid.astype(float), annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis",
                cbar_kws={"label": params.METRIC_LABELS.get(metric, metric)}, ax=ax,
                annot_kws={"fontsize": 7})
    ax.set(xlabel="model", ylabel="", title=params.METRIC_LABELS.get(metric, metric))
    ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    return fig


def plot_training_history(history: pd.DataFrame) -> Figure:
    """The CNN's training curves: loss and val_loss, val_map, learning rate, per epoch."""
    fig, (ax_loss, ax_map, ax_lr) = _figure(1, 3, figsize=(11, 3.2))
    ax_loss.plot(history.epoch, history.loss, label="train loss")
    ax_loss.plot(history.epoch, history.val_loss, label="validation loss")
    ax_loss.set(xlabel="epoch", title="masked BCE")
    ax_loss.legend(fontsize=8)
    ax_map.plot(history.epoch, history.val_map, color="C2")
    ax_map.set(xlabel="epoch", title="validation mAP")
    ax_lr.plot(history.epoch, history.lr, color="C3")
    ax_lr.set(xlabel="epoch", title="learning rate", yscale="log" if (history.lr > 0).all() else "linear")
    fig.tight_layout()
    return fig


def plot_label_stats(stats: pd.DataFrame) -> Figure:
    """Observed and positive pairs per instrument, one panel per split.

    Parameters
    ----------
    stats : pd.DataFrame with columns split, instrument, observed, positive
    """
    splits = list(dict.fromkeys(stats.split))
    fig, axes = _figure(1, len(splits), figsize=(3.6 * len(splits), 5.2), squeeze=False, sharey=True)
    for ax, split in zip(axes[0], splits, strict=True):
        s = stats[stats.split == split]
        y = np.arange(len(s))
        ax.barh(y, s.observed, color="0.78", label="observed")
        ax.barh(y, s.positive, color="C0", label="positive")
        ax.set_yticks(y, s.instrument, fontsize=8)
        ax.invert_yaxis()
        ax.set(title=str(split), xlabel="clips")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
