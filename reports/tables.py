"""The evaluation as tidy tables: ``metrics.csv`` rows and the ``metrics.json`` payload."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports import params
from reports.bootstrap import Evaluation
from reports.compare_models import CORRECTION, SEED_RULE
from reports.resampling import percentile_interval

COLUMNS = ("model", "instrument", "metric", "value", "ci_low", "ci_high")


def _scored_rows(model: str, names: tuple[str, ...], scores: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for metric, values in scores.items():
        values = values.reshape(values.shape[0], -1)
        low, high = percentile_interval(values[1:])
        rows += [
            dict(model=model, instrument=name, metric=metric, value=values[0, j],
                 ci_low=low[j], ci_high=high[j])
            for j, name in enumerate(names)
        ]
    return rows


def _support_rows(ev: Evaluation, model: str) -> list[dict]:
    support = {"n_observed": ev.n_observed, "n_positive": ev.n_positive}
    if ev.thresholds[model] is not None:
        support["threshold"] = np.asarray(ev.thresholds[model], dtype=np.float64)
    return [
        dict(model=model, instrument=name, metric=metric, value=float(values[k]),
             ci_low=np.nan, ci_high=np.nan)
        for metric, values in support.items()
        for k, name in enumerate(ev.classes)
    ]


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    """Every metric of every model with its percentile interval, in long form.

    Returns
    -------
    pd.DataFrame with columns ``model, instrument, metric, value, ci_low, ci_high``;
    ``instrument`` is a class name, ``"macro"`` (mean over instruments) or ``"micro"`` (pooled
    observed pairs); support rows (``n_observed``, ``n_positive``, ``threshold``) have no interval.
    """
    rows: list[dict] = []
    ev = evaluation
    for m in ev.models:
        rows += _scored_rows(m, ev.classes, ev.per_instrument[m])
        rows += _scored_rows(m, (params.MACRO,), ev.macro[m])
        rows += _scored_rows(m, (params.MICRO,), ev.micro[m])
        rows += _support_rows(ev, m)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def resampling_words(evaluation: Evaluation) -> str:
    """What the bootstrap resamples, in words (metrics.json and the report)."""
    ev = evaluation
    if ev.resampling_unit == "artist":
        n_artists = ev.n_groups - ev.n_without_artist
        unknown = (f", and {ev.n_without_artist} clips without an artist, each a group of its own"
                   if ev.n_without_artist else "")
        return (f"the test set's artists with replacement ({n_artists} artists{unknown}); a clip "
                f"counts as often as its artist is drawn")
    return (f"the test clips with replacement ({ev.n_groups} clips): predictions.npz records no artist, "
            "so the intervals are clip-level and too narrow where clips of one artist share their errors")


def metrics_payload(
    evaluation: Evaluation,
    table: pd.DataFrame,
    comparisons: pd.DataFrame,
    run: dict,
    *,
    excluded_test_clips: dict[str, str],
    comparison_rule: str,
    seed_spread: pd.DataFrame | None = None,
    seed_notes: list[dict] | None = None,
) -> dict:
    """The content of ``metrics.json``: run metadata, the common test set, bootstrap settings,
    metrics (NaN written as ``null``: missing, never 0), comparisons and the networks' seed spread.

    Parameters
    ----------
    evaluation : Evaluation
    table, comparisons : pd.DataFrame -- rows of metrics.csv and comparisons.csv
    run : dict -- run.json
    excluded_test_clips : dict key -> why -- test clips left out for every model
    comparison_rule : str -- how the compared pairs were chosen
    seed_spread : pd.DataFrame, optional -- rows of seed_spread.csv
    seed_notes : list of dict, optional -- :func:`reports.seed_spread.seed_notes`
    """
    ev = evaluation
    return {
        "run": run,
        "excluded_test_clips": excluded_test_clips,
        "common_test_set": {
            "rule": "observed pairs (Y_mask) with a finite prediction from every model; a clip some "
                    "model could not score at all is left out for every model",
            "n_pairs": {c: int(v) for c, v in zip(ev.classes, ev.n_observed, strict=True)},
            "n_left_out_pairs": {c: int(v) for c, v in zip(ev.classes, ev.n_left_out, strict=True)},
        },
        "macro_instruments": [c for c, used in zip(ev.classes, ev.in_macro, strict=True) if used],
        "comparison_rule": comparison_rule,
        "bootstrap": {
            "n_boot": evaluation.n_boot,
            "seed": evaluation.seed,
            "ci_level": params.CI_LEVEL,
            "interval": "percentile",
            "resampling": resampling_words(ev),
            "resampling_unit": ev.resampling_unit,
            "n_groups": ev.n_groups,
            "n_clips_without_artist": ev.n_without_artist,
            "alpha": params.ALPHA,
            "correction": CORRECTION,
            "seed_spread_in_comparisons": SEED_RULE,
            "dropped_resamples": evaluation.dropped,
            "dropped_rule": "resamples without an observed positive or negative are dropped",
        },
        "threshold": params.DEFAULT_THRESHOLD,
        "metrics": table.to_dict(orient="records"),
        "comparisons": comparisons.to_dict(orient="records"),
        "seeds": seed_notes or [],
        "seed_spread": [] if seed_spread is None else seed_spread.to_dict(orient="records"),
    }
