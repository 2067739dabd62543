"""Compare classical models on VGGish embeddings with a spectrogram CNN on OpenMIC-2018.

    python compare.py                      # ./openmic-2018 or $OPENMIC_ROOT, else the built-in demo set
    python compare.py --quick              # the same, small CNN and few epochs
    python compare.py --data PATH          # a dataset folder in OpenMIC's layout
    python compare.py --download [DIR]     # fetch the real OpenMIC-2018 (2.6 GB), then run on it

The script parses the flags; `pipeline.run.run_comparison` wires the stages together (data ->
features -> models -> evaluation -> report); each stage lives in its own package and can be used
alone from Python; the run's stages, settings, cache and recorded facts are in `pipeline`, the
models in `core.registry`. Every stage's result is cached under the cache folder
(``$OPENMIC_COMPARE_CACHE``, default ``~/.cache/openmic-compare``), keyed by everything it depends
on, so the same command again reuses features and trained models, and a run interrupted with
Ctrl-C resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from pipeline.run import print_summary, run_comparison
from pipeline.settings import FT_MODES, MODEL_NAMES, Settings, SettingsError, settings_from

__all__ = ["Settings", "SettingsError", "main", "parse_settings", "print_summary", "run"]
run = run_comparison  # the whole comparison for parsed settings (pipeline.run)

# TensorFlow's C++ start-up notices (oneDNN, CPU features) say nothing a user can act on.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# ----------------------------------------------------------------------------------- settings


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    p = argparse.ArgumentParser(
        prog="compare.py",
        description=(
            "Train per-instrument logistic regression, XGBoost and the official random forest on "
            "OpenMIC-2018's VGGish embeddings and a spectrogram CNN on log-mel spectrograms, "
            "evaluate all on the official split01 test split, and write an HTML report."
        ),
        argument_default=argparse.SUPPRESS,
        epilog="Score your own recordings with a run's models: python compare.py tag PATH... "
               "--run RUN_DIR (python compare.py tag --help).",
    )
    p.add_argument("--config", metavar="FILE", help="TOML file with any of these settings (flags win)")
    p.add_argument(
        "--data",
        metavar="PATH",
        help="dataset folder in OpenMIC's layout (default: ./openmic-2018 or $OPENMIC_ROOT, "
        "else the demo set)",
    )
    p.add_argument(
        "--download",
        nargs="?",
        const=".",
        metavar="DIR",
        help="download OpenMIC-2018 from Zenodo into DIR (default .), verify it, then run on it",
    )
    p.add_argument("--demo", action="store_true", help="use the built-in synthetic demo set")
    p.add_argument(
        "--demo-size", type=int, metavar="N", help="clips in the demo set (default: the generator's)"
    )
    p.add_argument(
        "--models",
        metavar="LIST",
        help=f"comma-separated models to train, of {','.join(MODEL_NAMES)} "
        f"(default: {','.join(defaults.models)})",
    )
    p.add_argument(
        "--embeddings",
        metavar="LIST",
        help="comma-separated embeddings for lr, xgb and rf: release (the dataset's own X: VGGish "
        "on OpenMIC, a stand-in on the demo set), musicnn (pretrained musicnn network, computed "
        "from the audio), hear:MODULE[:WEIGHTS_PATH] (any importable module implementing the "
        "HEAR 2021 API, e.g. hear:hear21passt.base; named after the module) "
        f"(default: {','.join(defaults.embeddings)})",
    )
    p.add_argument(
        "--cv-folds", type=int, metavar="K",
        help=f"artist-grouped cross-validation folds for lr, xgb, rf (default: {defaults.cv_folds})",
    )
    p.add_argument(
        "--instruments",
        metavar="LIST",
        help="comma-separated instruments, e.g. trumpet,violin (default: all 20)",
    )
    p.add_argument("--quick", action="store_true", help="small CNN and few epochs (default: off)")
    p.add_argument("--epochs", type=int, metavar="N", help="CNN epochs (default: the CNN config's)")
    p.add_argument(
        "--ft-mode", choices=FT_MODES,
        help="musicnn-ft: train only a new head on cached embeddings of the frozen network (head), or "
        f"the whole network too, for a GPU or patient CPU users (full) (default: {defaults.ft_mode})",
    )
    p.add_argument(
        "--ft-epochs", type=int, metavar="N",
        help="musicnn-ft epochs in the chosen mode (default: the mode's config: head 100, full 15; "
        "early stopping may end sooner)",
    )
    p.add_argument("--seed", type=int, metavar="S", help=f"random seed (default: {defaults.seed})")
    p.add_argument(
        "--seeds", type=int, metavar="N",
        help="train each network (cnn, musicnn-ft) N times, with seeds S, S+1, ..., S+N-1; the report "
        "shows each network's mean and spread over them and its marks account for that spread; "
        f"the first seed's model is the one saved and used by tag (default: {defaults.seeds})",
    )
    p.add_argument(
        "--jobs", type=int, metavar="J", help=f"parallel processes, -1 = all cores (default: {defaults.jobs})"
    )
    p.add_argument(
        "--out", metavar="DIR", help="run folder (default: runs/<timestamp>-<dataset>/)"
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write cached features and models (default: off)",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"where features, models and the demo set are cached (default: {defaults.cache_dir})",
    )
    p.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run feature extraction, the demo set's rendering and the fitting of lr, xgb and rf on "
        "a Dask cluster: a scheduler address (tcp://host:8786), or local[:N] for N worker "
        "processes on this machine (default N: one per core) started for the run; --jobs then "
        "does not apply. The CNN (any network training) stays in this process, on one accelerator. "
        "Needs pip install -e '.[dask]' (default: off, no Dask)",
    )
    return p


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Flags over config file over defaults; validates names before any work starts."""
    args = vars(build_parser().parse_args(argv))
    config = args.pop("config", None)
    return settings_from({k.replace("-", "_"): v for k, v in args.items()}, config)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # joblib reuses its worker processes across stages; loky checks each worker's memory against
    # its size after its first task and replaces a worker that grew by 300 MB, as one does when a
    # worker that fitted a model goes on to load TensorFlow for musicnn. The replacement takes
    # over the queued clips, nothing is lost or recomputed; the warning says nothing to act on.
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given to the executor")
    if argv[:1] == ["tag"]:  # python compare.py tag ...: score your own recordings (tagging/)
        from tagging.command import main as tag

        return tag(argv[1:])
    from core import DatasetError

    try:
        return run(parse_settings(argv))
    except (SettingsError, DatasetError) as err:  # bad settings or data files, a foreign cache
        print(f"compare.py: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted. Finished stages are cached: run the same command again to resume.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
