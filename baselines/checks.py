"""Input checks of `PerInstrumentModel.fit`: errors that name the array, its shape and the fix."""

from __future__ import annotations

import numpy as np

from core.errors import ParameterError
from features.openmic import CLASSES


def check_arrays(X, Y_true, Y_mask) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, Y_true (float64) and Y_mask as arrays, or a ParameterError naming what is wrong.

    Parameters
    ----------
    X : array-like [shape=(n, n_frames, n_dims)], finite
    Y_true : array-like [shape=(n, n_classes)], in [0, 1] where observed
    Y_mask : array-like [shape=(n, n_classes)], bool
    """
    X, Y_true, Y_mask = np.asarray(X), np.asarray(Y_true, dtype=np.float64), np.asarray(Y_mask)
    if X.ndim != 3 or X.shape[0] == 0:
        raise ParameterError(
            f"X must be (n_clips, n_frames, n_dims), n_clips > 0; given X.shape={X.shape}"
        )
    if Y_true.ndim != 2 or Y_true.shape[0] != X.shape[0] or Y_mask.shape != Y_true.shape:
        raise ParameterError(
            "Y_true and Y_mask must be (n_clips, n_classes) with the n_clips of X; given "
            f"X.shape={X.shape}, Y_true.shape={Y_true.shape}, Y_mask.shape={Y_mask.shape}"
        )
    if Y_mask.dtype != bool:
        raise ParameterError(f"Y_mask must be bool (True = annotated); given dtype={Y_mask.dtype}")
    if not np.isfinite(X).all():
        raise ParameterError(
            f"X holds NaN or infinity; given X.dtype={X.dtype}: clean the features"
        )
    observed = Y_true[Y_mask]
    if not (np.isfinite(observed).all() and ((observed >= 0) & (observed <= 1)).all()):
        raise ParameterError(
            f"observed Y_true must lie in [0, 1]; given values from {observed.min()} to {observed.max()}"
        )
    return X, Y_true, Y_mask


def class_names(classes: tuple[str, ...] | None, n_classes: int) -> tuple[str, ...]:
    """The class names as strings, default `features.openmic.CLASSES`; one per column."""
    if classes is None:
        classes = CLASSES
    if len(classes) != n_classes:
        raise ParameterError(
            f"need one class name per column of Y_true ({n_classes}); given {len(classes)} names: "
            f"pass classes=... matching Y_true"
        )
    return tuple(str(c) for c in classes)
