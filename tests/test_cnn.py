"""Tests of the spectrogram CNN on a small synthetic memory-mapped log-mel set.

Each instrument k raises its own six mel bands, so the labels are learnable; the set has the
cache layout of `features.extract` (n_clips, 128 mels, frames) float16, cropped to 200 frames.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from interrupt import StopAfter

from cnn import (
    CNNConfig,
    CNNModel,
    MaskedBinaryCrossentropy,
    RowReader,
    band_statistics,
    masked_bce,
    mixup_labels,
    model_cost,
    pack_targets,
    spec_augment,
    train_cnn,
)
from core.errors import DatasetError, ParameterError
from core.metrics import masked_map

N_CLIPS, N_MELS, N_FRAMES, N_CLASSES = 72, 128, 200, 20
FIT, VAL = np.arange(0, 56), np.arange(56, 72)
NO_AUG = dict(mixup_alpha=0.0, time_masks=0, freq_masks=0, gain_db=0.0)


class Cache:
    """The FeatureCache attributes the CNN reads."""

    def __init__(self, data, ok, params):
        self.data, self.ok, self.params = data, ok, params
        self.keys = np.array([f"{i:06d}_0" for i in range(len(data))])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("cnn") / "logmel.npy"
    present = rng.random((N_CLIPS, N_CLASSES)) < 0.4
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(N_CLIPS, N_MELS, N_FRAMES))
    for i in range(N_CLIPS):
        x = rng.normal(-5.0, 1.0, (N_MELS, N_FRAMES))
        for k in np.flatnonzero(present[i]):
            x[6 * k : 6 * k + 6] += 2.5
        out[i] = x
    out.flush()
    del out
    data = np.load(path, mmap_mode="r")
    Y_true = np.where(present, rng.uniform(0.75, 1.0, present.shape), rng.uniform(0.0, 0.25, present.shape))
    Y_mask = rng.random(present.shape) < 0.6
    Y_true[~Y_mask] = 0.5
    ok = np.ones(N_CLIPS, dtype=bool)
    return Cache(data, ok, {"n_mels": N_MELS}), Y_true, Y_mask


def weights_of(model: CNNModel) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.model.get_weights()]


def test_masked_loss_equals_numpy_by_hand():
    rng = np.random.default_rng(1)
    Y_true = rng.uniform(0, 1, (6, N_CLASSES))
    Y_mask = rng.random((6, N_CLASSES)) < 0.4
    proba = rng.uniform(0.05, 0.95, (6, N_CLASSES)).astype(np.float32)
    packed = pack_targets(Y_true, Y_mask)
    got = float(MaskedBinaryCrossentropy()(tf.constant(packed), tf.constant(proba)))
    t = (Y_true >= 0.5).astype(float)
    p = proba.astype(float)
    total = 0.0
    for i, k in zip(*np.nonzero(Y_mask), strict=True):
        total -= t[i, k] * np.log(p[i, k]) + (1 - t[i, k]) * np.log(1 - p[i, k])
    expected = total / Y_mask.sum()
    assert got == pytest.approx(expected, rel=1e-5)
    assert masked_bce(packed, proba) == pytest.approx(expected, rel=1e-9)
    # Soft targets use the confidences; unobserved targets are zeroed in the packed array.
    soft = pack_targets(Y_true, Y_mask, soft=True)
    np.testing.assert_array_equal(soft[:, :N_CLASSES], np.where(Y_mask, Y_true, 0).astype(np.float32))
    np.testing.assert_array_equal(soft[:, N_CLASSES:], Y_mask.astype(np.float32))
    # A batch without observed pairs has loss 0, not NaN.
    none = pack_targets(Y_true, np.zeros_like(Y_mask))
    assert float(MaskedBinaryCrossentropy()(tf.constant(none), tf.constant(proba))) == 0.0


def test_pack_targets_rejects_bad_mask():
    with pytest.raises(ParameterError, match="bool"):
        pack_targets(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ParameterError, match="shape"):
        pack_targets(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))


def test_mixup_label_rule_on_hand_example():
    # Five classes: both observed; a pos / b unobserved; a neg / b unobserved;
    # both unobserved; a unobserved / b pos.
    t_a = np.array([[1.0, 1.0, 0.0, 0.7, 0.3]])
    m_a = np.array([[True, True, True, False, False]])
    t_b = np.array([[0.0, 0.2, 0.9, 0.0, 0.8]])
    m_b = np.array([[True, False, False, False, True]])
    targets, mask = mixup_labels(t_a, m_a, t_b, m_b, np.array([0.25]))
    np.testing.assert_array_equal(mask, [[True, True, False, False, True]])
    np.testing.assert_allclose(targets, [[0.25, 1.0, 0.0, 0.0, 0.8]])


def test_spec_augment_fills_masks_with_band_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 16, 50)).astype(np.float32)
    fill = np.arange(16, dtype=np.float32) + 100
    out = spec_augment(x, fill, rng, time_masks=2, time_mask_frames=10, freq_masks=1, freq_mask_bands=4)
    changed = out != x
    assert changed.any()
    rows = np.nonzero(changed)[1]
    np.testing.assert_array_equal(out[changed], fill[rows])


def test_row_reader_and_band_statistics_match_numpy(dataset):
    cache, _, _ = dataset
    reader = RowReader(cache.data)
    idx = np.array([5, 3, 70, 3])
    np.testing.assert_array_equal(reader.read(idx), cache.data[idx].astype(np.float32))
    mean, var = band_statistics(reader, FIT)
    x = cache.data[FIT].astype(np.float64)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-10)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-8)
    plain = RowReader(np.asarray(cache.data[:10]))  # not a whole-file memmap: indexing path
    np.testing.assert_array_equal(plain.read(np.array([9, 0])), cache.data[[9, 0]].astype(np.float32))


def test_model_cost_counts_macs():
    cost = model_cost(CNNConfig(), n_mels=128, n_frames=1000)
    # Stem 5x5 stride (2, 4) on 128 x 1000 -> 64 x 250 x 16 channels.
    stem = 64 * 250 * 16 * 25
    assert cost["macs"] > stem
    assert cost["trainable_params"] < cost["params"]
    assert model_cost(CNNConfig(width=32))["macs"] > 3 * cost["macs"]


@pytest.mark.slow  # trains a network
def test_unobserved_labels_have_no_influence(dataset, tmp_path):
    cache, Y_true, Y_mask = dataset
    config = CNNConfig.quick(epochs=1, mixup_alpha=0.4)  # mixup on: the mask rule is exercised
    a = train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path / "a", progress=False)
    changed = np.where(Y_mask, Y_true, 1.0 - Y_true)  # flip every unobserved relevance
    b = train_cnn(cache, changed, Y_mask, FIT, VAL, config, tmp_path / "b", progress=False)
    for wa, wb in zip(weights_of(a), weights_of(b), strict=True):
        assert np.array_equal(wa, wb)
    changed_obs = np.where(Y_mask, 1.0 - Y_true, Y_true)  # control: observed labels do matter
    c = train_cnn(cache, changed_obs, Y_mask, FIT, VAL, config, tmp_path / "c", progress=False)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(weights_of(a), weights_of(c), strict=True))


@pytest.mark.slow  # trains a network
def test_training_lowers_validation_loss_and_saves_model(dataset, tmp_path):
    cache, Y_true, Y_mask = dataset
    config = CNNConfig.quick(epochs=5, **NO_AUG)
    model = train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False)
    h = model.history
    assert list(h.columns) == ["epoch", "loss", "val_loss", "val_map", "lr"]
    assert h["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert h["val_loss"].iloc[-1] < h["val_loss"].iloc[0]
    assert h["lr"].iloc[-1] < h["lr"].iloc[0]
    assert model.thresholds_.shape == (N_CLASSES,)
    saved = pd.read_csv(tmp_path / "history.csv")
    np.testing.assert_allclose(saved["val_loss"], h["val_loss"])
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["frontend_params"] == {"n_mels": N_MELS}
    assert len(meta["normalisation"]["mean"]) == N_MELS and meta["config"] == config.to_dict()
    # The checkpoint files (Keras' backup, best weights, state) are gone; the model remains.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "metadata.json", "model.keras"]
    loaded = CNNModel.load(tmp_path)
    idx = np.array([60, 2, 33])
    proba = loaded.predict_proba(cache, idx)
    assert proba.shape == (3, N_CLASSES) and proba.dtype == np.float32
    np.testing.assert_allclose(proba, model.predict_proba(cache, idx), atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(np.asarray(cache.data[idx])), proba, atol=1e-6)
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)
    # A second call with the same folder and config returns the finished model.
    again = train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False)
    assert again.history["epoch"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ParameterError, match="another config"):
        train_cnn(cache, Y_true, Y_mask, FIT, VAL, CNNConfig.quick(epochs=6), tmp_path, progress=False)


@pytest.mark.slow  # trains a network
def test_resume_continues_at_saved_epoch(dataset, tmp_path):
    cache, Y_true, Y_mask = dataset
    config = CNNConfig.quick(epochs=4)
    with pytest.raises(KeyboardInterrupt):
        train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False,
                  callbacks=[StopAfter(1)])
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["epoch"] == 1 and (tmp_path / "backup").is_dir()
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [0, 1]
    first = state["history"]
    resumed = train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False)
    h = resumed.history
    assert h["epoch"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(h["loss"].iloc[:2], [r["loss"] for r in first])
    assert resumed.metadata["epochs_run"] == 4
    # The learning-rate schedule continued where it stopped (no restart of the warm-up).
    assert h["lr"].iloc[2] < h["lr"].iloc[1]


@pytest.mark.slow  # trains a network
def test_resume_refuses_a_state_the_backup_does_not_match(dataset, tmp_path):
    """A state file one epoch behind Keras' backup (interrupted between the two writes)."""
    cache, Y_true, Y_mask = dataset
    config = CNNConfig.quick(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False,
                  callbacks=[StopAfter(1)])
    path = tmp_path / "checkpoint.json"
    state = json.loads(path.read_text())
    state["epoch"], state["history"] = 0, state["history"][:1]
    path.write_text(json.dumps(state))
    with pytest.raises(DatasetError, match=r"checkpoint\.json records .* delete .*checkpoint\.json"):
        train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path, progress=False)


@pytest.mark.slow  # trains a network
def test_early_stopping_keeps_the_best_epoch_and_resumes_exactly(dataset, tmp_path):
    """Interrupted after epoch 2 (one epoch without improvement) and resumed: the same run."""
    cache, Y_true, Y_mask = dataset
    config = CNNConfig.quick(epochs=8, patience=2, lr=2e-2)  # dropout on: its seed state matters
    whole = train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path / "whole", progress=False)
    h = whole.history
    best = whole.metadata["best_epoch"]
    assert whole.metadata["epochs_run"] == best + 3 < 8  # stopped after two epochs without a better mAP
    assert best == int(np.argmax(h["val_map"])) and h["val_map"].iloc[best] > h["val_map"].iloc[-1]
    # The saved model holds the best epoch's weights, not the last epoch's.
    P_val = whole.predict_proba(cache, VAL)
    assert masked_map(P_val, Y_true[VAL], Y_mask[VAL]) == pytest.approx(h["val_map"].iloc[best], abs=1e-12)

    with pytest.raises(KeyboardInterrupt):
        train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path / "resumed", progress=False,
                  callbacks=[StopAfter(best + 1)])
    resumed = train_cnn(cache, Y_true, Y_mask, FIT, VAL, config, tmp_path / "resumed", progress=False)
    pd.testing.assert_frame_equal(resumed.history, h)
    for wa, wb in zip(weights_of(whole), weights_of(resumed), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(resumed.thresholds_, whole.thresholds_)


@pytest.mark.slow  # trains a network
def test_soft_targets_and_not_ok_rows(dataset, tmp_path):
    cache, Y_true, Y_mask = dataset
    ok = cache.ok.copy()
    ok[[0, 60]] = False
    partial = Cache(cache.data, ok, cache.params)
    model = train_cnn(partial, Y_true, Y_mask, FIT, VAL, CNNConfig.quick(epochs=2, soft_targets=True),
                      tmp_path, progress=False)
    assert model.metadata["soft_targets"] is True
    assert model.metadata["n_fit"] == len(FIT) - 1 and model.metadata["n_val"] == len(VAL) - 1
    assert np.isfinite(model.history[["loss", "val_loss"]].to_numpy()).all()


@pytest.mark.slow  # trains a network
def test_instrument_subset_trains_k_outputs(dataset, tmp_path):
    """compare.py --instruments passes Y[:, cols] and the class names: K outputs, not 20."""
    cache, Y_true, Y_mask = dataset
    cols, names = [3, 17], ("cello", "trumpet")
    model = train_cnn(cache, Y_true[:, cols], Y_mask[:, cols], FIT, VAL, CNNConfig.quick(epochs=1),
                      tmp_path, progress=False, classes=names)
    assert model.classes == names and model.thresholds_.shape == (2,)
    assert model.predict_proba(cache, VAL[:3]).shape == (3, 2)
    assert CNNModel.load(tmp_path).classes == names
    with pytest.raises(ParameterError, match="classes"):
        train_cnn(cache, Y_true[:, cols], Y_mask[:, cols], FIT, VAL, CNNConfig.quick(epochs=1),
                  tmp_path, progress=False, classes=("banjo", "voice"))


def test_bad_inputs_raise():
    with pytest.raises(ParameterError, match="n_clips, n_mels, n_frames"):
        train_cnn(np.zeros((4, 8)), np.zeros((4, 20)), np.zeros((4, 20), bool), [0], [1])
    with pytest.raises(ParameterError, match="one row per cache row"):
        train_cnn(np.zeros((4, 128, 64), np.float16), np.zeros((3, 20)), np.zeros((3, 20), bool), [0], [1])
    with pytest.raises(ParameterError, match="width"):
        CNNConfig(width=0)
