"""The spectrogram CNN: model, input pipeline, masked training, prediction.

>>> from cnn import CNNConfig, train_cnn, CNNModel
>>> model = train_cnn(cache, Y_true, Y_mask, fit_idx, val_idx, CNNConfig.quick(), "runs/cnn")
>>> proba = model.predict_proba(cache, test_idx)          # (n_test, 20)
>>> CNNModel.load("runs/cnn").thresholds_                  # (20,), chosen on validation

The training loop itself is `train_network`, for any `cnn.network.Network`.
"""

from cnn.augment import mixup, mixup_labels, random_crop, random_gain, spec_augment
from cnn.config import CNNConfig, TrainingConfig
from cnn.data import RowReader, band_statistics, training_dataset
from cnn.losses import MaskedBinaryCrossentropy, masked_bce, pack_targets
from cnn.model import build_model, model_cost
from cnn.predict import CNNModel, TrainedNetwork
from cnn.train import train_cnn, train_network

__all__ = [
    "CNNConfig",
    "CNNModel",
    "MaskedBinaryCrossentropy",
    "RowReader",
    "TrainedNetwork",
    "TrainingConfig",
    "band_statistics",
    "build_model",
    "masked_bce",
    "mixup",
    "mixup_labels",
    "model_cost",
    "pack_targets",
    "random_crop",
    "random_gain",
    "spec_augment",
    "train_cnn",
    "train_network",
    "training_dataset",
]
