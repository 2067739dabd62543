"""Binary cross-entropy masked to the observed (clip, instrument) pairs.

How the mask reaches the loss: the targets and the mask travel together in ``y_true`` of shape
``(batch, 2 * n_classes)`` -- columns ``[:n_classes]`` the targets (hard 0/1 or soft confidences,
already 0 where unobserved), columns ``[n_classes:]`` the mask as 0/1 (`pack_targets` makes it).
This keeps Keras' ``fit`` untouched and mixup can mix both halves in one place.

The loss of a batch is ``sum(mask * bce) / max(sum(mask), 1)``: each observed pair counts once,
unobserved pairs contribute exactly nothing (their targets are zeroed before the log terms, so
no ``0 * inf`` can leak a NaN), and a batch without observed pairs has loss 0.
"""

from __future__ import annotations

import keras
import numpy as np

from core.errors import ParameterError
from core.targets import is_positive

# As keras.losses.binary_crossentropy, so the numpy twin agrees with the training loss.
PROBA_EPSILON = 1e-7


def pack_targets(Y_true: np.ndarray, Y_mask: np.ndarray, *, soft: bool = False) -> np.ndarray:
    """Targets and mask side by side, the ``y_true`` of `MaskedBinaryCrossentropy`.

    Parameters
    ----------
    Y_true : np.ndarray [shape=(n, n_classes)]
        Relevance in [0, 1] (OpenMIC's aggregated labels).
    Y_mask : np.ndarray [shape=(n, n_classes)] bool
        True where the pair was observed.
    soft : bool
        Targets are the `Y_true` confidences; otherwise ``Y_true >= 0.5``.

    Returns
    -------
    packed : np.ndarray [shape=(n, 2 * n_classes), dtype=float32]
        Targets (0 where unobserved), then the mask as 0/1.
    """
    Y_true = np.asarray(Y_true, dtype=np.float64)
    Y_mask = np.asarray(Y_mask)
    if Y_true.ndim != 2 or Y_true.shape != Y_mask.shape:
        raise ParameterError(
            f"Y_true and Y_mask must be 2-D of one shape; given {Y_true.shape} and {Y_mask.shape}"
        )
    if Y_mask.dtype != bool:
        raise ParameterError(f"Y_mask must be bool (observed pairs), given dtype {Y_mask.dtype}")
    targets = Y_true if soft else is_positive(Y_true).astype(np.float64)
    targets = np.where(Y_mask, targets, 0.0)
    return np.concatenate([targets, Y_mask], axis=1).astype(np.float32)


def split_targets(packed):
    """(targets, mask) halves of a packed ``y_true``; works on numpy arrays and tensors."""
    n = packed.shape[-1] // 2
    return packed[..., :n], packed[..., n:]


@keras.saving.register_keras_serializable(package="openmic_cnn")
class MaskedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy over the observed pairs of a batch, normalised by their number.

    ``y_true`` is packed by `pack_targets`; ``y_pred`` holds probabilities (sigmoid outputs).
    Returns a scalar per batch (reduction "sum" over that scalar leaves it unchanged).
    """

    def __init__(self, name: str = "masked_bce", **kwargs) -> None:
        kwargs.setdefault("reduction", "sum")
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        targets, mask = split_targets(keras.ops.cast(y_true, y_pred.dtype))
        targets = targets * mask
        bce = keras.ops.binary_crossentropy(targets, y_pred)
        observed = keras.ops.sum(mask)
        return keras.ops.sum(bce * mask) / keras.ops.maximum(observed, 1.0)


def masked_bce(packed: np.ndarray, proba: np.ndarray) -> float:
    """The same loss in numpy, on a whole set at once (validation loss).

    Parameters
    ----------
    packed : np.ndarray [shape=(n, 2 * n_classes)]
        From `pack_targets`.
    proba : np.ndarray [shape=(n, n_classes)]
        Predicted probabilities.
    """
    targets, mask = split_targets(np.asarray(packed, dtype=np.float64))
    p = np.clip(np.asarray(proba, dtype=np.float64), PROBA_EPSILON, 1 - PROBA_EPSILON)
    bce = -(targets * np.log(p) + (1 - targets) * np.log1p(-p))
    return float((bce * mask).sum() / max(mask.sum(), 1.0))
