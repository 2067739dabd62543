"""Note material for the demo set: short phrases in a shared key and tempo, one idiom per instrument.

A clip is a few bars of one chord progression. Each instrument plays it in an idiom that suits it
(melodic line, chords, strums, rolls, tremolo, bass line, drum or cymbal pattern) in its own
register, with velocity jitter. Everything is drawn from a `numpy.random.Generator`, so a clip's
notes depend only on its seed.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 0, 4), (1, 4, 0, 0))
PERCUSSION_CHANNEL = 9
BEATS_PER_BAR = 4

# Playable MIDI range (low, high) of each class, used for every idiom it plays.
RANGES = {
    "accordion": (53, 84), "banjo": (50, 79), "bass": (28, 55), "cello": (36, 67),
    "clarinet": (52, 86), "cymbals": (0, 127), "drums": (0, 127), "flute": (60, 93),
    "guitar": (40, 76), "mallet_percussion": (60, 93), "mandolin": (55, 88), "organ": (43, 84),
    "piano": (40, 91), "saxophone": (49, 80), "synthesizer": (40, 91), "trombone": (40, 70),
    "trumpet": (55, 82), "ukulele": (60, 81), "violin": (55, 93), "voice": (48, 79),
}  # fmt: skip

# Idioms each class may play (one is drawn per clip).
IDIOMS = {
    "accordion": ("melody", "chords"), "banjo": ("roll",), "bass": ("bass",),
    "cello": ("melody", "long"), "clarinet": ("melody",), "cymbals": ("cymbals",),
    "drums": ("drums",), "flute": ("melody",), "guitar": ("strum", "arpeggio"),
    "mallet_percussion": ("melody", "arpeggio"), "mandolin": ("tremolo",), "organ": ("chords",),
    "piano": ("comp", "arpeggio", "melody"), "saxophone": ("melody",),
    "synthesizer": ("chords", "arpeggio", "melody"), "trombone": ("melody", "long"),
    "trumpet": ("melody",), "ukulele": ("strum",), "violin": ("melody", "long", "tremolo"),
    "voice": ("long", "melody"),
}  # fmt: skip

# General MIDI percussion keys.
KICK, SNARE, CLOSED_HAT, PEDAL_HAT, LOW_TOM, MID_TOM, HIGH_TOM = 36, 38, 42, 44, 45, 47, 50
CRASH_1, RIDE, CHINA, SPLASH, CRASH_2, RIDE_BELL = 49, 51, 52, 55, 57, 53


@dataclass(frozen=True)
class Key:
    """Tonality shared by all instruments of a clip: tonic pitch class 0..11 and mode."""

    tonic: int
    minor: bool

    def scale_pitches(self, low: int, high: int) -> np.ndarray:
        """MIDI pitches of the scale within [low, high], ascending."""
        scale = MINOR_SCALE if self.minor else MAJOR_SCALE
        pitches = [p for p in range(low, high + 1) if (p - self.tonic) % 12 in scale]
        return np.asarray(pitches)

    def chord(self, degree: int, *, size: int = 3) -> np.ndarray:
        """Pitch classes (0..11, may exceed 11) of the diatonic chord on a scale degree."""
        scale = MINOR_SCALE if self.minor else MAJOR_SCALE
        steps = [degree + 2 * i for i in range(size)]
        return np.asarray([self.tonic + scale[s % 7] + 12 * (s // 7) for s in steps])


@dataclass(frozen=True)
class Groove:
    """Timing shared by all instruments of a clip."""

    tempo_bpm: float
    progression: tuple[int, ...]
    duration_s: float
    offset_beats: float = 0.0  # the clip starts this far into the first bar

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    def n_beats(self) -> int:
        return int(np.ceil(self.duration_s / self.beat_s + self.offset_beats)) + 1

    def degree_at(self, beat: float) -> int:
        return self.progression[int(beat // BEATS_PER_BAR) % len(self.progression)]


# A note: onset and duration in seconds from the clip start, MIDI pitch, MIDI velocity.
Note = tuple[float, float, int, int]


@functools.lru_cache(maxsize=4096)
def _voice_chord(key: Key, degree: int, low: int, high: int, n_notes: int) -> tuple[int, ...]:
    """Closest-position voicing of a chord with `n_notes` notes inside [low, high] (cached)."""
    classes = set((key.chord(degree, size=3 if n_notes <= 3 else 4) % 12).tolist())
    candidates = tuple(p for p in range(low, high + 1) if p % 12 in classes)
    centre = (low + high) // 2
    start = min(range(len(candidates)), key=lambda i: abs(candidates[i] - centre + 6))
    return candidates[start : start + n_notes] or candidates[-n_notes:]


class _Phrase:
    """Collects notes on a beat grid and converts beats to seconds for one clip."""

    def __init__(self, groove: Groove, rng: np.random.Generator, velocity: int):
        self.groove, self.rng, self.velocity = groove, rng, velocity
        self.notes: list[Note] = []

    def add(self, beat: float, length_beats: float, pitch: int, accent: float = 0.0) -> None:
        start = (beat - self.groove.offset_beats) * self.groove.beat_s
        if start < 0 or start >= self.groove.duration_s:
            return
        jitter = self.rng.normal(0.0, 6.0) + accent
        velocity = int(np.clip(self.velocity + jitter, 20, 127))
        self.notes.append((start, length_beats * self.groove.beat_s, int(pitch), velocity))


def _melody(ph: _Phrase, key: Key, low: int, high: int, units: tuple[float, ...]) -> None:
    scale = key.scale_pitches(low, high)
    idx = int(ph.rng.integers(len(scale) // 4, 3 * len(scale) // 4 + 1))
    beat = 0.0
    while beat < ph.groove.n_beats():
        length = float(ph.rng.choice(units))
        if ph.rng.random() > 0.12:  # otherwise a rest
            chord = key.chord(ph.groove.degree_at(beat)) % 12
            if beat % 1 == 0 and scale[idx] % 12 not in chord and ph.rng.random() < 0.6:
                idx = min(idx + 1, len(scale) - 1)  # lean on chord tones on the beat
            ph.add(beat, 0.92 * length, scale[idx], accent=8.0 * (beat % 2 == 0))
        idx = int(np.clip(idx + ph.rng.choice([-2, -1, -1, 0, 1, 1, 2]), 0, len(scale) - 1))
        beat += length


def _chords(ph: _Phrase, key: Key, low: int, high: int, pattern: tuple[float, ...], n: int) -> None:
    """Block chords at the beat positions of `pattern` (within a bar), held to the next hit."""
    for bar_start in range(0, ph.groove.n_beats(), BEATS_PER_BAR):
        hits = [*pattern, BEATS_PER_BAR]
        for at, nxt in itertools.pairwise(hits):
            beat = bar_start + at
            for pitch in _voice_chord(key, ph.groove.degree_at(beat), low, high, n):
                ph.add(beat, 0.95 * (nxt - at), pitch)


def _strum(ph: _Phrase, key: Key, low: int, high: int, n: int) -> None:
    """Strummed chords on eighths with down/up strokes: notes staggered by a few ms."""
    pattern = ph.rng.choice([0, 1], size=8, p=[0.3, 0.7])
    pattern[0] = 1
    for beat8 in range(0, 2 * ph.groove.n_beats()):
        if not pattern[beat8 % 8]:
            continue
        beat = beat8 / 2
        pitches = _voice_chord(key, ph.groove.degree_at(beat), low, high, n)
        if beat8 % 2:
            pitches = pitches[::-1]
        for i, pitch in enumerate(pitches):
            ph.add(beat + 0.03 * i, 0.45, pitch, accent=-10.0 * (beat8 % 2))


def _arpeggio(ph: _Phrase, key: Key, low: int, high: int, step: float) -> None:
    order = ph.rng.permutation(4) if ph.rng.random() < 0.5 else np.arange(4)
    for i in range(int(ph.groove.n_beats() / step)):
        beat = i * step
        pitches = _voice_chord(key, ph.groove.degree_at(beat), low, high, 4)
        ph.add(beat, 1.5 * step, pitches[order[i % len(order)] % len(pitches)])


def _tremolo(ph: _Phrase, key: Key, low: int, high: int) -> None:
    """A slow melody whose notes are picked as fast repeated notes (mandolin idiom)."""
    scale = key.scale_pitches(low, high)
    idx = int(ph.rng.integers(len(scale) // 3, 2 * len(scale) // 3 + 1))
    for beat in range(0, ph.groove.n_beats(), 2):
        for k in range(16):  # 16 picks per two beats: 32nd-ish tremolo at slow tempi
            ph.add(beat + k / 8, 0.11, scale[idx], accent=-6.0 * (k % 2))
        idx = int(np.clip(idx + ph.rng.choice([-2, -1, 1, 2]), 0, len(scale) - 1))


def _roll(ph: _Phrase, key: Key, low: int, high: int) -> None:
    """Banjo forward rolls: eighth-note triplet-like cycles over chord tones."""
    for i in range(2 * ph.groove.n_beats()):
        beat = i / 2
        pitches = _voice_chord(key, ph.groove.degree_at(beat), low, high, 4)
        ph.add(beat, 0.4, pitches[(0, 2, 1, 3, 0, 3, 1, 2)[i % 8] % len(pitches)])


def _bass(ph: _Phrase, key: Key, low: int, high: int) -> None:
    style = int(ph.rng.integers(3))
    for beat in range(ph.groove.n_beats()):
        root = key.chord(ph.groove.degree_at(beat))[0] % 12
        base = low + (root - low) % 12
        fifth = base + 7 if base + 7 <= high else base - 5
        if style == 0:  # roots on 1 and 3, fifth on 4
            pitch = {0: base, 2: base, 3: fifth}.get(beat % 4)
            if pitch is not None:
                ph.add(beat, 0.9, pitch, accent=8.0 * (beat % 4 == 0))
        elif style == 1:  # driving eighths on the root
            ph.add(beat, 0.45, base, accent=6.0)
            ph.add(beat + 0.5, 0.45, base + 12 * (ph.rng.random() < 0.2))
        else:  # walking quarters through the scale
            scale = key.scale_pitches(base, min(base + 12, high))
            ph.add(beat, 0.95, scale[(beat % 4) % len(scale)] if beat % 4 else base)


def _drums(ph: _Phrase) -> None:
    kick_pattern = [(0, 2), (0, 2.5), (0, 1.5, 2), (0, 0.75, 2.5)][int(ph.rng.integers(4))]
    hat_step = float(ph.rng.choice([0.5, 0.25, 1.0], p=[0.6, 0.25, 0.15]))
    for bar_start in range(0, ph.groove.n_beats(), BEATS_PER_BAR):
        fill = (bar_start // BEATS_PER_BAR) % 4 == 3 and ph.rng.random() < 0.7
        for at in kick_pattern:
            ph.add(bar_start + at, 0.2, KICK, accent=10.0)
        for at in (1, 3):
            if not (fill and at == 3):
                ph.add(bar_start + at, 0.2, SNARE, accent=6.0)
        for k in range(int(BEATS_PER_BAR / hat_step)):
            if not (fill and k * hat_step >= 3):
                ph.add(bar_start + k * hat_step, 0.1, CLOSED_HAT, accent=-12.0 * (k % 2))
        if fill:
            for k, tom in enumerate((HIGH_TOM, HIGH_TOM, MID_TOM, LOW_TOM)):
                ph.add(bar_start + 3 + k / 4, 0.2, tom)


def _cymbals(ph: _Phrase) -> None:
    ride = int(ph.rng.choice([RIDE, RIDE, RIDE_BELL, CHINA]))
    crash = int(ph.rng.choice([CRASH_1, CRASH_2, SPLASH]))
    step = float(ph.rng.choice([0.5, 1.0]))
    for bar_start in range(0, ph.groove.n_beats(), BEATS_PER_BAR):
        if (bar_start // BEATS_PER_BAR) % 2 == 0:
            ph.add(bar_start, 2.0, crash, accent=12.0)
        for k in range(int(BEATS_PER_BAR / step)):
            ph.add(bar_start + k * step, 0.5, ride, accent=-8.0 * (k % 2))


def compose(
    instrument: str,
    idiom: str,
    key: Key,
    groove: Groove,
    *,
    rng: np.random.Generator,
    velocity: int = 90,
    register_shift: int = 0,
) -> list[Note]:
    """Notes of one instrument in one clip.

    Parameters
    ----------
    instrument : str
        An OpenMIC class name (a key of `RANGES`).
    idiom : str
        One of `IDIOMS[instrument]`.
    key, groove : Key, Groove
        Tonality and timing shared by the clip's instruments.
    rng : np.random.Generator
        Source of every random choice.
    velocity : int
        Mean MIDI velocity (1..127); notes jitter around it.
    register_shift : int
        Semitones to move the instrument's range by (clipped to stay playable).

    Returns
    -------
    notes : list of (onset_s, duration_s, pitch, velocity)
        Onsets lie in [0, groove.duration_s), sorted.
    """
    low, high = RANGES[instrument]
    if instrument not in ("drums", "cymbals"):
        low, high = max(low + register_shift, 21), min(high + register_shift, 108)
    ph = _Phrase(groove, rng, velocity)
    if idiom == "melody":
        _melody(ph, key, low, high, (0.5, 0.5, 1.0, 1.0, 1.5, 2.0))
    elif idiom == "long":
        _melody(ph, key, low, high, (2.0, 3.0, 4.0))
    elif idiom == "chords":
        _chords(
            ph, key, low, high, (0,) if rng.random() < 0.6 else (0, 2), 3 + int(rng.random() < 0.5)
        )
    elif idiom == "comp":
        _chords(
            ph, key, low, high, ((0, 1.5, 2, 3.5), (0, 1, 2, 3), (0, 2.5))[int(rng.integers(3))], 4
        )
    elif idiom == "strum":
        _strum(ph, key, low, high, 4 if instrument == "ukulele" else 5)
    elif idiom == "arpeggio":
        _arpeggio(ph, key, low, high, float(rng.choice([0.25, 0.5])))
    elif idiom == "tremolo":
        _tremolo(ph, key, low, high)
    elif idiom == "roll":
        _roll(ph, key, low, high)
    elif idiom == "bass":
        _bass(ph, key, low, high)
    elif idiom == "drums":
        _drums(ph)
    elif idiom == "cymbals":
        _cymbals(ph)
    else:
        raise ValueError(f"unknown idiom {idiom!r} for {instrument!r}; known: {IDIOMS[instrument]}")
    return sorted(ph.notes)
