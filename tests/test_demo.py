"""The built-in demo dataset (`features.demo`): format, labels, split, audibility, determinism,
reuse, the command line, learnability, the room.

The set is the session's `demo_set` (tests/conftest.py: 64 clips, seed 0, 10 labels per clip,
rendered once with 2 worker processes); determinism renders its first and last chunk again in
this process, reuse and the command line work on a copy.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import DEMO_CLIPS, DEMO_SEED

from core.errors import ParameterError
from features import demo as demo_module
from features import openmic
from features.demo import make_demo
from features.demo.__main__ import main
from features.demo.mix import add_reverb, rms_dbfs
from features.problems import find_data_problems

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "data" / "openmic"
N_CLIPS, SEED, LABELS_PER_CLIP = DEMO_CLIPS, DEMO_SEED, demo_module.DEFAULT_LABELS_PER_CLIP
KEY_RE = re.compile(r"^(\d{6})_(\d+)$")


@pytest.fixture(scope="session")
def root(demo_set) -> Path:
    return demo_set


@pytest.fixture(scope="session")
def ds(root) -> openmic.OpenMIC:
    return openmic.load(root)


@pytest.fixture(scope="session")
def stems(root) -> pd.DataFrame:
    return pd.read_csv(root / demo_module.STEMS_NAME, dtype={"sample_key": str})


@pytest.fixture
def copy(root, tmp_path) -> Path:
    """A copy of the session's set, to reuse or refuse without touching the original."""
    return shutil.copytree(root, tmp_path / root.name)


def test_loader_reads_it_with_no_special_case(ds, root):
    assert ds.X.shape == (N_CLIPS, 10, 128)
    assert ds.classes == openmic.CLASSES
    assert len(ds.train_idx) + len(ds.test_idx) == N_CLIPS
    assert ds.demo["synthetic"] is True
    assert ds.demo["params"] == {"generator_version": demo_module.GENERATOR_VERSION,
                                 "n_clips": N_CLIPS, "seed": SEED, "labels_per_clip": LABELS_PER_CLIP}  # fmt: skip
    assert ds.demo["embedding"]["name"].startswith(("stand-in:", "VGGish (toolkit chain"))
    assert Path(ds.demo["sound_font"]["path"]).is_file()
    assert find_data_problems(ds, progress=False).empty
    assert not root.with_name(root.name + demo_module.PARTIAL_SUFFIX).exists()


def test_npz_dtypes_and_semantics(root):
    with np.load(root / "openmic-2018.npz", allow_pickle=True) as npz:
        X, Y_true, Y_mask, keys = npz["X"], npz["Y_true"], npz["Y_mask"], npz["sample_key"]
    assert X.dtype == np.int64 and X.shape == (N_CLIPS, 10, 128)
    assert X.min() >= 0 and X.max() <= 255 and len(np.unique(X)) > 100
    assert Y_true.dtype == np.float64 and Y_true.shape == (N_CLIPS, 20)
    assert Y_mask.dtype == bool and Y_mask.shape == (N_CLIPS, 20)
    assert keys.dtype == object and all(isinstance(k, str) for k in keys)
    assert list(keys) == sorted(keys) and len(set(keys)) == N_CLIPS
    for key in keys:
        match = KEY_RE.match(key)
        assert match and int(match.group(2)) % 960 == 0, key
    assert np.all(Y_true[~Y_mask] == 0.5)
    observed = Y_true[Y_mask]
    assert np.all((observed <= 0.25) | (observed >= 0.75))


def test_class_map_and_partitions(root, ds):
    assert json.loads((root / "class-map.json").read_text()) == json.loads(
        (FIXTURES / "class-map.json").read_text()
    )
    keys = set(ds.sample_key.tolist())
    seen = []
    for name in ("split01_train.csv", "split01_test.csv"):
        lines = (root / "partitions" / name).read_text().splitlines()
        assert all(KEY_RE.match(line) for line in lines), f"{name} has a header or a bad line"
        seen += lines
    assert sorted(seen) == sorted(keys)


def test_metadata_has_the_41_real_columns(root):
    header = (FIXTURES / "openmic-2018-metadata.csv").read_text().splitlines()[0]
    lines = (root / "openmic-2018-metadata.csv").read_text().splitlines()
    assert lines[0] == header and len(header.split(",")) == 41
    meta = pd.read_csv(root / "openmic-2018-metadata.csv", dtype={"sample_key": str})
    assert meta["artist_id"].notna().all() and meta["track_id"].notna().all()
    start_ms = meta["sample_key"].str.split("_").str[1].astype(int)
    np.testing.assert_allclose(meta["start_time"], start_ms / 1000)
    assert (meta["sample_key"].str[:6].astype(int) == meta["track_id"]).all()


def test_aggregated_labels_match_the_arrays(root, ds):
    agg = pd.read_csv(root / "openmic-2018-aggregated-labels.csv", dtype={"sample_key": str})
    assert list(agg.columns) == ["sample_key", "instrument", "relevance", "num_responses"]
    assert len(agg) == ds.Y_mask.sum()
    rows = np.searchsorted(ds.sample_key, agg["sample_key"].to_numpy())
    cols = [ds.classes.index(c) for c in agg["instrument"]]
    assert ds.Y_mask[rows, cols].all()
    np.testing.assert_array_equal(ds.Y_true[rows, cols], agg["relevance"].to_numpy())
    assert (agg["num_responses"] >= 1).all()


def test_audio_is_ogg_vorbis_44k_stereo_10s(ds):
    for path in ds.audio_path:
        info = sf.info(path)
        assert (info.format, info.subtype) == ("OGG", "VORBIS"), path
        assert (info.samplerate, info.channels, info.frames) == (44100, 2, 441000), path


def test_label_statistics_follow_the_parameters(ds, stems):
    present = np.zeros_like(ds.Y_mask)
    for key, inst in zip(stems["sample_key"], stems["instrument"], strict=True):
        present[np.searchsorted(ds.sample_key, key), ds.classes.index(inst)] = True
    assert np.all(ds.Y_mask.sum(axis=1) == LABELS_PER_CLIP)
    n_inst = present.sum(axis=1)
    assert n_inst.min() >= 1 and n_inst.max() <= 4
    positive = ds.Y_mask & (ds.Y_true >= 0.5)
    wrong = ds.Y_mask & (positive != present)
    assert wrong.sum() / ds.Y_mask.sum() < 0.07  # about 2 % flipped
    asked_present = ds.Y_mask[present].mean()
    assert 0.75 <= asked_present <= 1.0  # p = 0.9 at 10 labels per clip
    stats = ds.demo["label_statistics"]
    assert stats["observed"] == ds.Y_mask.sum() and stats["positive"] == positive.sum()
    assert stats["flipped"] == wrong.sum()
    assert 0.15 < stats["positive_share"] < 0.4


def test_split_is_artist_conditional_about_75_25(ds):
    train_artists = set(ds.artist_id[ds.train_idx].tolist())
    test_artists = set(ds.artist_id[ds.test_idx].tolist())
    assert not train_artists & test_artists
    assert min(ds.artist_id) >= 0 and len(train_artists) >= 3 and len(test_artists) >= 1
    assert 0.15 <= len(ds.test_idx) / N_CLIPS <= 0.35


def test_every_instrument_is_audible(stems):
    assert len(stems) >= N_CLIPS
    assert (stems["raw_rms_dbfs"] > -60).all(), stems[stems["raw_rms_dbfs"] <= -60]
    assert (stems["rms_dbfs"] > -45).all()
    loudest = stems.groupby("sample_key")["rms_dbfs"].transform("max")
    assert (stems["rms_dbfs"] - loudest > -20).all()
    assert (stems["n_notes"] >= 2).all()


def test_mix_level_matches_the_stems(root, stems):
    """The decoded mix is about as loud as its stems' power sum (reverb and noise add a little)."""
    for key, group in list(stems.groupby("sample_key"))[:3]:
        y, _ = sf.read(demo_module.audio_path(root, key), dtype="float64")
        mix_db = 10 * np.log10(np.mean(y**2))
        stems_db = 10 * np.log10(np.sum(10 ** (group["rms_dbfs"] / 10)))
        assert abs(mix_db - stems_db) < 6, key


def test_same_seed_same_arrays_and_audio_whatever_n_jobs(root, stems, tmp_path):
    """The first and last chunk rendered again in this process (n_jobs=1) equal the set's clips,
    which 2 worker processes rendered: audio, stand-in X rows and stem levels."""
    from features.demo import clips, render
    from features.demo.plan import make_plan

    sound_font = render.default_sound_font()
    with render.StemRenderer(sound_font) as renderer:
        presets, _ = renderer.class_presets()
    plan = make_plan(N_CLIPS, SEED, openmic.CLASSES)
    assert len(plan) > 2 * clips.CHUNK_CLIPS
    again = plan[: clips.CHUNK_CLIPS] + plan[-clips.CHUNK_CLIPS :]  # whole chunks, as in the set
    work = tmp_path / "again"
    (work / "parts").mkdir(parents=True)
    records = clips.render_all(again, work, presets=presets, sound_font=sound_font, seed=SEED,
                               stand_in=True, n_jobs=1, progress=False)  # fmt: skip
    keys = [c.sample_key for c in again]
    with np.load(root / "openmic-2018.npz", allow_pickle=True) as npz:
        rows = np.searchsorted(npz["sample_key"], keys)
        np.testing.assert_array_equal(np.array([r["X"] for r in records], np.uint8), npz["X"][rows])
    for key in keys:
        ya, _ = sf.read(demo_module.audio_path(root, key))
        yb, _ = sf.read(demo_module.audio_path(work, key))
        np.testing.assert_array_equal(ya, yb, err_msg=key)
    rendered = pd.DataFrame([{"sample_key": r["sample_key"], **s} for r in records for s in r["stems"]])
    rendered = pd.read_csv(io.StringIO(rendered.to_csv(index=False)), dtype={"sample_key": str})
    in_set = stems[stems["sample_key"].isin(keys)].reset_index(drop=True)
    pd.testing.assert_frame_equal(rendered, in_set)


def test_a_stale_partial_folder_of_other_parameters_is_cleared(root):
    """The session's set was made beside a stale ``.partial`` folder (tests/conftest.py)."""
    assert not root.with_name(root.name + demo_module.PARTIAL_SUFFIX).exists()
    assert not (root / "junk.txt").exists()
    assert json.loads((root / "demo.json").read_text())["params"]["n_clips"] == N_CLIPS


def test_reuse_same_params_and_refuse_other_params(copy, tmp_path):
    a = copy
    stamp = (a / "demo.json").stat().st_mtime_ns
    assert make_demo(a, n_clips=N_CLIPS, seed=SEED, labels_per_clip=LABELS_PER_CLIP, n_jobs=1,
                     progress=False) == a  # fmt: skip
    assert (a / "demo.json").stat().st_mtime_ns == stamp
    assert main([str(a), "--clips", str(N_CLIPS), "--seed", str(SEED),
                 "--labels-per-clip", str(LABELS_PER_CLIP)]) == 0  # fmt: skip
    with pytest.raises(ParameterError, match="seed"):
        make_demo(a, n_clips=N_CLIPS, seed=SEED + 1, labels_per_clip=LABELS_PER_CLIP, progress=False)
    assert main([str(a), "--clips", str(N_CLIPS + 1), "--labels-per-clip", str(LABELS_PER_CLIP)]) == 2
    assert (a / "demo.json").stat().st_mtime_ns == stamp
    other = tmp_path / "not-a-demo"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ParameterError, match="not a demo set"):
        make_demo(other, n_clips=9, progress=False)


def test_python_m_features_demo_runs_the_command_line(copy):
    """``python -m features.demo`` with the same options reuses the set and prints its description."""
    a = copy
    result = subprocess.run(
        [sys.executable, "-m", "features.demo", str(a), "--clips", str(N_CLIPS), "--seed", str(SEED),
         "--labels-per-clip", str(LABELS_PER_CLIP), "--jobs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    description = json.loads((a / "demo.json").read_text())["description"]
    assert result.stdout == f"demo set ready in {a}: {description}\n"
    assert description.startswith(f"Synthetic OpenMIC-2018 look-alike: {N_CLIPS} clips")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_clips": 3},
        {"n_clips": 10.5},
        {"seed": -1},
        {"labels_per_clip": 0},
        {"labels_per_clip": 21},
    ],
)
def test_bad_parameters_raise(tmp_path, kwargs):
    with pytest.raises(ParameterError):
        make_demo(tmp_path / "x", progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_a_linear_model_learns_instruments_from_x(ds):
    """LR on clip-mean X, fitted on split01_train, beats chance on split01_test.

    At 64 clips the test split holds 16 clips, so the per-class ROC AUC is averaged over the
    classes with at least 2 positive and 2 negative training labels and both labels in the test
    split (15 classes here: 0.70). A strongly regularised, class-balanced LR suits ~48 training
    clips; benchmarks/bench_demo.py reports the default-size figure.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = ds.X.mean(axis=1)
    aucs = []
    for k in range(len(ds.classes)):
        fit_rows, fit_target = ds.targets(k, ds.train_idx)
        test_rows, test_target = ds.targets(k, ds.test_idx)
        if min(fit_target.sum(), (~fit_target).sum()) < 2 or len(np.unique(test_target)) < 2:
            continue
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=0.01, class_weight="balanced", max_iter=2000)
        )
        model.fit(features[fit_rows], fit_target)
        aucs.append(roc_auc_score(test_target, model.predict_proba(features[test_rows])[:, 1]))
    assert len(aucs) >= 6
    assert np.mean(aucs) > 0.65, aucs


def test_room_and_noise_floor_have_the_asked_levels():
    """add_reverb on an impulse: dry kept, tail energy wet^2 decaying 60 dB per rt60; noise RMS."""
    sr, rt60, wet = 44100, 1.0, 0.5
    impulse = np.zeros((2, 10 * sr), dtype=np.float32)
    impulse[:, 1000] = 1.0
    out = add_reverb(
        impulse, sr, rt60_s=rt60, wet=wet, rng=np.random.default_rng(0), room_seed=(1, 2)
    )
    assert out.shape == impulse.shape and out.dtype == np.float32
    assert np.abs(out[:, :990]).max() < 1e-3  # nothing before the sound
    tail = out[:, 1001:].astype(np.float64)
    np.testing.assert_allclose((tail**2).sum(axis=1), wet**2, rtol=0.05)
    early, late = (np.sum(tail[:, int(a * sr) : int((a + 0.1) * sr)] ** 2) for a in (0.0, 0.5))
    assert abs(10 * np.log10(late / early) - (-60 * 0.5 / rt60)) < 3  # 60 dB per rt60
    again = add_reverb(
        impulse, sr, rt60_s=rt60, wet=wet, rng=np.random.default_rng(9), room_seed=(1, 2)
    )
    np.testing.assert_array_equal(out, again)  # the room depends on its seed only
    silence = np.zeros_like(impulse)
    noisy = add_reverb(
        silence, sr, rt60_s=rt60, wet=wet, rng=np.random.default_rng(0), noise_dbfs=-50.0
    )
    assert abs(rms_dbfs(noisy) + 50.0) < 0.5
    assert abs(np.corrcoef(noisy)[0, 1]) < 0.1  # independent channels
