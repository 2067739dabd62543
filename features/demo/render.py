"""Notes to audio for the demo set: General MIDI sound font, FluidSynth, one stem per instrument.

This is the one module of the package that needs the generation-only dependencies (pyfluidsynth
with libfluidsynth, and pretty_midi for its bundled sound font); it imports them at the top, and
the rest of the toolkit imports it only when a demo set is generated (`features.demo.build`).

Stems are rendered one after the other on one synthesiser, reset and silenced between stems.
`features.demo.clips` makes a fresh synthesiser per fixed chunk of clips (about 0.07 s with
`keep_loaded`): FluidSynth reuses voice slots whose state leaks into later notes (differences of
about 1e-3 at a few onsets), so a clip's audio depends on what its synthesiser rendered before,
and fixed chunks keep it independent of the worker that renders it. FluidSynth's reverb and
chorus keep their tails across a reset, so they are off and `features.demo.mix` reverberates
the mix.

Speed: the synthesiser interpolates samples linearly, shortens melodic release tails
(`RELEASE_OFFSET_CENTS`), has `POLYPHONY` voices (the ones it steals when more notes sound are
the quietest release tails that strums and rolls pile up) and skips the stretches where no voice
sounds. Stems come out as float32 through `fluid_synth_write_float`.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import fluidsynth
import numpy as np
import pretty_midi

from core.errors import ParameterError
from features.demo.music import PERCUSSION_CHANNEL, Note

SAMPLE_RATE_HZ = 44100
SYSTEM_SOUND_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian fluid-soundfont-gm
PERCUSSION_BANK = 128
MELODIC_CHANNEL = 0
RENDER_BLOCK_FRAMES = 4096  # longest single write between two note events
# FluidSynth synthesises in blocks of 64 frames and keeps the unread rest of a block for the next
# write; event times and the rendered length are kept on that grid, so each render starts clean.
SYNTH_BLOCK_FRAMES = 64
CC_PAN = 10
POLYPHONY = 24  # voices (FluidSynth's default is 256); about 12 stereo-sampled notes at once
MIDI_CHANNELS = 16  # only channels 0 and 9 are used; pyfluidsynth's default is 256
INTERP_LINEAR = 1  # fluid_interp: 0 none, 1 linear, 4 fourth order (FluidSynth's default), 7 sinc
GEN_VOLENVRELEASE = 38  # SoundFont generator: volume envelope release time (timecents)
# Melodic notes release 4x faster than their presets say (-2400 timecents): ringing tails were
# half the voices FluidSynth computed; the room reverb still gives every note a tail.
RELEASE_OFFSET_CENTS = -2400.0
# FluidSynth's reverb and chorus keep their buffers across a system reset, so a stem would carry
# the previous stem's tail; they are off, and `features.demo.mix` reverberates the mix instead.
SYNTH_SETTINGS = {
    "synth.chorus.active": 0,
    "synth.reverb.active": 0,
    "synth.polyphony": POLYPHONY,
}

# (bank, program) presets per class, 0-based GM programs; one is drawn per clip.
KITS = ((128, 0), (128, 8), (128, 16), (128, 32), (128, 40))
PRESETS: dict[str, tuple[tuple[int, int], ...]] = {
    "accordion": ((0, 21),), "banjo": ((0, 105),), "bass": ((0, 33),), "cello": ((0, 42),),
    "clarinet": ((0, 71),), "cymbals": KITS, "drums": KITS, "flute": ((0, 73),),
    "guitar": ((0, 24), (0, 25)), "mallet_percussion": ((0, 12), (0, 11), (0, 13), (0, 9)),
    "mandolin": ((16, 25),), "organ": ((0, 16), (0, 17), (0, 18), (0, 19)), "piano": ((0, 0),),
    "saxophone": ((0, 64), (0, 65), (0, 66), (0, 67)),
    "synthesizer": tuple((0, p) for p in range(80, 88)), "trombone": ((0, 57),),
    "trumpet": ((0, 56),), "ukulele": ((8, 24),), "violin": ((0, 40),), "voice": ((0, 52), (0, 53)),
}  # fmt: skip
# Used where the sound font lacks every preset of a class: a plucked string in the class's
# register and idiom (features.demo.music plays mandolin as tremolo, ukulele as four-note strums).
SUBSTITUTES = {"mandolin": (0, 25), "ukulele": (0, 24)}


def default_sound_font() -> Path:
    """Debian's FluidR3_GM.sf2 when installed, else the TimGM6mb.sf2 bundled with pretty_midi."""
    if SYSTEM_SOUND_FONT.is_file():
        return SYSTEM_SOUND_FONT
    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


@functools.lru_cache(maxsize=2)
def _sample_keeper(sound_font: Path) -> object:
    """A silent synthesiser holding `sound_font`, kept for the life of the process.

    FluidSynth shares loaded sample data between the synthesisers of a process for as long as
    one of them holds it; this one does, so later loads only read the preset structure. It never
    plays, so it cannot change what the renderers render.
    """
    synth = fluidsynth.Synth(**SYNTH_SETTINGS)
    if synth.sfload(str(sound_font)) < 0:
        raise ParameterError(f"FluidSynth could not load the sound font {sound_font}")
    return synth


@dataclass(frozen=True)
class StemSpec:
    """How to render one instrument of one clip."""

    preset: tuple[int, int]  # (bank, program)
    notes: tuple[Note, ...]
    pan: int = 64  # MIDI CC 10, 0 (left) .. 127 (right)

    @property
    def channel(self) -> int:
        return PERCUSSION_CHANNEL if self.preset[0] == PERCUSSION_BANK else MELODIC_CHANNEL


class StemRenderer:
    """A FluidSynth synthesiser with one sound font loaded, rendering stems one at a time.

    Use one per clip, as a context manager (the synthesiser is deleted on exit).

    Parameters
    ----------
    sound_font : Path
        A General MIDI .sf2 file.
    sr : int
        Output sampling rate in Hz.
    keep_loaded : bool
        Keep the sound font's samples in this process after the renderer is deleted, so that
        the next renderer loads it in about 0.07 s instead of 0.16 s (see `_sample_keeper`).
    """

    def __init__(self, sound_font: Path, sr: int = SAMPLE_RATE_HZ, *, keep_loaded: bool = False):
        self.sound_font, self.sr = Path(sound_font), sr
        if keep_loaded:
            _sample_keeper(self.sound_font)
        self._synth = fluidsynth.Synth(
            gain=0.5, samplerate=float(sr), channels=MIDI_CHANNELS, **SYNTH_SETTINGS
        )
        self._sfid = self._synth.sfload(str(self.sound_font))
        if self._sfid < 0:
            raise ParameterError(f"FluidSynth could not load the sound font {self.sound_font}")
        self._write_float = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int,
            ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
            ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
            ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1),
        )  # fmt: skip
        self._set_interp = fluidsynth.cfunc(
            "fluid_synth_set_interp_method", ctypes.c_int,
            ("synth", ctypes.c_void_p, 1), ("chan", ctypes.c_int, 1), ("method", ctypes.c_int, 1),
        )  # fmt: skip
        self._set_gen = fluidsynth.cfunc(
            "fluid_synth_set_gen", ctypes.c_int,
            ("synth", ctypes.c_void_p, 1), ("chan", ctypes.c_int, 1), ("param", ctypes.c_int, 1),
            ("value", ctypes.c_float, 1),
        )  # fmt: skip

    def __enter__(self) -> StemRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._synth.delete()

    def preset_name(self, preset: tuple[int, int]) -> str | None:
        """The sound font's name for (bank, program), None where it has no such preset."""
        return self._synth.sfpreset_name(self._sfid, *preset)

    def class_presets(self) -> tuple[dict[str, tuple[tuple[int, int], ...]], dict[str, str]]:
        """Presets per class available in this sound font, and the classes that use a substitute.

        Returns
        -------
        presets : dict class -> tuple of (bank, program)
        substituted : dict class -> plain-words description of the substitute used
        """
        presets, substituted = {}, {}
        for name, wanted in PRESETS.items():
            found = tuple(p for p in wanted if self.preset_name(p) is not None)
            if not found and name in SUBSTITUTES:
                found = (SUBSTITUTES[name],)
                substituted[name] = (
                    f"no real {name} preset; GM program {SUBSTITUTES[name][1]} "
                    f"({self.preset_name(SUBSTITUTES[name])}) played in the {name}'s register and idiom"
                )
            if not found:
                raise ParameterError(
                    f"sound font {self.sound_font} has none of the presets {wanted} for {name!r}; "
                    "use a complete General MIDI sound font (e.g. Debian's fluid-soundfont-gm)"
                )
            presets[name] = found
        return presets, substituted

    def _write(self, out: np.ndarray, start: int, stop: int) -> None:
        for a in range(start, stop, RENDER_BLOCK_FRAMES):
            if not self._synth.get_active_voice_count():
                return  # nothing sounds before the next event: `out` is already zero there
            n = min(RENDER_BLOCK_FRAMES, stop - a)
            address = out.ctypes.data + a * out.strides[0]
            self._write_float(self._synth.synth, n, address, 0, 2, address, 1, 2)

    def render(self, stem: StemSpec, n_frames: int) -> np.ndarray:
        """Render one stem from silence.

        Parameters
        ----------
        stem : StemSpec
            Preset, notes and channel settings.
        n_frames : int
            Output length in samples; notes still sounding at the end are cut.

        Returns
        -------
        y : np.ndarray [shape=(2, n_frames), dtype=float32]
            Stereo audio in librosa layout, as the synthesiser made it (not normalised): a
            transposed view of FluidSynth's interleaved buffer (``y.T`` is C-contiguous).
        """
        synth, chan = self._synth, stem.channel
        synth.system_reset()
        self._set_interp(synth.synth, -1, INTERP_LINEAR)  # a reset restores the default
        for channel in (MELODIC_CHANNEL, PERCUSSION_CHANNEL):
            synth.all_sounds_off(channel)  # a reset alone lets the last stem's notes ring on
        synth.program_select(chan, self._sfid, *stem.preset)
        synth.cc(chan, CC_PAN, stem.pan)
        if chan == MELODIC_CHANNEL:  # a reset sets it back to 0
            self._set_gen(synth.synth, chan, GEN_VOLENVRELEASE, RELEASE_OFFSET_CENTS)
        block = SYNTH_BLOCK_FRAMES
        events = []
        for onset, duration, pitch, velocity in stem.notes:
            events.append((block * round(onset * self.sr / block), 1, pitch, velocity))
            events.append((block * round((onset + duration) * self.sr / block), 0, pitch, 0))
        n_render = block * -(-n_frames // block)
        out = np.zeros((n_render, 2), dtype=np.float32)  # interleaved, as FluidSynth writes
        position = 0
        for frame, is_on, pitch, velocity in sorted(events):  # note-offs first at equal times
            frame = min(frame, n_render)
            self._write(out, position, frame)
            position = max(position, frame)
            if is_on:
                synth.noteon(chan, pitch, velocity)
            else:
                synth.noteoff(chan, pitch)
        self._write(out, position, n_render)
        return out[:n_frames].T
