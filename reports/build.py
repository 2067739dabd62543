"""Rebuild a run's metrics, plots and report from its folder, without retraining.

Reads ``predictions.npz`` and ``run.json`` (plus ``label_stats.csv``, ``data_problems.csv`` and
``models/cnn/history.csv`` when present) and writes ``metrics.csv``, ``metrics.json``,
``comparisons.csv``, ``seed_spread.csv``, ``plots/*.png`` and ``report.html`` into the same folder,
and gives back the tables it wrote, so that a caller need not read them back from disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DatasetError, ParameterError
from core.targets import is_positive
from reports import params, plots
from reports.bootstrap import Evaluation, evaluate
from reports.compare_models import compare_models
from reports.context import report_context
from reports.diagnosis_build import write_diagnosis
from reports.html import png_data_uri, render_report
from reports.metrics import instrument_curves
from reports.run_folder import (
    Predictions,
    atomic_write_bytes,
    atomic_write_text,
    read_optional_csv,
    read_predictions,
    read_run_json,
    to_json,
)
from reports.run_models import ModelInfo, comparison_pairs, model_infos
from reports.sections import excluded_clips
from reports.seed_spread import seed_notes, seed_spread_table
from reports.tables import metrics_payload, metrics_table


@dataclass(frozen=True)
class BuiltReport:
    """What `build_report` wrote: the report's path and the tables behind it.

    Attributes
    ----------
    path : Path
        ``run_dir / "report.html"``.
    metrics : pandas.DataFrame
        The rows of ``metrics.csv``: model, instrument, metric, value, ci_low, ci_high (one row per
        model x instrument-or-average x metric; instrument ``"macro"`` and ``"micro"`` for averages).
    comparisons : pandas.DataFrame
        The rows of ``comparisons.csv``.
    seed_spread : pandas.DataFrame
        The rows of ``seed_spread.csv`` (none when no network was trained with several seeds).
    """

    path: Path
    metrics: pd.DataFrame
    comparisons: pd.DataFrame
    seed_spread: pd.DataFrame


def _thresholds(run: dict, pred: Predictions, run_dir: Path) -> dict[str, np.ndarray | None]:
    out = {}
    for m in pred.probas:
        thr = ((run.get("models") or {}).get(m) or {}).get("thresholds")
        if thr is not None and len(thr) != len(pred.classes):
            raise DatasetError(
                f"{run_dir / params.RUN_JSON}: models.{m}.thresholds has {len(thr)} values for "
                f"{len(pred.classes)} classes; rewrite run.json with one threshold per class"
            )
        out[m] = None if thr is None else np.asarray(thr, dtype=np.float64)
    return out


def _seed_thresholds(run: dict, pred: Predictions, run_dir: Path) -> dict[str, np.ndarray]:
    """``run.json`` ``models.<m>.seed_thresholds`` (S, K) of the networks trained with several seeds."""
    out = {}
    for m, stack in pred.seed_probas.items():
        thr = ((run.get("models") or {}).get(m) or {}).get("seed_thresholds")
        if thr is None:
            continue
        thr = np.asarray(thr, dtype=np.float64)
        if thr.shape != (len(stack), len(pred.classes)):
            raise DatasetError(
                f"{run_dir / params.RUN_JSON}: models.{m}.seed_thresholds has shape {thr.shape}; "
                f"predictions.npz has {len(stack)} seeds of {len(pred.classes)} classes: rewrite "
                f"run.json with one threshold per seed and class"
            )
        out[m] = thr
    return out


def _file_stem(name: str, index: int) -> str:
    return f"{index:02d}-" + (re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-") or "class")


def _save_png(plots_dir: Path, stem: str, fig, *, dpi: int = params.PLOT_DPI, tight: bool = True) -> str:
    png = plots.figure_png(fig, dpi=dpi, tight=tight)
    atomic_write_bytes(plots_dir / f"{stem}.png", png)
    return png_data_uri(png)


def _model_order(run: dict, pred: Predictions) -> dict[str, np.ndarray]:
    """Models in run.json's order where given, then any others in file order."""
    listed = [m for m in (run.get("models") or {}) if m in pred.probas]
    return {m: pred.probas[m] for m in listed + [m for m in pred.probas if m not in listed]}


def _draw(
    run_dir: Path, pred: Predictions, ev: Evaluation, table: pd.DataFrame, infos: dict[str, ModelInfo]
) -> tuple[list[dict], dict[str, str]]:
    plots_dir = run_dir / params.PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    models = ev.models
    labels = {m: infos[m].label for m in models}
    y = is_positive(pred.Y_true)
    curves, auc, ap = {}, {}, {}
    for k, name in enumerate(ev.classes):
        curves[name] = {}
        scored = ev.pairs[:, k]  # the common test set, the same pairs for every model
        for m in models:
            curves[name][m] = instrument_curves(y[scored, k], pred.probas[m][scored, k])
        auc[name] = {m: float(ev.per_instrument[m]["roc_auc"][0, k]) for m in models}
        ap[name] = {m: float(ev.per_instrument[m]["ap"][0, k]) for m in models}

    figures = [
        ("f1-bars", "Positive-class F1 per instrument", plots.plot_metric_bars(table, "f1_pos", labels)),
        ("auc-heatmap", "ROC AUC, instrument x model", plots.plot_heatmap(table, "roc_auc", labels)),
        ("f1-heatmap", "Positive-class F1, instrument x model", plots.plot_heatmap(table, "f1_pos", labels)),
        ("roc-grid", "ROC curves per instrument", plots.plot_curve_grid(curves, auc, "roc", labels)),
        ("pr-grid", "Precision-recall curves per instrument", plots.plot_curve_grid(curves, ap, "pr", labels)),
    ]
    stats = read_optional_csv(run_dir, params.LABEL_STATS_CSV, ("split", "instrument", "observed", "positive"))
    if stats is not None:
        figures.append(("label-stats", "Observed and positive labels per instrument and split",
                        plots.plot_label_stats(stats)))
    history = read_optional_csv(run_dir, params.HISTORY_CSV, ("epoch", "loss", "val_loss", "val_map", "lr"))
    if history is not None:
        figures.append(("cnn-history", "CNN training curves", plots.plot_training_history(history)))
    overview = [
        {"id": f"plot-{stem}", "title": title, "uri": _save_png(plots_dir, stem, fig)}
        for stem, title, fig in figures
    ]
    per_instrument = {
        name: _save_png(
            plots_dir, "curves-" + _file_stem(name, k),
            plots.plot_instrument_curves(curves[name], auc[name], ap[name], labels),
            dpi=params.INSTRUMENT_PLOT_DPI, tight=False,
        )
        for k, name in enumerate(ev.classes)
    }
    return overview, per_instrument


def build_report(
    run_dir: str | Path, *, n_boot: int = params.N_BOOT, seed: int = params.BOOT_SEED,
    run_info: dict | None = None,
) -> BuiltReport:
    """Compute metrics, intervals and comparisons, draw the plots and write the HTML report.

    Parameters
    ----------
    run_dir : str or Path
        A run folder holding at least ``predictions.npz`` (``run.json`` is read when present).
    n_boot : int >= 1
        Bootstrap resamples of the test set's artists (of its clips when ``predictions.npz`` has
        no ``artist_id``).
    seed : int
        Seed of the resampling.
    run_info : dict, optional
        The run's facts, as ``run.json`` holds them; default: read from ``run_dir / "run.json"``
        (compare.py passes them and writes ``run.json`` once, after the report).

    Returns
    -------
    BuiltReport
        ``path`` (``run_dir / "report.html"``) and the ``metrics`` and ``comparisons`` tables written
        as ``metrics.csv`` and ``comparisons.csv``.

    Examples
    --------
    >>> build_report("runs/demo").path  # doctest: +SKIP
    PosixPath('runs/demo/report.html')
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ParameterError(f"run_dir must be a run folder written by compare.py; given {run_dir!s} (not a folder)")
    pred = read_predictions(run_dir / params.PREDICTIONS_NPZ)
    run = read_run_json(run_dir) if run_info is None else run_info
    probas = _model_order(run, pred)
    ev = evaluate(
        pred.Y_true, pred.Y_mask, probas, classes=pred.classes,
        thresholds=_thresholds(run, pred, run_dir), artist_id=pred.artist_id,
        seed_probas={m: pred.seed_probas[m] for m in probas if m in pred.seed_probas},
        seed_thresholds=_seed_thresholds(run, pred, run_dir), n_boot=n_boot, seed=seed,
    )
    infos = model_infos(run.get("models") or {}, ev.models)
    pairs, rule = comparison_pairs(infos, run.get("embeddings") or {})
    table = metrics_table(ev)
    spread = seed_spread_table(ev.seeds, ev.classes)
    comparisons = compare_models(ev, pairs=pairs)
    atomic_write_text(run_dir / params.METRICS_CSV, table.to_csv(index=False))
    atomic_write_text(run_dir / params.SEED_SPREAD_CSV, spread.to_csv(index=False))
    atomic_write_text(run_dir / params.COMPARISONS_CSV, comparisons.to_csv(index=False))
    payload = metrics_payload(ev, table, comparisons, run, comparison_rule=rule,
                              excluded_test_clips=excluded_clips(ev, pred.sample_key),
                              seed_spread=spread, seed_notes=seed_notes(infos, ev.seeds))
    atomic_write_text(run_dir / params.METRICS_JSON, to_json(payload))

    overview, per_instrument = _draw(run_dir, pred, ev, table, infos)
    problems = read_optional_csv(run_dir, params.DATA_PROBLEMS_CSV, ("key", "split", "problem"))
    context = report_context(
        ev, table, comparisons, run, infos=infos, comparison_rule=rule, seed_spread=spread,
        overview_images=overview,
        instrument_images=per_instrument, sample_key=pred.sample_key, problems=problems,
    )
    context["diagnosis"] = write_diagnosis(run_dir, pred, ev, infos, seed=seed)
    path = atomic_write_text(run_dir / params.REPORT_HTML, render_report(context))
    return BuiltReport(path=path, metrics=table, comparisons=comparisons, seed_spread=spread)
