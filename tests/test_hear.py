"""features.hear and --embeddings hear:MODULE: a HEAR 2021 module as an embedding, and every error.

The module is ``tests/hear_toy.py`` (a fixed random projection of a log-mel, NumPy); the broken
modules below are written into a temporary folder, each breaking one rule of the API.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import hear_toy
import librosa
import numpy as np
import pytest
import soundfile as sf
from conftest import REAL_CLIP

import compare
from features.extract import extract_dataset
from features.hear import (
    HearError,
    embed_clip,
    identity,
    parse_spec,
    prepare_audio,
    reduce_frames,
    resolve_params,
)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

_WRAP = "import urllib.error\nimport numpy as np\nimport hear_toy\nfrom hear_toy import *\n"
BROKEN = {
    "hear_bad_noapi": "def get_scene_embeddings(audio, model):\n    return audio\n",
    "hear_bad_dep": "import no_such_dependency_xyz\n",
    "hear_bad_attrs": _WRAP + (
        "class Model:\n    scene_embedding_size = 32\n    timestamp_embedding_size = 32\n"
        "def load_model(model_file_path=''):\n    return Model()\n"),
    "hear_bad_offline": _WRAP + (
        "def load_model(model_file_path=''):\n"
        "    raise urllib.error.URLError('[Errno -3] Temporary failure in name resolution')\n"),
    "hear_bad_size": _WRAP + (
        "def get_timestamp_embeddings(audio, model):\n"
        "    e, t = hear_toy.get_timestamp_embeddings(audio, model)\n    return e[..., :5], t\n"),
    "hear_bad_tuple": _WRAP + (
        "def get_timestamp_embeddings(audio, model):\n"
        "    return hear_toy.get_timestamp_embeddings(audio, model)[0]\n"),
    "hear_bad_nan": _WRAP + (
        "def get_timestamp_embeddings(audio, model):\n"
        "    e, t = hear_toy.get_timestamp_embeddings(audio, model)\n    return e * np.nan, t\n"),
    # Right when probed (first call), wrong on the clips (later calls): caught in the extraction.
    "hear_bad_nan_later": _WRAP + (
        "N = [0]\ndef get_timestamp_embeddings(audio, model):\n    N[0] += 1\n"
        "    e, t = hear_toy.get_timestamp_embeddings(audio, model)\n"
        "    return (e if N[0] == 1 else e * np.nan), t\n"),
    "hear_bad_frames_later": _WRAP + (
        "N = [0]\ndef get_timestamp_embeddings(audio, model):\n    N[0] += 1\n"
        "    e, t = hear_toy.get_timestamp_embeddings(audio, model)\n"
        "    return (e if N[0] == 1 else e[:, :150]), t\n"),
    "hear_scene_only": "from hear_toy import load_model, get_scene_embeddings\n",
    # The toy behind a TensorFlow model and a PyTorch one: each must be given its framework's tensor.
    "hear_tf": (
        "import tensorflow as tf\nimport hear_toy\n"
        "class Model(tf.Module):\n    sample_rate = 16000\n    scene_embedding_size = 32\n"
        "    timestamp_embedding_size = 32\n"
        "def load_model(model_file_path=''):\n    return Model()\n"
        "def get_timestamp_embeddings(audio, model):\n"
        "    assert isinstance(audio, tf.Tensor) and audio.dtype == tf.float32, type(audio)\n"
        "    e, t = hear_toy.get_timestamp_embeddings(audio.numpy(), hear_toy.load_model())\n"
        "    return tf.constant(e), tf.constant(t)\n"
        "def get_scene_embeddings(audio, model):\n"
        "    return tf.reduce_mean(get_timestamp_embeddings(audio, model)[0], axis=1)\n"),
    "hear_torch": (
        "import torch\nimport hear_toy\n"
        "class Model(torch.nn.Module):\n    sample_rate = 16000\n    scene_embedding_size = 32\n"
        "    timestamp_embedding_size = 32\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.scale = torch.nn.Parameter(torch.ones(1))\n"
        "def load_model(model_file_path=''):\n    return Model()\n"
        "def get_timestamp_embeddings(audio, model):\n"
        "    assert isinstance(audio, torch.Tensor) and audio.dtype == torch.float32, type(audio)\n"
        "    assert not torch.is_grad_enabled()\n"
        "    e, t = hear_toy.get_timestamp_embeddings(audio.cpu().numpy(), hear_toy.load_model())\n"
        "    return torch.from_numpy(e) * model.scale, torch.from_numpy(t)\n"
        "def get_scene_embeddings(audio, model):\n"
        "    return get_timestamp_embeddings(audio, model)[0].mean(dim=1)\n"),
}


@pytest.fixture(scope="module")
def modules(tmp_path_factory) -> Path:
    """A folder of the modules of `BROKEN`, put on sys.path."""
    folder = tmp_path_factory.mktemp("hear_modules")
    for name, source in BROKEN.items():
        (folder / f"{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def clip():
    """The real OpenMIC clip, decoded as the feature cache decodes it: (2, 441000) at 44.1 kHz."""
    from features.audio import load_audio

    return load_audio(REAL_CLIP)


def _toy_reference(path: Path) -> np.ndarray:
    """The toy's 199 timestamps of a 10 s file, straight from its functions (librosa decodes)."""
    y, _ = librosa.load(path, sr=hear_toy.SAMPLE_RATE, mono=True, res_type="soxr_hq")
    y = np.clip(np.pad(y, (0, max(0, 160000 - len(y))))[:160000], -1, 1)
    emb, _ = hear_toy.get_timestamp_embeddings(y[None], hear_toy.load_model())
    return emb[0]


# ------------------------------------------------------------------------ the extractor


def test_parse_spec_splits_module_and_weights():
    assert parse_spec("hear:hear21passt.base") == ("hear21passt.base", "")
    assert parse_spec("hear:pkg.mod:/w/a:b.pt") == ("pkg.mod", "/w/a:b.pt")
    for bad in ("hear:", "hear:1abc", "hear:a..b", "musicnn"):
        with pytest.raises(HearError, match="hear:MODULE"):
            parse_spec(bad)


def test_prepare_audio_is_mono_at_the_models_rate_10_s_in_range():
    rng = np.random.default_rng(0)
    y = rng.uniform(-1, 1, size=(2, 44100 * 12)).astype(np.float32)  # 12 s stereo
    out = prepare_audio(y, 44100, 16000)
    assert out.shape == (160000,) and out.dtype == np.float32
    assert np.abs(out).max() <= 1.0
    reference = librosa.resample(y.mean(axis=0), orig_sr=44100, target_sr=16000, res_type="soxr_hq")
    np.testing.assert_allclose(out, np.clip(reference[:160000], -1, 1), atol=1e-6)
    short = prepare_audio(y[:, :44100], 44100, 22050)  # 1 s: padded with zeros to 10 s
    assert short.shape == (220500,) and np.all(short[22050 + 10:] == 0) and np.abs(short[:22000]).max() > 0.1


@pytest.mark.parametrize("n", [3, 10, 11, 199])
def test_reduce_frames_averages_consecutive_groups(n):
    frames = np.random.default_rng(n).standard_normal((n, 4)).astype(np.float32)
    out = reduce_frames(frames, 10)
    if n <= 10:
        np.testing.assert_array_equal(out, frames)
        return
    bounds = [round(i * n / 10) for i in range(11)]
    expected = [frames[bounds[i]:bounds[i + 1]].astype(np.float64).mean(axis=0) for i in range(10)]
    assert out.shape == (10, 4)
    np.testing.assert_allclose(out, np.array(expected), rtol=1e-6)
    sizes = np.diff(bounds)
    assert sizes.max() - sizes.min() <= 1


def test_toy_module_is_probed_and_embeds_a_clip_like_its_own_functions(clip):
    params = resolve_params("hear_toy")
    assert params["module"] == "hear_toy" and params["version"] == "0.1"
    assert params["source_sha256"] == hashlib.sha256((TESTS / "hear_toy.py").read_bytes()).hexdigest()
    assert (params["sample_rate"], params["kind"], params["n_timestamps"], params["n_frames"],
            params["dim"]) == (16000, "timestamp", 199, 10, 32)
    frames = embed_clip(*clip, params)
    assert frames.shape == (10, 32) and frames.dtype == np.float32
    np.testing.assert_allclose(frames, reduce_frames(_toy_reference(REAL_CLIP), 10), atol=1e-4)
    assert np.abs(frames).max() > 1  # not a row of zeros


def test_scene_only_module_gives_one_frame(modules, clip):
    params = resolve_params("hear_scene_only")
    assert (params["kind"], params["n_frames"], params["dim"]) == ("scene", 1, 32)
    frames = embed_clip(*clip, params)
    np.testing.assert_allclose(frames[0], _toy_reference(REAL_CLIP).mean(axis=0), atol=1e-4)


@pytest.mark.parametrize("module, framework", [("hear_tf", "tensorflow"), ("hear_torch", "torch")])
def test_framework_models_get_their_tensors_and_give_the_toys_frames(modules, clip, module, framework):
    pytest.importorskip(framework)
    params = resolve_params(module)
    assert (params["n_timestamps"], params["dim"]) == (199, 32)
    np.testing.assert_allclose(embed_clip(*clip, params), reduce_frames(_toy_reference(REAL_CLIP), 10),
                               atol=1e-4)


def test_weights_file_is_loaded_and_its_hash_is_the_identity(tmp_path, clip):
    weights = tmp_path / "projection.npy"
    projection = np.random.default_rng(7).standard_normal((hear_toy.N_MELS, 8))
    np.save(weights, projection)
    params = resolve_params("hear_toy", str(weights))
    assert params["weights"] == str(weights.resolve())
    assert params["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert params["dim"] == 8  # the projection read from the file
    y, _ = librosa.load(REAL_CLIP, sr=16000, mono=True, res_type="soxr_hq")
    logmel = hear_toy.log_mel(np.clip(y[None, :160000], -1, 1).astype(np.float64), hear_toy.load_model())
    expected = reduce_frames((logmel[0] @ projection).astype(np.float32), 10)
    np.testing.assert_allclose(embed_clip(*clip, params), expected, atol=1e-4)


def test_check_identity_names_what_differs_from_a_runs_record(tmp_path):
    from features.hear import check_identity

    weights = tmp_path / "w.npy"
    np.save(weights, np.ones((hear_toy.N_MELS, 4)))
    recorded = identity("hear_toy", str(weights))
    check_identity(recorded)  # the same module and weights: nothing to say
    with pytest.raises(HearError, match=re.escape("version: run '0.0', here '0.1'")):
        check_identity({**recorded, "version": "0.0"})
    with pytest.raises(HearError, match="weights_sha256"):
        check_identity({**recorded, "weights_sha256": "0" * 64})
    with pytest.raises(HearError, match="is not there: put that file at that path"):
        check_identity({**recorded, "weights": str(tmp_path / "gone.npy")})


def test_cache_is_keyed_by_identity_and_resumes(openmic_factory, tmp_path):
    root = openmic_factory(n_clips=6)
    paths = sorted(root.glob("audio/*/*.ogg"))
    keys = [p.stem for p in paths]
    params = resolve_params("hear_toy")
    before = hear_toy.CALLS
    first = extract_dataset(paths, keys, "hear", tmp_path, params=params, n_jobs=1, progress=False,
                            chunk_size=2)
    assert hear_toy.CALLS - before == 6 and first.ok.all()
    assert first.data.shape == (6, 10, 32)
    np.testing.assert_allclose(first.data[0], reduce_frames(_toy_reference(paths[0]), 10), atol=1e-4)
    # Interrupted after two chunks: only the third is computed again.
    (first.path / "manifest.json").unlink()
    (first.path / "chunks" / "00002.json").unlink()
    before = hear_toy.CALLS
    again = extract_dataset(paths, keys, "hear", tmp_path, params=params, n_jobs=1, progress=False,
                            chunk_size=2)
    assert hear_toy.CALLS - before == 2 and again.path == first.path
    np.testing.assert_array_equal(again.data, first.data)
    # Another version of the module is another cache.
    other = extract_dataset(paths, keys, "hear", tmp_path, params={**params, "version": "0.2"},
                            n_jobs=1, progress=False, chunk_size=2)
    assert other.path != first.path


def test_identity_names_the_toolkits_version_for_its_own_musicnn():
    from importlib.metadata import version

    ident = identity("features.musicnn.hear")
    assert ident["version"] == version("openmic-compare")
    assert ident["weights"] == "" and ident["weights_sha256"] == ""


# ------------------------------------------------------------------------ errors


def _main_error(capsys, tmp_path, embedding: str, *extra: str) -> str:
    code = compare.main(["--data", str(tmp_path / "nowhere"), "--models", "lr", "--embeddings",
                         embedding, "--out", str(tmp_path / "run"), "--cache-dir",
                         str(tmp_path / "cache"), "--jobs", "1", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # stopped before any work
    return err


@pytest.mark.parametrize("embedding, words", [
    ("hear:no_such_hear_module", ["no module named 'no_such_hear_module'", "pip install"]),
    ("hear:hear_bad_dep", ["needs the module 'no_such_dependency_xyz'", "pip install"]),
    ("hear:hear_bad_noapi", ["does not implement", "load_model"]),
    ("hear:hear_bad_attrs", ["sample_rate='(missing)'", "positive integer"]),
    ("hear:hear_bad_offline", ["URLError", "offline", "hear:hear_bad_offline:/path/to/weights"]),
    ("hear:hear_toy:/no/such/weights.npy", ["/no/such/weights.npy", "does not exist"]),
    ("hear:hear_bad_size", ["shape (1, 199, 5)", "(1, ..., 32)"]),
    ("hear:hear_bad_tuple", ["must return (embeddings, timestamps)"]),
    ("hear:hear_bad_nan", ["NaN or infinite"]),
    ("hear:", ["hear:MODULE[:WEIGHTS_PATH]"]),
    ("hear:hear_toy,hear:hear_toy:/x.npy", ["twice"]),
])
def test_unusable_module_stops_before_any_work_with_what_to_do(modules, capsys, tmp_path,
                                                               embedding, words):
    err = _main_error(capsys, tmp_path, embedding)
    for word in words:
        assert word in err


def _run_subprocess(args, tmp_path, modules):
    env = {**os.environ, "OPENMIC_COMPARE_CACHE": str(tmp_path / "cache"), "OPENMIC_ROOT": "",
           "PYTHONPATH": os.pathsep.join([str(modules), str(TESTS)])}
    return subprocess.run([sys.executable, str(ROOT / "compare.py"), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("module, words", [
    ("hear_bad_nan_later", ["NaN or infinite"]),
    ("hear_bad_frames_later", ["gave 150 timestamps", "199"]),
])
def test_module_failing_on_the_clips_stops_the_extraction_with_exit_2(
    modules, openmic_factory, tmp_path, module, words
):
    root = openmic_factory()
    res = _run_subprocess(["--data", str(root), "--models", "lr", "--embeddings", f"hear:{module}",
                           "--out", str(tmp_path / "run"), "--jobs", "1"], tmp_path, modules)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    for word in words:
        assert word in res.stderr
    assert not (tmp_path / "cache" / "models").exists()  # nothing trained


def test_wav_of_another_rate_is_resampled_to_the_models(tmp_path):
    y = np.sin(2 * np.pi * 440 * np.arange(22050 * 10) / 22050).astype(np.float32) * 0.5
    sf.write(tmp_path / "tone.wav", y, 22050)
    from features.audio import load_audio

    decoded, sr = load_audio(tmp_path / "tone.wav")
    out = prepare_audio(decoded, sr, 16000)
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 440) < 1  # still 440 Hz at 16 kHz
