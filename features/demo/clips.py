"""The demo set's audio: each clip composed, rendered, mixed, written as OGG and embedded.

Clips are rendered in fixed chunks of `CHUNK_CLIPS`, in clip order, each chunk on a fresh
synthesiser (`features.demo.render` says why), by joblib workers; the audio therefore does not
depend on the number of workers. A finished chunk's records are saved in the folder being built,
so a rerun after an interruption renders only the chunks still missing.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import soundfile as sf
from joblib import Parallel, delayed
from tqdm import tqdm

from core.atomic import atomic_write, atomic_write_json
from core.errors import DatasetError
from features.demo import embed
from features.demo.layout import audio_path, write_ogg
from features.demo.mix import mix_stems
from features.demo.music import IDIOMS, Groove, Key, compose
from features.demo.plan import ClipPlan
from features.demo.render import (
    RELEASE_OFFSET_CENTS,
    SAMPLE_RATE_HZ,
    SYNTH_SETTINGS,
    StemRenderer,
    StemSpec,
)

# Clips rendered in order on one synthesiser (a new one costs about 0.07 s while the process keeps
# the font's samples loaded, 0.16 s otherwise); the chunks are fixed by clip index, so the audio
# does not depend on n_jobs. Also the resume unit.
CHUNK_CLIPS = 8
CLIP_SECONDS = 10.0
CLIP_FRAMES = int(CLIP_SECONDS * SAMPLE_RATE_HZ)
N_ROWS = 10  # X rows per clip, one per 0.96 s
GAIN_SD_DB, GAIN_MAX_DB = 3.0, 6.0  # per-instrument level spread around the normalised RMS
VELOCITY_RANGE = (60, 112)
CENTRED = ("bass", "drums")  # panned to the middle, as in most mixes


def render_clip(
    clip: ClipPlan,
    *,
    renderer: StemRenderer,
    presets: dict[str, tuple[tuple[int, int], ...]],
    seed: int,
) -> tuple[np.ndarray, list[dict]]:
    """Compose, render and mix one clip; its random draws depend only on (seed, clip.index).

    The audio also depends on what `renderer` rendered before (see `features.demo.render`):
    `render_all` renders fixed chunks of clips in order on a fresh renderer each.

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
        sr=renderer.sr,
    )
    for row, raw_db, level_db in zip(rows, raw, level, strict=True):
        row["raw_rms_dbfs"], row["rms_dbfs"] = round(raw_db, 2), round(level_db, 2)
    return mix, rows


def render_all(
    plan: list[ClipPlan],
    root: Path,
    *,
    presets: dict[str, tuple[tuple[int, int], ...]],
    sound_font: Path,
    seed: int,
    stand_in: bool,
    n_jobs: int,
    progress: bool,
) -> list[dict]:
    """Render, write and (for the stand-in embedding) embed every clip of `plan` into `root`.

    Parameters
    ----------
    plan : list of ClipPlan
    root : Path
        The folder being built; chunk records are kept in ``root/parts``, which must exist.
    presets : dict class -> tuple of (bank, program)
        From `StemRenderer.class_presets` for `sound_font`.
    sound_font : Path
    seed : int
    stand_in : bool
        Compute the stand-in embedding of each clip (`features.demo.embed`) from its decoded OGG.
    n_jobs : int
        joblib processes (-1: all cores).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    records : list of dict
        Per clip, in the order of `plan`: ``"sample_key"``, ``"stems"`` (see `render_clip`) and
        ``"X"`` (the stand-in rows as nested lists [shape=(10, 128)], or None).
    """
    chunks = [plan[i : i + CHUNK_CLIPS] for i in range(0, len(plan), CHUNK_CLIPS)]
    jobs = (
        delayed(_make_chunk)(
            chunk, root=root, presets=presets, sound_font=sound_font, seed=seed, stand_in=stand_in
        )
        for chunk in chunks
    )
    by_key = {}
    with tqdm(total=len(plan), desc="demo clips", unit="clip", disable=not progress) as bar:
        for records in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
            by_key.update((r["sample_key"], r) for r in records)
            bar.update(len(records))
    return [by_key[c.sample_key] for c in plan]


def renderer_info() -> dict:
    """The ``renderer`` entry of demo.json: synthesiser, version, sampling rate and effects."""
    return {
        "name": "FluidSynth (pyfluidsynth)",
        "pyfluidsynth": version("pyfluidsynth"),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "effects": (
            "FluidSynth reverb/chorus off, linear interpolation, "
            f"{SYNTH_SETTINGS['synth.polyphony']} voices, melodic release times offset by "
            f"{RELEASE_OFFSET_CENTS:g} timecents; one convolution room (fed by the mono sum) "
            "and a noise floor per artist"
        ),
    }


def _make_chunk(
    clips: list[ClipPlan], *, root: Path, presets: dict, sound_font: Path, seed: int, stand_in: bool
) -> list[dict]:
    """Render, write and embed a chunk of clips into `root`; a finished chunk is read back instead."""
    part = root / "parts" / f"chunk-{clips[0].index:06d}.json"
    if part.is_file():
        return json.loads(part.read_text(encoding="utf-8"))
    records = []
    with StemRenderer(sound_font, keep_loaded=True) as renderer:
        for clip in clips:
            mix, stems = render_clip(clip, renderer=renderer, presets=presets, seed=seed)
            path = audio_path(root, clip.sample_key)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda tmp, mix=mix: write_ogg(tmp, mix, renderer.sr))
            y, sr = sf.read(path, dtype="float32", always_2d=True)
            if len(y) != CLIP_FRAMES:
                raise DatasetError(
                    f"{path} decodes to {len(y)} frames, not {CLIP_FRAMES}; delete {root} and rerun"
                )
            record = {"sample_key": clip.sample_key, "stems": stems, "X": None}
            if stand_in:
                record["X"] = embed.fit_rows(embed.stand_in_embedding(y.T, sr), N_ROWS).tolist()
            records.append(record)
    atomic_write_json(part, records)
    return records
