"""How much a network's scores move with its training seed.

A network trained with ``S >= 2`` seeds has one test probability array per seed
(``predictions.npz`` ``seedproba_<model>``, see :mod:`reports.run_folder`). Every seed is scored on
the same common test set as the other models (point estimates only, no resampling); the mean and
sample standard deviation (``ddof=1``) of each metric over the seeds are shown beside the bootstrap
interval of the first seed's model, which is the model the report scores.

The paired comparisons take the spread into account (:mod:`reports.compare_models`): the standard
error of a difference A - B becomes ``sqrt(sd_boot^2 + sd_seed_A^2 + sd_seed_B^2)``, where
``sd_boot`` is the bootstrap standard deviation of the difference and ``sd_seed`` the standard
deviation over seeds of that model's metric (0 for a model trained once: a classical model, or a
network whose spread was not measured).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports import params
from reports.run_models import ModelInfo

COLUMNS = ("model", "instrument", "metric", "n_seeds", "seed_mean", "seed_sd")


@dataclass(frozen=True)
class SeedScores:
    """One network's metrics for each of its seeds, on the common test set.

    Attributes
    ----------
    per_instrument : dict metric -> np.ndarray [shape=(S, K)] -- NaN where the metric is missing
    macro, micro : dict metric -> np.ndarray [shape=(S,)]
    """

    per_instrument: dict[str, np.ndarray]
    macro: dict[str, np.ndarray]
    micro: dict[str, np.ndarray]

    @property
    def n_seeds(self) -> int:
        """S, the number of seeds."""
        return next(iter(self.macro.values())).shape[0]

    def level(self, instrument: str) -> dict[str, np.ndarray]:
        """``macro`` or ``micro`` for those names; else the per-instrument scores."""
        return {params.MACRO: self.macro, params.MICRO: self.micro}.get(instrument, self.per_instrument)


def seed_mean_sd(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample standard deviation over seeds (axis 0); NaN where a seed lacks a value.

    Parameters
    ----------
    values : np.ndarray [shape=(S, ...)], S >= 2

    Returns
    -------
    (mean, sd) : two np.ndarray [shape=(...)]
    """
    values = np.asarray(values, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN columns stay NaN
        return values.mean(axis=0), values.std(axis=0, ddof=1)


def seed_sd(seeds: dict[str, SeedScores], model: str, instrument: str, metric: str) -> np.ndarray:
    """Standard deviation over seeds of one model's metric; 0 for a model without seed scores.

    Parameters
    ----------
    seeds : dict model -> SeedScores (:attr:`reports.bootstrap.Evaluation.seeds`)
    model, metric : str
    instrument : str -- ``"macro"``, ``"micro"``, or anything else for every instrument at once

    Returns
    -------
    np.ndarray [shape=()] for macro and micro, [shape=(K,)] per instrument; 0 where ``model`` was
    trained once (its seed spread is then not part of the comparison), NaN where a seed lacks a value
    """
    if model not in seeds:
        return np.zeros(()) if instrument in (params.MACRO, params.MICRO) else np.zeros(1)
    values = seeds[model].level(instrument).get(metric)
    if values is None:
        return np.full((), np.nan)
    return seed_mean_sd(values)[1]


def seed_spread_table(seeds: dict[str, SeedScores], classes: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``seed_spread.csv``: mean and sd over seeds of every metric of every network.

    Returns
    -------
    pd.DataFrame with columns ``COLUMNS``; ``instrument`` is a class name, ``"macro"`` or
    ``"micro"`` as in ``metrics.csv``; empty (with these columns) when no model has seeds.
    """
    rows = []
    for model, scores in seeds.items():
        for names, level in ((classes, scores.per_instrument), ((params.MACRO,), scores.macro),
                             ((params.MICRO,), scores.micro)):
            for metric, values in level.items():
                mean, sd = seed_mean_sd(values.reshape(values.shape[0], -1))
                rows += [dict(model=model, instrument=name, metric=metric, n_seeds=scores.n_seeds,
                              seed_mean=mean[j], seed_sd=sd[j]) for j, name in enumerate(names)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def seed_notes(infos: dict[str, ModelInfo], seeds: dict[str, SeedScores]) -> list[dict]:
    """What the report says about each network's seed spread.

    Parameters
    ----------
    infos : dict id -> ModelInfo -- every evaluated model
    seeds : dict model -> SeedScores -- the networks trained with S >= 2 seeds

    Returns
    -------
    list of dict, one per network (models that are not classical), in ``infos`` order, with ``id``,
    ``label``, ``n_seeds`` (1 for a network trained once), ``seeds`` (run.json's list, or None) and
    ``measured``: for a network trained once, its entry of :data:`reports.params.MEASURED_SEED_SPREAD`
    (by id, else by classifier; None: not measured), else None.
    """
    notes = []
    for m, info in infos.items():
        if info.classical:
            continue
        n_seeds = seeds[m].n_seeds if m in seeds else 1
        measured = None
        if n_seeds == 1:
            measured = params.MEASURED_SEED_SPREAD.get(m, params.MEASURED_SEED_SPREAD.get(info.classifier))
        listed = info.facts.get("seeds")
        notes.append({"id": m, "label": info.label, "n_seeds": n_seeds,
                      "seeds": list(listed) if isinstance(listed, (list, tuple)) else None,
                      "measured": measured})
    return notes
