"""Content of the report's newer sections, as plain data for the template.

Selection-time scores beside the test scores, the classifier x embedding grid, the common test set
(clips and instruments left out, and why), the data problems found before training, and the facts of
each embedding. :mod:`reports.context` assembles them with the rest.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from reports import params
from reports.bootstrap import Evaluation
from reports.run_models import (
    CLASSICAL,
    CLASSIFIER_LABELS,
    LEGACY_EMBEDDING,
    ModelInfo,
    embeddings_of,
)

Cells = dict[tuple[str, str, str], dict]  # (model, instrument, metric) -> {value, low, high}

#: Metrics shown at selection time and on the test set: (metrics.csv / run.json key, header).
SELECTION_METRICS = (("roc_auc", "macro ROC AUC"), ("ap", "mAP"))
#: Columns of the data problems' count table, in this order when present.
PROBLEM_SPLITS = ("train", "test", "none")


def empty_cell() -> dict:
    """A cell without a value (shown as a dash)."""
    return {"value": math.nan, "low": math.nan, "high": math.nan}


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def selection_cell(info: ModelInfo, metric: str, test_value: float) -> dict:
    """The selection-time score of one model and metric, and its gap to the test score.

    Returns
    -------
    dict with ``value`` (mean over folds), ``std`` (NaN for a hold-out), ``n_folds`` and ``gap``
    (selection mean - test value); every number NaN when ``run.json`` gives no selection score.
    """
    score = ((info.facts.get("selection") or {}).get(metric)) or {}
    mean = _number(score.get("mean"))
    return {
        "value": mean,
        "std": _number(score.get("std")),
        "n_folds": len(score.get("folds") or ()),
        "gap": mean - test_value,
    }


def selection_notes(infos: dict[str, ModelInfo]) -> dict:
    """How each model was selected, and the warnings its selection raised.

    Returns
    -------
    dict with ``methods`` (list of (label, method)) and ``warnings`` (list of (label, list of
    warnings), models without a warning left out)
    """
    methods, warnings = [], []
    for info in infos.values():
        selection = info.facts.get("selection") or {}
        if selection.get("method"):
            methods.append((info.label, str(selection["method"])))
        if selection.get("warnings"):
            warnings.append((info.label, [str(w) for w in selection["warnings"]]))
    return {"methods": methods, "warnings": warnings}


def _mark_best(cells: list[dict]) -> None:
    finite = [c["value"] for c in cells if np.isfinite(c["value"])]
    for c in cells:
        c["best"] = bool(finite) and c["value"] == max(finite)


def embedding_grid(infos: dict[str, ModelInfo], cells: Cells, listed_embeddings=()) -> dict | None:
    """Macro ROC AUC and mAP of classifiers (rows) x embeddings (columns), networks as own rows.

    Returns
    -------
    None without a classical model; else dict with ``embeddings`` (column names) and ``metrics``:
    one {header, rows, networks} per metric of :data:`SELECTION_METRICS`, where ``rows`` holds
    {label, cells (one per embedding, None where that pair was not trained)} per classifier and
    ``networks`` {label, embedding, cell} per network. ``best`` marks the highest value.
    """
    embeddings = embeddings_of(infos, listed_embeddings)
    if not embeddings:
        return None
    classical = [i for i in infos.values() if i.classical]
    classifiers = [c for c in CLASSICAL if any(i.classifier == c for i in classical)]
    networks = [i for i in infos.values() if not i.classical]
    metrics = []
    for metric, header in SELECTION_METRICS:
        def cell(model: str, metric: str = metric) -> dict:
            return dict(cells.get((model, params.MACRO, metric), empty_cell()))

        rows = []
        for c in classifiers:
            by_embedding = {i.embedding: i.id for i in classical if i.classifier == c}
            rows.append({
                "label": CLASSIFIER_LABELS.get(c, c),
                "cells": [cell(by_embedding[e]) if e in by_embedding else None for e in embeddings],
            })
        nets = [{"label": i.label, "embedding": i.embedding, "cell": cell(i.id)} for i in networks]
        _mark_best([c for r in rows for c in r["cells"] if c is not None] + [n["cell"] for n in nets])
        metrics.append({"metric": metric, "header": header, "rows": rows, "networks": nets})
    return {"embeddings": embeddings, "metrics": metrics}


def embedding_facts(run: dict, infos: dict[str, ModelInfo]) -> list[dict]:
    """Name, description, provenance, dimension and frames per clip of each embedding used.

    ``run.json``'s ``embeddings`` gives them; a run from before that entry existed has the single
    embedding ``"release"``, described by ``dataset.embedding``.
    """
    listed = run.get("embeddings") or {}
    used = embeddings_of(infos, listed)
    facts = []
    for name in dict.fromkeys([*listed, *used]):
        entry = listed.get(name) or {}
        description = entry.get("description")
        if description is None and name == LEGACY_EMBEDDING:
            description = (run.get("dataset") or {}).get("embedding", "not recorded")
        facts.append({
            "name": name,
            "description": description or "not recorded",
            "provenance": entry.get("provenance") or "not recorded",
            "dim": _number(entry.get("dim")),
            "frames_per_clip": _number(entry.get("frames_per_clip")),
            "used_by": [i.label for i in infos.values() if i.embedding == name],
        })
    return facts


def excluded_clips(ev: Evaluation, sample_key: np.ndarray) -> dict[str, str]:
    """Test clips left out for every model: key -> ``"no prediction from <ids>"``."""
    return {str(sample_key[row]): "no prediction from " + ", ".join(models)
            for row, models in ev.excluded.items()}


def why_no_metric(ev: Evaluation, k: int) -> str:
    """Why instrument ``k`` has no metric on the common test set (call only where it has none)."""
    if ev.n_observed[k] == 0:
        if ev.n_left_out[k]:
            return "no observed pair with a prediction from every model"
        return "no observed pair"
    if ev.n_positive[k] == 0:
        return "no positive"
    return "no negative"


def common_set(ev: Evaluation, sample_key: np.ndarray) -> dict:
    """The common test set in numbers: clips scored and left out, instruments in the macro means."""
    excluded = excluded_clips(ev, sample_key)
    out_of_macro = [(name, why_no_metric(ev, k)) for k, name in enumerate(ev.classes)
                    if not ev.in_macro[k]]
    return {
        "n_clips": len(sample_key),
        "n_scored": len(sample_key) - len(excluded),
        "n_excluded": len(excluded),
        "excluded": list(excluded.items())[: params.MAX_SKIPPED_LISTED],
        "n_pairs": int(ev.n_observed.sum()),
        "n_left_out": int(ev.n_left_out.sum()),
        "n_classes": len(ev.classes),
        "n_in_macro": int(ev.in_macro.sum()),
        "out_of_macro": out_of_macro,
    }


def problem_kind(problem: str) -> str:
    """A problem without its particulars, for counting: ``"duration # s, expected # s"``, ``"unreadable"``."""
    return re.sub(r"\d+(?:\.\d+)?", "#", str(problem).split(":", 1)[0]).strip()


def data_problems(problems: pd.DataFrame | None) -> dict | None:
    """The data problems table (key, split, problem) as counts and a list; None when absent.

    Returns
    -------
    dict with ``n``, ``splits`` (count columns), ``counts`` (list of {kind, per_split (one count
    per split), total}, most frequent first) and ``listed`` (the first rows as (key, split, problem)).
    """
    if problems is None:
        return None
    problems = problems.astype({"key": str, "split": str, "problem": str})
    kinds = problems.problem.map(problem_kind)
    splits = [s for s in PROBLEM_SPLITS if s in set(problems.split)]
    splits += sorted(set(problems.split) - set(splits))
    counts = pd.crosstab(kinds, problems.split).reindex(columns=splits, fill_value=0)
    counts = counts.assign(total=counts.sum(axis=1)).sort_values("total", ascending=False, kind="mergesort")
    return {
        "n": len(problems),
        "splits": splits,
        "counts": [{"kind": kind, "per_split": [int(r[s]) for s in splits], "total": int(r["total"])}
                   for kind, r in counts.iterrows()],
        "listed": list(problems[["key", "split", "problem"]].itertuples(index=False, name=None))[
            : params.MAX_SKIPPED_LISTED],
    }
