"""The built-in demo dataset: a small OpenMIC-2018 look-alike rendered from real sampled instruments.

``make_demo(out_dir)`` writes, in OpenMIC's exact layout (see docs/architecture.md and the spec),
clips of 1 to 4 General MIDI instruments (FluidSynth, a GM sound font) grouped into "artists",
crowd-like partial labels, an artist-conditional split01, and `X` from the VGGish chain where its
weights are present or else from a named stand-in embedding. The folder also holds ``demo.json``
(what made it) and ``demo-stems.csv`` (every instrument's level in every clip: the ground truth
behind the partial labels).

One concern per module:

- `plan`: artists, their clips and instruments, the artist-conditional split
- `music`: the notes each instrument plays
- `render`: notes to stems with FluidSynth (the only module needing pyfluidsynth and pretty_midi)
- `mix`: stems to a clip: levels, room, noise floor
- `clips`: each clip composed, rendered, mixed, written and embedded, in resumable chunks
- `embed`: `X`, from VGGish or the stand-in
- `labels`: crowd-like partial labels
- `layout`: the files, in OpenMIC's layout
- `build`: `make_demo`, which reuses, resumes and assembles the set
- `synthetic`: `make_synthetic`, plain random arrays shaped like OpenMIC's, for tests and benchmarks
- `__main__`: the command line

Importing the package does not need the synthesiser; `make_demo` imports it when it generates.

Command line::

    python -m features.demo OUT_DIR [--clips N] [--seed S] [--labels-per-clip L] [--jobs J]
"""

from features.demo.build import (
    DEFAULT_CLIPS,
    DEFAULT_LABELS_PER_CLIP,
    GENERATOR_VERSION,
    PARTIAL_SUFFIX,
    make_demo,
)
from features.demo.layout import STEMS_NAME, audio_path

__all__ = [
    "DEFAULT_CLIPS",
    "DEFAULT_LABELS_PER_CLIP",
    "GENERATOR_VERSION",
    "PARTIAL_SUFFIX",
    "STEMS_NAME",
    "audio_path",
    "make_demo",
]
