"""A HEAR module (tests/hear_toy.py) end to end: compare.py trains and scores lr on it beside the
release embedding, run.json records it, and compare.py tag scores a test clip with it exactly as
the run did; tag refuses a module that changed since, or that is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hear_toy
import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_CLIPS, cache_with_demo

from features.hear import reduce_frames

# The whole pipeline on the rendered demo set: the slow tier (tests/conftest.py marks the tests
# that use it).

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
MODELS = ("lr@release", "lr@hear_toy")


def _run(args: list[str], work: Path, cache: Path, pythonpath: list[Path]):
    env = {**os.environ, "OPENMIC_COMPARE_CACHE": str(cache), "OPENMIC_ROOT": "",
           "PYTHONPATH": os.pathsep.join(map(str, pythonpath))}
    return subprocess.run([sys.executable, str(ROOT / "compare.py"), *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def hear_run(tmp_path_factory, demo_set):
    """``compare.py`` on a copy of the session's demo set (its 64 clips), lr on release and hear_toy."""
    work = tmp_path_factory.mktemp("hear_e2e")
    cache, run = cache_with_demo(work / "cache", demo_set), work / "run"
    res = _run(["--demo", "--demo-size", str(DEMO_CLIPS), "--models", "lr", "--embeddings",
                "release,hear:hear_toy", "--jobs", "2", "--out", str(run)], work, cache, [TESTS])
    assert res.returncode == 0, res.stderr[-3000:]
    return work, cache, run, res


def test_run_trains_and_scores_lr_on_the_hear_embedding(hear_run):
    _, _, run, res = hear_run
    info = json.loads((run / "run.json").read_text())
    assert set(info["models"]) == set(MODELS)
    emb = info["embeddings"]["hear_toy"]
    assert emb["dim"] == 32 and emb["frames_per_clip"] == 10
    assert emb["hear"]["module"] == "hear_toy" and emb["hear"]["version"] == hear_toy.__version__
    assert emb["hear"]["n_timestamps"] == 199 and emb["hear"]["kind"] == "timestamp"
    model_input = info["models"]["lr@hear_toy"]["input"]
    assert model_input["extractor"] == "hear" and model_input["params"]["module"] == "hear_toy"
    assert "Training lr@hear_toy" in res.stderr
    pred = np.load(run / "predictions.npz")
    proba = pred["proba_lr@hear_toy"]
    assert proba.shape == (len(pred["sample_key"]), 20) and np.isfinite(proba).all()
    assert proba.std() > 0  # not a constant prior
    metrics = pd.read_csv(run / "metrics.csv")
    macro = metrics[(metrics["model"] == "lr@hear_toy") & (metrics["instrument"] == "macro")]
    assert np.isfinite(macro.set_index("metric").loc["roc_auc", "value"])
    assert (run / "models" / "lr@hear_toy.joblib").is_file()
    assert "lr@hear_toy" in (run / "report.html").read_text()


def test_cached_rows_are_the_modules_own_embeddings_of_the_clips(hear_run):
    import librosa

    _, cache, _, _ = hear_run
    (folder,) = (cache / "features").glob("hear-*")
    manifest = json.loads((folder / "manifest.json").read_text())
    data = np.load(folder / "data.npy")
    demo = next((cache / "demo").glob(f"openmic-demo-{DEMO_CLIPS}-*"))
    for row in (0, len(manifest["keys"]) - 1):
        key = manifest["keys"][row]
        y, _ = librosa.load(demo / "audio" / key[:3] / f"{key}.ogg", sr=16000, mono=True,
                            res_type="soxr_hq")
        emb, _ = hear_toy.get_timestamp_embeddings(np.clip(y[None, :160000], -1, 1),
                                                   hear_toy.load_model())
        np.testing.assert_allclose(data[row], reduce_frames(emb[0], 10), atol=1e-4)


def _tag(hear_run, clip: Path, out: Path, pythonpath: list[Path]):
    work, cache, run, _ = hear_run
    return _run(["tag", str(clip), "--run", str(run), "--models", ",".join(MODELS),
                 "--out", str(out)], work, cache, pythonpath)


def _test_clip(hear_run) -> tuple[Path, int]:
    _, cache, run, _ = hear_run
    pred = np.load(run / "predictions.npz")
    key = str(pred["sample_key"][0])
    demo = next((cache / "demo").glob(f"openmic-demo-{DEMO_CLIPS}-*"))
    return demo / "audio" / key[:3] / f"{key}.ogg", 0


def test_tag_scores_a_test_clip_as_the_run_did(hear_run):
    work, _, run, _ = hear_run
    clip, row = _test_clip(hear_run)
    res = _tag(hear_run, clip, work / "tags", [TESTS])
    assert res.returncode == 0, res.stderr[-3000:]
    pred = np.load(run / "predictions.npz")
    classes = [str(c) for c in pred["classes"]]
    (record,) = json.loads((work / "tags" / "tags.json").read_text())["files"]
    for model in MODELS:
        got = [record["models"][model]["probability"][c] for c in classes]
        np.testing.assert_allclose(got, pred[f"proba_{model}"][row], rtol=0, atol=1e-6,
                                   err_msg=model)
    assert record["models"]["lr@hear_toy"]["n_windows"] == 1


def test_tag_of_a_long_file_slides_one_frame_per_window(hear_run, tmp_path):
    import soundfile as sf

    clip, _ = _test_clip(hear_run)
    y, sr = sf.read(clip, dtype="float32")
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([y, y[: sr * 5]]), sr)  # 15 s: windows at 0, 1, ..., 5 s
    res = _tag(hear_run, long, tmp_path / "tags", [TESTS])
    assert res.returncode == 0, res.stderr[-3000:]
    tags = pd.read_csv(tmp_path / "tags" / "tags.csv")
    starts = sorted(set(tags[(tags["model"] == "lr@hear_toy") & (tags["scope"] == "window")]["start_s"]))
    np.testing.assert_allclose(starts, np.arange(6.0))


def test_tag_refuses_a_changed_or_missing_module(hear_run, tmp_path):
    clip, _ = _test_clip(hear_run)
    changed = tmp_path / "changed"
    changed.mkdir()
    shutil.copyfile(TESTS / "hear_toy.py", changed / "hear_toy.py")
    with (changed / "hear_toy.py").open("a") as fh:
        fh.write("\n# edited after the run\n")
    res = _tag(hear_run, clip, tmp_path / "t1", [changed])
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "not the one the run's models were trained with" in res.stderr
    assert "source_sha256" in res.stderr and "lr@hear_toy" in res.stderr
    res = _tag(hear_run, clip, tmp_path / "t2", [])
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no module named 'hear_toy'" in res.stderr and "--models" in res.stderr
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()  # before any file


def test_tag_stops_with_exit_2_when_the_module_gives_nan_on_a_window(hear_run, tmp_path):
    """The run's lr@hear_toy pointed at a module that gives NaN (its recorded identity rewritten
    to that module's, so that the check before any file passes): the window fails, exit 2."""
    import hashlib

    work, cache, run, _ = hear_run
    clip, _ = _test_clip(hear_run)
    modules = tmp_path / "modules"
    modules.mkdir()
    source = ("import numpy as np\nimport hear_toy\nfrom hear_toy import get_scene_embeddings, "
              "load_model\n\ndef get_timestamp_embeddings(audio, model):\n"
              "    e, t = hear_toy.get_timestamp_embeddings(audio, model)\n    return e * np.nan, t\n")
    (modules / "hear_toy_nan.py").write_text(source)
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    info = json.loads((copy / "run.json").read_text())
    info["models"]["lr@hear_toy"]["input"]["params"].update(
        module="hear_toy_nan", version=None, source_sha256=hashlib.sha256(source.encode()).hexdigest())
    (copy / "run.json").write_text(json.dumps(info))
    res = _run(["tag", str(clip), "--run", str(copy), "--models", "lr@hear_toy", "--out",
                str(tmp_path / "tags")], work, cache, [modules, TESTS])
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert "hear_toy_nan.get_timestamp_embeddings returned NaN or infinite values" in res.stderr
