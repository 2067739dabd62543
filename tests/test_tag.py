"""`python compare.py tag`: a demo run's models on real audio files, against the run's own numbers.

The session's shared demo run (tests/conftest.py `pipeline_run`: 64 clips, --quick, every model
kind: lr, xgb, rf on the stand-in release embedding and on musicnn, the CNN and musicnn-ft) and
ONE tag command over every file below:

(a) a clip of the demo test split: its whole-file probabilities must equal the run's
    predictions.npz (written by the training pipeline) to 1e-6, for every model;
(b) a 2-minute file of six 20 s segments, each one instrument rendered solo by the demo's own
    renderer (FluidSynth, the demo's presets, rooms and noise) for artists of the test split:
    where a model learnt an instrument on this run (test ROC AUC >= 0.8 in the run's metrics.csv,
    with at least 2 positive and 2 negative test labels), that instrument's probability must be
    higher, on average, in the windows inside its segment than in the windows inside the others;
(c) the clip as FLAC (24-bit) and as MP3, written by libsndfile;
(d) a corrupt file, a file shorter than one frame and a silent file, beside the good ones;
(e) the page in headless Chromium.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import DEMO_CLIPS

from features.openmic import CLASSES
from tagging.stream import open_stream, windows

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("lr@release", "xgb@release", "rf@release", "lr@musicnn", "xgb@musicnn", "rf@musicnn",
          "cnn", "musicnn-ft")
SEGMENT_INSTRUMENTS = ("drums", "piano", "violin", "trumpet", "organ", "voice")
SEGMENT_S = 20.0
LEARNT_AUC = 0.8
BAD = ("corrupt.wav", "short.wav", "silent.wav")


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "OPENMIC_COMPARE_CACHE": str(cache), "OPENMIC_ROOT": ""}


@pytest.fixture(scope="module")
def demo_run(pipeline_run, tmp_path_factory):
    """A work folder of this module, the shared run's folder and its cache (weights included)."""
    _, run, cache, _ = pipeline_run
    return tmp_path_factory.mktemp("tag"), run, cache


def _demo_root(cache: Path) -> Path:
    return cache / "demo" / f"openmic-demo-{DEMO_CLIPS}-seed0"


def _solo_segments(demo_root: Path, test_keys: set[str]) -> tuple[np.ndarray, int]:
    """Six 20 s segments, one instrument each, rendered like demo clips of test-split artists."""
    from features.demo.clips import render_clip
    from features.demo.plan import make_plan
    from features.demo.render import StemRenderer, default_sound_font

    plan = [c for c in make_plan(DEMO_CLIPS, 0, CLASSES) if c.sample_key in test_keys]
    assert plan, "no test clip in the demo plan"
    with StemRenderer(default_sound_font()) as renderer:
        presets, _ = renderer.class_presets()
        sr = renderer.sr
        parts = []
        for j, name in enumerate(SEGMENT_INSTRUMENTS):
            for half in range(2):
                clip = dataclasses.replace(plan[(2 * j + half) % len(plan)], instruments=(name,),
                                           index=100_000 + 2 * j + half)
                mix, _ = render_clip(clip, renderer=renderer, presets=presets, seed=1)
                parts.append(mix)
    return np.concatenate(parts, axis=1), sr


@pytest.fixture(scope="module")
def tagged(demo_run):
    """Every file of the module tagged by one command; returns (run, out, files, result)."""
    work, run, cache = demo_run
    pred = np.load(run / "predictions.npz")
    key = str(pred["sample_key"][0])
    audio = work / "audio"
    audio.mkdir()
    clip = audio / f"{key}.ogg"
    shutil.copyfile(_demo_root(cache) / "audio" / key[:3] / f"{key}.ogg", clip)
    y, sr = sf.read(clip, dtype="float32")
    sf.write(audio / "clip.flac", y, sr, subtype="PCM_24")
    sf.write(audio / "clip.mp3", y, sr, format="MP3")
    joined, jsr = _solo_segments(_demo_root(cache), {str(k) for k in pred["sample_key"]})
    sf.write(audio / "joined.wav", joined.T, jsr, subtype="FLOAT")
    (audio / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    sf.write(audio / "short.wav", y[: sr // 2], sr)
    sf.write(audio / "silent.wav", np.zeros((10 * sr, 2), np.float32), sr)
    files = {"clip": clip, "flac": audio / "clip.flac", "mp3": audio / "clip.mp3",
             "joined": audio / "joined.wav", **{name: audio / name for name in BAD}}
    out = work / "tags"
    res = subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), "tag", *map(str, files.values()),
         "--run", str(run), "--out", str(out)],
        cwd=work, env=_env(cache), capture_output=True, text=True, timeout=900,
    )
    return run, out, files, res


def _records(out: Path) -> dict[str, dict]:
    return {Path(r["file"]).name: r for r in json.loads((out / "tags.json").read_text())["files"]}


def test_a_whole_file_probabilities_of_a_test_clip_equal_the_runs_predictions(tagged):
    run, out, files, res = tagged
    assert res.returncode == 1, res.stderr[-3000:]  # the bad files are reported
    pred = np.load(run / "predictions.npz")
    classes = [str(c) for c in pred["classes"]]
    record = _records(out)[files["clip"].name]
    assert record["status"] == "scored" and record["duration_s"] == pytest.approx(10.0)
    assert set(record["models"]) == set(MODELS)
    for model in MODELS:
        got = [record["models"][model]["probability"][c] for c in classes]
        np.testing.assert_allclose(got, pred[f"proba_{model}"][0], rtol=0, atol=1e-6,
                                   err_msg=model)
        assert record["models"][model]["n_windows"] == 1
    # The CSV holds the same numbers (6 decimals), one window and one whole-file row per pair.
    tags = pd.read_csv(out / "tags.csv")
    assert list(tags.columns) == ["file", "start_s", "end_s", "model", "instrument",
                                  "probability", "present", "scope"]
    rows = tags[tags["file"] == str(files["clip"])]
    assert len(rows) == 2 * len(MODELS) * len(classes)
    thresholds = json.loads((run / "run.json").read_text())["models"]
    for model in MODELS:
        whole = rows[(rows["model"] == model) & (rows["scope"] == "file")].set_index("instrument")
        np.testing.assert_allclose(whole.loc[classes, "probability"], pred[f"proba_{model}"][0],
                                   atol=1e-6)
        expected = pred[f"proba_{model}"][0] >= np.asarray(thresholds[model]["thresholds"])
        assert (whole.loc[classes, "present"].to_numpy() == expected).all(), model


def test_b_timeline_is_highest_where_each_learnt_instrument_plays(tagged):
    run, out, files, _ = tagged
    metrics = pd.read_csv(run / "metrics.csv").set_index(["model", "instrument", "metric"])["value"]
    tags = pd.read_csv(out / "tags.csv")
    tags = tags[(tags["file"] == str(files["joined"])) & (tags["scope"] == "window")]
    assert tags["end_s"].max() == pytest.approx(len(SEGMENT_INSTRUMENTS) * SEGMENT_S, abs=1e-3)
    segment = np.floor(tags["start_s"] / SEGMENT_S + 1e-9)
    inside_one = np.floor((tags["end_s"] - 1e-6) / SEGMENT_S) == segment
    checked = []
    for model in MODELS:
        for j, name in enumerate(SEGMENT_INSTRUMENTS):
            n_pos = metrics.get((model, name, "n_positive"), 0)
            n_obs = metrics.get((model, name, "n_observed"), 0)
            auc = metrics.get((model, name, "roc_auc"), np.nan)
            if not (n_pos >= 2 and n_obs - n_pos >= 2 and auc >= LEARNT_AUC):
                continue
            p = tags[(tags["model"] == model) & (tags["instrument"] == name) & inside_one]
            seg = segment[p.index]
            inside, outside = p["probability"][seg == j], p["probability"][seg != j]
            assert len(inside) and len(outside)
            checked.append((model, name, inside.mean(), outside.mean()))
    assert len(checked) >= 3, f"too few learnt (model, instrument) pairs to test: {checked}"
    failed = [c for c in checked if not c[2] > c[3]]
    assert not failed, f"inside <= outside for {failed} (of {checked})"


def test_b_windows_cover_the_file_on_each_inputs_hop(tagged):
    _, out, files, _ = tagged
    record = _records(out)[files["joined"].name]
    assert record["duration_s"] == pytest.approx(120.0)
    header = json.loads((out / "tags.json").read_text())["models"]
    for model in MODELS:
        hop = header[model]["hop_s"]
        # Regular windows every hop, plus one that ends at the end where they leave a tail.
        expected = int((120.0 - 10.0) // hop) + 1
        expected += (expected - 1) * hop + 10.0 < 120.0 - 1e-6
        assert record["models"][model]["n_windows"] == expected, model
    assert header["lr@release"]["hop_s"] == pytest.approx(0.96)
    assert header["lr@musicnn"]["hop_s"] == pytest.approx(2.992)
    assert header["cnn"]["hop_s"] == pytest.approx(1.0)


def test_c_mp3_and_flac_are_decoded_and_scored(tagged):
    _, out, files, _ = tagged
    records = _records(out)
    clip = records[files["clip"].name]
    for kind, tolerance in (("flac", 1e-3), ("mp3", None)):
        record = records[files[kind].name]
        assert record["status"] == "scored", record
        assert record["duration_s"] == pytest.approx(10.0, abs=0.1)
        got = np.array([list(record["models"][m]["probability"].values()) for m in MODELS])
        ref = np.array([list(clip["models"][m]["probability"].values()) for m in MODELS])
        assert np.isfinite(got).all() and ((got >= 0) & (got <= 1)).all()
        if tolerance is not None:  # 24-bit FLAC: the same audio within 2**-23
            np.testing.assert_allclose(got, ref, atol=tolerance)
        else:  # MP3 is lossy: the same music, so nearly the same ranking of instruments
            assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.9


def test_d_bad_files_are_reported_and_the_others_scored(tagged):
    _, out, files, res = tagged
    records = _records(out)
    assert [records[f.name]["status"] for f in files.values()] == [
        "scored", "scored", "scored", "scored", "error", "error", "silent"]
    assert "unreadable" in records["corrupt.wav"]["message"]
    assert "convert it to WAV or FLAC" in records["corrupt.wav"]["message"]
    assert "too short: 0.500 s" in records["short.wav"]["message"]
    assert "give at least 0.96 s" in records["short.wav"]["message"]
    assert "every sample is 0" in records["silent.wav"]["message"]
    for name in BAD:
        assert f"{files[name]}" in res.stderr
    tags = pd.read_csv(out / "tags.csv")
    assert set(tags["file"]) == {str(files[k]) for k in ("clip", "flac", "mp3", "joined")}
    assert "Scored 4 of 7 file(s) with 8 model(s)." in res.stdout


@pytest.mark.browser
def test_e_page_draws_every_heatmap_in_chromium(tagged):
    from reports.browser_check import browser_unavailable, check_report_in_browser

    why = browser_unavailable()
    if why:
        pytest.skip(why)
    _, out, files, _ = tagged
    facts = check_report_in_browser(out / "tags.html", ROOT / "tests" / "_artifacts" / "tags.png")
    assert facts["severe"] == [], facts["severe"]
    assert facts["n_images"] == 4 * len(MODELS) and facts["broken_images"] == []
    for name in BAD:
        assert "Not scored" in facts["text"] and str(files[name]) in facts["text"]
    assert "SYNTHETIC demo set" in facts["text"]


def _tag(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "compare.py"), "tag", *args],
                          env=_env(cache), capture_output=True, text=True, timeout=600)


def test_run_folder_of_another_version_says_what_to_do(demo_run, tmp_path):
    _, run, cache = demo_run
    old = tmp_path / "old-run"
    old.mkdir()
    info = json.loads((run / "run.json").read_text())
    del info["toolkit"]
    (old / "run.json").write_text(json.dumps(info))
    (old / "models").symlink_to(run / "models")
    clip = tmp_path / "tone.wav"
    sf.write(clip, np.zeros(16000), 16000)
    res = _tag([str(clip), "--run", str(old)], cache)
    assert res.returncode == 2
    assert "written by another version of the toolkit" in res.stderr
    assert f"python compare.py --config {old / 'settings.toml'}" in res.stderr
    # A recorded model whose files are gone, or made for other rows: the same advice.
    info = json.loads((run / "run.json").read_text())
    info["models"]["lr@musicnn"]["input"]["params"]["n_patches"] = 4
    (old / "run.json").write_text(json.dumps(info))
    res = _tag([str(clip), "--run", str(old), "--models", "lr@musicnn"], cache)
    assert res.returncode == 2 and "lr@musicnn reads rows of shape (3, 200)" in res.stderr
    (old / "models").unlink()
    (old / "models").mkdir()
    res = _tag([str(clip), "--run", str(old), "--models", "cnn"], cache)
    assert res.returncode == 2 and "cnn cannot be loaded" in res.stderr
    res = _tag([str(clip), "--run", str(old), "--models", "svm"], cache)
    assert res.returncode == 2 and "has no model svm; its models are lr@release" in res.stderr


def test_vggish_models_without_weights_stop_before_any_file(demo_run, tmp_path):
    """A run on real OpenMIC reads VGGish rows; offline without the weights, the message says so."""
    _, run, _ = demo_run
    vggish_run = tmp_path / "run"
    vggish_run.mkdir()
    info = json.loads((run / "run.json").read_text())
    info["models"]["lr@release"]["input"] = {"extractor": "vggish", "params": {"n_rows": 10}}
    (vggish_run / "run.json").write_text(json.dumps(info))
    (vggish_run / "models").symlink_to(run / "models")
    res = _tag([str(tmp_path / "any.wav"), "--run", str(vggish_run), "--models", "lr@release"],
               tmp_path / "empty-cache")
    assert res.returncode == 2
    assert "lr@release read VGGish embeddings, and the VGGish weights are not available" in res.stderr
    assert str(tmp_path / "empty-cache" / "vggish") in res.stderr
    assert "leave these models out with --models" in res.stderr


def test_windows_stream_exact_slices_and_end_on_the_file(tmp_path):
    """Block reading gives every window exactly as decoding the whole file would."""
    sr = 8000
    path = tmp_path / "noise.wav"
    y = np.random.default_rng(0).uniform(-0.5, 0.5, size=(round(25.3 * sr), 2)).astype(np.float32)
    sf.write(path, y, sr, subtype="FLOAT")
    whole, _ = sf.read(path, dtype="float32", always_2d=True)
    f, facts = open_stream(path, min_seconds=0.96)
    hops = {"frame": round(0.96 * sr), "patch": 3 * sr}
    with f:
        got = list(windows(f, facts, path, hops, 10 * sr, min_seconds=0.96, block_frames=1000))
    for key, hop in hops.items():
        starts = [w.start for w in got if w.key == key]
        regular = list(range(0, len(whole) - 10 * sr + 1, hop))
        assert starts == [*regular, len(whole) - 10 * sr]
    for w in got:
        np.testing.assert_array_equal(w.y, whole[w.start : w.stop].T)
        assert w.y.flags.c_contiguous and w.stop - w.start == 10 * sr
    assert facts.frames == len(whole)
    short = tmp_path / "short.wav"
    sf.write(short, y[: 4 * sr], sr, subtype="FLOAT")
    f, facts = open_stream(short, min_seconds=0.96)
    with f:
        (only,) = windows(f, facts, short, {"frame": 100}, 10 * sr, min_seconds=0.96)
    assert (only.start, only.stop) == (0, 4 * sr)


def test_folders_are_searched_for_audio_and_files_kept_as_given(tmp_path):
    from tagging.command import audio_files

    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/x.flac", "a/deep/y.MP3", "a/notes.txt", "a/deep/z.m4a"):
        (tmp_path / name).write_bytes(b"0")
    missing = tmp_path / "gone.wav"
    found = audio_files([str(tmp_path / "a"), str(missing)])
    assert found == [tmp_path / "a/deep/y.MP3", tmp_path / "a/deep/z.m4a", tmp_path / "a/x.flac",
                     missing]
