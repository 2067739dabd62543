"""Tests of the musicnn port: weights cache, front end, the four networks, HEAR interface, extractor.

The weights are the real ones: the `weights` session fixture fetches the `musicnn` 0.1.0 wheel from
the package registry with pip on first use (29 MB) into the user cache (``$OPENMIC_COMPARE_CACHE``
or ``~/.cache/openmic-compare``), and later sessions reuse it. The golden outputs in
``tests/data/musicnn/reference.npz`` come from the ORIGINAL TensorFlow 1 graphs (README there).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pretty_midi
import pytest

from core.errors import DatasetError, ParameterError
from features.audio import load_audio
from features.extract import extract_dataset
from features.musicnn import hear
from features.musicnn import params as p
from features.musicnn.frontend import log_mel, patch_centres_ms, to_patches
from features.musicnn.networks import feature_model, load_checkpoint, musicnn
from features.musicnn.weights import cache_root, checkpoint_folder, fetch_weights

DATA = Path(__file__).parent / "data"
REFERENCE = DATA / "musicnn" / "reference.npz"
CLIP = DATA / "openmic" / "audio" / "000" / "000046_3840.ogg"
SOUND_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PATCH_OUTPUTS = {
    "MTT_musicnn": ("sigmoid", "logits", "penultimate", "mean_pool", "max_pool"),
    "MSD_musicnn": ("sigmoid", "logits", "penultimate", "mean_pool", "max_pool"),
    "MTT_vgg": ("sigmoid", "logits", "pool5"),
    "MSD_vgg": ("sigmoid", "logits", "pool5"),
}
# Tolerances against the original graphs. 1e-4 absolute everywhere (measured: at most 1.1e-5 on
# sigmoid, logits, penultimate and pool5). The pooled maps reach 79 and sit behind batch norms
# whose scales reach 120, which amplify float32 rounding of the convolution sums: the golden
# max_pool itself differs from the exact (float64) value by up to 2.3e-4 on an entry of 35, and
# our float32 result moves by up to 1.2e-4 with the batch size. So they also get rtol 1e-5
# (measured here with this batch of 7: 8.6e-5 absolute at most, within 1e-4 alone).
ATOL = 1e-4
POOLED_RTOL = 1e-5
# The front end's stored precision, the float16 mel power, is expected to be bit-exact (same
# librosa, resampy and float32 operations). A last-bit difference in the float32 power could move
# it across a float16 rounding boundary: one float16 step (2**-11 relative) is at most
# log10(e) * 2**-11 = 2.1e-4 after the log, so that is allowed on at most 0.1 % of the bins. The
# final float32 log10 depends on NumPy's build and the CPU's vector unit (measured: 2 ulps, on 46 %
# of the bins, NumPy 2.4.6 on an AMD EPYC), so where the float16 power agrees, S may differ by a
# few float32 ulps.
FRONT_END_STEP = 2.2e-4
LOG_ULPS = 4


def _float16_power(S: np.ndarray) -> np.ndarray:
    """The float16 mel power behind a log-mel S: the log undone in float64, rounded to float16.

    Float32 rounding of the log moves the power by ~1e-6 relative, far less than a float16 step
    (4.9e-4), so this recovers the stored value exactly.
    """
    return ((10.0 ** S.astype(np.float64) - 1.0) / p.LOG_GAIN).astype(np.float16)


@pytest.fixture(scope="session")
def weights() -> dict[str, Path]:
    """The four verified checkpoint folders in the user cache (downloaded on first use)."""
    return fetch_weights()


@pytest.fixture(scope="session")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as npz:
        return dict(npz)


@pytest.fixture(scope="session")
def pretrained(weights):
    """``pretrained(model)``: the pretrained network, built once per session."""
    built = {}

    def get(model: str):
        if model not in built:
            built[model] = musicnn(model)
        return built[model]

    return get


def no_pip_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave pip without any index, link or configuration file: every download fails."""
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)


def copy_cache(weights: dict[str, Path], cache_dir: Path, models=p.MODELS) -> Path:
    for model in models:
        shutil.copytree(weights[model], cache_root(cache_dir) / model)
    return cache_root(cache_dir)


# Weights: fetch, cache, checksums.


def test_fetch_unpacks_the_four_checkpoints_from_the_registry(tmp_path, weights):
    folders = fetch_weights(cache_dir=tmp_path, progress=False)
    root = tmp_path / "musicnn" / "0.1.0"
    assert sorted(folders) == sorted(p.MODELS)
    assert sorted(q.name for q in root.iterdir()) == sorted(p.MODELS)  # no staging or wheel left
    for model, folder in folders.items():
        assert folder == root / model
        assert sorted(q.name for q in folder.iterdir()) == sorted(p.CHECKPOINT_SHA256[model])
        for name in p.CHECKPOINT_SHA256[model]:
            assert (folder / name).read_bytes() == (weights[model] / name).read_bytes()


def test_complete_cache_loads_without_pip(tmp_path, weights, monkeypatch):
    no_pip_sources(monkeypatch)
    with pytest.raises(DatasetError, match=r"pip could not download musicnn==0\.1\.0.*by hand.*--wheel"):
        checkpoint_folder("MTT_vgg", cache_dir=tmp_path / "empty")  # pip really is unusable here
    copy_cache(weights, tmp_path / "full")
    net = musicnn("MTT_vgg", cache_dir=tmp_path / "full")
    assert net.get_layer("dense").get_weights()[0].shape == (256, 50)
    assert not list(cache_root(tmp_path / "full").glob(".*"))  # nothing was staged


def test_tampered_weights_file_is_refused(tmp_path, weights):
    root = copy_cache(weights, tmp_path, ["MTT_musicnn"])
    data = root / "MTT_musicnn" / ".data-00000-of-00001"
    content = bytearray(data.read_bytes())
    content[len(content) // 2] ^= 0x01
    data.write_bytes(bytes(content))
    message = rf"{data}.*SHA-256.*delete the folder {root / 'MTT_musicnn'}: it is fetched again"
    with pytest.raises(DatasetError, match=message):
        musicnn("MTT_musicnn", cache_dir=tmp_path)
    with pytest.raises(DatasetError, match=message):
        musicnn("MTT_musicnn", weights=root / "MTT_musicnn")


def test_missing_weights_file_is_refused(tmp_path, weights):
    root = copy_cache(weights, tmp_path, ["MSD_vgg"])
    (root / "MSD_vgg" / ".index").unlink()
    with pytest.raises(DatasetError, match=r"MSD_vgg/\.index is missing; delete the folder"):
        checkpoint_folder("MSD_vgg", cache_dir=tmp_path, download=False)


def test_fetch_command_refuses_a_wrong_wheel_and_reports_complete_caches(tmp_path, weights):
    fake = tmp_path / p.WHEEL_FILE
    fake.write_bytes(b"not a wheel")
    command = [sys.executable, "-m", "features.musicnn", "fetch", "--cache-dir", str(tmp_path / "c")]
    refused = subprocess.run([*command, "--wheel", str(fake)], capture_output=True, text=True)
    assert refused.returncode == 1
    assert f"error: {fake} has SHA-256" in refused.stderr and "not the musicnn-0.1.0" in refused.stderr
    copy_cache(weights, tmp_path / "c")
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{m}: {cache_root(tmp_path / 'c') / m}" for m in p.MODELS]


def test_checkpoint_config_agrees_with_the_front_end_constants(weights):
    for model, folder in weights.items():
        config = json.loads((folder / "config.json").read_text())
        rep = config["audio_rep"]
        assert (rep["resample_sr"], rep["n_fft"], rep["hop"], rep["n_mels"]) == (
            p.SAMPLE_RATE_HZ, p.FFT_SIZE_SAMPLES, p.FFT_HOP_SAMPLES, p.N_MELS
        )
        assert (config["xInput"], config["yInput"]) == (p.PATCH_FRAMES, p.N_MELS)
        assert config["num_classes_dataset"] == len(p.TAGS[model]) == len(set(p.TAGS[model])) == 50


def test_loader_refuses_a_checkpoint_of_another_architecture(weights):
    from features.musicnn.networks import build_musicnn

    expected = (
        r"MTT_vgg/ does not fit musicnn: missing: conv2d/kernel, .* \(38 in all\); shaped otherwise "
        r"than the network: batch_normalization_1/gamma \(128,\) vs \(204,\), .* \(22 in all\); "
        r"unused: 1CNN/bias, 1CNN/kernel, 2CNN/bias, 2CNN/kernel, ... \(10 in all\)$"
    )
    with pytest.raises(DatasetError, match=expected):
        load_checkpoint(build_musicnn(), weights["MTT_vgg"])


# Networks against the original graphs.


@pytest.mark.parametrize("model", p.MODELS)
def test_network_outputs_equal_the_original_graphs(model, pretrained, reference):
    net = pretrained(model)
    names = {"sigmoid": "taggram"}
    features = feature_model(net, [names.get(k, k) for k in PATCH_OUTPUTS[model]])
    outputs = features.predict_on_batch(reference["input"])
    for key in PATCH_OUTPUTS[model]:
        golden = reference[f"{model}/{key}"]
        ours = np.asarray(outputs[names.get(key, key)]).reshape(golden.shape)
        rtol = POOLED_RTOL if key.endswith("_pool") else 0.0
        np.testing.assert_allclose(ours, golden, rtol=rtol, atol=ATOL, err_msg=f"{model}/{key}")


def test_per_frame_maps_pool_to_the_verified_pooled_features(pretrained, reference):
    net = pretrained("MSD_musicnn")
    names = ["timbral", "temporal", "cnn1", "cnn2", "cnn3", "max_pool", "mean_pool"]
    out = feature_model(net, names).predict_on_batch(reference["input"])
    shapes = {k: out[k].shape for k in names[:5]}
    assert shapes == {"timbral": (7, 187, 408), "temporal": (7, 187, 153), "cnn1": (7, 187, 64),
                      "cnn2": (7, 187, 64), "cnn3": (7, 187, 64)}
    stacked = np.concatenate([out[k] for k in names[:5]], axis=-1)
    np.testing.assert_array_equal(stacked.max(axis=1), out["max_pool"])
    np.testing.assert_allclose(stacked.mean(axis=1), out["mean_pool"], rtol=1e-5, atol=1e-5)


def test_without_top_the_output_is_the_embedding_the_classifier_reads(pretrained, reference):
    x = reference["input"][:2]
    headless = musicnn("MTT_musicnn", include_top=False)
    assert headless.output.shape == (None, 200)
    full = feature_model(pretrained("MTT_musicnn"), ["penultimate"]).predict_on_batch(x)["penultimate"]
    np.testing.assert_array_equal(headless.predict_on_batch(x), full)
    assert musicnn("MSD_vgg", include_top=False).output.shape == (None, 2, 1, 128)
    with pytest.raises(ParameterError, match=r"built without its top, so it has no \['taggram'\]"):
        feature_model(headless, ["taggram"])


# Front end.


def test_front_end_of_the_fixture_clip_equals_the_reference(reference):
    y, sr = load_audio(CLIP)
    S = log_mel(y, sr)
    golden = reference["fixture_logmel"]
    assert S.shape == golden.shape == (626, 96) and S.dtype == np.float32
    np.testing.assert_allclose(S, golden, rtol=0, atol=FRONT_END_STEP)
    same_power = _float16_power(S) == _float16_power(golden)
    assert np.mean(same_power) >= 0.999
    np.testing.assert_array_max_ulp(S[same_power], golden[same_power], maxulp=LOG_ULPS)
    patches = to_patches(S)
    assert patches.shape == (int(reference["n_fixture_patches"]), 187, 96)
    np.testing.assert_array_equal(to_patches(golden), reference["input"][:3])  # the original's cut
    np.testing.assert_allclose(patches, reference["input"][:3], rtol=0, atol=FRONT_END_STEP)


def test_loud_audio_stays_finite_where_float16_would_overflow():
    t = np.arange(3 * p.SAMPLE_RATE_HZ) / p.SAMPLE_RATE_HZ
    y = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    S = log_mel(y, p.SAMPLE_RATE_HZ)
    power = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96).T
    loud = power.astype(np.float16) > 6.55  # where float16 10000 * x is inf
    with np.errstate(over="ignore"):
        assert loud.any() and np.isinf(np.float16(10000) * power.astype(np.float16)[loud]).all()
    assert np.isfinite(S).all()
    exact = np.log10(10000 * power[loud].astype(np.float16).astype(np.float64) + 1)
    np.testing.assert_allclose(S[loud], exact, rtol=1e-6)


def test_patches_hop_and_centres():
    S = np.arange(626 * 96, dtype=np.float32).reshape(626, 96)
    assert to_patches(S).shape == (3, 187, 96)
    overlapping = to_patches(S, hop_frames=93)
    assert overlapping.shape == (1 + (626 - 187) // 93, 187, 96)
    np.testing.assert_array_equal(overlapping[2], S[186:373])
    assert to_patches(S[:186]).shape == (0, 187, 96)
    np.testing.assert_allclose(patch_centres_ms(3), [93 * 16, 280 * 16, 467 * 16])
    with pytest.raises(ParameterError, match=r"given S.shape=\(96, 626\)"):
        to_patches(S.T)


# Sanity on rendered solo instruments (FluidR3 GM), MagnaTagATune tags.


def render(program: int, notes: list[tuple[float, float, int]], *, is_drum: bool = False) -> np.ndarray:
    """10 s of `notes` (start s, end s, MIDI pitch) on a General MIDI program, 44.1 kHz mono."""
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=program, is_drum=is_drum)
    instrument.notes = [pretty_midi.Note(velocity=90, pitch=n, start=s, end=e) for s, e, n in notes]
    midi.instruments.append(instrument)
    # positional: the sound font is `sf2_path` in pretty_midi 0.2.10, `synthesizer` from 0.2.11
    y = midi.fluidsynth(44100, str(SOUND_FONT))[: 10 * 44100]
    y = np.pad(y, (0, 10 * 44100 - len(y)))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


MELODY = [67, 69, 71, 72, 74, 72, 71, 69, 67, 65, 64, 62, 64, 65, 67, 69, 71, 72, 74, 76]  # 0.5 s each
CHORDS = [[48, 52, 55], [45, 48, 52], [41, 45, 48], [43, 47, 50], [48, 52, 55]]  # C Am F G C, 2 s each


def melody(pitches=MELODY, step=0.5):
    return [(i * step, (i + 1) * step * 0.98, n) for i, n in enumerate(pitches)]


def piano_piece():  # the melody over sustained chords
    chords = [(j * 2.0, (j + 1) * 2.0 * 0.98, n) for j, chord in enumerate(CHORDS) for n in chord]
    return melody() + chords


def guitar_arpeggios():  # each chord picked up and down, a note every 0.25 s
    return melody([n for chord in CHORDS * 2 for n in [*chord, chord[1]]][:40], step=0.25)


def drum_groove():  # kick, snare, closed hi-hat at 100 bpm
    hits = []
    for bar in np.arange(0, 10, 0.6):
        hits += [(bar, bar + 0.1, 36), (bar + 0.3, bar + 0.4, 38)]
        hits += [(bar + k * 0.15, bar + k * 0.15 + 0.05, 42) for k in range(4)]
    return hits


@pytest.mark.skipif(not SOUND_FONT.is_file(), reason="needs fluid-soundfont-gm")
@pytest.mark.parametrize(
    ("tag", "program", "notes", "is_drum"),
    [("piano", 0, piano_piece(), False), ("guitar", 24, guitar_arpeggios(), False),
     ("violin", 40, melody(), False), ("drums", 0, drum_groove(), True)],
    ids=["piano", "nylon-guitar", "violin", "drum-kit"],
)  # fmt: skip
def test_rendered_solo_instrument_ranks_its_tag_in_the_top_5(tag, program, notes, is_drum, pretrained):
    embedding = hear.MusicnnEmbedding(pretrained("MTT_musicnn"), layer="taggram")
    probabilities = embedding.embed_waveform(render(program, notes, is_drum=is_drum), 44100).mean(axis=0)
    top5 = [p.MTT_TAGS[i] for i in np.argsort(-probabilities)[:5]]
    assert tag in top5, f"{tag} not in the top 5 {top5}"


# HEAR interface, embed_file, the batch extractor.


def test_hear_embeddings_of_the_fixture_clip(pretrained, reference):
    model = hear.MusicnnEmbedding(pretrained("MTT_musicnn"), layer="penultimate")
    sizes = (model.scene_embedding_size, model.timestamp_embedding_size)
    assert model.sample_rate == 16000 and sizes == (200, 200)
    y, sr = load_audio(CLIP)
    y16 = librosa.resample(y.mean(axis=0), orig_sr=sr, target_sr=16000, res_type="kaiser_best")
    audio = np.stack([y16, np.zeros_like(y16)])
    embeddings, times_ms = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (2, 3, 200) and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings[0], reference["MTT_musicnn/penultimate"][:3], atol=ATOL)
    np.testing.assert_array_equal(times_ms, [[1488.0, 4480.0, 7472.0]] * 2)
    scene = hear.get_scene_embeddings(audio, model)
    np.testing.assert_allclose(scene, embeddings.mean(axis=1), rtol=1e-6)
    short, short_times = hear.get_timestamp_embeddings(audio[:, :16000], model)  # 1 s, padded
    assert short.shape == (2, 1, 200) and short_times.tolist() == [[1488.0]] * 2
    with pytest.raises(ParameterError, match=r"given audio.shape=\(160000,\)"):
        hear.get_timestamp_embeddings(y16, model)


def test_embed_file_and_layers(pretrained, reference):
    vgg = hear.MusicnnEmbedding(pretrained("MTT_vgg"), layer="pool5")
    rows = hear.embed_file(CLIP, embedding=vgg)
    assert rows.shape == (3, 256) and rows.dtype == np.float32
    np.testing.assert_allclose(rows, reference["MTT_vgg/pool5"][:3].reshape(3, 256), atol=ATOL)
    with pytest.raises(ParameterError, match=r"layer must be one of \['logits', 'pool5', 'taggram'\]"):
        hear.MusicnnEmbedding(pretrained("MTT_vgg"), layer="penultimate")
    with pytest.raises(ParameterError, match=r"model must be one of .*given model='MTT'"):
        musicnn("MTT")


def test_musicnn_extractor_fills_the_feature_cache(tmp_path, weights, reference):
    paths = [CLIP, tmp_path / "missing.ogg"]
    keys = ["real", "missing"]
    cache = extract_dataset(paths, keys, "musicnn", tmp_path / "cache", n_jobs=1, progress=False)
    assert cache.data.shape == (2, 3, 200) and cache.data.dtype == np.float32
    assert cache.ok.tolist() == [True, False]
    np.testing.assert_allclose(cache.data[0], reference["MTT_musicnn/penultimate"][:3], atol=ATOL)
    np.testing.assert_array_equal(cache.data[0], hear.embed_file(CLIP))
    assert cache.params["model"] == "MTT_musicnn" and cache.params["layer"] == "penultimate"
    with pytest.raises(ParameterError, match="layer must be one of"):
        extract_dataset(paths, keys, "musicnn", tmp_path / "cache", params={"layer": "cnn1"})


def test_interrupted_musicnn_extraction_resumes_where_it_stopped(tmp_path, weights, monkeypatch):
    """Ctrl-C in the third clip: the finished chunk is kept, the rerun computes only the rest."""
    import dataclasses

    from features.extractors import EXTRACTORS

    spec, calls = EXTRACTORS["musicnn"], []

    def counted(y, sr, params, stop_at=None):
        calls.append(1)
        if stop_at is not None and len(calls) == stop_at:
            raise KeyboardInterrupt
        return spec.compute(y, sr, params)

    keys = [f"clip{i}" for i in range(5)]
    paths = [CLIP] * 5

    def run(stop_at):
        calls.clear()
        wrapped = dataclasses.replace(spec, compute=lambda y, sr, params: counted(y, sr, params, stop_at))
        monkeypatch.setitem(EXTRACTORS, "musicnn", wrapped)
        return extract_dataset(paths, keys, "musicnn", tmp_path / "cache", n_jobs=1, progress=False,
                               chunk_size=2)

    with pytest.raises(KeyboardInterrupt):
        run(stop_at=3)  # chunk 0 (clips 0, 1) is written; chunk 1 dies on its first clip
    cache = run(stop_at=None)
    assert len(calls) == 3  # clips 2, 3 and 4 only
    assert cache.ok.all()
    expected = hear.embed_file(CLIP)
    for row in cache.data:
        np.testing.assert_array_equal(row, expected)
    run(stop_at=None)
    assert calls == []  # complete: nothing computed again
