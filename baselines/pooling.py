"""Clip-level features from frame-level embeddings: (n, frames, dims) -> (n, features).

`mean` is the official baseline's `X.mean(axis=1)`; `mean_std` appends the per-dimension standard
deviation over frames, which keeps how much an embedding dimension moves within the clip.
"""

from __future__ import annotations

import numpy as np

from baselines.defaults import POOLINGS
from core.errors import ParameterError


def _as_frames(X: np.ndarray, dtype: type) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ParameterError(
            f"X must be (n_clips, n_frames, n_dims) with n_clips, n_frames > 0; given X.shape={X.shape}"
        )
    return X.astype(dtype, copy=False)


def clip_mean(X: np.ndarray, *, dtype: type = np.float32) -> np.ndarray:
    """Mean over frames.

    Parameters
    ----------
    X : np.ndarray [shape=(n_clips, n_frames, n_dims)]
        Frame embeddings, any real dtype (OpenMIC stores int64 0..255).
    dtype : float32 or float64

    Returns
    -------
    np.ndarray [shape=(n_clips, n_dims), dtype=dtype]

    Examples
    --------
    >>> clip_mean(np.arange(6).reshape(1, 3, 2))
    array([[2., 3.]], dtype=float32)
    """
    return _as_frames(X, dtype).mean(axis=1, dtype=dtype)


def clip_mean_std(X: np.ndarray, *, dtype: type = np.float32) -> np.ndarray:
    """Mean and (population) standard deviation over frames, side by side.

    Returns
    -------
    np.ndarray [shape=(n_clips, 2 * n_dims), dtype=dtype]
        Columns ``[:n_dims]`` are the means, ``[n_dims:]`` the standard deviations.
    """
    frames = _as_frames(X, dtype)
    return np.concatenate(
        [frames.mean(axis=1, dtype=dtype), frames.std(axis=1, dtype=dtype)], axis=1
    )


_POOL = {"mean": clip_mean, "mean_std": clip_mean_std}


def pool(X: np.ndarray, pooling: str, *, dtype: type = np.float32) -> np.ndarray:
    """Apply the pooling named `pooling` (one of ``"mean"``, ``"mean_std"``)."""
    if pooling not in _POOL:
        raise ParameterError(f"pooling must be one of {POOLINGS}; given pooling={pooling!r}")
    return _POOL[pooling](X, dtype=dtype)
