"""Head-mode choices of `musicnn-ft` on a demo set's validation split: layer, head and pooling.

Loads an OpenMIC-layout folder (e.g. the demo set `compare.py` writes), builds or reuses its
musicnn log-mel patch cache ("musicnn_patches"), computes every candidate layer's per-patch
embeddings from it with the pretrained networks in one pass each, then trains the head
(`train_finetune`, head mode) once per variant and seed on the fit split, early-stopped on the
validation split (``ds.validation_split(seed=0)``). Prints one row per variant: the mean over
seeds of the validation macro ROC AUC and mAP (with the spread of the mAP over seeds), the test
scores for information, the epochs run and the CPU seconds of training. Choose on the
validation columns.

    python benchmarks/bench_finetune_demo.py --data /tmp/omc-cache/demo/openmic-demo-500-seed0 \\
        --cache /tmp/omc-cache/features
    python benchmarks/bench_finetune_demo.py --data DIR --cache DIR --layers max_pool \\
        --units 0 --poolings mean,max,attention
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnn import FinetuneConfig, train_finetune
from core.metrics import masked_scores, mean_over_classes
from features.extract import extract_dataset
from features.musicnn import params as mp
from features.musicnn.networks import feature_model, musicnn
from features.openmic import load

# Candidate layers: (backbone, layer).
LAYERS = {
    "penultimate": ("MTT_musicnn", "penultimate"),
    "max_pool": ("MTT_musicnn", "max_pool"),
    "mean_pool": ("MTT_musicnn", "mean_pool"),
    "pool5": ("MTT_vgg", "pool5"),
}
BATCH_PATCHES = 32


def layer_embeddings(patches: np.ndarray, wanted: list[str]) -> dict[str, np.ndarray]:
    """Per-patch embeddings ``(n, n_patches, size)`` of every wanted layer, one pass per network."""
    flat = np.asarray(patches, dtype=np.float32).reshape(-1, mp.PATCH_FRAMES, mp.N_MELS)
    out = {}
    for net_name in sorted({LAYERS[name][0] for name in wanted}):
        names = [name for name in wanted if LAYERS[name][0] == net_name]
        features = feature_model(musicnn(net_name), [LAYERS[name][1] for name in names])
        parts = {name: [] for name in names}
        for start in range(0, len(flat), BATCH_PATCHES):
            batch = features.predict_on_batch(flat[start : start + BATCH_PATCHES])
            for name in names:
                values = np.asarray(batch[LAYERS[name][1]])
                parts[name].append(values.reshape(len(values), -1))
        for name in names:
            out[name] = np.concatenate(parts[name]).reshape(*patches.shape[:2], -1)
    return out


def macro_scores(P: np.ndarray, Y_true: np.ndarray, Y_mask: np.ndarray) -> tuple[float, float]:
    """Macro ROC AUC and mAP over the classes `core.metrics` can score."""
    scores = masked_scores(P, Y_true, Y_mask)
    return mean_over_classes(scores["roc_auc"]), mean_over_classes(scores["ap"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="OpenMIC-layout folder")
    parser.add_argument("--cache", type=Path, required=True, help="feature cache folder")
    parser.add_argument("--layers", default=",".join(LAYERS), help=f"comma-separated, of {list(LAYERS)}")
    parser.add_argument("--units", default="0,256", help="head hidden units to try (0: linear)")
    parser.add_argument("--poolings", default="mean", help="comma-separated, of mean,max,attention")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    ds = load(args.data)
    patches = extract_dataset(ds.audio_path, ds.sample_key, "musicnn_patches", args.cache, n_jobs=args.jobs)
    layers = args.layers.split(",")
    embeddings = layer_embeddings(patches.data, layers)
    fit, val = ds.validation_split(seed=0)
    fit, val = fit[patches.ok[fit]], val[patches.ok[val]]
    test = ds.test_idx[patches.ok[ds.test_idx]]
    print(f"{len(fit)} fit, {len(val)} validation, {len(test)} test clips")
    print("backbone     layer        units pooling    val AUC  val mAP (sd)     test AUC test mAP epochs   CPU s")
    for name in layers:
        backbone, layer = LAYERS[name]
        for units in (int(u) for u in args.units.split(",")):
            for pooling in args.poolings.split(","):
                rows = []
                for seed in (int(s) for s in args.seeds.split(",")):
                    config = FinetuneConfig(backbone=backbone, layer=layer, dense_units=units,
                                            pooling=pooling, seed=seed)
                    with tempfile.TemporaryDirectory() as out_dir:
                        cpu = time.process_time()
                        model = train_finetune(embeddings[name], ds.Y_true, ds.Y_mask, fit, val, config,
                                               out_dir, progress=False)
                        cpu = time.process_time() - cpu
                    X = embeddings[name]
                    rows.append((*macro_scores(model.predict_proba(X, val), ds.Y_true[val], ds.Y_mask[val]),
                                 *macro_scores(model.predict_proba(X, test), ds.Y_true[test], ds.Y_mask[test]),
                                 model.metadata["epochs_run"], cpu))
                r = np.array(rows)
                print(f"{backbone:<12} {layer:<12} {units:>5} {pooling:<10} {r[:, 0].mean():.3f}    "
                      f"{r[:, 1].mean():.3f} ({r[:, 1].std():.3f})  {r[:, 2].mean():.3f}    {r[:, 3].mean():.3f}    "
                      f"{r[:, 4].mean():5.0f} {r[:, 5].mean():7.1f}", flush=True)


if __name__ == "__main__":
    main()
