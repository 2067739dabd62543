"""`Network`: what the one training loop (`cnn.train.train_network`) needs to know about a model.

Each kind of network (the spectrogram CNN: `cnn.model.CNNNetwork`; the fine-tuned musicnn:
`cnn.finetune.FinetuneNetwork`) subclasses it; the loop does the rest: masked loss, schedule,
early stopping, checkpoints, exact resume, validation thresholds, saving.
"""

from __future__ import annotations

import keras
import numpy as np

from cnn.config import OUTPUT_LAYER, STREAM_CHUNK_CLIPS, TrainingConfig
from cnn.data import RowReader
from cnn.predict import TrainedNetwork


class Network:
    """What `train_network` needs to know about one kind of network; a subclass per model.

    Attributes
    ----------
    config : TrainingConfig
        The training settings (a subclass adds the model's own fields).
    result : type of TrainedNetwork
        What training returns and saves.
    layout : tuple of str
        Names of the axes of the cache it reads, ``("n_clips", ...)``.
    rows : str
        What a row holds, in words ("log-mel"), for error messages.
    predict_batch_clips : int
        Clips per forward pass when predicting the validation clips.
    """

    config: TrainingConfig
    result: type[TrainedNetwork]
    layout: tuple[str, ...]
    rows: str
    predict_batch_clips: int = STREAM_CHUNK_CLIPS

    def statistics(self, reader: RowReader, fit_idx: np.ndarray) -> dict:
        """JSON-able statistics of the training rows; none by default.

        Computed once per run and kept in the checkpoint state, so that a resumed run builds
        the same model.
        """
        return {}

    def build(self, statistics: dict, row_shape: tuple[int, ...], n_classes: int) -> keras.Model:
        """The uncompiled model: rows ``(batch, *row_shape)`` in, probabilities ``(batch, n_classes)`` out.

        Its last dense layer is named `cnn.config.OUTPUT_LAYER`. Weights are drawn from Keras'
        global seed, which `train_network` sets first.
        """
        raise NotImplementedError

    def initialise(self, model: keras.Model, output_bias: np.ndarray) -> None:
        """Starting weights after `build`: by default the output layer's bias is `output_bias`.

        `output_bias` [shape=(n_classes,)] holds the log-odds of each class's observed positive
        rate in the fit rows: the first predictions are the base rates, so the first steps learn
        features instead of base rates (and the initial loss is the entropy of the labels).
        """
        model.get_layer(OUTPUT_LAYER).bias.assign(output_bias)

    def augment(self, statistics: dict, x: np.ndarray, packed: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One training batch's augmentation (`cnn.data.training_dataset`); none by default."""
        return x, packed

    def example_shape(self, row_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one training example after `augment`; the row's by default."""
        return tuple(row_shape)

    def describe(self, statistics: dict, row_shape: tuple[int, ...], model: keras.Model) -> dict:
        """Entries of the saved metadata particular to this network (`model`: the trained one)."""
        return {}
