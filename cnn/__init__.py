"""The networks: the spectrogram CNN and the fine-tuned musicnn; input pipeline, masked training, prediction.

>>> from cnn import CNNConfig, train_cnn, CNNModel
>>> model = train_cnn(cache, Y_true, Y_mask, fit_idx, val_idx, CNNConfig.quick(), "runs/cnn")
>>> proba = model.predict_proba(cache, test_idx)          # (n_test, 20)
>>> CNNModel.load("runs/cnn").thresholds_                  # (20,), chosen on validation

>>> from cnn import FinetuneConfig, train_finetune         # musicnn with a new head
>>> ft = train_finetune(embeddings, Y_true, Y_mask, fit_idx, val_idx, FinetuneConfig(), "runs/ft")

Both are trained by one loop, `train_network`.
"""

from cnn.augment import mixup, mixup_labels, random_crop, random_gain, spec_augment
from cnn.config import CNNConfig, TrainingConfig
from cnn.data import RowReader, band_statistics, training_dataset
from cnn.finetune import FinetuneModel, train_finetune
from cnn.finetune_config import FinetuneConfig
from cnn.losses import MaskedBinaryCrossentropy, masked_bce, pack_targets
from cnn.model import build_model, model_cost
from cnn.predict import CNNModel, TrainedNetwork
from cnn.train import train_cnn, train_network

__all__ = [
    "CNNConfig",
    "CNNModel",
    "FinetuneConfig",
    "FinetuneModel",
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
    "train_finetune",
    "train_network",
    "training_dataset",
]
