"""Every constant of the classical baselines, once.

Grids are small on purpose: `benchmarks/bench_baselines.py` times all 20 instruments, hyper-parameter
selection included, and these defaults are what meets its targets on two cores.
"""

KINDS = ("lr", "xgb", "rf")
POOLINGS = ("mean", "mean_std")
AUTO_POOLING = "auto"

# OpenMIC's X: ten 0.96 s frames of 128-d VGGish, one row per clip.
CLIP_FEATURE_SHAPE = (10, 128)

# Logistic regression: inverse regularisation strength, chosen per instrument on validation AP.
LR_C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
LR_DEFAULT_C = 0.1  # used when validation has no positive or no negative
LR_MAX_ITER = 1000
LR_SOLVER = (
    "lbfgs"  # single-threaded in the workers: ~2x less CPU than liblinear (bench_baselines.py)
)

# XGBoost: depth and learning rate by validation AP; trees by early stopping on validation.
XGB_MAX_DEPTH_GRID = (3, 6)
XGB_LEARNING_RATE_GRID = (0.1, 0.3)
XGB_DEFAULT = {"max_depth": 3, "learning_rate": 0.3}
XGB_MAX_TREES = 400
XGB_DEFAULT_TREES = 100  # used when validation cannot drive early stopping
XGB_EARLY_STOPPING_ROUNDS = 10
XGB_EVAL_METRIC = "aucpr"
XGB_TREE_METHOD = "hist"
XGB_MAX_BIN = (
    64  # histogram bins per feature; 256 (the default) costs ~30 % more time for no AP gain here
)

# The official OpenMIC baseline (examples/modeling-baseline.ipynb), not tuned.
RF_PARAMS = {"max_depth": 8, "n_estimators": 100}
RF_POOLING = "mean"

# Hyper-parameter grid per kind, as accepted by PerInstrumentModel(grid=...).
DEFAULT_GRIDS = {
    "lr": {"C": LR_C_GRID},
    "xgb": {"max_depth": XGB_MAX_DEPTH_GRID, "learning_rate": XGB_LEARNING_RATE_GRID},
    "rf": {},
}

# Saved-model format.
FILE_FORMAT = "openmic-compare/baselines"
FILE_FORMAT_VERSION = 1
