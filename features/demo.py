"""The built-in demo dataset: a small OpenMIC-2018 look-alike rendered from real sampled instruments.

``make_demo(out_dir)`` writes, in OpenMIC's exact layout (see docs/architecture.md and the spec),
clips of 1 to 4 General MIDI instruments (FluidSynth, a GM sound font) grouped into "artists",
crowd-like partial labels, an artist-conditional split01, and `X` from the VGGish chain where its
weights are present or else from a named stand-in embedding (`features.demo_embed`). The folder
also holds ``demo.json`` (what made it) and ``demo-stems.csv`` (every instrument's level in every
clip: the ground truth behind the partial labels).

Reuse and atomicity: the set is built in ``OUT_DIR.partial`` and renamed to ``OUT_DIR`` only when
complete, with ``demo.json`` written last; an interrupted run leaves only the ``.partial`` folder,
whose finished chunks of clips a rerun with the same parameters keeps. A complete set with the same
parameters is reused as it is; one with other parameters is an error (pick another folder).

Command line::

    python -m features.demo OUT_DIR [--clips N] [--seed S] [--labels-per-clip L] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed
from tqdm import tqdm

from core.atomic import atomic_write, atomic_write_json, atomic_write_text
from core.errors import DatasetError, ParameterError
from features import demo_embed
from features.demo_labels import CrowdLabels, crowd_labels
from features.demo_music import IDIOMS, Groove, Key, compose
from features.demo_plan import ClipPlan, artist_split, make_plan
from features.demo_render import (
    RELEASE_OFFSET_CENTS,
    SAMPLE_RATE_HZ,
    SYNTH_SETTINGS,
    StemRenderer,
    StemSpec,
    default_sound_font,
    mix_stems,
)
from features.openmic import CLASS_MAP_NAME, CLASSES, DEMO_NAME, METADATA_NAME, NPZ_NAME

DEFAULT_CLIPS = 500
DEFAULT_LABELS_PER_CLIP = 10
MIN_CLIPS = 4
# Clips rendered in order on one synthesiser (a new one costs about 0.07 s while the process keeps
# the font's samples loaded, 0.16 s otherwise); the chunks are fixed by clip index, so the audio
# does not depend on n_jobs. Also the resume unit.
CHUNK_CLIPS = 8
# 1.1: FluidSynth with linear interpolation, 24 voices and shorter melodic releases; one room
# per artist, fed by the mono sum; reverb and noise floor in one float32 FFT pass.
GENERATOR_VERSION = "1.1"
CLIP_SECONDS = 10.0
CLIP_FRAMES = int(CLIP_SECONDS * SAMPLE_RATE_HZ)
N_ROWS = 10  # X rows per clip, one per 0.96 s
# libvorbis shifts its whole input buffer after each encoded block, so one 10 s write costs
# O(n^2) copying (a third of the encoding time); blocks of this size avoid it.
OGG_WRITE_FRAMES = 8192
LABEL_POLICY = (
    "per clip, labels_per_clip (clip, instrument) pairs are observed: each present instrument with "
    "probability min(0.9, 0.43 * labels_per_clip / mean instruments per clip), the rest absent "
    "instruments at random; about 2 % of observed labels are flipped. OpenMIC observes ~2 labels "
    "per clip, 43 % positive; the demo default of 10 keeps a few hundred clips learnable, and its "
    "positive share is lower (about 22 %, see label_statistics)"
)
AGGREGATED_LABELS_NAME = "openmic-2018-aggregated-labels.csv"
STEMS_NAME = "demo-stems.csv"
PARTIAL_SUFFIX = ".partial"
GAIN_SD_DB, GAIN_MAX_DB = 3.0, 6.0  # per-instrument level spread around the normalised RMS
VELOCITY_RANGE = (60, 112)
CENTRED = ("bass", "drums")  # panned to the middle, as in most mixes
# The 41 columns of OpenMIC's openmic-2018-metadata.csv (FMA track metadata), in order.
METADATA_COLUMNS = (
    "track_id", "album_id", "album_title", "album_url", "artist_id", "artist_name", "artist_url",
    "artist_website", "license_image_file", "license_image_file_large", "license_parent_id",
    "license_title", "license_url", "tags", "track_bit_rate", "track_comments", "track_composer",
    "track_copyright_c", "track_copyright_p", "track_date_created", "track_date_recorded",
    "track_disc_number", "track_duration", "track_explicit", "track_explicit_notes",
    "track_favorites", "track_file", "track_genres", "track_image_file", "track_information",
    "track_instrumental", "track_interest", "track_language_code", "track_listens",
    "track_lyricist", "track_number", "track_publisher", "track_title", "track_url",
    "sample_key", "start_time",
)  # fmt: skip


def render_clip(
    clip: ClipPlan,
    *,
    renderer: StemRenderer,
    presets: dict[str, tuple[tuple[int, int], ...]],
    seed: int,
) -> tuple[np.ndarray, list[dict]]:
    """Compose, render and mix one clip; its random draws depend only on (seed, clip.index).

    The audio also depends on what `renderer` rendered before (see `features.demo_render`):
    `make_demo` renders fixed chunks of clips in order on a fresh renderer each.

    Returns
    -------
    mix : np.ndarray [shape=(2, CLIP_FRAMES), dtype=float32]
    stems : list of dict
        Per instrument: preset, idiom, note count, gain and levels (dBFS) before and in the mix.
    """
    rng = np.random.default_rng([seed, clip.index])
    artist = clip.artist
    key = Key(artist.tonic, artist.minor)
    groove = Groove(
        tempo_bpm=artist.tempo_bpm * float(rng.uniform(0.95, 1.05)),
        progression=artist.progression,
        duration_s=CLIP_SECONDS,
        offset_beats=float(rng.uniform(0.0, 4.0)),
    )
    specs, rows = [], []
    for name in clip.instruments:
        idiom = str(rng.choice(IDIOMS[name]))
        preset = presets[name][int(rng.integers(len(presets[name])))]
        notes = compose(
            name,
            idiom,
            key,
            groove,
            rng=rng,
            velocity=int(rng.integers(*VELOCITY_RANGE)),
            register_shift=artist.register_shift + int(rng.integers(-3, 4)),
        )
        pan = 64 if name in CENTRED else int(rng.integers(24, 105))
        specs.append(StemSpec(preset=preset, notes=tuple(notes), pan=pan))
        gain = float(np.clip(rng.normal(0.0, GAIN_SD_DB), -GAIN_MAX_DB, GAIN_MAX_DB))
        rows.append(
            {
                "instrument": name,
                "bank": preset[0],
                "program": preset[1],
                "idiom": idiom,
                "n_notes": len(notes),
                "gain_db": round(gain, 2),
            }
        )
    stems = [renderer.render(spec, CLIP_FRAMES) for spec in specs]
    for row, spec in zip(rows, specs, strict=True):
        row["preset_name"] = renderer.preset_name(spec.preset)
    mix, raw, level = mix_stems(
        stems,
        [r["gain_db"] for r in rows],
        noise_dbfs=artist.noise_dbfs,
        room=(artist.rt60_s, artist.reverb_wet),
        room_seed=(seed, artist.artist_id),  # one room per artist
        rng=rng,
    )
    for row, raw_db, level_db in zip(rows, raw, level, strict=True):
        row["raw_rms_dbfs"], row["rms_dbfs"] = round(raw_db, 2), round(level_db, 2)
    return mix, rows


def write_ogg(path: Path, y: np.ndarray, sr: int = SAMPLE_RATE_HZ) -> None:
    """Write audio as OGG Vorbis (libsndfile's default quality), in blocks of `OGG_WRITE_FRAMES`.

    Parameters
    ----------
    path : Path
    y : np.ndarray [shape=(n_channels, n_samples)]
        Audio in librosa layout.
    sr : int
        Sampling rate in Hz.
    """
    frames = np.ascontiguousarray(y.T)
    with sf.SoundFile(path, "w", sr, frames.shape[1], format="OGG", subtype="VORBIS") as f:
        for start in range(0, len(frames), OGG_WRITE_FRAMES):
            f.write(frames[start : start + OGG_WRITE_FRAMES])


def audio_path(root: Path, sample_key: str) -> Path:
    """Where OpenMIC keeps a clip: ``audio/NNN/<key>.ogg`` (NNN: the key's first 3 characters)."""
    return root / "audio" / sample_key[:3] / f"{sample_key}.ogg"


def _make_chunk(
    clips: list[ClipPlan], *, work: Path, presets: dict, sound_font: Path, seed: int, stand_in: bool
) -> list[dict]:
    """Render, write and embed a chunk of clips into `work`; a finished chunk is read back instead."""
    part = work / "parts" / f"chunk-{clips[0].index:06d}.json"
    if part.is_file():
        return json.loads(part.read_text(encoding="utf-8"))
    records = []
    with StemRenderer(sound_font, keep_loaded=True) as renderer:
        for clip in clips:
            mix, stems = render_clip(clip, renderer=renderer, presets=presets, seed=seed)
            path = audio_path(work, clip.sample_key)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp, mix=mix: write_ogg(tmp, mix))
            y, sr = sf.read(path, dtype="float32", always_2d=True)
            if len(y) != CLIP_FRAMES:
                raise DatasetError(
                    f"{path} decodes to {len(y)} frames, not {CLIP_FRAMES}; delete {work} and rerun"
                )
            record = {"sample_key": clip.sample_key, "stems": stems, "X": None}
            if stand_in:
                record["X"] = demo_embed.fit_rows(
                    demo_embed.stand_in_embedding(y.T, sr), N_ROWS
                ).tolist()
            records.append(record)
    atomic_write_json(part, records)
    return records


def _check_params(n_clips: int, seed: int, labels_per_clip: int) -> None:
    if not (isinstance(n_clips, (int, np.integer)) and n_clips >= MIN_CLIPS):
        raise ParameterError(
            f"n_clips must be an integer >= {MIN_CLIPS}, given n_clips={n_clips!r}"
        )
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ParameterError(f"seed must be a non-negative integer, given seed={seed!r}")
    if not (
        isinstance(labels_per_clip, (int, np.integer)) and 1 <= labels_per_clip <= len(CLASSES)
    ):
        raise ParameterError(
            f"labels_per_clip must be an integer in 1..{len(CLASSES)}, given labels_per_clip={labels_per_clip!r}"
        )


def _is_complete(root: Path, n_clips: int) -> bool:
    try:
        with np.load(root / NPZ_NAME, allow_pickle=True) as npz:
            keys = npz["sample_key"]
    except (OSError, KeyError, ValueError):
        return False
    return len(keys) == n_clips and all(audio_path(root, str(k)).is_file() for k in keys)


def _reuse(out: Path, params: dict) -> bool:
    """True when `out` already holds a complete demo set made with `params`."""
    demo_file = out / DEMO_NAME
    if not demo_file.is_file():
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ParameterError(
                f"{out} exists and is not a demo set (no {DEMO_NAME}); give an empty or new folder"
            )
        return False
    old = json.loads(demo_file.read_text(encoding="utf-8")).get("params")
    if old != params:
        raise ParameterError(
            f"{out} holds a demo set made with {old}, not {params}; give another folder "
            "or delete this one to regenerate it"
        )
    if not _is_complete(out, params["n_clips"]):
        raise DatasetError(
            f"{out} has {DEMO_NAME} but files are missing; delete the folder and rerun"
        )
    return True


def _metadata(plan: list[ClipPlan]) -> pd.DataFrame:
    meta = pd.DataFrame(index=range(len(plan)), columns=list(METADATA_COLUMNS), dtype=object)
    meta["track_id"] = [c.track_id for c in plan]
    meta["artist_id"] = [c.artist.artist_id for c in plan]
    meta["artist_name"] = [f"Demo artist {c.artist.artist_id}" for c in plan]
    meta["track_title"] = [f"Demo track {c.track_id}" for c in plan]
    meta["sample_key"] = [c.sample_key for c in plan]
    meta["start_time"] = [c.start_ms / 1000 for c in plan]
    return meta


def _aggregated_labels(keys: np.ndarray, labels: CrowdLabels) -> pd.DataFrame:
    rows, cols = np.nonzero(labels.Y_mask)
    return pd.DataFrame(
        {
            "sample_key": keys[rows],
            "instrument": np.asarray(CLASSES)[cols],
            "relevance": labels.Y_true[rows, cols],
            "num_responses": labels.num_responses[rows, cols],
        }
    )


def _write_dataset(
    work: Path,
    plan: list[ClipPlan],
    records: list[dict],
    X: np.ndarray,
    labels: CrowdLabels,
    is_test: np.ndarray,
) -> None:
    keys = np.array([c.sample_key for c in plan], dtype=object)

    def save_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(
                f, X=X.astype(np.int64), Y_true=labels.Y_true, Y_mask=labels.Y_mask, sample_key=keys
            )

    atomic_write(work / NPZ_NAME, save_npz)
    atomic_write_json(work / CLASS_MAP_NAME, {c: i for i, c in enumerate(CLASSES)}, indent=4)
    (work / "partitions").mkdir(exist_ok=True)
    for name, rows in (("split01_train.csv", ~is_test), ("split01_test.csv", is_test)):
        atomic_write_text(work / "partitions" / name, "".join(f"{k}\n" for k in keys[rows]))
    atomic_write(work / METADATA_NAME, lambda tmp: _metadata(plan).to_csv(tmp, index=False))
    atomic_write(
        work / AGGREGATED_LABELS_NAME,
        lambda tmp: _aggregated_labels(keys, labels).to_csv(tmp, index=False),
    )
    stems = pd.DataFrame(
        [{"sample_key": r["sample_key"], **s} for r in records for s in r["stems"]]
    )
    atomic_write(work / STEMS_NAME, lambda tmp: stems.to_csv(tmp, index=False))


def _render_all(plan, work, presets, sound_font, seed, stand_in, n_jobs, progress) -> list[dict]:
    chunks = [plan[i : i + CHUNK_CLIPS] for i in range(0, len(plan), CHUNK_CLIPS)]
    jobs = (
        delayed(_make_chunk)(
            chunk, work=work, presets=presets, sound_font=sound_font, seed=seed, stand_in=stand_in
        )
        for chunk in chunks
    )
    by_key = {}
    with tqdm(total=len(plan), desc="demo clips", unit="clip", disable=not progress) as bar:
        for records in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
            by_key.update((r["sample_key"], r) for r in records)
            bar.update(len(records))
    return [by_key[c.sample_key] for c in plan]


def _describe(
    params: dict,
    sound_font: Path,
    font_name: str,
    substituted: dict,
    embedding: dict,
    stats: dict,
    is_test: np.ndarray,
    artist_id: np.ndarray,
) -> dict:
    from importlib.metadata import version

    return {
        "synthetic": True,
        "description": (
            f"Synthetic OpenMIC-2018 look-alike: {params['n_clips']} clips of 1-4 General MIDI "
            f"instruments rendered with FluidSynth from {font_name}, with partial crowd-like labels "
            f"({params['labels_per_clip']} observed per clip); X is {embedding['name']}"
        ),
        "generator": "features.demo",
        "generator_version": GENERATOR_VERSION,
        "params": params,
        "seed": params["seed"],
        "n_clips": params["n_clips"],
        "labels_per_clip": params["labels_per_clip"],
        "sound_font": {"path": str(sound_font), "name": font_name},
        "renderer": {
            "name": "FluidSynth (pyfluidsynth)",
            "pyfluidsynth": version("pyfluidsynth"),
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "effects": (
                "FluidSynth reverb/chorus off, linear interpolation, "
                f"{SYNTH_SETTINGS['synth.polyphony']} voices, melodic release times offset by "
                f"{RELEASE_OFFSET_CENTS:g} timecents; one convolution room (fed by the mono sum) "
                "and a noise floor per artist"
            ),
        },
        "embedding": embedding,
        "substitute_presets": substituted,
        "label_policy": LABEL_POLICY,
        "label_statistics": stats,
        "split": {
            "train_clips": int((~is_test).sum()),
            "test_clips": int(is_test.sum()),
            "train_artists": len(np.unique(artist_id[~is_test])),
            "test_artists": len(np.unique(artist_id[is_test])),
        },
        "stems_file": STEMS_NAME,
    }


def make_demo(
    out_dir: str | Path,
    *,
    n_clips: int = DEFAULT_CLIPS,
    seed: int = 0,
    labels_per_clip: int = DEFAULT_LABELS_PER_CLIP,
    n_jobs: int = -1,
    progress: bool = True,
) -> Path:
    """Generate (or reuse) the demo dataset in OpenMIC-2018's layout.

    Parameters
    ----------
    out_dir : str or Path
        Folder to create; it must be new, empty, or a complete demo set made with the same
        parameters (then it is reused as it is).
    n_clips : int
        Number of 10 s clips (at least 4). About 0.2 s of CPU time each.
    seed : int
        Seed of everything; the same (seed, n_clips, labels_per_clip) gives the same arrays and audio.
    labels_per_clip : int
        Observed labels per clip (OpenMIC has about 2; the default keeps a few hundred clips learnable).
    n_jobs : int
        joblib processes (-1: all cores).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    root : Path
        `out_dir`, readable by `features.openmic.load`.

    Raises
    ------
    ParameterError
        Bad arguments, or `out_dir` holds something else (another demo set, other files).
    DatasetError
        `out_dir` holds a damaged demo set.

    Examples
    --------
    >>> root = make_demo("demo-openmic", n_clips=48, n_jobs=2)   # doctest: +SKIP
    >>> features.openmic.load(root).X.shape                       # doctest: +SKIP
    (48, 10, 128)
    """
    _check_params(n_clips, seed, labels_per_clip)
    out = Path(out_dir)
    params = {
        "generator_version": GENERATOR_VERSION,
        "n_clips": int(n_clips),
        "seed": int(seed),
        "labels_per_clip": int(labels_per_clip),
    }
    if _reuse(out, params):
        return out
    work = out.with_name(out.name + PARTIAL_SUFFIX)
    params_file = work / "params.json"
    if work.exists() and (
        not params_file.is_file() or json.loads(params_file.read_text()) != params
    ):
        shutil.rmtree(work)  # an earlier run with other parameters: nothing to keep
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_json(params_file, params)
    (work / "parts").mkdir(exist_ok=True)

    sound_font = default_sound_font()
    with StemRenderer(sound_font) as renderer:
        presets, substituted = renderer.class_presets()
    use_vggish = demo_embed.vggish_weights_present()
    plan = make_plan(int(n_clips), int(seed), CLASSES)
    records = _render_all(
        plan, work, presets, sound_font, int(seed), not use_vggish, n_jobs, progress
    )
    if use_vggish:
        X = demo_embed.vggish_embed_files([audio_path(work, c.sample_key) for c in plan])
    else:
        X = np.array([r["X"] for r in records], dtype=np.uint8)

    present = np.zeros((len(plan), len(CLASSES)), dtype=bool)
    for i, clip in enumerate(plan):
        present[i, [CLASSES.index(name) for name in clip.instruments]] = True
    labels = crowd_labels(present, labels_per_clip=int(labels_per_clip), seed=int(seed))
    artist_id = np.array([c.artist.artist_id for c in plan])
    is_test = artist_split(artist_id, present, int(seed))
    _write_dataset(work, plan, records, X, labels, is_test)

    font_name = sound_font.name
    demo = _describe(
        params,
        sound_font,
        font_name,
        substituted,
        demo_embed.embedding_info(use_vggish),
        labels.statistics(present),
        is_test,
        artist_id,
    )
    shutil.rmtree(work / "parts")
    params_file.unlink()
    atomic_write_json(work / DEMO_NAME, demo, indent=2)
    if out.is_dir():
        out.rmdir()  # empty (checked by _reuse); a rename cannot replace it otherwise on all systems
    os.replace(work, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m features.demo OUT_DIR [--clips N] [--seed S] ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m features.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "out_dir", type=Path, help="folder to create (reused when complete and same parameters)"
    )
    parser.add_argument(
        "--clips",
        type=int,
        default=DEFAULT_CLIPS,
        help=f"number of clips (default {DEFAULT_CLIPS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--labels-per-clip",
        type=int,
        default=DEFAULT_LABELS_PER_CLIP,
        help=f"observed labels per clip (default {DEFAULT_LABELS_PER_CLIP}; OpenMIC has ~2)",
    )
    parser.add_argument(
        "--jobs", type=int, default=-1, help="worker processes (default -1: all cores)"
    )
    args = parser.parse_args(argv)
    try:
        root = make_demo(
            args.out_dir,
            n_clips=args.clips,
            seed=args.seed,
            labels_per_clip=args.labels_per_clip,
            n_jobs=args.jobs,
        )
    except (ParameterError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    demo = json.loads((root / DEMO_NAME).read_text(encoding="utf-8"))
    print(f"demo set ready in {root}: {demo['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
