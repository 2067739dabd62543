"""Notes to audio for the demo set: General MIDI sound font, FluidSynth, one stem per instrument.

Stems are rendered one after the other on one synthesiser, reset and silenced between stems.
`features.demo` makes a fresh synthesiser per fixed chunk of clips (about 0.07 s with
`keep_loaded`): FluidSynth reuses voice slots whose state leaks into later notes (differences of
about 1e-3 at a few onsets), so a clip's audio depends on what its synthesiser rendered before,
and fixed chunks keep it independent of the worker that renders it. FluidSynth's reverb and
chorus keep their tails across a reset, so they are off and `add_reverb` reverberates the mix.

Speed: the synthesiser interpolates samples linearly, shortens melodic release tails
(`RELEASE_OFFSET_CENTS`), has `POLYPHONY` voices (the ones it steals when more notes sound are
the quietest release tails that strums and rolls pile up) and skips the stretches where no voice
sounds. Stems come out as float32 through `fluid_synth_write_float`, are loudness normalised by
their RMS and mixed by `mix_stems`, which reverberates and adds the noise floor in one float32
FFT pass.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft

from core.errors import ParameterError
from features.demo_music import PERCUSSION_CHANNEL, Note

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
POLYPHONY = 24  # voices (FluidSynth's default is 256); about 12 stereo-sampled notes at once
MIDI_CHANNELS = 16  # only channels 0 and 9 are used; pyfluidsynth's default is 256
INTERP_LINEAR = 1  # fluid_interp: 0 none, 1 linear, 4 fourth order (FluidSynth's default), 7 sinc
GEN_VOLENVRELEASE = 38  # SoundFont generator: volume envelope release time (timecents)
# Melodic notes release 4x faster than their presets say (-2400 timecents): ringing tails were
# half the voices FluidSynth computed; the room reverb still gives every note a tail.
RELEASE_OFFSET_CENTS = -2400.0
# FluidSynth's reverb and chorus keep their buffers across a system reset, so a stem would carry
# the previous stem's tail; they are off, and `add_reverb` reverberates the mix instead.
SYNTH_SETTINGS = {
    "synth.chorus.active": 0,
    "synth.reverb.active": 0,
    "synth.polyphony": POLYPHONY,
}
WALL_POLE = 0.7  # one-pole low-pass of the reverb's impulse response
NOISE_POLE = 0.9  # one-pole low-pass of the noise floor: hiss tilted towards hum
MAX_IR_S = 1.8  # longest impulse response (the demo's rooms have rt60 <= 1.6 s)

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


@functools.lru_cache(maxsize=2)
def _sample_keeper(sound_font: Path) -> object:
    """A silent synthesiser holding `sound_font`, kept for the life of the process.

    FluidSynth shares loaded sample data between the synthesisers of a process for as long as
    one of them holds it; this one does, so later loads only read the preset structure. It never
    plays, so it cannot change what the renderers render.
    """
    import fluidsynth

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
        import fluidsynth

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


def rms_dbfs(y: np.ndarray) -> float:
    """RMS level of a signal in dB relative to full scale (-inf for silence)."""
    y = np.asarray(y)
    if not y.flags.c_contiguous and y.T.flags.c_contiguous:
        y = y.T  # the same samples, read in memory order
    power = float(np.mean(np.square(y), dtype=np.float64))
    return 10.0 * np.log10(power) if power > 0 else float("-inf")


def _peak(y: np.ndarray) -> float:
    """Largest absolute sample value (without an |y| temporary)."""
    return max(float(y.max()), -float(y.min()))


def mix_stems(
    stems: list[np.ndarray],
    gains_db: list[float],
    *,
    noise_dbfs: float,
    room: tuple[float, float],
    rng: np.random.Generator,
    room_seed: tuple[int, ...] | None = None,
    sr: int = SAMPLE_RATE_HZ,
) -> tuple[np.ndarray, list[float], list[float]]:
    """Loudness-normalise stems, apply gains, sum, reverberate, add noise, keep the peak in range.

    Parameters
    ----------
    stems : list of np.ndarray [shape=(2, n), dtype=float32]
        Rendered stems.
    gains_db : list of float
        Level of each stem relative to `STEM_RMS_DBFS` (before the final peak guard).
    noise_dbfs : float
        RMS of the added noise floor in dBFS.
    room : (rt60_s, wet)
        Reverberation of the summed stems, see `add_reverb`.
    room_seed : tuple of int or None
        Seed of the room's impulse response (see `add_reverb`); None draws it from `rng`.
    rng : np.random.Generator
        Source of the reverb and the noise.
    sr : int
        Sampling rate of the stems in Hz.

    Returns
    -------
    mix : np.ndarray [shape=(2, n), dtype=float32]
        Transposed view of a (n, 2) C-contiguous array (interleaved, as audio files store it).
    raw_dbfs : list of float
        RMS of each stem as the synthesiser made it (-inf where silent).
    level_dbfs : list of float
        RMS of each stem as it sits in the final mix (-inf where silent).
    """
    raw_dbfs = [rms_dbfs(s) for s in stems]
    dry = np.zeros(stems[0].shape[::-1], dtype=np.float32).T  # frames-major: stems' own layout
    scales = []
    for stem, raw, gain in zip(stems, raw_dbfs, gains_db, strict=True):
        factor = (
            10 ** ((STEM_RMS_DBFS + gain - raw) / 20) if raw > 20 * np.log10(SILENT_RMS) else 0.0
        )
        peak = _peak(stem) * factor
        scale = factor * min(1.0, MIX_PEAK_MAX / peak) if peak > 0 else 0.0
        if scale > 0:
            dry.T[...] += np.float32(scale) * stem.T
        scales.append(scale)
    rt60_s, wet = room
    mix = add_reverb(
        dry, sr, rt60_s=rt60_s, wet=wet, rng=rng, noise_dbfs=noise_dbfs, room_seed=room_seed
    )
    peak = _peak(mix)
    master = MIX_PEAK_MAX / peak if peak > MIX_PEAK_MAX else 1.0
    if master != 1.0:
        mix *= np.float32(master)
    level_dbfs = [
        raw + 20 * np.log10(scale * master) if scale > 0 else float("-inf")
        for raw, scale in zip(raw_dbfs, scales, strict=True)
    ]
    return mix, raw_dbfs, level_dbfs


def _fft_size(n: int) -> int:
    """A fast FFT length >= n: the next power of two when at most 25 % longer, else scipy's."""
    power = 1 << (n - 1).bit_length()
    return power if power <= 1.25 * n else scipy.fft.next_fast_len(n, real=True)


@functools.lru_cache(maxsize=8)
def _one_pole_gain(size: int, pole: float) -> np.ndarray:
    """|1 / (1 - pole z^-1)| on the bins of a real FFT of `size` points (float32, read-only)."""
    cos = np.cos(np.linspace(0.0, np.pi * 2 * (size // 2) / size, size // 2 + 1))
    gain = (1.0 / np.sqrt(1.0 - 2.0 * pole * cos + pole * pole)).astype(np.float32)
    gain.flags.writeable = False
    return gain


@functools.lru_cache(maxsize=8)
def _noise_shape(size: int) -> np.ndarray:
    """Gain per bin turning uniform(-0.5, 0.5) real and imaginary parts into low-passed noise of
    unit expected mean square over `size` samples (float32, read-only)."""
    gain = _one_pole_gain(size, NOISE_POLE).astype(np.float64)
    expected = _mean_power(gain * np.sqrt(1 / 6), size)  # E|re + i im|^2 = 2 / 12 per bin
    shape = (gain / np.sqrt(expected)).astype(np.float32)
    shape.flags.writeable = False
    return shape


def _mean_power(spec: np.ndarray, size: int) -> np.ndarray:
    """Mean square over the `size` samples of ``irfft(spec, size)``, per row (Parseval)."""
    energy = np.square(spec.real) + np.square(spec.imag)
    total = 2 * np.sum(energy, axis=-1, dtype=np.float64) - energy[..., 0]
    if size % 2 == 0:
        total -= energy[..., -1]  # the Nyquist bin is not mirrored
    return total / float(size) ** 2


@functools.lru_cache(maxsize=4)
def _room_spectrum(
    n_channels: int, rt60_s: float, sr: int, size: int, seed: tuple[int, ...]
) -> np.ndarray:
    """Cached `_draw_room` for a seeded room (clips of one artist share it)."""
    spectrum = _draw_room(n_channels, rt60_s, sr, size, np.random.default_rng(seed))
    spectrum.flags.writeable = False
    return spectrum


def _draw_room(
    n_channels: int, rt60_s: float, sr: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Real-FFT spectrum (n_channels, size // 2 + 1) of an impulse response of unit energy."""
    n_ir = max(int(min(rt60_s, MAX_IR_S) * sr), 1)
    t = np.arange(n_ir, dtype=np.float32) / np.float32(sr)
    ir = rng.standard_normal((n_channels, n_ir), dtype=np.float32)
    ir *= np.exp(np.float32(-6.9 / rt60_s) * t)
    spectrum = scipy.fft.rfft(ir, size, axis=-1)
    spectrum *= _one_pole_gain(size, WALL_POLE)
    spectrum /= np.sqrt(_mean_power(spectrum, size) * size).astype(np.float32)[:, None]
    return spectrum


def add_reverb(
    y: np.ndarray,
    sr: int,
    *,
    rt60_s: float,
    wet: float,
    rng: np.random.Generator,
    noise_dbfs: float | None = None,
    room_seed: tuple[int, ...] | None = None,
) -> np.ndarray:
    """A simple room fed by the mono sum, and optionally a noise floor, in one float32 FFT pass.

    The impulse response is stereo noise decaying exponentially, low-passed by a one-pole filter
    (walls absorb the highs, applied as a zero-phase gain) and normalised to unit energy per
    channel; like a send reverb, it reverberates the mean of the channels. The noise floor is
    stereo Gaussian noise (drawn as random spectra) shaped by a one-pole low-pass (hiss tilted
    towards hum), with RMS `noise_dbfs` over the FFT length; it is not reverberated.

    Parameters
    ----------
    y : np.ndarray [shape=(2, n)]
        Dry stereo signal.
    sr : int
        Sampling rate in Hz.
    rt60_s : float
        Time for the impulse response to decay by 60 dB, in seconds (cut at `MAX_IR_S`).
    wet : float
        Level of the reverberated signal relative to the dry one (linear, 0 = dry).
    rng : np.random.Generator
        Source of the noise, and of the impulse response when `room_seed` is None.
    noise_dbfs : float or None
        RMS of the added noise in dBFS; None adds none.
    room_seed : tuple of int or None
        Seed of the impulse response: the same seed and `rt60_s` give the same room (a few
        are cached, so consecutive clips of one artist share the work).

    Returns
    -------
    y_wet : np.ndarray [shape=(2, n), dtype=float32]
        In the memory layout of `y`.
    """
    n = y.shape[-1]
    size = _fft_size(n + int(MAX_IR_S * sr) - 1)  # the same for every rt60: cached filter gains
    if room_seed is None:
        room = _draw_room(y.shape[0], rt60_s, sr, size, rng)
    else:
        room = _room_spectrum(y.shape[0], float(rt60_s), int(sr), size, tuple(room_seed))
    mono = y[0].astype(np.float32)  # the channel mean, row by row (fast in any memory layout)
    for channel in y[1:]:
        mono += channel
    mono *= np.float32(1 / len(y))
    spec = scipy.fft.rfft(mono, size) * np.float32(wet)
    spec = room * spec  # (2, bins): one reverberated signal per output channel
    if noise_dbfs is not None:
        # Independent uniform real and imaginary parts per bin: summed over ~10^5 bins, each
        # sample is Gaussian all the same, and uniform draws cost a tenth of normal ones.
        noise = np.empty(spec.shape, dtype=np.complex64)
        rng.random(dtype=np.float32, out=noise.view(np.float32))
        noise -= np.complex64(0.5 + 0.5j)
        noise[..., 0] = 0  # no DC offset
        noise *= _noise_shape(size) * np.float32(10 ** (noise_dbfs / 20))
        spec += noise
    out = np.empty_like(y, dtype=np.float32)
    np.add(y, scipy.fft.irfft(spec, size, axis=-1)[..., :n], out=out)
    return out
