"""Who plays what in the demo set: artists, their clips, and the artist-conditional split.

An artist is a group of clips sharing a tempo range, a key, a chord progression, a palette (the
instruments it mostly uses) and a mix (room, noise floor, register). Palettes are drawn so that
every class is used by about as many artists. The split puts whole artists on one side, about
75/25, choosing among many random artist orders the one whose per-class positive rates in the
test split stay closest to the overall test share (OpenMIC rejection-sampled its split similarly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.demo.music import PROGRESSIONS

CLIPS_PER_ARTIST = (5, 10)  # inclusive range
TRACKS_PER_ARTIST = (1, 3)
PALETTE_SIZE = (4, 6)
N_INSTRUMENTS_P = (0.15, 0.35, 0.32, 0.18)  # P(1..4 instruments in a clip)
FROM_PALETTE_P = 0.85  # otherwise an instrument is drawn from all classes
TEMPO_BPM = (72.0, 150.0)
MAX_TRACK_ID = 155_000  # FMA track ids are 6 digits
START_STEP_MS = 960  # clip starts are multiples of one VGGish hop
MAX_START_STEPS = 300
TEST_SHARE = 0.25
SPLIT_TRIES = 200


@dataclass(frozen=True)
class Artist:
    """Style shared by an artist's clips."""

    artist_id: int
    tempo_bpm: float
    tonic: int
    minor: bool
    progression: tuple[int, ...]
    palette: tuple[str, ...]
    rt60_s: float
    reverb_wet: float
    noise_dbfs: float
    register_shift: int


@dataclass(frozen=True)
class ClipPlan:
    """One clip: its row (index in sorted key order), key, source track and instruments."""

    index: int
    sample_key: str
    track_id: int
    start_ms: int
    artist: Artist
    instruments: tuple[str, ...]


def _palette(
    rng: np.random.Generator, classes: tuple[str, ...], usage: np.ndarray
) -> tuple[str, ...]:
    size = int(rng.integers(PALETTE_SIZE[0], PALETTE_SIZE[1] + 1))
    weights = 1.0 / (1.0 + usage)
    chosen = rng.choice(len(classes), size=size, replace=False, p=weights / weights.sum())
    usage[chosen] += 1
    return tuple(classes[k] for k in sorted(chosen))


def _artist(artist_id: int, rng: np.random.Generator, palette: tuple[str, ...]) -> Artist:
    return Artist(
        artist_id=artist_id,
        tempo_bpm=float(rng.uniform(*TEMPO_BPM)),
        tonic=int(rng.integers(12)),
        minor=bool(rng.random() < 0.4),
        progression=PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))],
        palette=palette,
        rt60_s=float(rng.uniform(0.3, 1.6)),
        reverb_wet=float(rng.uniform(0.05, 0.35)),
        noise_dbfs=float(rng.uniform(-65.0, -42.0)),
        register_shift=int(rng.choice([-5, -2, 0, 0, 3, 5])),
    )


def _instruments(
    rng: np.random.Generator, palette: tuple[str, ...], classes: tuple[str, ...]
) -> tuple[str, ...]:
    n = int(rng.choice(len(N_INSTRUMENTS_P), p=N_INSTRUMENTS_P)) + 1
    chosen: list[str] = []
    while len(chosen) < n:
        pool = palette if rng.random() < FROM_PALETTE_P else classes
        name = pool[int(rng.integers(len(pool)))]
        if name not in chosen:
            chosen.append(name)
    return tuple(sorted(chosen, key=classes.index))


def make_plan(n_clips: int, seed: int, classes: tuple[str, ...]) -> list[ClipPlan]:
    """Artists and clips of a demo set, deterministic for (n_clips, seed).

    Returns
    -------
    plan : list of ClipPlan
        Sorted by sample key; ``plan[i].index == i``.
    """
    rng = np.random.default_rng([seed, n_clips])
    usage = np.zeros(len(classes))
    # Tiny sets get smaller artists, so that both sides of the split have some.
    high = min(CLIPS_PER_ARTIST[1], max(2, n_clips // 4))
    low = min(CLIPS_PER_ARTIST[0], high)
    sizes: list[int] = []
    while sum(sizes) < n_clips:
        sizes.append(int(rng.integers(low, high + 1)))
    sizes[-1] -= sum(sizes) - n_clips
    if len(sizes) > 2 and sizes[-1] < low:
        last = sizes.pop()
        sizes[-1] += last
    n_tracks = [int(rng.integers(TRACKS_PER_ARTIST[0], TRACKS_PER_ARTIST[1] + 1)) for _ in sizes]
    track_ids = iter(rng.choice(np.arange(1, MAX_TRACK_ID), size=sum(n_tracks), replace=False))
    rows = []
    for artist_index, (size, tracks) in enumerate(zip(sizes, n_tracks, strict=True)):
        artist = _artist(1000 + artist_index, rng, _palette(rng, classes, usage))
        own_tracks = [int(next(track_ids)) for _ in range(tracks)]
        starts = rng.choice(MAX_START_STEPS, size=size, replace=False) * START_STEP_MS
        for j in range(size):
            track = own_tracks[j % tracks]
            rows.append(
                (
                    f"{track:06d}_{int(starts[j])}",
                    track,
                    int(starts[j]),
                    artist,
                    _instruments(rng, artist.palette, classes),
                )
            )
    rows.sort(key=lambda r: r[0])
    return [ClipPlan(i, *row) for i, row in enumerate(rows)]


def artist_split(artist_id: np.ndarray, present: np.ndarray, seed: int) -> np.ndarray:
    """Artist-conditional train/test assignment, about 75/25 of clips.

    Parameters
    ----------
    artist_id : np.ndarray [shape=(n,)]
    present : np.ndarray [shape=(n, n_classes), dtype=bool]
        True instruments, used to keep each class's test share near the overall one.
    seed : int

    Returns
    -------
    is_test : np.ndarray [shape=(n,), dtype=bool]
    """
    rng = np.random.default_rng([seed, len(artist_id), 1])
    artists = np.unique(artist_id)
    per_class = present.sum(axis=0).clip(min=1)
    best, best_cost = None, np.inf
    for _ in range(SPLIT_TRIES):
        order = rng.permutation(artists)
        counts = np.array([np.sum(artist_id == a) for a in order])
        n_test_artists = int(np.searchsorted(np.cumsum(counts), TEST_SHARE * len(artist_id))) + 1
        n_test_artists = min(n_test_artists, len(artists) - 1)
        is_test = np.isin(artist_id, order[:n_test_artists])
        share = is_test.mean()
        cost = abs(share - TEST_SHARE) + np.max(
            np.abs(present[is_test].sum(axis=0) / per_class - share)
        )
        if cost < best_cost:
            best, best_cost = is_test, cost
    return best
