"""Tests of `musicnn-ft`, the pretrained musicnn fine-tuned with a new head (`cnn.finetune`).

Head-mode tests run on a small synthetic embedding set (each instrument k raises its own ten
features in one patch of the clips it is present in); the full-mode and end-to-end tests use the
real pretrained MTT_musicnn weights (fetched once per user cache, as in tests/test_musicnn.py)
and, end to end, the session's demo set of real rendered audio (tests/conftest.py `demo_set`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from interrupt import StopAfter

from cnn import (
    CNNModel,
    FinetuneConfig,
    FinetuneModel,
    MaskedBinaryCrossentropy,
    pack_targets,
    train_finetune,
)
from cnn.finetune import (
    FinetuneNetwork,
    backbone_model,
    backbone_of,
    build_finetune_model,
    layers_through,
)
from core.errors import DatasetError, ParameterError
from core.metrics import masked_map, masked_scores, mean_over_classes
from features.musicnn import params as musicnn_params
from features.musicnn.networks import musicnn
from features.musicnn.weights import fetch_weights

N_CLIPS, N_PATCHES, SIZE, N_CLASSES = 72, 3, 753, 20  # SIZE: the default layer, max_pool
FIT, VAL = np.arange(0, 56), np.arange(56, 72)


@pytest.fixture(scope="module")
def embeddings():
    """(X (72, 3, 753) float32, Y_true, Y_mask): learnable, about 60 % of the pairs observed."""
    rng = np.random.default_rng(0)
    present = rng.random((N_CLIPS, N_CLASSES)) < 0.4
    X = rng.normal(0.5, 1.0, (N_CLIPS, N_PATCHES, SIZE)).astype(np.float32)
    for i, k in zip(*np.nonzero(present), strict=True):
        X[i, rng.integers(N_PATCHES), 10 * k : 10 * k + 10] += 3.0
    Y_true = np.where(present, rng.uniform(0.75, 1.0, present.shape), rng.uniform(0.0, 0.25, present.shape))
    Y_mask = rng.random(present.shape) < 0.6
    Y_true[~Y_mask] = 0.5
    return X, Y_true, Y_mask


@pytest.fixture(scope="module")
def weights():
    """The verified pretrained checkpoints in the user cache (fetched with pip on first use)."""
    return fetch_weights(["MTT_musicnn"], progress=False)


def weights_of(model) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.model.get_weights()]


def test_masked_loss_gradient_of_the_head_equals_numpy_and_ignores_unobserved_pairs(embeddings):
    X, Y_true, Y_mask = embeddings
    x, rows = X[:8], slice(0, 8)
    mean, variance = X[FIT].reshape(-1, SIZE).mean(axis=0), X[FIT].reshape(-1, SIZE).var(axis=0)
    model = build_finetune_model(FinetuneConfig(dropout=0.0), N_CLASSES, mean, variance, n_patches=N_PATCHES)
    W = np.random.default_rng(1).normal(0, 0.05, (SIZE, N_CLASSES)).astype(np.float32)
    b = np.random.default_rng(2).normal(0, 0.5, N_CLASSES).astype(np.float32)
    model.get_layer("instruments").set_weights([W, b])

    def kernel_gradient(Y):
        packed = tf.constant(pack_targets(Y[rows], Y_mask[rows]))
        with tf.GradientTape() as tape:
            loss = MaskedBinaryCrossentropy()(packed, model(x, training=True))
        return tape.gradient(loss, model.get_layer("instruments").kernel).numpy()

    # Independent computation: standardise, sigmoid per patch, mean over patches, masked BCE.
    h = (x.astype(np.float64) - mean) / np.sqrt(variance)
    s = 1 / (1 + np.exp(-(h @ W + b)))                        # (8, 3, 20) patch probabilities
    p = s.mean(axis=1)                                        # (8, 20) clip probabilities
    y, m = (Y_true[rows] >= 0.5).astype(float), Y_mask[rows].astype(float)
    d_p = m * (p - y) / (p * (1 - p)) / m.sum()
    d_z = d_p[:, None, :] * s * (1 - s) / N_PATCHES
    expected = np.einsum("ntd,ntk->dk", h, d_z)
    got = kernel_gradient(Y_true)
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-7)
    # Unobserved relevances flipped: the very same gradient. Observed ones flipped: another.
    np.testing.assert_array_equal(kernel_gradient(np.where(Y_mask, Y_true, 1.0 - Y_true)), got)
    assert not np.allclose(kernel_gradient(np.where(Y_mask, 1.0 - Y_true, Y_true)), got)


@pytest.mark.slow  # trains a network
def test_head_training_ignores_unobserved_labels_and_learns(embeddings, tmp_path):
    X, Y_true, Y_mask = embeddings
    config = FinetuneConfig.quick(epochs=20, lr=1e-2)
    a = train_finetune(X, Y_true, Y_mask, FIT, VAL, config, tmp_path / "a", progress=False)
    b = train_finetune(X, np.where(Y_mask, Y_true, 1.0 - Y_true), Y_mask, FIT, VAL, config, tmp_path / "b",
                       progress=False)
    for wa, wb in zip(weights_of(a), weights_of(b), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.history["val_loss"].min() < a.history["val_loss"].iloc[0]
    assert masked_map(a.predict_proba(X, VAL), Y_true[VAL], Y_mask[VAL]) > 0.7  # random scores: 0.54


@pytest.mark.slow  # trains a network
@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_resume_after_an_interruption_equals_an_uninterrupted_run(embeddings, tmp_path, pooling):
    X, Y_true, Y_mask = embeddings
    config = FinetuneConfig(epochs=12, batch_size=16, patience=3, dense_units=16, pooling=pooling, lr=1e-2)
    whole = train_finetune(X, Y_true, Y_mask, FIT, VAL, config, tmp_path / "whole", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_finetune(X, Y_true, Y_mask, FIT, VAL, config, tmp_path / "resumed", progress=False,
                       callbacks=[StopAfter(2)])
    state = json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())
    assert state["epoch"] == 2 and len(state["statistics"]["mean"]) == SIZE
    resumed = train_finetune(X, Y_true, Y_mask, FIT, VAL, config, tmp_path / "resumed", progress=False)
    assert len(whole.history) > 3
    pd.testing.assert_frame_equal(resumed.history, whole.history)
    for wa, wb in zip(weights_of(whole), weights_of(resumed), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(resumed.thresholds_, whole.thresholds_)


@pytest.mark.slow  # trains a network
def test_save_load_round_trip(embeddings, tmp_path):
    X, Y_true, Y_mask = embeddings
    config = FinetuneConfig.quick(pooling="attention", dense_units=8)
    model = train_finetune(X, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "metadata.json", "model.keras"]
    loaded = FinetuneModel.load(tmp_path)
    idx = np.array([70, 3, 41])
    np.testing.assert_array_equal(loaded.predict_proba(X, idx), model.predict_proba(X, idx))
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)
    pd.testing.assert_frame_equal(loaded.history, model.history)
    assert loaded.facts == model.facts and loaded.facts["mode"] == "head"
    assert loaded.facts["trainable_params"] == SIZE * 8 + 8 + 2 * (8 * N_CLASSES + N_CLASSES)
    assert loaded.metadata["config"] == config.to_dict()
    # Another config in the same folder, another model class, rows of another shape: refused.
    with pytest.raises(ParameterError, match="another config"):
        train_finetune(X, Y_true, Y_mask, FIT, VAL, FinetuneConfig.quick(), tmp_path, progress=False)
    with pytest.raises(DatasetError, match="not a CNNModel"):
        CNNModel.load(tmp_path)
    with pytest.raises(ParameterError, match=r"rows of shape \(3, 753\)"):
        loaded.predict_proba(X[:, :, :200])


def test_bad_settings_raise(embeddings, tmp_path):
    X, Y_true, Y_mask = embeddings
    with pytest.raises(ParameterError, match="mode"):
        FinetuneConfig(mode="partial")
    with pytest.raises(ParameterError, match=r"layer must be one of .* for MTT_vgg"):
        FinetuneConfig(backbone="MTT_vgg")
    with pytest.raises(ParameterError, match="needs mode='full'"):
        FinetuneConfig(freeze_through="front_end")
    with pytest.raises(ParameterError, match=r"reads rows of shape \(3, 200\)"):
        train_finetune(X, Y_true, Y_mask, FIT, VAL, FinetuneConfig.quick(layer="penultimate"), tmp_path)


def patches_set(n: int, seed: int = 0) -> np.ndarray:
    """(n, 3, 187, 96) float16 log-mel-like patches: smooth noise in the networks' input range."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 3.0, (n, N_PATCHES, 1, musicnn_params.N_MELS))
    noise = rng.normal(0, 0.5, (n, N_PATCHES, musicnn_params.PATCH_FRAMES, musicnn_params.N_MELS))
    return np.clip(base + noise, 0, 9).astype(np.float16)


@pytest.mark.slow  # trains a network
def test_full_mode_keeps_frozen_layers_and_batch_norm_statistics(weights, embeddings, tmp_path):
    _, Y_true, Y_mask = embeddings
    patches = patches_set(12)
    fit, val = np.arange(8), np.arange(8, 12)
    config = FinetuneConfig.quick(mode="full", freeze_through="front_end", epochs=2, batch_size=4, lr=1e-2)
    model = train_finetune(patches, Y_true[:12], Y_mask[:12], fit, val, config, tmp_path, progress=False)
    before, after = musicnn("MTT_musicnn"), backbone_of(model.model)
    frozen = {layer.name for layer in layers_through(after, "front_end")}
    assert {"conv2d", "conv2d_4", "batch_normalization_5", "timbral", "front_end"} <= frozen
    assert "conv2d_5" not in frozen
    changed = set()
    for layer in after.layers:
        for w_after, w_before in zip(layer.weights, before.get_layer(layer.name).weights, strict=True):
            if not np.array_equal(np.asarray(w_after), np.asarray(w_before)):
                changed.add(f"{layer.name}/{w_before.name}")
    assert changed, "no backbone weight learnt"
    assert not {name for name in changed if name.split("/")[0] in frozen}
    # Batch norm runs in inference mode everywhere: no moving statistic moved, frozen or not.
    assert not {name for name in changed if "moving" in name}
    assert {"conv2d_5/kernel", "conv2d_7/kernel", "batch_normalization_6/gamma"} <= changed  # the mid-end
    assert "front_end" in model.facts["frozen"] and model.facts["mode"] == "full"
    assert model.facts["trainable_params"] < model.facts["params"]
    # The saved network (nested backbone, custom layers) predicts the same after loading.
    loaded = FinetuneModel.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(patches, val), model.predict_proba(patches, val), atol=1e-6)


@pytest.mark.slow  # trains a network
def test_full_mode_started_from_a_head_predicts_as_the_head_on_the_backbone_embeddings(weights, embeddings, tmp_path):
    _, Y_true, Y_mask = embeddings
    patches = patches_set(16, seed=1)
    head_config = FinetuneConfig.quick(pooling="max", dense_units=8)
    embedded = backbone_model(FinetuneConfig(mode="full")).predict(
        patches.reshape(-1, musicnn_params.PATCH_FRAMES, musicnn_params.N_MELS).astype(np.float32), verbose=0
    ).reshape(16, N_PATCHES, SIZE)
    head = train_finetune(embedded, Y_true[:16], Y_mask[:16], np.arange(12), np.arange(12, 16), head_config,
                          tmp_path, progress=False)
    network = FinetuneNetwork(FinetuneConfig.full(pooling="max", dense_units=8), head)
    statistics = network.statistics(None, np.arange(12))
    full = network.build(statistics, patches.shape[1:], N_CLASSES)
    network.initialise(full, np.zeros(N_CLASSES, np.float32))
    np.testing.assert_allclose(full.predict(patches.astype(np.float32), verbose=0),
                               head.predict_proba(embedded), atol=2e-5)
    with pytest.raises(ParameterError, match="same backbone, layer, pooling and dense_units"):
        FinetuneNetwork(FinetuneConfig.full(), head)


@pytest.fixture(scope="module")
def demo_root(demo_set):
    """The session's demo set: 64 clips of real rendered audio (OpenMIC's layout), read only."""
    return demo_set


def test_head_only_end_to_end_on_a_generated_demo_set(weights, demo_root, tmp_path):
    """The pipeline's stage: embeddings cached, head trained and published, reused on a rerun."""
    from pipeline.cache import StageCache
    from pipeline.finetune import FT_MODEL, finetune_features, finetune_results
    from pipeline.settings import Settings
    from pipeline.stages import load_data

    s = Settings(data=str(demo_root), cache_dir=str(tmp_path / "cache"), jobs=2, seed=0)
    data = load_data(demo_root, s)
    n = len(data.ds.sample_key)
    (tmp_path / "run" / "models").mkdir(parents=True)
    result = finetune_results(data, s, StageCache(tmp_path / "cache"), tmp_path / "run", mode="head")
    proba, info, problems = result.proba, result.info, result.problems
    assert result.seed_probas is None and info["seeds"] == [0]
    feats = finetune_features(data, s, tmp_path / "run", mode="head")
    assert feats.data.shape == (n, 3, SIZE) and feats.ok.all() and problems == {}
    assert feats.params["layer"] == FinetuneConfig().layer == "max_pool"
    assert proba.shape == (len(data.test_idx), N_CLASSES) and np.isfinite(proba).all()
    assert len(np.unique(proba[:, 0])) == len(data.test_idx)  # a prediction per clip, not a base rate
    scores = masked_scores(proba, *data.labels(data.test_idx))
    assert mean_over_classes(scores["roc_auc"]) > 0.6
    assert info["mode"] == "head" and "only the head was trained" in info["frozen"]
    assert info["reused_from_cache"] is False and info["selection"]
    saved = FinetuneModel.load(tmp_path / "run" / "models" / FT_MODEL)
    np.testing.assert_array_equal(saved.predict_proba(feats, data.test_idx), proba)
    # The same stage again: the published model, the same predictions.
    again = finetune_results(data, s, StageCache(tmp_path / "cache"), tmp_path / "run", mode="head")
    assert again.info["reused_from_cache"] is True and again.info["train_time_s"] == info["train_time_s"]
    np.testing.assert_array_equal(again.proba, proba)
    # Three seeds: the first is the model above (reused), the others train with seeds 1 and 2.
    three = finetune_results(data, dataclasses.replace(s, seeds=3), StageCache(tmp_path / "cache"),
                             tmp_path / "run", mode="head")
    assert three.info["seeds"] == [0, 1, 2] and three.seed_probas.shape == (3, *proba.shape)
    np.testing.assert_array_equal(three.proba, proba)
    np.testing.assert_array_equal(three.seed_probas[0], proba)
    assert [r["reused_from_cache"] for r in three.info["seed_runs"]] == [True, False, False]
    assert not np.allclose(three.seed_probas[1], proba) and not np.allclose(three.seed_probas[2], three.seed_probas[1])
    for k in (1, 2):  # each seed's model is a model of its own, as good as the first
        assert mean_over_classes(masked_scores(three.seed_probas[k], *data.labels(data.test_idx))["roc_auc"]) > 0.6
    np.testing.assert_array_equal(FinetuneModel.load(tmp_path / "run" / "models" / FT_MODEL)
                                  .predict_proba(feats, data.test_idx), proba)  # the run keeps seed 0's
    with pytest.raises(ParameterError, match=r"holds embeddings of .* 'layer': 'max_pool'"):
        train_finetune(feats, *data.labels(np.arange(n)), data.fit_idx, data.val_idx,
                       FinetuneConfig(layer="penultimate"), tmp_path / "x")
