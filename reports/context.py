"""The report's content as plain data for the template (no HTML here, no escaping needed)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from reports import anchors, params
from reports.bootstrap import Evaluation

#: Summary columns: (metric, instrument, header).
SUMMARY_METRICS = (
    ("f1_posneg", params.MACRO, "macro F1 (pos/neg)"),
    ("f1_pos", params.MACRO, "macro positive-class F1"),
    ("f1_pos_at_val_thr", params.MACRO, "macro positive-class F1 @val thr"),
    ("roc_auc", params.MACRO, "macro ROC AUC"),
    ("ap", params.MACRO, "mAP"),
    ("f1_pos", params.MICRO, "micro F1"),
)
#: Cost columns: (run.json models.<m> key, filter, header); smaller is better.
COST_COLUMNS = (
    ("train_time_s", "seconds", "training time"),
    ("infer_time_per_clip_s", "seconds", "inference / clip"),
    ("size_bytes", "nbytes", "size on disk"),
)
#: Per-instrument table columns.
INSTRUMENT_METRICS = (
    "precision", "recall", "f1_pos", "f1_posneg",
    "precision_at_val_thr", "recall_at_val_thr", "f1_pos_at_val_thr", "roc_auc", "ap",
)


def slug(name: str, index: int) -> str:
    """An HTML id for an instrument: ``inst-<lowercase name, other characters as ->`` (unique by index)."""
    base = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-") or "class"
    return f"inst-{base}" if base == name else f"inst-{index}-{base}"


def _cells(table: pd.DataFrame) -> dict[tuple[str, str, str], dict]:
    """(model, instrument, metric) -> {value, low, high}."""
    return {
        (r.model, r.instrument, r.metric): {"value": r.value, "low": r.ci_low, "high": r.ci_high}
        for r in table.itertuples(index=False)
    }


def _empty_cell() -> dict:
    return {"value": float("nan"), "low": float("nan"), "high": float("nan")}


def _significant_wins(comparisons: pd.DataFrame) -> dict[tuple[str, str, str], list[str]]:
    """(winner, instrument, metric) -> the models it is significantly better than."""
    wins: dict[tuple[str, str, str], list[str]] = {}
    for r in comparisons[comparisons.significant].itertuples(index=False):
        loser = r.model_b if r.better == r.model_a else r.model_a
        wins.setdefault((r.better, r.instrument, r.metric), []).append(loser)
    return wins


def _mark_best(rows: list[dict], key: str, *, higher: bool) -> None:
    finite = [r[key]["value"] for r in rows if np.isfinite(r[key]["value"])]
    best = (max(finite) if higher else min(finite)) if finite else None
    for r in rows:
        r[key]["best"] = best is not None and r[key]["value"] == best


def _summary(ev: Evaluation, cells, wins, run_models: dict) -> tuple[list[dict], list[dict]]:
    columns = [
        {"key": f"{inst}:{m}", "header": header, "metric": m, "instrument": inst}
        for m, inst, header in SUMMARY_METRICS
        if any((model, inst, m) in cells for model in ev.models)
    ]
    rows = []
    for model in ev.models:
        info = run_models.get(model, {})
        row = {"model": model, "description": info.get("description", "")}
        for c in columns:
            cell = dict(cells.get((model, c["instrument"], c["metric"]), _empty_cell()))
            cell["wins"] = wins.get((model, c["instrument"], c["metric"]), [])
            row[c["key"]] = cell
        for key, _, _ in COST_COLUMNS:
            value = info.get(key)
            row[key] = {"value": float(value) if isinstance(value, (int, float)) else float("nan")}
        rows.append(row)
    for c in columns:
        _mark_best(rows, c["key"], higher=True)
    for key, _, _ in COST_COLUMNS:
        _mark_best(rows, key, higher=False)
    return columns, rows


def _comparison_rows(comparisons: pd.DataFrame, instrument: str) -> list[dict]:
    rows = comparisons[comparisons.instrument == instrument]
    return [
        dict(r._asdict(), label=params.METRIC_LABELS.get(r.metric, r.metric))
        for r in rows.itertuples(index=False)
    ]


def _instrument(ev, k, name, cells, wins, images, comparisons, show_anchors) -> dict:
    models = []
    for model in ev.models:
        thr = ev.thresholds[model]
        metrics = {}
        for m in INSTRUMENT_METRICS:
            cell = dict(cells.get((model, name, m), _empty_cell()))
            cell["wins"] = wins.get((model, name, m), [])
            metrics[m] = cell
        models.append({
            "model": model,
            "threshold": float(thr[k]) if thr is not None else float("nan"),
            "metrics": metrics,
        })
    for m in INSTRUMENT_METRICS:
        _mark_best([r["metrics"] for r in models], m, higher=True)
    rf = anchors.RF_BASELINE.get(name) if show_anchors else None
    return {
        "name": name,
        "id": slug(name, k),
        "n_observed": int(ev.n_observed[k]),
        "n_positive": int(ev.n_positive[k]),
        "dropped": ev.dropped.get(name, 0),
        "models": models,
        "image": images.get(name),
        "comparisons": [c for c in _comparison_rows(comparisons, name) if c["significant"]],
        "rf": rf,
    }


def _source(dataset: dict) -> dict:
    source = dataset.get("source", "unknown")
    embedding = dataset.get("embedding", "not recorded")
    if source == "openmic":
        words = ("the real OpenMIC-2018 release (official split01), with the VGGish embeddings "
                 f"shipped with it ({embedding})")
    elif source == "demo":
        words = ("the synthetic demo set made by features.demo: rendered MIDI, not real recordings, "
                 f"with a stand-in embedding ({embedding}); published OpenMIC-2018 numbers do not apply")
    elif source == "custom":
        words = (f"a dataset in OpenMIC-2018's layout that is not the full release "
                 f"({dataset.get('description', '')}); published OpenMIC-2018 numbers do not apply")
    else:
        words = f"an unrecorded data source ({source!s}); published OpenMIC-2018 numbers may not apply"
    return {"kind": source, "words": words, "embedding": embedding}


def _anchor_table(ev: Evaluation, cells) -> dict:
    rows = []
    for name in anchors.RF_BASELINE:
        if name not in ev.classes:
            continue
        p, r, f1 = anchors.RF_BASELINE[name]
        ours = {m: cells.get((m, name, "f1_pos"), _empty_cell())["value"] for m in ev.models}
        rows.append({"instrument": name, "precision": p, "recall": r, "f1_pos": f1, "ours": ours})
    means = {
        m: {
            "f1_pos": cells.get((m, params.MACRO, "f1_pos"), _empty_cell())["value"],
            "f1_posneg": cells.get((m, params.MACRO, "f1_posneg"), _empty_cell())["value"],
        }
        for m in ev.models
    }
    return {
        "attribution": anchors.RF_BASELINE_ATTRIBUTION,
        "rows": rows,
        "mean_f1_pos": anchors.RF_MEAN_F1_POS,
        "mean_f1_posneg": anchors.RF_MEAN_F1_POSNEG,
        "means": means,
        "other": anchors.OTHER_PUBLISHED,
    }


def report_context(
    ev: Evaluation,
    table: pd.DataFrame,
    comparisons: pd.DataFrame,
    run: dict,
    *,
    overview_images: list[dict],
    instrument_images: dict[str, str],
    n_clips: int,
) -> dict:
    """Everything the template shows.

    Parameters
    ----------
    ev : Evaluation
    table : pd.DataFrame -- metrics.csv rows
    comparisons : pd.DataFrame -- :func:`reports.compare_models.compare_models` rows
    run : dict -- run.json
    overview_images : list of {"title", "uri", "id"}
    instrument_images : dict instrument -> data URI of its ROC/PR figure
    n_clips : int -- test clips scored
    """
    cells = _cells(table)
    wins = _significant_wins(comparisons)
    dataset = run.get("dataset", {}) or {}
    source = _source(dataset)
    show_anchors = source["kind"] == "openmic"
    columns, summary = _summary(ev, cells, wins, run.get("models", {}) or {})
    skipped = dataset.get("skipped_clips", {}) or {}
    return {
        "title": "OpenMIC-2018 instrument recognition: model comparison",
        "created": run.get("created", ""),
        "seed": run.get("seed", ""),
        "source": source,
        "dataset": {k: v for k, v in dataset.items() if k != "skipped_clips"},
        "skipped": list(skipped.items())[: params.MAX_SKIPPED_LISTED],
        "n_skipped": len(skipped),
        "models": ev.models,
        "model_info": run.get("models", {}) or {},
        "summary_columns": columns,
        "cost_columns": COST_COLUMNS,
        "summary": summary,
        "macro_comparisons": _comparison_rows(comparisons, params.MACRO),
        "instrument_metrics": [(m, params.METRIC_LABELS[m]) for m in INSTRUMENT_METRICS],
        "instruments": [
            _instrument(ev, k, name, cells, wins, instrument_images, comparisons, show_anchors)
            for k, name in enumerate(ev.classes)
        ],
        "overview_images": overview_images,
        "anchors": _anchor_table(ev, cells) if show_anchors else None,
        "versions": run.get("versions", {}) or {},
        "timings": run.get("timings", {}) or {},
        "bootstrap": {
            "n_boot": ev.n_boot, "seed": ev.seed, "ci_level": params.CI_LEVEL,
            "alpha": params.ALPHA, "dropped": ev.dropped,
            "macro_dropped": ev.dropped.get(params.MACRO, 0),
        },
        "threshold": params.DEFAULT_THRESHOLD,
        "n_clips": n_clips,
    }
