"""Every constant of the evaluation and the report, in one place.

The metric names are the column values of ``metrics.csv``; the two F1 scores are named apart on
purpose: ``f1_pos`` is the positive-class F1, ``f1_posneg`` the mean of the positive- and
negative-class F1 (the "macro F1" of Gururani et al. 2019, sklearn ``classification_report``'s
macro avg).
"""

#: Probability at or above which a pair counts as a predicted positive (``proba >= threshold``).
DEFAULT_THRESHOLD = 0.5

#: Bootstrap defaults: resamples of the test clips, seed, and two-sided confidence level.
N_BOOT = 1000
BOOT_SEED = 0
CI_LEVEL = 0.95
#: Family-wise error rate of the comparisons' marks (Holm over every comparison of a metric: the
#: macro means of all pairs compared, and apart from them instruments x pairs).
ALPHA = 0.05
#: Below this many resampled groups (artists) the report warns that its intervals are rough: a
#: percentile cluster bootstrap over 30 artists covered 90-92 % instead of 95 % in a simulation
#: (tests/test_cluster_bootstrap.py), and fewer groups do worse.
FEW_GROUPS = 30
#: Rows of the (n_boot, n_clips) resample matrix drawn at a time (bounds the memory of the draw).
BOOT_CHUNK_ROWS = 128

#: Metrics computed at a fixed threshold (0.5) and, with the suffix, at the validation thresholds.
THRESHOLD_METRICS = ("precision", "recall", "f1_pos")
VAL_THR_SUFFIX = "_at_val_thr"
#: Metrics computed at 0.5 only.
F1_POSNEG = "f1_posneg"
RANKING_METRICS = ("roc_auc", "ap")
#: Pairwise model comparisons are made for these metrics.
COMPARED_METRICS = ("f1_pos", "f1_pos_at_val_thr", "f1_posneg", "roc_auc", "ap")
#: Aggregate rows of metrics.csv use these names in the ``instrument`` column.
MACRO = "macro"
MICRO = "micro"
#: Support rows (no interval).
SUPPORT_METRICS = ("n_observed", "n_positive", "threshold")

#: Human labels used by the report and the plots.
METRIC_LABELS = {
    "precision": "precision @0.5",
    "recall": "recall @0.5",
    "f1_pos": "positive-class F1 @0.5",
    "precision_at_val_thr": "precision @val thr",
    "recall_at_val_thr": "recall @val thr",
    "f1_pos_at_val_thr": "positive-class F1 @val thr",
    "f1_posneg": "macro F1 (pos/neg) @0.5",
    "roc_auc": "ROC AUC",
    "ap": "average precision",
    "n_observed": "observed pairs",
    "n_positive": "positives",
    "threshold": "validation threshold",
}

#: Files of the run folder (docs/architecture.md, "The run folder").
RUN_JSON = "run.json"
PREDICTIONS_NPZ = "predictions.npz"
LABEL_STATS_CSV = "label_stats.csv"
HISTORY_CSV = "models/cnn/history.csv"
DATA_PROBLEMS_CSV = "data_problems.csv"
METRICS_CSV = "metrics.csv"
METRICS_JSON = "metrics.json"
COMPARISONS_CSV = "comparisons.csv"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"
PROBA_PREFIX = "proba_"
SEED_PROBA_PREFIX = "seedproba_"
SEED_SPREAD_CSV = "seed_spread.csv"

#: Plot resolution (dots per inch) of the overview figures and of the per-instrument panels.
PLOT_DPI = 96
INSTRUMENT_PLOT_DPI = 80
#: The report lists at most this many skipped, excluded or problem clips by name (the count is always given).
MAX_SKIPPED_LISTED = 50
#: A model's selection warnings are shown folded (click to open) when it has more than this many.
MAX_WARNINGS_OPEN = 3

#: Seed spread of each network measured by ``benchmarks/bench_seed_spread.py`` on the demo set,
#: quoted by the report for a network trained with one seed (whose own spread is unmeasured).
#: None: not measured. Otherwise ``{"n_seeds": S, "sd": {metric: sample sd over the S seeds of
#: the macro mean}, "command": "the command that measured it"}``, metrics named as in metrics.csv.
#: Measured 2026-12-03 on the 500-clip demo set (seeds 0-4; the same split and hold-out for every
#: seed), 2-core machine; the report's own seed_spread.csv of that run gives the same figures.
#: Macro ROC AUC per seed: cnn 0.775, 0.809, 0.805, 0.808, 0.806; musicnn-ft (head) 0.845, 0.846,
#: 0.847, 0.846, 0.844.
_SEED_SPREAD_COMMAND = ("python benchmarks/bench_seed_spread.py --seeds 5 --models cnn,musicnn-ft "
                        "--cache-dir /tmp/seedcache --out /tmp/seedrun --jobs 2")
MEASURED_SEED_SPREAD: dict[str, dict | None] = {
    "cnn": {"n_seeds": 5, "command": _SEED_SPREAD_COMMAND,
            "sd": {"roc_auc": 0.0142, "ap": 0.0212, "f1_pos": 0.0364, "f1_posneg": 0.0209}},
    "musicnn-ft": {"n_seeds": 5, "command": _SEED_SPREAD_COMMAND,
                   "sd": {"roc_auc": 0.0012, "ap": 0.0027, "f1_pos": 0.0056, "f1_posneg": 0.0037}},
}
