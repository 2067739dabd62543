"""Tests of the package layout: what importing each stage pulls in.

The demo generator's synthesiser dependencies (pretty_midi, pyfluidsynth and libfluidsynth) are
needed only to generate a demo set, so every other stage must import without them. Each test runs
a fresh interpreter in which those two modules are blocked (``sys.modules[name] = None`` makes any
import of them raise ImportError), so modules already imported by pytest cannot hide an import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATION_ONLY = ("pretty_midi", "fluidsynth")
BLOCK = "import sys; " + "; ".join(f"sys.modules[{name!r}] = None" for name in GENERATION_ONLY)
LIGHT_MODULES = (
    "features.openmic",
    "features.logmel",
    "features.extract",
    "features.vggish",
    "features.demo",
    "features.demo.synthetic",
    "baselines",
    "cnn",
    "reports",
    "tagging.command",
    "compare",
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (repository root as working folder) with the block on."""
    return subprocess.run(
        [sys.executable, "-c", f"{BLOCK}\n{code}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stages_import_without_the_synthesiser():
    result = run_blocked(f"import {', '.join(LIGHT_MODULES)}")
    assert result.returncode == 0, result.stderr


def test_the_block_stops_the_renderer():
    """Proof that the block works: the renderer, which needs FluidSynth, fails to import."""
    code = (
        "try:\n"
        "    import features.demo.render\n"
        "except ImportError as err:\n"
        "    print('blocked', err.name)\n"
        "else:\n"
        "    print('imported')\n"
    )
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["blocked", "fluidsynth"]
