"""Per-instrument logistic regression, XGBoost and the official random forest on clip embeddings."""

from baselines.model import DegenerateClassWarning, PerInstrumentModel
from baselines.persist import read_metadata
from baselines.pooling import clip_mean, clip_mean_std, pool

__all__ = [
    "DegenerateClassWarning",
    "PerInstrumentModel",
    "clip_mean",
    "clip_mean_std",
    "pool",
    "read_metadata",
]
