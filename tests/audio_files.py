"""Real audio files with the faults OpenMIC-2018 clips can have, written for tests.

Every file is a real file libsndfile reads or refuses for a real reason: a tone of a given length
written as OGG Vorbis, the real fixture clip cut short by bytes (which still decodes, into a
shorter signal), an empty file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

REAL_CLIP = Path(__file__).parent / "data" / "openmic" / "audio" / "000" / "000046_3840.ogg"


def write_tone(path: Path, seconds: float, *, freq_hz: float = 440.0, sr: int = 44100) -> Path:
    """A stereo OGG Vorbis tone of `seconds` (0 gives a file with headers and no samples)."""
    t = np.arange(round(seconds * sr)) / sr
    left = 0.3 * np.sin(2 * np.pi * freq_hz * t)
    sf.write(path, np.stack([left, 0.5 * left], axis=1), sr, format="OGG", subtype="VORBIS")
    return path


def write_cut(path: Path, fraction: float) -> Path:
    """The first `fraction` of the real clip's bytes: a truncated OGG file."""
    real = REAL_CLIP.read_bytes()
    path.write_bytes(real[: int(len(real) * fraction)])
    return path
