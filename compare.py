"""Compare classical models on VGGish embeddings with a spectrogram CNN on OpenMIC-2018.

    python compare.py                      # ./openmic-2018 or $OPENMIC_ROOT, else the built-in demo set
    python compare.py --quick              # the same, small CNN and few epochs
    python compare.py --data PATH          # a dataset folder in OpenMIC's layout
    python compare.py --download [DIR]     # fetch the real OpenMIC-2018 (2.6 GB), then run on it

The script only wires the stages together (data -> features -> models -> evaluation -> report);
each stage lives in its own package and can be used alone from Python; the run's stages, settings,
cache and recorded facts are in `pipeline`. Every stage's result is cached under the cache folder
(``$OPENMIC_COMPARE_CACHE``, default ``~/.cache/openmic-compare``), keyed by everything it depends
on, so the same command again reuses features and trained models, and a run interrupted with
Ctrl-C resumes where it stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
import warnings
from typing import TYPE_CHECKING, Any

from pipeline.cache import write_json
from pipeline.cluster import check_dataset, dask_cluster
from pipeline.embeddings import RELEASE, load_embedding
from pipeline.facts import (
    MODEL_DESCRIPTIONS,
    cv_selection,
    holdout_selection,
    model_id,
    model_info,
    run_record,
    write_label_stats,
)
from pipeline.finetune import FT_MODEL, finetune_results
from pipeline.run_setup import (
    check_writable_cache,
    prepare_run_dir,
    setup_logging,
    weights_in_cache_dir,
)
from pipeline.settings import (
    CLASSICAL_MODELS,
    FT_MODES,
    MODEL_NAMES,
    NETWORK_MODELS,
    Settings,
    SettingsError,
    settings_from,
)
from pipeline.stages import (
    check_data,
    check_data_folder,
    found_dataset,
    load_data,
    logmel_cache,
    predict_embedding_model,
    resolve_dataset,
    train_cnn_model,
    train_embedding_model,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Settings", "SettingsError", "main", "parse_settings", "run"]

# TensorFlow's C++ start-up notices (oneDNN, CPU features) say nothing a user can act on.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("compare")


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
        f"from the audio) (default: {','.join(defaults.embeddings)})",
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


# -------------------------------------------------------------------------------------- run


def run(s: Settings) -> int:
    """The whole comparison; returns the process exit code.

    With ``s.dask``, its parallel stages run on a Dask cluster (`pipeline.cluster`). Pretrained
    weights are read (and fetched) under ``s.cache_dir`` like every other cache of the run.
    """
    with weights_in_cache_dir(s), dask_cluster(s.dask, cache_dir=None if s.no_cache else s.cache_dir):
        return _run(s)


def _run(s: Settings) -> int:
    import numpy as np

    from core import DatasetError

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    cache = check_writable_cache(s)
    if s.data is not None:
        check_data_folder(s)
    source_hint = "openmic" if (s.data or s.download or (not s.demo and found_dataset() is not None)) else "demo"
    run_dir = prepare_run_dir(s, source_hint)
    setup_logging(run_dir)
    (run_dir / "settings.toml").write_text(s.to_toml())

    try:
        root, how = resolve_dataset(s)
        log.info("Data: %s", how)
        data = load_data(root, s)
    except DatasetError as err:
        raise SettingsError(str(err)) from None
    check_dataset(data.ds)
    timings["data_s"] = time.perf_counter() - t0
    ds = data.ds
    classical = [m for m in s.models if m in CLASSICAL_MODELS]
    networks = [m for m in s.models if m in NETWORK_MODELS]
    selection = [f"classical models: {s.cv_folds}-fold CV grouped by artist"] if classical else []
    if networks:
        selection.append(f"networks: {len(data.fit_idx)} fit + {len(data.val_idx)} hold-out")
        for warning in data.holdout["warnings"]:
            log.warning("Warning: %s", warning)
    log.info("Split: %d train clips (%s), %d test clips; %d instruments", len(ds.train_idx),
             "; ".join(selection), len(data.test_idx), len(data.cols))

    needs_audio = networks or (bool(classical) and set(s.embeddings) - {RELEASE})
    problems = check_data(data, s, run_dir, needs_audio=bool(needs_audio))
    timings["data_problems_s"] = time.perf_counter() - t0 - timings["data_s"]

    models: dict[str, dict[str, Any]] = {}
    probas: dict[str, np.ndarray] = {}
    embeddings: dict[str, dict[str, Any]] = {}
    (run_dir / "models").mkdir(exist_ok=True)
    skipped: dict[str, str] = {}
    test_idx = data.test_idx
    for emb_name in s.embeddings if classical else ():
        t = time.perf_counter()
        emb = load_embedding(emb_name, data, s, run_dir)
        timings[f"embedding_{emb_name}_s"] = time.perf_counter() - t
        embeddings[emb_name] = emb.info
        skipped.update(emb.problems)
        for name in classical:
            mid = model_id(name, emb_name)
            log.info("Training %s: %s, on %s", mid, MODEL_DESCRIPTIONS[name], emb.info["description"])
            model, seconds, reused = train_embedding_model(name, emb, data, s, cache, run_dir)
            log.info("  %s %s (%.1f s of training)", mid, "reused from cache" if reused else "trained",
                     seconds)
            probas[mid], infer = predict_embedding_model(model, emb, test_idx)
            path = run_dir / "models" / f"{mid}.joblib"
            model.save(path)
            models[mid] = model_info(name, model, seconds, infer, reused, path, embedding=emb_name,
                                     selection=cv_selection(model, s.cv_folds), model_input=emb.input)

    if "cnn" in s.models:
        t = time.perf_counter()
        feats = logmel_cache(data, s, run_dir)
        timings["logmel_s"] = time.perf_counter() - t
        skipped.update(feats.problems)
        log.info("Training cnn: %s", MODEL_DESCRIPTIONS["cnn"])
        model, seconds, reused = train_cnn_model(data, feats, s, cache, run_dir)
        log.info("  cnn %s (%.1f s of training)", "reused from cache" if reused else "trained", seconds)
        t = time.perf_counter()
        proba = model.predict_proba(feats, test_idx).astype(np.float32)
        infer = (time.perf_counter() - t) / max(len(test_idx), 1)
        # A clip without audio has no CNN prediction: NaN; the report leaves it out for every model.
        proba[~feats.ok[test_idx]] = np.nan
        probas["cnn"] = proba
        val_idx = data.val_idx[feats.ok[data.val_idx]]
        selection = holdout_selection(model.predict_proba(feats, val_idx), *data.labels(val_idx),
                                      data.holdout)
        cnn_dir = run_dir / "models" / "cnn"
        if cnn_dir.exists():
            shutil.rmtree(cnn_dir)
        model.save(cnn_dir)
        models["cnn"] = model_info("cnn", model, seconds, infer, reused, cnn_dir, selection=selection,
                                   model_input={"extractor": "logmel", "params": dict(feats.params)})

    if FT_MODEL in s.models:
        log.info("Training %s (%s mode): %s", FT_MODEL, s.ft_mode, MODEL_DESCRIPTIONS[FT_MODEL])
        t = time.perf_counter()
        probas[FT_MODEL], models[FT_MODEL], problems_ft = finetune_results(
            data, s, cache, run_dir, mode=s.ft_mode
        )
        timings["musicnn_ft_s"] = time.perf_counter() - t
        skipped.update(problems_ft)
        log.info("  %s %s (%.1f s of training)", FT_MODEL,
                 "reused from cache" if models[FT_MODEL]["reused_from_cache"] else "trained",
                 models[FT_MODEL]["train_time_s"])

    from reports import build_report, write_predictions

    yt, ym = data.labels(test_idx)
    write_predictions(run_dir / "predictions.npz", ds.sample_key[test_idx], data.classes, yt, ym, probas)
    write_label_stats(data, run_dir)
    timings["total_before_report_s"] = time.perf_counter() - t0
    run_info = run_record(s, data, root, skipped, models, timings, embeddings=embeddings,
                          n_data_problems=int(problems["key"].nunique()))
    write_json(run_dir / "run.json", run_info)
    report = build_report(run_dir, seed=s.seed)
    timings["total_s"] = time.perf_counter() - t0
    run_info["timings"] = timings
    write_json(run_dir / "run.json", run_info)
    if s.no_cache:
        # Intermediate features and checkpoints served this run only; the results are in place.
        shutil.rmtree(run_dir / ".work", ignore_errors=True)
    print_summary(report.metrics, models)
    print(f"\nReport: {report.path.resolve()}")
    log.info("Done in %.0f s. Run folder: %s", timings["total_s"], run_dir)
    return 0


def print_summary(metrics: pd.DataFrame, models: dict[str, dict[str, Any]]) -> None:
    """Print each model's macro F1, ROC AUC and mAP with their intervals, its selection-time ROC
    AUC (cross-validation or hold-out) and its training time.

    `metrics` is the table of ``metrics.csv`` (`reports.build_report(...).metrics`).
    """
    import pandas as pd

    macro = metrics[metrics["instrument"] == "macro"]
    rows = []
    for name, info in models.items():
        row = {"model": name}
        for metric, label in (("f1_posneg", "macro F1 (pos/neg)"), ("roc_auc", "ROC AUC"), ("ap", "mAP")):
            hit = macro[(macro["model"] == name) & (macro["metric"] == metric)]
            if len(hit) and pd.notna(hit.iloc[0]["value"]):
                r = hit.iloc[0]
                row[label] = f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
            else:
                row[label] = "–"
        selected = info.get("selection", {}).get("roc_auc") or {}
        if selected.get("mean") is not None:
            spread = f" ± {selected['std']:.3f}" if selected.get("std") is not None else ""
            row["selection ROC AUC"] = f"{selected['mean']:.3f}{spread}"
        row["train s"] = f"{info['train_time_s']:.1f}" + (" (cached)" if info["reused_from_cache"] else "")
        rows.append(row)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


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
    try:
        return run(parse_settings(argv))
    except SettingsError as err:
        print(f"compare.py: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted. Finished stages are cached: run the same command again to resume.",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
