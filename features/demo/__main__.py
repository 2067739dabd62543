"""Command line of the demo set generator.

Usage (the options are `make_demo`'s, see `features.demo.build`)::

    python -m features.demo OUT_DIR [--clips N] [--seed S] [--labels-per-clip L] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import features.demo
from core.errors import DatasetError, ParameterError
from features.demo.build import DEFAULT_CLIPS, DEFAULT_LABELS_PER_CLIP, make_demo
from features.openmic import DEMO_NAME


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m features.demo OUT_DIR [--clips N] [--seed S] ...``.

    Returns
    -------
    status : int
        0 when the set is ready, 2 for bad parameters or a folder holding something else.
    """
    parser = argparse.ArgumentParser(
        prog="python -m features.demo", description=features.demo.__doc__.split("\n")[0]
    )
    parser.add_argument(
        "out_dir", type=Path, help="folder to create (reused when complete and same parameters)"
    )
    parser.add_argument(
        "--clips",
        type=int,
        default=DEFAULT_CLIPS,
        help=f"number of clips (default {DEFAULT_CLIPS})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument(
        "--labels-per-clip",
        type=int,
        default=DEFAULT_LABELS_PER_CLIP,
        help=f"observed labels per clip (default {DEFAULT_LABELS_PER_CLIP}; OpenMIC has ~2)",
    )
    parser.add_argument(
        "--jobs", type=int, default=-1, help="worker processes (default -1: all cores)"
    )
    args = parser.parse_args(argv)
    try:
        root = make_demo(
            args.out_dir,
            n_clips=args.clips,
            seed=args.seed,
            labels_per_clip=args.labels_per_clip,
            n_jobs=args.jobs,
        )
    except (ParameterError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    demo = json.loads((root / DEMO_NAME).read_text(encoding="utf-8"))
    print(f"demo set ready in {root}: {demo['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
