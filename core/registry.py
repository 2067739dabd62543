"""Every model and built-in embedding of the toolkit, declared once.

Settings (valid ``--models``, defaults), the stages (which function trains a model), the run's facts
(descriptions, labels), the report (classical vs network, display names) and ``compare.py tag``
(how a saved model is found and loaded) all read these entries. The entries are plain data: the
code they name is imported only where it runs (`load`), so this module imports nothing of the
project and every package may read it.

Adding a classifier trained on embeddings is one `ModelSpec` with ``kind="classical"`` plus its
implementation in ``baselines`` (the estimator, its grid and defaults in ``baselines.defaults``);
adding a network is one entry with ``kind="network"`` plus its stage function (see
``pipeline.stages.cnn_results``) and a model class with ``save``/``load``/``predict_proba``. An
embedding computed from audio is one `EmbeddingSpec` naming a feature-cache extractor
(``features.extractors``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """One model of the comparison.

    Attributes
    ----------
    id : str
        Its name in ``--models``; a classical model's id in a run is ``<id>@<embedding>``.
    kind : {"classical", "network"}
        "classical": a per-instrument classifier on a pooled embedding (`baselines`), selected by
        artist-grouped cross-validation; "network": trained on the fit part and early-stopped on
        the hold-out, with ``--seeds`` trainings.
    label : str
        Display name in reports and logs.
    description : str
        One line for the log and ``run.json``.
    default : bool
        Trained by a plain ``python compare.py``.
    stage : str or None
        ``"module:function"`` that trains a network for a run (returns a
        ``pipeline.stages.StageResult``); None for classical models (one stage serves them all:
        ``pipeline.stages.classical_results``).
    loader : str
        ``"module:Class"`` whose ``load(path)`` reads the saved model.
    saved_as : str
        Where the run folder keeps it, relative to ``models/``: ``{model}`` is the model's id in
        the run (``lr@musicnn.joblib``; a folder for a network).
    """

    id: str
    kind: str
    label: str
    description: str
    default: bool
    loader: str
    saved_as: str
    stage: str | None = None

    def load(self, path: Any) -> Any:
        """The saved model at `path`, read by `loader`."""
        return resolve(self.loader).load(path)


@dataclass(frozen=True)
class EmbeddingSpec:
    """One built-in embedding the classical models can be trained on.

    Attributes
    ----------
    name : str
        Its name in ``--embeddings`` and in model ids.
    description : str
    default : bool
    extractor : str or None
        The feature-cache extractor that computes it from audio; None for the dataset's own ``X``.
    """

    name: str
    description: str
    default: bool
    extractor: str | None


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "lr", "classical", "LR",
        "logistic regression per instrument on pooled embeddings (C and pooling by artist-grouped "
        "cross-validation)",
        default=True, loader="baselines:PerInstrumentModel", saved_as="{model}.joblib",
    ),
    ModelSpec(
        "xgb", "classical", "XGBoost",
        "XGBoost per instrument on pooled embeddings (depth, rate, trees and pooling by "
        "artist-grouped cross-validation)",
        default=True, loader="baselines:PerInstrumentModel", saved_as="{model}.joblib",
    ),
    ModelSpec(
        "rf", "classical", "RF",
        "official baseline: random forest (depth 8, 100 trees) on clip-mean embeddings, trained on "
        "all of split01_train",
        default=True, loader="baselines:PerInstrumentModel", saved_as="{model}.joblib",
    ),
    ModelSpec(
        "cnn", "network", "CNN",
        "spectrogram CNN on 128-band log-mel, masked BCE, trained from scratch",
        default=True, loader="cnn:CNNModel", saved_as="{model}", stage="pipeline.stages:cnn_results",
    ),
    # On request: its head mode would fit the default budget (on the 500-clip demo set its stage,
    # a second musicnn extraction of the max_pool layer and the head's training, took 94 s beside
    # the 265 s of the rest of a fresh default run), but on OpenMIC-2018 that extraction is about
    # 1.5 CPU hours.
    ModelSpec(
        "musicnn-ft", "network", "musicnn-ft",
        "pretrained musicnn (MTT_musicnn) with a new 20-way head, fine-tuned with masked BCE (its "
        "mode and what was frozen are in its facts)",
        default=False, loader="cnn:FinetuneModel", saved_as="{model}",
        stage="pipeline.finetune:finetune_results",
    ),
)

EMBEDDINGS: tuple[EmbeddingSpec, ...] = (
    EmbeddingSpec("release", "the dataset's own X: VGGish on OpenMIC-2018, a stand-in on the demo set",
                  default=True, extractor=None),
    EmbeddingSpec("musicnn", "the pretrained musicnn network's penultimate layer per 3 s patch, "
                  "computed from the audio", default=True, extractor="musicnn"),
)

BY_ID: dict[str, ModelSpec] = {spec.id: spec for spec in MODELS}


def model_ids(kind: str | None = None, *, default: bool | None = None) -> tuple[str, ...]:
    """Ids of the registered models, in registry order, of `kind` and `default` where given."""
    return tuple(m.id for m in MODELS
                 if (kind is None or m.kind == kind) and (default is None or m.default == default))


def embedding_names(*, default: bool | None = None) -> tuple[str, ...]:
    """Names of the built-in embeddings, in registry order."""
    return tuple(e.name for e in EMBEDDINGS if default is None or e.default == default)


def resolve(target: str) -> Any:
    """The object named ``"module:attribute"`` (imported now)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
