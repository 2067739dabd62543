"""Tests of the VGGish network, its TF1 checkpoint loader and the PCA/quantisation step.

The official weights are never downloaded here: the tests write a TF1 checkpoint with the official
variable names and shapes and random values, and check the Keras network against numpy.
"""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from core.errors import DatasetError, ParameterError
from features import vggish_model as vm
from features.vggish import file_to_examples

CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"
SHAPES = {  # the official variables, written out independently of the module's table
    "conv1": (3, 3, 1, 64), "conv2": (3, 3, 64, 128),
    "conv3/conv3_1": (3, 3, 128, 256), "conv3/conv3_2": (3, 3, 256, 256),
    "conv4/conv4_1": (3, 3, 256, 512), "conv4/conv4_2": (3, 3, 512, 512),
    "fc1/fc1_1": (12288, 4096), "fc1/fc1_2": (4096, 4096), "fc2": (4096, 128),
}


def write_tf1_checkpoint(path: Path, variables: dict[str, np.ndarray]) -> Path:
    """Save `variables` under their names with a TF1 graph Saver in the V1 single-file format."""
    with tf.Graph().as_default():
        feeds, var_list = {}, {}
        for name, value in variables.items():
            ph = tf.compat.v1.placeholder(tf.float32, value.shape)
            var_list[name] = tf.compat.v1.Variable(ph)
            feeds[ph] = value
        saver = tf.compat.v1.train.Saver(var_list, write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer(), feed_dict=feeds)
            saver.save(sess, str(path), write_meta_graph=False)
    return path


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for scope, shape in SHAPES.items():
        fan_in = int(np.prod(shape[:-1]))
        out[f"vggish/{scope}/weights"] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
        out[f"vggish/{scope}/biases"] = rng.normal(0, 0.05, shape[-1]).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def checkpoint(weights, tmp_path_factory) -> Path:
    return write_tf1_checkpoint(tmp_path_factory.mktemp("ckpt") / "vggish_model.ckpt", weights)


@pytest.fixture(scope="module")
def pca_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(1)
    vectors, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    path = tmp_path_factory.mktemp("pca") / "vggish_pca_params.npz"
    np.savez(path, pca_eigen_vectors=vectors * 0.5, pca_means=rng.normal(0, 1, (128, 1)))
    return path


@pytest.fixture(scope="module")
def vggish(checkpoint, pca_file) -> vm.VGGish:
    return vm.VGGish.from_files(checkpoint, pca_file)


@pytest.fixture(scope="module")
def examples() -> np.ndarray:
    return file_to_examples(CLIP, resampler="soxr_hq")[:2]


@pytest.fixture(scope="module")
def numpy_fc2(examples, weights) -> np.ndarray:
    """fc2 output before its activation, computed by `numpy_vggish`."""
    return numpy_vggish(examples, weights)


def numpy_vggish(x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """Plain numpy VGGish up to fc2's linear output: 3x3 SAME convolutions as 9 shifted matmuls, 2x2 max-pools by reshape."""

    def conv(x, scope):
        kernel, bias = w[f"vggish/{scope}/weights"], w[f"vggish/{scope}/biases"]
        _, h, wd, _ = x.shape
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = sum(padded[:, dy : dy + h, dx : dx + wd] @ kernel[dy, dx] for dy in range(3) for dx in range(3))
        return np.maximum(out + bias, 0)

    def pool(x):
        n, h, wd, c = x.shape
        return x.reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))

    def dense(x, scope, relu=True):
        out = x @ w[f"vggish/{scope}/weights"] + w[f"vggish/{scope}/biases"]
        return np.maximum(out, 0) if relu else out

    x = x[..., None].astype(np.float64)
    x = pool(conv(x, "conv1"))
    x = pool(conv(x, "conv2"))
    x = pool(conv(conv(x, "conv3/conv3_1"), "conv3/conv3_2"))
    x = pool(conv(conv(x, "conv4/conv4_1"), "conv4/conv4_2"))
    x = x.reshape(len(x), -1)  # (h, w, c) order
    x = dense(dense(x, "fc1/fc1_1"), "fc1/fc1_2")
    return dense(x, "fc2", relu=False)


def test_every_variable_lands_in_its_layer(vggish, weights):
    model = vggish.model
    assert model.input_shape == (None, 96, 64, 1) and model.output_shape == (None, 128)
    assert model.count_params() == sum(v.size for v in weights.values())
    for scope in SHAPES:
        kernel, bias = model.get_layer(scope.split("/")[-1]).get_weights()
        np.testing.assert_array_equal(kernel, weights[f"vggish/{scope}/weights"])
        np.testing.assert_array_equal(bias, weights[f"vggish/{scope}/biases"])


@pytest.mark.parametrize("fc2_relu", [True, False])
def test_forward_pass_matches_numpy(vggish, examples, numpy_fc2, fc2_relu):
    model = vm.build_vggish(fc2_relu=fc2_relu)
    model.set_weights(vggish.model.get_weights())
    got = model.predict(examples[..., None], verbose=0)
    expected = np.maximum(numpy_fc2, 0) if fc2_relu else numpy_fc2
    assert got.shape == (2, 128)
    assert np.abs(expected).max() > 0.1  # the random network does carry signal
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())
    assert (got.min() >= 0) == fc2_relu


def test_bad_checkpoint_names_every_problem(tmp_path):
    path = write_tf1_checkpoint(
        tmp_path / "bad.ckpt",
        {"vggish/conv1/weights": np.zeros((3, 3, 1, 32), np.float32), "vggish/conv1/biases": np.zeros(64, np.float32)},
    )
    with pytest.raises(DatasetError) as err:
        vm.load_checkpoint(vm.build_vggish(), path)
    message = str(err.value)
    assert "vggish/conv1/weights has shape (3, 3, 1, 32), expected (3, 3, 1, 64)" in message
    assert "vggish/fc2/biases missing" in message and "vggish/conv1/biases" not in message
    with pytest.raises(DatasetError, match="cannot be read"):
        vm.load_checkpoint(vm.build_vggish(), tmp_path / "nothing.ckpt")


def test_postprocess_against_hand_computation(pca_file):
    pca = vm.PCAParams.load(pca_file)
    with np.load(pca_file) as npz:
        vectors, means = npz["pca_eigen_vectors"], npz["pca_means"][:, 0]
    emb = np.random.default_rng(2).normal(0, 3, (3, 128)).astype(np.float32)
    expected = np.zeros((3, 128), dtype=np.uint8)
    for i in range(3):
        for j in range(128):
            z = sum(vectors[j, k] * (float(emb[i, k]) - means[k]) for k in range(128))
            z = min(2.0, max(-2.0, z))
            expected[i, j] = int((z + 2.0) * 255.0 / 4.0)
    got = vm.postprocess(emb, pca)
    assert got.dtype == np.uint8
    assert (expected == 0).any() and (expected == 255).any()  # both clip edges exercised
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ParameterError, match=r"embeddings.shape=\(3, 64\)"):
        vm.postprocess(emb[:, :64], pca)


def test_bad_pca_file(tmp_path):
    path = tmp_path / "pca.npz"
    np.savez(path, pca_eigen_vectors=np.eye(64), pca_means=np.zeros((64, 1)))
    with pytest.raises(DatasetError, match=r"\(64, 64\)"):
        vm.PCAParams.load(path)


def test_embed_file_end_to_end(vggish, numpy_fc2):
    rows = vm.embed_file(CLIP, vggish=vggish, resampler="soxr_hq")
    assert rows.shape == (10, 128) and rows.dtype == np.uint8
    expected = vm.postprocess(np.maximum(numpy_fc2, 0), vggish.pca)
    assert np.abs(rows[:2].astype(int) - expected).max() <= 1  # float rounding at a step edge
    assert vggish.embed_examples(np.zeros((0, 96, 64))).shape == (0, 128)


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENMIC_COMPARE_CACHE", str(tmp_path))
    assert vm.weights_dir() == tmp_path / "vggish"
    with pytest.raises(DatasetError) as err:
        vm.fetch_weights(download=False)
    message = str(err.value)
    assert "https://storage.googleapis.com/audioset/vggish_model.ckpt" in message
    assert "https://storage.googleapis.com/audioset/vggish_pca_params.npz" in message
    assert str(tmp_path / "vggish") in message


def test_weights_in_cache_are_used(tmp_path, monkeypatch, checkpoint, pca_file):
    monkeypatch.setenv("OPENMIC_COMPARE_CACHE", str(tmp_path))
    (tmp_path / "vggish").mkdir()
    for src in (checkpoint, pca_file):
        (tmp_path / "vggish" / src.name).symlink_to(src)
    assert vm.fetch_weights(download=False) == (
        tmp_path / "vggish" / "vggish_model.ckpt", tmp_path / "vggish" / "vggish_pca_params.npz",
    )
