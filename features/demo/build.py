"""Build a demo set: check the parameters, reuse or resume, plan, render, label, split, write.

``make_demo(out_dir)`` builds the set in ``OUT_DIR.partial`` and renames it to ``OUT_DIR`` only
when complete, with ``demo.json`` (what made it) written last; an interrupted run leaves only the
``.partial`` folder, whose finished chunks of clips a rerun with the same parameters keeps. A
complete set with the same parameters is reused as it is; one with other parameters is an error
(pick another folder).

The synthesiser (`features.demo.render`, which needs pyfluidsynth and pretty_midi) is imported
by `make_demo` itself, when a set is really generated, so that importing this module, the
package, or `features.demo.synthetic` works without it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from core.atomic import atomic_write_json
from core.errors import DatasetError, ParameterError
from features.demo import embed
from features.demo.labels import crowd_labels
from features.demo.layout import STEMS_NAME, audio_path, is_complete, write_dataset
from features.demo.plan import ClipPlan, artist_split, make_plan
from features.openmic import CLASSES, DEMO_NAME

DEFAULT_CLIPS = 500
DEFAULT_LABELS_PER_CLIP = 10
MIN_CLIPS = 4
# 1.1: FluidSynth with linear interpolation, 24 voices and shorter melodic releases; one room
# per artist, fed by the mono sum; reverb and noise floor in one float32 FFT pass.
GENERATOR_VERSION = "1.1"
LABEL_POLICY = (
    "per clip, labels_per_clip (clip, instrument) pairs are observed: each present instrument with "
    "probability min(0.9, 0.43 * labels_per_clip / mean instruments per clip), the rest absent "
    "instruments at random; about 2 % of observed labels are flipped. OpenMIC observes ~2 labels "
    "per clip, 43 % positive; the demo default of 10 keeps a few hundred clips learnable, and its "
    "positive share is lower (about 22 %, see label_statistics)"
)
PARTIAL_SUFFIX = ".partial"


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

    from features.demo import clips, render  # the synthesiser: see the module docstring

    sound_font = render.default_sound_font()
    with render.StemRenderer(sound_font) as renderer:
        presets, substituted = renderer.class_presets()
    use_vggish = embed.vggish_weights_present()
    plan = make_plan(int(n_clips), int(seed), CLASSES)
    records = clips.render_all(
        plan,
        work,
        presets=presets,
        sound_font=sound_font,
        seed=int(seed),
        stand_in=not use_vggish,
        n_jobs=n_jobs,
        progress=progress,
    )
    if use_vggish:
        X = embed.vggish_embed_files([audio_path(work, c.sample_key) for c in plan])
    else:
        X = np.array([r["X"] for r in records], dtype=np.uint8)

    present = _present(plan)
    labels = crowd_labels(present, labels_per_clip=int(labels_per_clip), seed=int(seed))
    artist_id = np.array([c.artist.artist_id for c in plan])
    is_test = artist_split(artist_id, present, int(seed))
    write_dataset(work, plan, records, X, labels, is_test)

    demo = _describe(
        params,
        sound_font,
        substituted,
        renderer=clips.renderer_info(),
        embedding=embed.embedding_info(use_vggish),
        stats=labels.statistics(present),
        is_test=is_test,
        artist_id=artist_id,
    )
    shutil.rmtree(work / "parts")
    params_file.unlink()
    atomic_write_json(work / DEMO_NAME, demo, indent=2)
    if out.is_dir():
        out.rmdir()  # empty (checked by _reuse); a rename cannot replace it otherwise on all systems
    os.replace(work, out)
    return out


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
    if not is_complete(out, params["n_clips"]):
        raise DatasetError(
            f"{out} has {DEMO_NAME} but files are missing; delete the folder and rerun"
        )
    return True


def _describe(
    params: dict,
    sound_font: Path,
    substituted: dict[str, str],
    *,
    renderer: dict,
    embedding: dict,
    stats: dict,
    is_test: np.ndarray,
    artist_id: np.ndarray,
) -> dict:
    """The contents of demo.json: what made the set, in plain words and in figures."""
    return {
        "synthetic": True,
        "description": (
            f"Synthetic OpenMIC-2018 look-alike: {params['n_clips']} clips of 1-4 General MIDI "
            f"instruments rendered with FluidSynth from {sound_font.name}, with partial crowd-like "
            f"labels ({params['labels_per_clip']} observed per clip); X is {embedding['name']}"
        ),
        "generator": "features.demo",
        "generator_version": GENERATOR_VERSION,
        "params": params,
        "seed": params["seed"],
        "n_clips": params["n_clips"],
        "labels_per_clip": params["labels_per_clip"],
        "sound_font": {"path": str(sound_font), "name": sound_font.name},
        "renderer": renderer,
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


def _present(plan: list[ClipPlan]) -> np.ndarray:
    """Which classes play in each clip: bool [shape=(n_clips, n_classes)]."""
    present = np.zeros((len(plan), len(CLASSES)), dtype=bool)
    for i, clip in enumerate(plan):
        present[i, [CLASSES.index(name) for name in clip.instruments]] = True
    return present
