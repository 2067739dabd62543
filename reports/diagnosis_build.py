"""Diagnose a run folder: write ``diagnosis.csv`` and the figures, return the section's content.

Called by :func:`reports.build.build_report`; reads ``learning_curve.npz`` when the run wrote one,
and resamples artists when ``predictions.npz`` has an ``artist_id`` array (clips otherwise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import atomic_write_bytes, atomic_write_text
from reports import params, plots
from reports.bootstrap import Evaluation
from reports.diagnosis import DIAGNOSIS_CSV, diagnose
from reports.diagnosis_plots import plot_instrument_diagnosis
from reports.diagnosis_section import diagnosis_context
from reports.html import png_data_uri
from reports.learning_curve_file import read_learning_curve
from reports.run_folder import Predictions
from reports.run_models import ModelInfo

ARTIST_ID = "artist_id"


def artist_ids(run_dir: Path, n: int) -> np.ndarray | None:
    """``artist_id`` of the test clips from ``predictions.npz`` when it has one of length ``n``."""
    with np.load(Path(run_dir) / params.PREDICTIONS_NPZ, allow_pickle=False) as z:
        if ARTIST_ID not in z.files or len(z[ARTIST_ID]) != n:
            return None
        return z[ARTIST_ID].astype(np.int64)


def write_diagnosis(
    run_dir: Path, pred: Predictions, ev: Evaluation, infos: dict[str, ModelInfo], *, seed: int
) -> dict:
    """Diagnose every model, write ``diagnosis.csv`` and ``plots/diagnosis-*.png``; the section's data."""
    run_dir = Path(run_dir)
    diag = diagnose(
        pred.Y_true, pred.Y_mask, {m: pred.probas[m] for m in ev.models}, pairs=ev.pairs,
        classes=ev.classes, sample_key=pred.sample_key, thresholds=ev.thresholds, infos=infos,
        curve=read_learning_curve(run_dir), artist_id=artist_ids(run_dir, len(pred.sample_key)),
        seed=seed, default_threshold=params.DEFAULT_THRESHOLD,
    )
    atomic_write_text(run_dir / DIAGNOSIS_CSV, diag.table.to_csv(index=False))
    plots_dir = run_dir / params.PLOTS_DIR
    plots_dir.mkdir(exist_ok=True)
    images = {}
    for d in diag.instruments:
        png = plots.figure_png(plot_instrument_diagnosis(d), dpi=params.INSTRUMENT_PLOT_DPI, tight=False)
        k = ev.classes.index(d.instrument)
        atomic_write_bytes(plots_dir / f"diagnosis-{k:02d}.png", png)
        images[d.instrument] = png_data_uri(png)
    return diagnosis_context(diag, {m: i.label for m, i in infos.items()}, images)
