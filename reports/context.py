"""The report's content as plain data for the template (no HTML here, no escaping needed)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from reports import anchors, params, sections
from reports.bootstrap import Evaluation
from reports.compare_models import SEED_RULE
from reports.run_models import ModelInfo
from reports.sections import empty_cell
from reports.seed_spread import seed_notes
from reports.tables import resampling_words

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


def _seed_cells(seed_spread: pd.DataFrame | None) -> dict[tuple[str, str, str], dict]:
    """(model, instrument, metric) -> {mean, sd, n} over the seeds of a network trained with several."""
    if seed_spread is None:
        return {}
    return {
        (r.model, r.instrument, r.metric): {"mean": r.seed_mean, "sd": r.seed_sd, "n": int(r.n_seeds)}
        for r in seed_spread.itertuples(index=False)
    }


def _families(comparisons: pd.DataFrame) -> list[dict]:
    """Each family of Holm's correction: metric label, macro or per instrument, its size."""
    out = []
    for (metric, family), rows in comparisons.groupby(["metric", "family"], sort=False):
        out.append({"label": params.METRIC_LABELS.get(metric, metric), "family": family,
                    "macro": bool((rows.instrument == params.MACRO).all()),
                    "size": int(rows.family_size.iloc[0])})
    return out


def _significant_wins(
    comparisons: pd.DataFrame, labels: dict[str, str]
) -> dict[tuple[str, str, str], list[str]]:
    """(winner id, instrument, metric) -> the labels of the models it is significantly better than."""
    wins: dict[tuple[str, str, str], list[str]] = {}
    for r in comparisons[comparisons.significant].itertuples(index=False):
        loser = r.model_b if r.better == r.model_a else r.model_a
        wins.setdefault((r.better, r.instrument, r.metric), []).append(labels[loser])
    return wins


def _mark_best(rows: list[dict], key: str, *, higher: bool) -> None:
    finite = [r[key]["value"] for r in rows if np.isfinite(r[key]["value"])]
    best = (max(finite) if higher else min(finite)) if finite else None
    for r in rows:
        r[key]["best"] = best is not None and r[key]["value"] == best


def _summary_columns(ev: Evaluation, cells, infos: dict[str, ModelInfo]) -> list[dict]:
    """Test-set columns that some model has, each ranking metric followed by its selection-time score."""
    columns = []
    for m, inst, header in SUMMARY_METRICS:
        if not any((model, inst, m) in cells for model in ev.models):
            continue
        columns.append({"key": f"{inst}:{m}", "header": header, "metric": m, "instrument": inst,
                        "kind": "test"})
        selected = dict(sections.SELECTION_METRICS).get(m) if inst == params.MACRO else None
        if selected and any((i.facts.get("selection") or {}).get(m) for i in infos.values()):
            columns.append({"key": f"selection:{m}", "header": f"{selected} at selection",
                            "metric": m, "instrument": inst, "kind": "selection"})
    return columns


def _summary(ev: Evaluation, cells, wins, infos: dict[str, ModelInfo], seed_cells=None) -> tuple[list[dict], list[dict]]:
    columns = _summary_columns(ev, cells, infos)
    rows = []
    for model in ev.models:
        info = infos[model]
        row = {
            "model": info.label, "id": model, "classifier": info.classifier, "embedding": info.embedding,
            "description": info.facts.get("description", ""),
            "method": (info.facts.get("selection") or {}).get("method", ""),
        }
        for c in columns:
            test = dict(cells.get((model, c["instrument"], c["metric"]), empty_cell()))
            if c["kind"] == "selection":
                row[c["key"]] = sections.selection_cell(info, c["metric"], test["value"])
                continue
            test["wins"] = wins.get((model, c["instrument"], c["metric"]), [])
            test["seed"] = (seed_cells or {}).get((model, c["instrument"], c["metric"]))
            row[c["key"]] = test
        for key, _, _ in COST_COLUMNS:
            value = info.facts.get(key)
            row[key] = {"value": float(value) if isinstance(value, (int, float)) else float("nan")}
        rows.append(row)
    for c in columns:
        _mark_best(rows, c["key"], higher=True)
    for key, _, _ in COST_COLUMNS:
        _mark_best(rows, key, higher=False)
    return columns, rows


def _comparison_rows(comparisons: pd.DataFrame, instrument: str, labels: dict[str, str]) -> list[dict]:
    rows = comparisons[comparisons.instrument == instrument]
    return [
        dict(r._asdict(), label=params.METRIC_LABELS.get(r.metric, r.metric), label_a=labels[r.model_a],
             label_b=labels[r.model_b], better_label=labels.get(r.better, ""))
        for r in rows.itertuples(index=False)
    ]


def _instrument(ev, k, name, cells, wins, images, comparisons, show_anchors, infos) -> dict:
    labels = {m: i.label for m, i in infos.items()}
    models = []
    for model in ev.models:
        thr = ev.thresholds[model]
        metrics = {}
        for m in INSTRUMENT_METRICS:
            cell = dict(cells.get((model, name, m), empty_cell()))
            cell["wins"] = wins.get((model, name, m), [])
            metrics[m] = cell
        models.append({
            "model": labels[model],
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
        "n_left_out": int(ev.n_left_out[k]),
        "why_missing": None if ev.in_macro[k] else sections.why_no_metric(ev, k),
        "dropped": ev.dropped.get(name, 0),
        "models": models,
        "image": images.get(name),
        "comparisons": [c for c in _comparison_rows(comparisons, name, labels) if c["significant"]],
        "rf": rf,
    }


def _source(dataset: dict) -> dict:
    source = dataset.get("source", "unknown")
    if source == "openmic":
        words = "the real OpenMIC-2018 release (official split01)"
    elif source == "demo":
        words = ("the synthetic demo set made by features.demo: rendered MIDI, not real recordings; "
                 "published OpenMIC-2018 numbers do not apply")
    elif source == "custom":
        words = (f"a dataset in OpenMIC-2018's layout that is not the full release "
                 f"({dataset.get('description', '')}); published OpenMIC-2018 numbers do not apply")
    else:
        words = f"an unrecorded data source ({source!s}); published OpenMIC-2018 numbers may not apply"
    return {"kind": source, "words": words}


def _anchor_table(ev: Evaluation, cells) -> dict:
    rows = []
    for name in anchors.RF_BASELINE:
        if name not in ev.classes:
            continue
        p, r, f1 = anchors.RF_BASELINE[name]
        ours = {m: cells.get((m, name, "f1_pos"), empty_cell())["value"] for m in ev.models}
        rows.append({"instrument": name, "precision": p, "recall": r, "f1_pos": f1, "ours": ours})
    means = {
        m: {
            "f1_pos": cells.get((m, params.MACRO, "f1_pos"), empty_cell())["value"],
            "f1_posneg": cells.get((m, params.MACRO, "f1_posneg"), empty_cell())["value"],
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
    infos: dict[str, ModelInfo],
    comparison_rule: str,
    seed_spread: pd.DataFrame | None = None,
    overview_images: list[dict],
    instrument_images: dict[str, str],
    sample_key: np.ndarray,
    problems: pd.DataFrame | None,
) -> dict:
    """Everything the template shows.

    Parameters
    ----------
    ev : Evaluation
    table : pd.DataFrame -- metrics.csv rows
    comparisons : pd.DataFrame -- :func:`reports.compare_models.compare_models` rows
    run : dict -- run.json
    infos : dict id -> ModelInfo -- every evaluated model (:func:`reports.run_models.model_infos`)
    comparison_rule : str -- how the compared pairs were chosen, in words
    seed_spread : pd.DataFrame or None -- seed_spread.csv rows (:func:`reports.seed_spread.seed_spread_table`)
    overview_images : list of {"title", "uri", "id"}
    instrument_images : dict instrument -> data URI of its ROC/PR figure
    sample_key : np.ndarray [shape=(n,)], str -- the test clips given to `evaluate`
    problems : pd.DataFrame or None -- data_problems.csv (key, split, problem), None when absent
    """
    cells = _cells(table)
    labels = {m: i.label for m, i in infos.items()}
    wins = _significant_wins(comparisons, labels)
    dataset = run.get("dataset", {}) or {}
    source = _source(dataset)
    show_anchors = source["kind"] == "openmic"
    columns, summary = _summary(ev, cells, wins, infos, _seed_cells(seed_spread))
    skipped = dataset.get("skipped_clips", {}) or {}
    listed_embeddings = run.get("embeddings") or {}
    return {
        "title": "OpenMIC-2018 instrument recognition: model comparison",
        "created": run.get("created", ""),
        "seed": run.get("seed", ""),
        "source": source,
        "dataset": {k: v for k, v in dataset.items() if k != "skipped_clips"},
        "skipped": list(skipped.items())[: params.MAX_SKIPPED_LISTED],
        "n_skipped": len(skipped),
        "models": [{"id": m, "label": labels[m]} for m in ev.models],
        "summary_columns": columns,
        "cost_columns": COST_COLUMNS,
        "summary": summary,
        "selection": sections.selection_notes(infos),
        "max_warnings_open": params.MAX_WARNINGS_OPEN,
        "grid": sections.embedding_grid(infos, cells, listed_embeddings),
        "embeddings": sections.embedding_facts(run, infos),
        "common": sections.common_set(ev, sample_key),
        "problems": sections.data_problems(problems),
        "macro_comparisons": _comparison_rows(comparisons, params.MACRO, labels),
        "comparison_rule": comparison_rule,
        "instrument_metrics": [(m, params.METRIC_LABELS[m]) for m in INSTRUMENT_METRICS],
        "instruments": [
            _instrument(ev, k, name, cells, wins, instrument_images, comparisons, show_anchors, infos)
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
            "unit": ev.resampling_unit, "n_groups": ev.n_groups, "few_groups": ev.n_groups < params.FEW_GROUPS,
            "n_without_artist": ev.n_without_artist, "resampling": resampling_words(ev),
        },
        "families": _families(comparisons),
        "n_pairs": len(comparisons.groupby(["model_a", "model_b"])),
        "seeds": seed_notes(infos, ev.seeds),
        "seed_rule": SEED_RULE,
        "threshold": params.DEFAULT_THRESHOLD,
    }
