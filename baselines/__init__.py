"""Per-instrument logistic regression, XGBoost and the official random forest on clip embeddings."""

from baselines.model import DegenerateClassWarning, PerInstrumentModel
from baselines.persist import read_metadata
from baselines.pooling import clip_mean, clip_mean_std, pool
from baselines.thresholds import best_f1_threshold, validation_thresholds

__all__ = [
    "DegenerateClassWarning",
    "PerInstrumentModel",
    "best_f1_threshold",
    "clip_mean",
    "clip_mean_std",
    "pool",
    "read_metadata",
    "validation_thresholds",
]
