"""Notes to audio for the demo set: General MIDI sound font, FluidSynth, one stem per instrument.

A clip's stems are rendered one after the other on a synthesiser made for that clip, reset and
silenced between stems. A fresh synthesiser per clip costs about 0.1 s (loading the sound font)
but is what makes a clip's audio independent of the worker that renders it: FluidSynth reuses
voice slots whose state leaks into later notes (differences of about 1e-3 at a few onsets), and
its reverb and chorus keep their tails across a reset (they are off; `add_reverb` reverberates
the mix instead). Stems come out as float32 through `fluid_synth_write_float`, are loudness
normalised by their RMS and mixed by `mix_stems`.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal

from features.demo_music import PERCUSSION_CHANNEL, Note
from features.errors import ParameterError

SAMPLE_RATE_HZ = 44100
SYSTEM_SOUND_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian fluid-soundfont-gm
PERCUSSION_BANK = 128
MELODIC_CHANNEL = 0
RENDER_BLOCK_FRAMES = 4096  # longest single write between two note events
# FluidSynth synthesises in blocks of 64 frames and keeps the unread rest of a block for the next
# write; event times and the rendered length are kept on that grid, so each render starts clean.
SYNTH_BLOCK_FRAMES = 64
STEM_RMS_DBFS = -20.0  # every stem is normalised to this RMS before its gain is applied
MIX_PEAK_MAX = 0.98  # the mix is scaled down when its peak would exceed this
SILENT_RMS = 1e-6  # a stem quieter than this is treated as silent (a preset without sound)
CC_PAN = 10
# FluidSynth's reverb and chorus keep their buffers across a system reset, so a stem would carry
# the previous stem's tail; they are off, and `add_reverb` reverberates the mix instead.
SYNTH_SETTINGS = {"synth.chorus.active": 0, "synth.reverb.active": 0}

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
# register and idiom (demo_music plays mandolin as tremolo, ukulele as four-note strums).
SUBSTITUTES = {"mandolin": (0, 25), "ukulele": (0, 24)}


def default_sound_font() -> Path:
    """Debian's FluidR3_GM.sf2 when installed, else the TimGM6mb.sf2 bundled with pretty_midi."""
    if SYSTEM_SOUND_FONT.is_file():
        return SYSTEM_SOUND_FONT
    import pretty_midi

    return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"


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
    """

    def __init__(self, sound_font: Path, sr: int = SAMPLE_RATE_HZ):
        import fluidsynth

        self.sound_font, self.sr = Path(sound_font), sr
        self._synth = fluidsynth.Synth(gain=0.5, samplerate=float(sr), **SYNTH_SETTINGS)
        self._sfid = self._synth.sfload(str(self.sound_font))
        if self._sfid < 0:
            raise ParameterError(f"FluidSynth could not load the sound font {self.sound_font}")
        self._write_float = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int,
            ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
            ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
            ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1),
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
            Stereo audio in librosa layout, as the synthesiser made it (not normalised).
        """
        synth, chan = self._synth, stem.channel
        synth.system_reset()
        for channel in (MELODIC_CHANNEL, PERCUSSION_CHANNEL):
            synth.all_sounds_off(channel)  # a reset alone lets the last stem's notes ring on
        synth.program_select(chan, self._sfid, *stem.preset)
        synth.cc(chan, CC_PAN, stem.pan)
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
        return np.ascontiguousarray(out[:n_frames].T)


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of a signal in dB relative to full scale (-inf for silence)."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def mix_stems(
    stems: list[np.ndarray],
    gains_db: list[float],
    *,
    noise_dbfs: float,
    room: tuple[float, float],
    rng: np.random.Generator,
    sr: int = SAMPLE_RATE_HZ,
) -> tuple[np.ndarray, list[float], list[float]]:
    """Loudness-normalise stems, apply gains, sum, reverberate, add noise, keep the peak in range.

    Parameters
    ----------
    stems : list of np.ndarray [shape=(2, n)]
        Rendered stems.
    gains_db : list of float
        Level of each stem relative to `STEM_RMS_DBFS` (before the final peak guard).
    noise_dbfs : float
        RMS of the added noise floor in dBFS.
    room : (rt60_s, wet)
        Reverberation of the summed stems, see `add_reverb`.
    sr : int
        Sampling rate of the stems in Hz.
    rng : np.random.Generator
        Source of the noise.

    Returns
    -------
    mix : np.ndarray [shape=(2, n), dtype=float32]
    raw_dbfs : list of float
        RMS of each stem as the synthesiser made it (-inf where silent).
    level_dbfs : list of float
        RMS of each stem as it sits in the final mix.
    """
    raw_dbfs = [rms_dbfs(s) for s in stems]
    scaled = []
    for stem, raw, gain in zip(stems, raw_dbfs, gains_db, strict=True):
        factor = (
            10 ** ((STEM_RMS_DBFS + gain - raw) / 20) if raw > 20 * np.log10(SILENT_RMS) else 0.0
        )
        peak = float(np.max(np.abs(stem))) * factor
        scaled.append(stem * (factor * min(1.0, MIX_PEAK_MAX / peak) if peak > 0 else 0.0))
    # One-pole low-pass: a noise floor tilted towards low frequencies, like hiss plus hum.
    noise = scipy.signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(stems[0].shape), axis=1)
    noise *= 10 ** (noise_dbfs / 20) / np.sqrt(np.mean(noise**2))
    rt60_s, wet = room
    mix = add_reverb(np.sum(scaled, axis=0), sr, rt60_s=rt60_s, wet=wet, rng=rng) + noise
    peak = float(np.max(np.abs(mix)))
    master = MIX_PEAK_MAX / peak if peak > MIX_PEAK_MAX else 1.0
    level_dbfs = [rms_dbfs(s * master) for s in scaled]
    return (mix * master).astype(np.float32), raw_dbfs, level_dbfs


def add_reverb(
    y: np.ndarray, sr: int, *, rt60_s: float, wet: float, rng: np.random.Generator
) -> np.ndarray:
    """A simple room: convolution with exponentially decaying stereo noise.

    Parameters
    ----------
    y : np.ndarray [shape=(2, n)]
        Dry stereo signal.
    sr : int
        Sampling rate in Hz.
    rt60_s : float
        Time for the impulse response to decay by 60 dB, in seconds.
    wet : float
        Level of the reverberated signal relative to the dry one (linear, 0 = dry).
    rng : np.random.Generator
        Source of the impulse response.

    Returns
    -------
    y_wet : np.ndarray [shape=(2, n), dtype=float32]
    """
    t = np.arange(int(min(rt60_s, 2.0) * sr)) / sr
    ir = rng.standard_normal((2, t.size)) * np.exp(-6.9 * t / rt60_s)
    ir = scipy.signal.lfilter([0.3], [1.0, -0.7], ir, axis=1)  # walls absorb the highs
    ir /= np.sqrt(np.sum(ir**2, axis=1, keepdims=True))
    tail = scipy.signal.fftconvolve(y, ir, axes=1)[:, : y.shape[1]]
    return (y + wet * tail).astype(np.float32)
