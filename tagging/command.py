"""``python compare.py tag PATH... --run RUN_DIR``: score your own recordings with a run's models.

For each audio file (or every audio file under a folder), every model of the run scores sliding
10 s windows and the whole file (`tagging.score`); the results go to ``tags.csv``, ``tags.json``
and ``tags.html`` in the output folder (`tagging.outputs`, `tagging.page`). A file that cannot be
scored (unreadable, damaged, too short, silent) is reported and the others are scored; the exit
code is then 1. A run folder that cannot be used stops the command before any file, with exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path
from typing import Any

from features.audio import ClipError
from features.hear.loading import HearError
from tagging.inputs import MIN_SECONDS, WINDOW_S, RunFolderError, check_available
from tagging.models import load_run_models, read_run
from tagging.outputs import COLUMNS, CSV_NAME, JSON_NAME, PAGE_NAME, TagWriter
from tagging.page import write_page, write_section
from tagging.score import SILENCE_PEAK, score_file

# Looked for in folders. Formats libsndfile cannot read (m4a, aac, wma) are listed too, so that
# they are reported with what to do rather than passed over in silence.
AUDIO_SUFFIXES = (
    ".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".caf",
    ".w64", ".rf64", ".m4a", ".aac", ".wma",
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compare.py tag",
        description=(
            "Score your own recordings with the trained models of a run: per-instrument "
            "probabilities over sliding 10 s windows and for the whole file, present/absent by "
            "the run's validation thresholds. Writes tags.csv, tags.json and tags.html."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="audio files (WAV, FLAC, OGG, MP3, anything libsndfile reads) or folders "
                        f"(searched recursively for {' '.join(AUDIO_SUFFIXES)})")
    p.add_argument("--run", required=True, metavar="RUN_DIR",
                   help="a run folder written by python compare.py (its models and run.json)")
    p.add_argument("--models", metavar="LIST",
                   help="comma-separated model ids of the run, e.g. lr@release,cnn (default: all)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: RUN_DIR/tags/<UTC time>/)")
    p.add_argument("--hop", type=float, metavar="SECONDS",
                   help="seconds between window starts for every model (default: one VGGish "
                        "example, 0.96 s, for the release embedding; one musicnn patch, 2.992 s, "
                        "for musicnn and musicnn-ft; 1 s for the CNN)")
    return p


def audio_files(paths: list[str]) -> list[Path]:
    """The files to score: files as given, folders expanded (sorted), in the order given."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES))
        else:
            found.append(path)  # missing or unreadable: reported when its turn comes
    return found


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run_dir = Path(args.run)
    if args.hop is not None and args.hop <= 0:
        return _fail(f"--hop must be positive, given {args.hop}")
    try:
        run = read_run(run_dir)
        wanted = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
        models = load_run_models(run_dir, wanted, hop_s=args.hop)
        if not models:
            raise RunFolderError(f"no model to score with: --models {args.models!r} names none, "
                                 f"and {run_dir / 'run.json'} lists {len(run.get('models') or {})}")
        check_available({m.id: m.input for m in models})
    except RunFolderError as err:
        return _fail(str(err))
    files = audio_files(args.paths)
    if not files:
        return _fail(f"no audio file in {', '.join(args.paths)} (looked for {' '.join(AUDIO_SUFFIXES)})")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else run_dir / "tags" / stamp
    dataset = run.get("dataset") or {}
    writer = TagWriter(out_dir, _header(run_dir, run, models))
    n_scored = 0
    try:
        for index, path in enumerate(files):
            n_scored += _tag_one(path, index, len(files), writer, models, out_dir)
    except KeyboardInterrupt:
        writer.discard()
        print("\nInterrupted: the files finished so far are in the outputs.", file=sys.stderr)
        return 130
    except HearError as err:  # a HEAR module misbehaved on a window (wrong shape, NaN)
        writer.discard()
        return _fail(f"{err}. The files finished so far are in the outputs.")
    finally:
        writer.close()
        page = write_page(out_dir, PAGE_NAME, run_dir=run_dir, models=models,
                          dataset=str(dataset.get("description", "")),
                          demo=dataset.get("source") == "demo", n_files=len(files),
                          n_scored=n_scored)
    print(f"\nScored {n_scored} of {len(files)} file(s) with {len(models)} model(s).")
    for name in (CSV_NAME, JSON_NAME):
        print(f"{name}: {(out_dir / name).resolve()}")
    print(f"Page: {page.resolve()}")
    return 0 if n_scored == len(files) else 1


def _tag_one(path: Path, index: int, n_files: int, writer: TagWriter, models, out_dir: Path) -> int:
    """Score one file into the outputs; 1 if it was scored, 0 if it was reported instead."""
    name = str(path)
    print(f"[{index + 1}/{n_files}] {name}", file=sys.stderr, flush=True)
    writer.begin(name)
    start = time.perf_counter()
    try:
        score = score_file(path, models, on_rows=writer.window_rows)
    except (ClipError, OSError) as err:  # OSError: the system refuses the file (permissions, I/O)
        writer.discard()
        if not isinstance(err, ClipError):
            err = f"{path}: cannot be read ({err.strerror or err}); check its permissions and disk"
        record = writer.failed(name, "error", str(err))
        write_section(out_dir, index, record, models, None)
        print(f"  not scored: {err}", file=sys.stderr)
        return 0
    if score.silent:
        writer.discard()
        level = ("every sample is 0" if score.peak_dbfs == -math.inf else
                 f"peak {score.peak_dbfs:.0f} dBFS, below {20 * math.log10(SILENCE_PEAK):.0f} dBFS")
        message = (f"{path}: silent ({level}): there is nothing to "
                   "hear, so no instrument can be tagged; check that the recording or export worked "
                   "(muted input, wrong channel)")
        record = writer.failed(name, "silent", message)
        write_section(out_dir, index, record, models, None)
        print(f"  not scored: {message}", file=sys.stderr)
        return 0
    record = writer.finish(score, models)
    write_section(out_dir, index, record, models, score)
    seconds = time.perf_counter() - start
    print(f"  {score.duration_s:.1f} s of audio in {seconds:.1f} s", file=sys.stderr)
    return 1


def _header(run_dir: Path, run: dict, models) -> dict[str, Any]:
    """``tags.json``'s facts before the files: the run, each model's input, windows and rules."""
    from pipeline.facts import toolkit_info

    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "toolkit": toolkit_info(),
        "run": {"dir": str(run_dir.resolve()), "created": run.get("created"),
                "dataset": (run.get("dataset") or {}).get("description")},
        "window_s": WINDOW_S,
        "min_file_s": MIN_SECONDS,
        "whole_file": "highest window probability per instrument; present where it reaches the "
                      "threshold",
        "columns": list(COLUMNS),
        "models": {
            m.id: {"label": m.label, "input": {"extractor": m.input.extractor,
                                               "params": m.input.params},
                   "hop_s": m.input.hop_s, "classes": list(m.classes),
                   "thresholds": m.thresholds.tolist()}
            for m in models
        },
    }


def _fail(message: str) -> int:
    print(f"compare.py tag: error: {message}", file=sys.stderr)
    return 2

