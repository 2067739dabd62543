"""Every constant of the classical baselines, once.

Grids were chosen on cross-validated scores only (never a test split): `benchmarks/bench_baselines.py`
prints them, on the demo set (``--data``) and at OpenMIC scale, where it also times all 20
instruments with 5-fold selection; these defaults are what meets its targets on two cores.
"""

from core import registry

KINDS = registry.model_ids("classical")  # what this package implements (core.registry)
POOLINGS = ("mean", "mean_std")
AUTO_POOLING = "auto"

# OpenMIC's X: ten 0.96 s frames of 128-d VGGish, one row per clip.
CLIP_FEATURE_SHAPE = (10, 128)

# Model selection: k-fold cross-validation on the training rows, folds grouped by artist.
N_FOLDS = 5
# Selection criterion: mean over folds of the held-out ROC AUC. It does not depend on a fold's share
# of positives (AP does), so folds of one instrument average fairly, and it is steadier than AP on
# the few positives a fold holds for a rare instrument. AP is recorded beside it.
CV_CRITERION = "roc_auc"
CV_METRICS = ("roc_auc", "ap")
# With fewer held-out folds holding a positive and a negative, nothing is selected: the class gets
# its kind's default configuration (and a note).
MIN_SCORED_FOLDS = 2

# Logistic regression on standardised features: inverse regularisation strength by CV. At OpenMIC's
# size (15,000 synthetic clips) CV picks 0.001 for most classes, hence 0.0001 in the grid. Class
# weights were measured, not selected: balanced and none tie on CV ROC AUC (nested CV: demo set
# 0.747 vs 0.741, synthetic 3,000 clips 0.812 both), so they stay balanced, as in published LRs.
LR_C_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0)
LR_CLASS_WEIGHT = "balanced"
LR_DEFAULT = {"C": 1.0}  # scikit-learn's default, used where CV cannot select
LR_MAX_ITER = 1000
LR_SOLVER = "lbfgs"  # single-threaded in the workers: ~2x less CPU than liblinear

# XGBoost: depth and learning rate by CV. Trees: in each fold they grow until the held-out AUC
# has not improved for XGB_EARLY_STOPPING_ROUNDS trees; the number kept is the candidate count with
# the best mean held-out AUC over folds (a fold that stopped counts with all its trees).
# How these were chosen (nested CV on training rows only: outer artist folds of the demo set's
# split01_train, 800 clips, 2 labels per clip; synthetic sets scored on fresh synthetic clips):
# the median of each fold's best iteration (0.719 demo) and the best of every count (0.718) chase
# noise on small folds and keep 5-25 trees; the candidates 50..400 score 0.750 (demo), 0.631 / 0.737
# (600 / 3,000 synthetic clips): within 0.004 of a fixed 100 trees on the small sets (0.752, 0.635)
# and 0.011 above it at 3,000 (0.726), where more trees pay.
# Learning rate 0.1 ties 0.05 (0.748 vs 0.750 demo, 0.737 both at 3,000) and at 15,000 clips reaches
# 0.05's CV AUC (0.815) without the 400-tree cap binding as often, in less time.
XGB_MAX_DEPTH_GRID = (2, 4)
XGB_LEARNING_RATE_GRID = (0.1,)
XGB_TREE_COUNTS = (50, 100, 200, 400)
XGB_MAX_TREES = max(XGB_TREE_COUNTS)
XGB_DEFAULT = {"max_depth": 4, "learning_rate": 0.1, "n_estimators": 100}
XGB_EARLY_STOPPING_ROUNDS = 50  # patient: a small fold's AUC is noisy from one tree to the next
XGB_EVAL_METRIC = "auc"  # the selection criterion, for early stopping too
XGB_SUBSAMPLE = 0.8  # rows per tree (set, not tuned: the usual regularisation for small data)
XGB_COLSAMPLE_BYTREE = 0.5  # features per tree (likewise; also halves the time per tree)
XGB_TREE_METHOD = "hist"
XGB_MAX_BIN = 64  # histogram bins per feature; 256 (the default) costs ~30 % more time

# The official OpenMIC baseline (examples/modeling-baseline.ipynb), not tuned.
RF_PARAMS = {"max_depth": 8, "n_estimators": 100}
RF_POOLING = "mean"

# Hyper-parameter grid per kind, as accepted by PerInstrumentModel(grid=...).
DEFAULT_GRIDS = {
    "lr": {"C": LR_C_GRID},
    "xgb": {"max_depth": XGB_MAX_DEPTH_GRID, "learning_rate": XGB_LEARNING_RATE_GRID},
    "rf": {},
}
# Where CV cannot select (too few scorable folds): the configuration each kind falls back to.
DEFAULT_PARAMS = {"lr": LR_DEFAULT, "xgb": XGB_DEFAULT, "rf": RF_PARAMS}

# Saved-model format. Version 2: selection by cross-validation, the fold assignment and CV scores
# saved with the model.
FILE_FORMAT = "openmic-compare/baselines"
FILE_FORMAT_VERSION = 2
