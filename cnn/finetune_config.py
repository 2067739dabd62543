"""Every setting of `musicnn-ft`, the fine-tuned musicnn (`cnn.finetune`): `FinetuneConfig`.

The head mode's defaults were chosen on the validation split (56 clips) of the 500-clip demo set,
mean of seeds 0-2 (`benchmarks/bench_finetune_demo.py`). Validation mAP with a linear head and
mean pooling, by MTT_musicnn layer: max_pool (753) 0.787, max_pool and mean_pool side by side
(1506) 0.783, mean_pool 0.757, penultimate (200) 0.716; MTT_vgg's pool5 (256) 0.725, although
its forward pass costs half of MTT_musicnn's (19 vs 36 CPU ms per patch). A dense head of 256
ReLU units was no better on any layer (max_pool 0.785). Pooling the patch probabilities on
max_pool: mean 0.787, max 0.785, attention 0.765.

The full mode's defaults are a learning rate ten times lower, a start from the head-mode model
(`cnn.finetune`) and fewer epochs. Its input batch norm (two weights, before the front-end
convolutions) stays frozen: training it needs the gradient through every front-end convolution
back to the input, half of a training step's CPU time (`benchmarks/bench_finetune.py`, two
cores, per clip of 3 patches: 1.15 CPU s with it frozen, 2.29 without, 0.18 with the whole front
end frozen; the wall time falls less, 1.37 to 1.15 s, as the rest runs on one core).
"""

from __future__ import annotations

from dataclasses import dataclass

from cnn.config import TrainingConfig
from core.errors import ParameterError
from features.musicnn import params as musicnn_params

MODES = ("head", "full")
POOLINGS = ("mean", "max", "attention")


@dataclass
class FinetuneConfig(TrainingConfig):
    """Hyper-parameters of the fine-tuned musicnn and its training.

    Training: the fields of `TrainingConfig` (defaults here for the head mode; `full()` gives
    the full mode's).
    Model
        mode : "head" trains only a new head on cached embeddings of the frozen backbone (rows
            ``(n_patches, size)`` of the "musicnn" feature cache); "full" trains the backbone
            too, from the log-mel patches (rows ``(n_patches, 187, 96)`` of "musicnn_patches").
        backbone : the pretrained network (`features.musicnn.params.MODELS`).
        layer : the per-patch embedding the head reads (a key of
            `features.musicnn.params.PATCH_EMBEDDING_SIZES` for the backbone's family).
        pooling : how patch probabilities become clip probabilities: "mean", "max" or
            "attention" (`cnn.patches.AttentionPooling`).
        dense_units : hidden ReLU units of the head (0: a linear head per patch).
        dropout : dropout rate before the head's layers.
        freeze_through : full mode only: a backbone layer (e.g. "batch_normalization", the
            input's, "front_end" or "cnn1" for musicnn; "pool2" for VGG); it and every layer it
            depends on stay frozen. None trains every backbone weight.
    """

    mode: str = "head"
    backbone: str = "MTT_musicnn"
    layer: str = "max_pool"
    pooling: str = "mean"
    dense_units: int = 0
    dropout: float = 0.25
    freeze_through: str | None = None
    epochs: int = 100
    lr: float = 1e-3
    patience: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_non_negative("dense_units")
        if self.mode not in MODES:
            raise ParameterError(f"FinetuneConfig.mode must be one of {MODES}, given {self.mode!r}")
        if self.backbone not in musicnn_params.MODELS:
            raise ParameterError(
                f"FinetuneConfig.backbone must be one of {musicnn_params.MODELS}, given {self.backbone!r}"
            )
        layers = musicnn_params.PATCH_EMBEDDING_SIZES[musicnn_params.FAMILY[self.backbone]]
        if self.layer not in layers:
            raise ParameterError(
                f"FinetuneConfig.layer must be one of {sorted(layers)} for {self.backbone}, "
                f"given {self.layer!r}"
            )
        if self.pooling not in POOLINGS:
            raise ParameterError(f"FinetuneConfig.pooling must be one of {POOLINGS}, given {self.pooling!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"FinetuneConfig.dropout must be in [0, 1), given {self.dropout!r}")
        if self.freeze_through is not None and self.mode != "full":
            raise ParameterError(
                f"FinetuneConfig.freeze_through={self.freeze_through!r} needs mode='full' "
                "(in head mode the whole backbone is frozen)"
            )

    @property
    def embedding_size(self) -> int:
        """Size of the per-patch embedding `layer`."""
        family = musicnn_params.FAMILY[self.backbone]
        return musicnn_params.PATCH_EMBEDDING_SIZES[family][self.layer]

    @classmethod
    def full(cls, **overrides) -> FinetuneConfig:
        """The full mode's defaults: the backbone trains too (not its input batch norm), slower."""
        settings = dict(mode="full", epochs=15, lr=1e-4, patience=5, batch_size=16,
                        freeze_through="batch_normalization")
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def quick(cls, **overrides) -> FinetuneConfig:
        """A tiny, fast configuration for tests and smoke runs."""
        settings = dict(epochs=3, batch_size=8, patience=0)
        settings.update(overrides)
        return cls(**settings)

    def head_fields(self) -> dict:
        """The fields a head-mode model must share to start a full-mode run (`cnn.finetune`)."""
        return {name: getattr(self, name) for name in ("backbone", "layer", "pooling", "dense_units")}

