"""``python -m reports RUN_DIR``: rebuild metrics, plots and report.html of a run folder."""

from __future__ import annotations

import argparse
import sys

from reports import params
from reports.build import build_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reports",
        description="Rebuild metrics.csv, metrics.json, plots/ and report.html of a run folder "
        "from its predictions.npz and run.json (no retraining).",
    )
    parser.add_argument("run_dir", help="run folder written by compare.py")
    parser.add_argument("--n-boot", type=int, default=params.N_BOOT,
                        help=f"bootstrap resamples of the test clips (default {params.N_BOOT})")
    parser.add_argument("--seed", type=int, default=params.BOOT_SEED,
                        help=f"seed of the resampling (default {params.BOOT_SEED})")
    args = parser.parse_args(argv)
    try:
        path = build_report(args.run_dir, n_boot=args.n_boot, seed=args.seed).path
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
