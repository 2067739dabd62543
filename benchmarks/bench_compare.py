"""Time budget of `python compare.py` on the demo set, from an empty cache.

    python benchmarks/bench_compare.py            # quick, quick rerun, default, default rerun
    python benchmarks/bench_compare.py --only quick

Each command runs in a fresh temporary cache folder (demo generation included), then once more
with everything cached. The musicnn weights are linked into that folder from the user's cache, where
`.ci/install` (`python -m features.musicnn fetch`) put them: a fresh machine after the README's
set-up command has them, so their download is not part of the run's time. Targets on 2 cores:
default under 10 minutes, --quick under 2 minutes, a rerun with everything cached under 1 minute. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGETS_S = {"quick": 120, "default": 600, "rerun": 60}


def timed(args: list[str], cache: Path, out: Path) -> tuple[float, int]:
    env = {**os.environ, "OPENMIC_COMPARE_CACHE": str(cache), "OPENMIC_ROOT": ""}
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), *args, "--out", str(out)],
        cwd=cache.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seconds = time.perf_counter() - start
    if res.returncode != 0:
        print(res.stdout[-3000:], file=sys.stderr)
    return seconds, res.returncode


def with_installed_weights(cache: Path) -> None:
    """Link the musicnn weights fetched by `.ci/install` (the user's cache) into `cache`."""
    from features.musicnn import fetch_weights

    version_dir = next(iter(fetch_weights().values())).parent  # <user cache>/musicnn/<version>
    (cache / "musicnn").mkdir(parents=True)
    (cache / "musicnn" / version_dir.name).symlink_to(version_dir, target_is_directory=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("quick", "default"), help="run one configuration")
    args = parser.parse_args()
    configs = {"quick": ["--quick"], "default": []}
    if args.only:
        configs = {args.only: configs[args.only]}
    rows = []
    for name, flags in configs.items():
        with tempfile.TemporaryDirectory(prefix=f"bench-compare-{name}-") as tmp:
            cache = Path(tmp) / "cache"
            with_installed_weights(cache)
            first, rc1 = timed(flags, cache, Path(tmp) / "run1")
            again, rc2 = timed(flags, cache, Path(tmp) / "run2")
        rows.append((f"compare.py {' '.join(flags) or '(default)'}", first, TARGETS_S[name], rc1))
        rows.append(("  rerun, all cached", again, TARGETS_S["rerun"], rc2))
    print(f"\n{'command':<32} {'wall s':>8} {'target s':>9} {'ok':>4} {'exit':>5}")
    for label, seconds, target, rc in rows:
        print(f"{label:<32} {seconds:8.1f} {target:9d} {'yes' if seconds < target else 'NO':>4} {rc:5d}")
    print(f"\ncores: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
