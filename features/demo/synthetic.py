"""Synthetic arrays shaped like OpenMIC's `X`, `Y_true`, `Y_mask`, for tests and benchmarks.

Unlike the demo set (`make_demo`), there is no audio: the arrays are drawn directly, at any size
(`benchmarks/bench_baselines.py` draws 15,000 clips by default).

Each class has a random direction in embedding space that is added to the frames of clips where
the class is present (in a random ~60 % of the frames, so the within-clip spread carries signal too).
Labels mimic OpenMIC: about `labels_per_clip` observed classes per clip, `positive_rate` of them
positive, relevances in [0, 0.25] or [0.75, 1] where observed and exactly 0.5 elsewhere.
"""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError
from features.openmic import N_EMBEDDING, N_FRAMES

N_CLASSES = 20
FRAME_NOISE = 25.0  # per-frame, per-dimension standard deviation (quantised units)
CLIP_NOISE = 10.0  # per-clip offset standard deviation
SIGNAL_UNITS = 3.5  # per-dimension shift of a present class at signal=1
FRAME_ACTIVE_PROB = 0.6


def make_synthetic(
    n_clips: int,
    *,
    seed: int = 0,
    n_classes: int = N_CLASSES,
    labels_per_clip: float = 2.0,
    positive_rate: float = 0.43,
    signal: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random OpenMIC-like data with a learnable class signal.

    Parameters
    ----------
    n_clips : int > 0
    seed : int
    n_classes : int
    labels_per_clip : float >= 1
        Mean number of observed classes per clip (OpenMIC: about 2).
    positive_rate : float in (0, 0.57]
        Mean share of observed labels that are positive (OpenMIC: about 0.43); classes range
        from 0.25x to 1.75x of it.
    signal : float >= 0
        Strength of the class signal (0: labels are pure noise).

    Returns
    -------
    X : np.ndarray [shape=(n_clips, 10, 128), dtype=int64], values 0..255
    Y_true : np.ndarray [shape=(n_clips, n_classes), dtype=float64]
    Y_mask : np.ndarray [shape=(n_clips, n_classes), dtype=bool]
    """
    if n_clips < 1 or not 1 <= labels_per_clip <= n_classes or not 0 < positive_rate <= 1 / 1.75:
        raise ParameterError(
            f"need n_clips >= 1, 1 <= labels_per_clip <= n_classes, 0 < positive_rate <= 0.57; given "
            f"n_clips={n_clips}, labels_per_clip={labels_per_clip}, positive_rate={positive_rate}"
        )
    rng = np.random.default_rng(seed)
    n_frames, n_dims = N_FRAMES, N_EMBEDDING
    prevalence = positive_rate * (0.25 + 1.5 * rng.permutation(n_classes) / max(n_classes - 1, 1))
    present = rng.random((n_clips, n_classes)) < prevalence
    directions = rng.standard_normal((n_classes, n_dims))
    active = rng.random((n_clips, n_frames, n_classes)) < FRAME_ACTIVE_PROB
    shift = (active & present[:, None, :]).astype(np.float32) @ directions.astype(np.float32)
    X = (
        128.0
        + FRAME_NOISE * rng.standard_normal((n_clips, n_frames, n_dims), dtype=np.float32)
        + CLIP_NOISE * rng.standard_normal((n_clips, 1, n_dims), dtype=np.float32)
        + signal * SIGNAL_UNITS * shift
    )
    X = np.clip(np.rint(X), 0, 255).astype(np.int64)

    n_observed = np.minimum(1 + rng.poisson(labels_per_clip - 1, n_clips), n_classes)
    order = np.argsort(rng.random((n_clips, n_classes)), axis=1)
    Y_mask = np.zeros((n_clips, n_classes), dtype=bool)
    np.put_along_axis(Y_mask, order, np.arange(n_classes) < n_observed[:, None], axis=1)
    confidence = rng.uniform(0.5, 1.0, (n_clips, n_classes))
    Y_true = np.where(present, 0.5 + confidence / 2, 0.5 - confidence / 2)
    Y_true = np.where(Y_mask, Y_true, 0.5)
    return X, Y_true, Y_mask
