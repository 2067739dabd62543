"""One musicnn forward pass per clip for every layer a run reads, cached once.

The "musicnn_layers" extractor against the "musicnn" extractor run once per layer (the real
network and weights, the real fixture clip), `layer_cache` against that extractor's cache, and
the pipeline's use of it: the classical models' embedding and musicnn-ft's head-mode rows come
from one cache folder.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.errors import ParameterError
from features.extract import extract_dataset
from features.musicnn.extractor import clip_patches, layer_cache, patch_layers
from features.musicnn.weights import fetch_weights
from pipeline.embeddings import load_embedding, musicnn_cache, musicnn_layers
from pipeline.finetune import finetune_features
from pipeline.settings import Settings

DATA = Path(__file__).parent / "data"
CLIP = DATA / "openmic" / "audio" / "000" / "000046_3840.ogg"
REFERENCE = DATA / "musicnn" / "reference.npz"
ATOL = 1e-4  # against the original TF1 graphs, as tests/test_musicnn.py


@pytest.fixture(scope="module")
def weights():
    return fetch_weights()


@pytest.fixture(scope="module")
def layered(tmp_path_factory, weights):
    folder = tmp_path_factory.mktemp("cache")
    paths, keys = [CLIP, folder / "missing.ogg"], ["real", "missing"]
    return extract_dataset(paths, keys, "musicnn_layers", folder, n_jobs=1, progress=False,
                           params={"layers": ["max_pool", "penultimate"]}), paths, keys, folder


def test_each_layer_equals_its_own_pass(layered):
    cache, paths, keys, folder = layered
    assert cache.data.shape == (2, 3, 753 + 200) and cache.data.dtype == np.float32
    assert cache.ok.tolist() == [True, False] and "missing" in cache.problems
    with np.load(REFERENCE) as reference:
        golden = {layer: reference[f"MTT_musicnn/{layer}"][:3].reshape(3, -1)
                  for layer in ("max_pool", "penultimate")}
    for layer in ("max_pool", "penultimate"):
        view = layer_cache(cache, layer)
        alone = extract_dataset(paths, keys, "musicnn", folder, params={"layer": layer}, n_jobs=1,
                                progress=False)
        assert view.data.shape == alone.data.shape
        np.testing.assert_array_equal(view.data, alone.data)  # the same values, bit for bit
        assert view.params == alone.params  # what a model records as its input
        assert view.ok.tolist() == alone.ok.tolist() and view.problems == alone.problems
        np.testing.assert_allclose(view.data[0], golden[layer], atol=ATOL, rtol=1e-5)


def test_patch_layers_batches_like_one_layer_at_a_time(weights):
    from features.audio import load_audio
    from features.musicnn.hear import pretrained

    y, sr = load_audio(CLIP)
    patches = np.concatenate([clip_patches(y, sr, {"n_patches": 3})] * 4)  # 12: two batches
    both = patch_layers(patches, "MTT_musicnn", ["penultimate", "taggram"])
    assert both["penultimate"].shape == (12, 200) and both["taggram"].shape == (12, 50)
    np.testing.assert_array_equal(both["penultimate"], pretrained().embed_patches(patches))
    with pytest.raises(ParameterError, match=r"given patches.shape=\(3, 96\)"):
        patch_layers(np.zeros((3, 96)), "MTT_musicnn", ["penultimate"])


def test_bad_layers_are_refused(layered, tmp_path):
    cache = layered[0]
    with pytest.raises(ParameterError, match=r"holds the layers \['max_pool', 'penultimate'\], given layer='taggram'"):
        layer_cache(cache, "taggram")
    for layers, match in ((["penultimate", "penultimate"], "distinct"), ("penultimate", "distinct"),
                          (["pool5"], r"given \['pool5'\]")):
        with pytest.raises(ParameterError, match=match):
            extract_dataset([CLIP], ["real"], "musicnn_layers", tmp_path, params={"layers": layers})


def test_the_layers_a_run_reads():
    default = Settings()
    assert musicnn_layers(default, "MTT_musicnn") == ["penultimate"]
    with_ft = Settings(models=("lr", "cnn", "musicnn-ft"))
    assert musicnn_layers(with_ft, "MTT_musicnn") == ["max_pool", "penultimate"]
    assert musicnn_layers(Settings(models=("musicnn-ft",), ft_mode="full"), "MTT_musicnn") == ["max_pool"]
    assert musicnn_layers(Settings(models=("lr", "musicnn-ft"), embeddings=("release",)),
                          "MTT_musicnn") == ["max_pool"]
    assert musicnn_layers(Settings(models=("cnn",)), "MTT_musicnn") == []
    assert musicnn_layers(with_ft, "MSD_musicnn") == []


def test_a_run_extracts_musicnn_once_for_the_embedding_and_musicnn_ft(tmp_path, weights):
    ds = SimpleNamespace(audio_path=np.array([CLIP, CLIP.with_name("gone.ogg")], dtype=object),
                         sample_key=np.array(["a", "b"]), root=CLIP.parent)
    data = SimpleNamespace(ds=ds)
    s = Settings(models=("lr", "musicnn-ft"), cache_dir=str(tmp_path), jobs=1)
    embedding = load_embedding("musicnn", data, s, tmp_path / "run")
    head = finetune_features(data, s, tmp_path / "run", mode="head")
    folders = sorted(p.name for p in (tmp_path / "features").iterdir())
    assert len(folders) == 1 and folders[0].startswith("musicnn_layers-")
    assert embedding.X.shape == (2, 3, 200) and head.data.shape == (2, 3, 753)
    assert embedding.input == {"extractor": "musicnn", "params": {
        "expected_duration_s": 10.0, "model": "MTT_musicnn", "n_patches": 3, "layer": "penultimate"}}
    assert head.params["layer"] == "max_pool" and head.path.name == folders[0]
    assert embedding.ok.tolist() == head.ok.tolist() == [True, False]
    again = musicnn_cache(data, s, tmp_path / "run", model="MTT_musicnn", layer="penultimate")
    np.testing.assert_array_equal(again.data, embedding.X)
