"""Keras layers that turn per-patch outputs into clip outputs (the fine-tuned musicnn, `cnn.finetune`).

A 10 s clip is three 3 s patches for musicnn. The fine-tuned network predicts per patch and
pools the patch probabilities into one clip probability per instrument, so that the masked
clip-level loss trains it:

* `MergePatches` / `SplitPatches` put every patch of a batch of clips through the backbone at
  once: ``(batch, n_patches, ...)`` -> ``(batch * n_patches, ...)`` and back;
* `InferenceMode` runs the backbone in inference mode even while the model trains;
* the clip pooling is Keras' `GlobalAveragePooling1D` or `GlobalMaxPooling1D` over the patch
  axis, or `AttentionPooling`: per instrument, a softmax over the patches of a learned score
  weights the patch probabilities (decision-level attention, as in Kong et al. 2019, "Weakly
  labelled AudioSet tagging with attention neural networks").

They are registered with Keras, so a saved model loads without custom objects.
"""

from __future__ import annotations

import math

import keras

PACKAGE = "openmic_cnn"


@keras.saving.register_keras_serializable(package=PACKAGE)
class MergePatches(keras.layers.Layer):
    """``(batch, n_patches, *patch_shape)`` -> ``(batch * n_patches, *patch_shape)``, clip-major."""

    def call(self, x):
        return keras.ops.reshape(x, (-1, *x.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, n_patches = input_shape[:2]
        merged = None if batch is None or n_patches is None else batch * n_patches
        return (merged, *input_shape[2:])


@keras.saving.register_keras_serializable(package=PACKAGE)
class SplitPatches(keras.layers.Layer):
    """``(batch * n_patches, *feature_shape)`` -> ``(batch, n_patches, prod(feature_shape))``.

    Parameters
    ----------
    n_patches : int
        Patches per clip (the inverse of `MergePatches` on the same batch).
    """

    def __init__(self, n_patches: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_patches = int(n_patches)

    def call(self, x):
        return keras.ops.reshape(x, (-1, self.n_patches, math.prod(x.shape[1:])))

    def compute_output_shape(self, input_shape):
        batch = None if input_shape[0] is None else input_shape[0] // self.n_patches
        return (batch, self.n_patches, math.prod(input_shape[1:]))

    def get_config(self) -> dict:
        return {**super().get_config(), "n_patches": self.n_patches}


@keras.saving.register_keras_serializable(package=PACKAGE)
class InferenceMode(keras.layers.Wrapper):
    """Call the wrapped layer (a backbone) with ``training=False`` always.

    Its batch norm then normalises with its moving statistics and never updates them, and its
    dropout is off, while its trainable weights still receive gradients. Passing
    ``training=False`` where a functional model is called is not enough: Keras 3 hands the outer
    model's ``training`` flag down to every layer of a nested model when it runs.
    """

    def call(self, inputs):
        return self.layer(inputs, training=False)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttentionPooling(keras.layers.Layer):
    """Clip probabilities: patch probabilities weighted by a softmax of scores over the patches.

    Called on ``[proba, scores]``, both ``(batch, n_patches, n_classes)``; returns
    ``(batch, n_classes)``, ``sum_t softmax_t(scores)[t, k] * proba[t, k]``. Equal scores give
    the mean of the patch probabilities; one dominant score gives that patch's probability.
    """

    def call(self, inputs):
        proba, scores = inputs
        weights = keras.ops.softmax(scores, axis=1)
        return keras.ops.sum(weights * proba, axis=1)

    def compute_output_shape(self, input_shapes):
        proba_shape = input_shapes[0]
        return (proba_shape[0], proba_shape[2])
