"""One comparison, start to end: data, every model's stage, predictions, report, run facts.

`run_comparison` is what ``python compare.py`` runs once its flags are parsed. Every model goes
through one stage interface (`pipeline.stages.StageResult`): the classical models through
`pipeline.stages.classical_results` once per embedding, each network through the stage function
its registry entry names (`core.registry`). ``run.json`` is written once, complete, after the
report.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import TYPE_CHECKING, Any

from core import registry
from core.errors import DatasetError
from pipeline.cache import write_json
from pipeline.cluster import check_dataset, dask_cluster
from pipeline.data import check_data, check_data_folder, found_dataset, load_data, resolve_dataset
from pipeline.embeddings import RELEASE, load_embedding
from pipeline.facts import MODEL_DESCRIPTIONS, model_id, run_record, write_label_stats
from pipeline.hear import check_modules as check_hear_modules
from pipeline.learning_curve import write_run_learning_curve
from pipeline.run_setup import (
    check_writable_cache,
    prepare_run_dir,
    setup_logging,
    weights_in_cache_dir,
)
from pipeline.settings import CLASSICAL_MODELS, NETWORK_MODELS, Settings, SettingsError
from pipeline.stages import StageResult, classical_results

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("compare")


def run_comparison(s: Settings) -> int:
    """The whole comparison; returns the process exit code.

    With ``s.dask``, its parallel stages run on a Dask cluster (`pipeline.cluster`). Pretrained
    weights are read (and fetched) under ``s.cache_dir`` like every other cache of the run.
    """
    with weights_in_cache_dir(s), dask_cluster(s.dask, cache_dir=None if s.no_cache else s.cache_dir):
        return _run(s)


def _run(s: Settings) -> int:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    cache = check_writable_cache(s)
    classical = [m for m in s.models if m in CLASSICAL_MODELS]
    networks = [m for m in s.models if m in NETWORK_MODELS]
    if classical:
        check_hear_modules(s)  # load and probe each hear: module before any work
    if s.data is not None:
        check_data_folder(s)
    found = s.data or s.download or (not s.demo and found_dataset() is not None)
    run_dir = prepare_run_dir(s, "openmic" if found else "demo")
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
    _log_split(data, s, classical, networks)
    needs_audio = networks or (bool(classical) and set(s.embeddings) - {RELEASE})
    problems = check_data(data, s, run_dir, needs_audio=bool(needs_audio))
    timings["data_problems_s"] = time.perf_counter() - t0 - timings["data_s"]

    results: dict[str, StageResult] = {}
    embeddings: dict[str, dict[str, Any]] = {}
    (run_dir / "models").mkdir(exist_ok=True)
    skipped: dict[str, str] = {}
    loaded = {}
    for emb_name in s.embeddings if classical else ():
        t = time.perf_counter()
        emb = load_embedding(emb_name, data, s, run_dir)
        emb_name = emb.name  # a hear:MODULE[:WEIGHTS] entry is named after its module
        loaded[emb_name] = emb
        timings[f"embedding_{emb_name}_s"] = time.perf_counter() - t
        embeddings[emb_name] = emb.info
        skipped.update(emb.problems)
        for name in classical:
            mid = model_id(name, emb_name)
            log.info("Training %s: %s, on %s", mid, MODEL_DESCRIPTIONS[name], emb.info["description"])
            results[mid] = classical_results(name, emb, data, s, cache, run_dir)
            _log_trained(mid, results[mid])
    if classical:  # the diagnosis' learning curve: the best classical model on fewer training artists
        t = time.perf_counter()
        write_run_learning_curve({m: r.info for m, r in results.items()},
                                 {m: r.proba for m, r in results.items()}, data, s, cache, run_dir,
                                 embeddings=loaded)
        timings["learning_curve_s"] = time.perf_counter() - t

    for name in networks:
        mode = f" ({s.ft_mode} mode)" if name == "musicnn-ft" else ""
        seeds = f", {s.seeds} seeds" if s.seeds > 1 else ""
        log.info("Training %s%s%s: %s", name, mode, seeds, MODEL_DESCRIPTIONS[name])
        t = time.perf_counter()
        results[name] = registry.resolve(registry.BY_ID[name].stage)(data, s, cache, run_dir)
        timings[f"{name.replace('-', '_')}_s"] = time.perf_counter() - t
        skipped.update(results[name].problems)
        _log_trained(name, results[name])

    from reports import build_report, write_predictions

    test_idx = data.test_idx
    write_predictions(
        run_dir / "predictions.npz", data.ds.sample_key[test_idx], data.classes, *data.labels(test_idx),
        {m: r.proba for m, r in results.items()}, artist_id=data.ds.artist_id[test_idx],
        seed_probas={m: r.seed_probas for m, r in results.items() if r.seed_probas is not None},
    )
    write_label_stats(data, run_dir)
    models = {m: r.info for m, r in results.items()}
    run_info = run_record(s, data, root, skipped, models, timings, embeddings=embeddings,
                          n_data_problems=int(problems["key"].nunique()))
    timings["total_before_report_s"] = time.perf_counter() - t0
    try:
        report = build_report(run_dir, seed=s.seed, run_info=run_info)
        timings["total_s"] = time.perf_counter() - t0
    finally:  # once, complete (the report read it from memory); also when the report failed
        write_json(run_dir / "run.json", run_info)
    if s.no_cache:
        # Intermediate features and checkpoints served this run only; the results are in place.
        shutil.rmtree(run_dir / ".work", ignore_errors=True)
    print_summary(report.metrics, models)
    print(f"\nReport: {report.path.resolve()}")
    log.info("Done in %.0f s. Run folder: %s", timings["total_s"], run_dir)
    return 0


def _log_split(data, s: Settings, classical: list[str], networks: list[str]) -> None:
    """The split in one line; the networks' hold-out (and its warnings) only when one is trained."""
    selection = [f"classical models: {s.cv_folds}-fold CV grouped by artist"] if classical else []
    if networks:
        selection.append(f"networks: {len(data.fit_idx)} fit + {len(data.val_idx)} hold-out")
        for warning in data.holdout["warnings"]:
            log.warning("Warning: %s", warning)
    log.info("Split: %d train clips (%s), %d test clips; %d instruments", len(data.ds.train_idx),
             "; ".join(selection), len(data.test_idx), len(data.cols))


def _log_trained(name: str, result: StageResult) -> None:
    log.info("  %s %s (%.1f s of training)", name,
             "reused from cache" if result.info["reused_from_cache"] else "trained",
             result.info["train_time_s"])


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
