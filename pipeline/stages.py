"""The stages of a run: data, embedding models, log-mel features, CNN; each reused when cached.

Each function takes the run's `Settings` and returns plain results, so compare.py only wires them
together; models come back with their training time and whether the cache supplied them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cache import (
    CLASSICAL_CODE,
    DONE,
    NETWORK_CODE,
    StageCache,
    code_fingerprint,
    fingerprint,
)
from pipeline.embeddings import Embedding, feature_dir
from pipeline.facts import embedding_name
from pipeline.settings import Settings, SettingsError

# One logger name for every stage, as in compare.log.
log = logging.getLogger("compare")


def found_dataset() -> tuple[Path, str] | None:
    """The dataset folder found without being told: $OPENMIC_ROOT, else ./openmic-2018; or None.

    Returns (folder, how it was found).
    """
    for candidate, why in (
        (os.environ.get("OPENMIC_ROOT"), "$OPENMIC_ROOT"),
        ("openmic-2018", "./openmic-2018"),
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate), f"dataset found at {why} = {candidate}"
    return None


def resolve_dataset(s: Settings) -> tuple[Path, str]:
    """Return (dataset folder, how it was chosen), downloading or generating when asked."""
    if s.download is not None:
        from features.download import download_openmic

        root = download_openmic(Path(s.download))
        return root, f"downloaded OpenMIC-2018 into {root}"
    if s.data is not None:
        root = check_data_folder(s)
        return root, f"dataset from --data {root}"
    if not s.demo:
        found = found_dataset()
        if found is not None:
            return found
    return make_demo_set(s)


def check_data_folder(s: Settings) -> Path:
    """The ``--data`` folder; a SettingsError with the ways forward when it is not a folder."""
    root = Path(s.data).expanduser()
    if not root.is_dir():
        raise SettingsError(
            f"--data {root} is not a folder. Point it at the unpacked openmic-2018 folder, "
            "fetch the dataset with --download, or try the toolkit on the demo set with --demo."
        )
    return root


def make_demo_set(s: Settings) -> tuple[Path, str]:
    """Generate (or reuse) the synthetic demo set; returns (folder, what it is in plain words)."""
    from features import demo

    n_clips = s.demo_size or demo.DEFAULT_CLIPS
    base = Path(s.cache_dir) if not s.no_cache else Path(s.out or "runs") / ".demo"
    root = base / "demo" / f"openmic-demo-{n_clips}-seed{s.seed}"
    reused = (root / "demo.json").exists()
    if not reused:
        log.info("No OpenMIC-2018 found (./openmic-2018, $OPENMIC_ROOT, --data): generating the "
                 "synthetic demo set (%d clips) in %s", n_clips, root)
    demo.make_demo(root, n_clips=n_clips, seed=s.seed, n_jobs=s.jobs)
    how = "reused" if reused else "generated"
    return root, (
        f"built-in SYNTHETIC demo set ({n_clips} clips, {how}) at {root}; it is not OpenMIC-2018: "
        "fetch the real data with --download, or point --data at it"
    )


def class_selection(s: Settings, classes: tuple[str, ...]) -> list[int]:
    """Columns of the selected instruments (``--instruments``, default all) in `classes`."""
    wanted = s.instruments or classes
    return [classes.index(name) for name in wanted]


# The networks' hold-out (early stopping, thresholds) grows from the first share to the last until
# every selected instrument has this many observed labels in it; below that the run warns.
HOLDOUT_FRACTIONS = (0.15, 0.2, 0.25, 0.3)
MIN_HOLDOUT_OBSERVED = 20


@dataclasses.dataclass
class Data:
    """What every model sees: the dataset, the class subset and the index sets.

    The classical models use all of ``ds.train_idx`` (cross-validated selection); the networks
    train on ``fit_idx`` and stop early on the hold-out ``val_idx`` (both carved from train_idx,
    grouped by artist). ``holdout`` records the hold-out's share and its warnings.
    ``key`` is the fingerprint of the dataset's content and the split: part of every model's key.
    """

    ds: Any
    cols: list[int]
    fit_idx: Any
    val_idx: Any
    test_idx: Any
    key: str
    holdout: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def train_idx(self):
        return self.ds.train_idx

    @property
    def embedding(self) -> str:
        return embedding_name(self.ds)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.ds.classes[c] for c in self.cols)

    def labels(self, idx):
        """(Y_true, Y_mask) of rows `idx`, selected classes only: (len(idx), n_selected) each."""
        return self.ds.Y_true[idx][:, self.cols], self.ds.Y_mask[idx][:, self.cols]


def load_data(root: Path, s: Settings) -> Data:
    """Load the dataset at `root`, check that it can be trained and tested on, carve the hold-out.

    Raises
    ------
    SettingsError
        For an empty split, or a split without any observed label of the selected instruments.
    """
    from features import openmic

    ds = openmic.load(root)
    cols = class_selection(s, ds.classes)
    check_splits(ds, cols, root)
    fit_idx, val_idx, holdout = holdout_split(ds, cols, s.seed)
    # Every array a model sees, by content: a changed file never reuses a stale model, and the same
    # dataset elsewhere (moved, copied) reuses every model. Audio-based features add their own
    # identity (`features.extract.FeatureCache.identity`) to the keys of the models they train.
    content = hashlib.sha256()
    for array in (ds.sample_key.astype(str), ds.X, ds.Y_true, ds.Y_mask, ds.train_idx, ds.test_idx,
                  ds.artist_id):
        content.update(np.ascontiguousarray(array).tobytes())
    key = fingerprint(content.hexdigest(), fit_idx.tolist(), val_idx.tolist())
    return Data(ds=ds, cols=cols, fit_idx=fit_idx, val_idx=val_idx, test_idx=ds.test_idx, key=key,
                holdout=holdout)


def check_splits(ds, cols: list[int], root: Path) -> None:
    """A SettingsError naming the split and the fix when there is nothing to train or test on."""
    names = [ds.classes[c] for c in cols]
    for split, rows in (("split01_train", ds.train_idx), ("split01_test", ds.test_idx)):
        if len(rows) == 0:
            raise SettingsError(
                f"{root / 'partitions' / (split + '.csv')} lists no clip of the dataset: "
                "nothing to train or test on. Restore the partition file from the release."
            )
        if not ds.Y_mask[np.ix_(rows, cols)].any():
            raise SettingsError(
                f"{split} has no observed label for the selected instruments ({', '.join(names)}): "
                "nothing to learn or score. Choose other --instruments or check Y_mask in "
                f"{root / 'openmic-2018.npz'}."
            )


def holdout_split(ds, cols: list[int], seed: int) -> tuple[Any, Any, dict[str, Any]]:
    """The networks' artist-grouped hold-out, large enough for every selected instrument.

    Tries the shares in `HOLDOUT_FRACTIONS` in order and keeps the first whose hold-out holds at
    least `MIN_HOLDOUT_OBSERVED` observed labels of every selected instrument; otherwise the last,
    with a warning that names the instruments short of it.

    Returns
    -------
    fit_idx, val_idx : np.ndarray
    holdout : dict
        ``fraction``, ``min_observed`` (the least observed labels of an instrument in it),
        ``warnings`` (list of str; the caller logs them when a network is trained).
    """
    for fraction in HOLDOUT_FRACTIONS:
        fit_idx, val_idx = ds.validation_split(fraction=fraction, seed=seed)
        observed = ds.Y_mask[np.ix_(val_idx, cols)].sum(axis=0)
        if observed.min() >= MIN_HOLDOUT_OBSERVED:
            break
    short = [ds.classes[c] for c, n in zip(cols, observed, strict=True) if n < MIN_HOLDOUT_OBSERVED]
    warnings = []
    if short:
        warnings.append(
            f"the networks' hold-out ({len(val_idx)} clips, {fraction:.0%} of train) has fewer than "
            f"{MIN_HOLDOUT_OBSERVED} observed labels for: {', '.join(short)}; their early stopping "
            "and thresholds rest on little evidence"
        )
    return fit_idx, val_idx, {"fraction": fraction, "n_clips": len(val_idx),
                              "min_observed": int(observed.min()), "warnings": warnings}


def train_embedding_model(
    name: str, emb: Embedding, data: Data, s: Settings, cache: StageCache, run_dir: Path
):
    """Train (or reuse) one of lr / xgb / rf on embedding `emb`; returns (model, seconds, reused).

    The model is selected by cross-validation on all of ``split01_train`` (folds grouped by
    artist) and refitted on it; clips without the embedding (unreadable audio) are left out.
    """
    from baselines import PerInstrumentModel

    ds = data.ds
    key = fingerprint(data.key, name, emb.name, emb.identity, data.cols, s.seed, s.cv_folds,
                      code_fingerprint(*CLASSICAL_CODE))
    stage = f"{name}-{emb.name}-{key}"
    done = cache.finished("models", stage)
    if done is not None:
        model = PerInstrumentModel.load(done / "model.joblib")
        return model, json.loads((done / DONE).read_text())["train_time_s"], True
    rows = ds.train_idx[emb.ok[ds.train_idx]]
    y_true, y_mask = data.labels(rows)
    start = time.perf_counter()
    model = PerInstrumentModel(name, n_folds=s.cv_folds, seed=s.seed, n_jobs=s.jobs).fit(
        emb.X[rows], y_true, y_mask, groups=ds.artist_id[rows],
        classes=list(data.classes), embedding=emb.info["description"],
    )
    seconds = time.perf_counter() - start
    tmp = cache.scratch("models", run_dir)
    model.save(tmp / "model.joblib")
    cache.publish("models", stage, tmp, {"train_time_s": seconds})
    return model, seconds, False


def predict_embedding_model(model, emb: Embedding, rows) -> tuple[Any, float]:
    """(n_rows, n_classes) float32 probabilities, NaN for clips without the embedding, and the
    seconds of prediction per clip."""
    proba = np.full((len(rows), len(model.classes_)), np.nan, dtype=np.float32)
    ok = emb.ok[rows]
    start = time.perf_counter()
    if ok.any():
        proba[ok] = model.predict_proba(emb.X[rows[ok]])
    return proba, (time.perf_counter() - start) / max(len(rows), 1)


def logmel_cache(data: Data, s: Settings, run_dir: Path):
    """The CNN's log-mel features of every clip (`features.extract.FeatureCache`), cached."""
    from features.extract import extract_dataset

    return extract_dataset(
        data.ds.audio_path, data.ds.sample_key, "logmel", feature_dir(s, run_dir),
        root=data.ds.root, n_jobs=s.jobs,
    )


def train_cnn_model(data: Data, feats, s: Settings, cache: StageCache, run_dir: Path, *,
                    seed: int | None = None):
    """Train (or reuse, or resume) the CNN with `seed` (default the run's); returns (model, seconds,
    reused)."""
    from cnn import CNNConfig, CNNModel, train_cnn

    config = CNNConfig.quick() if s.quick else CNNConfig()
    config = dataclasses.replace(config, seed=s.seed if seed is None else seed)
    if s.epochs is not None:
        config = dataclasses.replace(config, epochs=s.epochs)
    key = fingerprint(data.key, "cnn", data.cols, dataclasses.asdict(config), feats.identity,
                      code_fingerprint(*NETWORK_CODE))
    done = cache.finished("models", f"cnn-{key}")
    if done is not None:
        return CNNModel.load(done), json.loads((done / DONE).read_text())["train_time_s"], True
    # A stable work folder, not a temporary one: the CNN checkpoints each epoch and resumes there.
    work = cache.path("models", f"cnn-{key}.partial") or run_dir / ".work" / f"cnn-{key}"
    work.mkdir(parents=True, exist_ok=True)
    fit_idx = data.fit_idx[feats.ok[data.fit_idx]]
    val_idx = data.val_idx[feats.ok[data.val_idx]]
    Y_true = data.ds.Y_true[:, data.cols]
    Y_mask = data.ds.Y_mask[:, data.cols]
    start = time.perf_counter()
    model = train_cnn(feats, Y_true, Y_mask, np.asarray(fit_idx), np.asarray(val_idx), config, work,
                      classes=data.classes)
    seconds = time.perf_counter() - start  # train_cnn has saved the finished model in `work`
    final = cache.publish("models", f"cnn-{key}", work, {"train_time_s": seconds})
    return CNNModel.load(final) if final != work else model, seconds, False


@dataclasses.dataclass
class NetworkResult:
    """What a network's stage gives the run: test predictions, its ``run.json`` entry, problems.

    Attributes
    ----------
    proba : np.ndarray [shape=(n_test, n_classes), dtype=float32]
        The first seed's model (the one saved in the run folder); NaN for clips without audio.
    info : dict
        ``run.json``'s entry (`pipeline.facts.model_info` and the model's facts), with ``seeds``
        and, for several seeds, ``seed_runs`` (each seed's training time, cache use and hold-out
        ROC AUC).
    problems : dict of str to str
        Clips its features could not be computed for, key -> why.
    seed_probas : np.ndarray [shape=(n_seeds, n_test, n_classes)] or None
        Every seed's test predictions, first seed first; None with one seed.
    """

    proba: np.ndarray
    info: dict[str, Any]
    problems: dict[str, str]
    seed_probas: np.ndarray | None = None


def network_seeds(s: Settings) -> list[int]:
    """The seeds each network trains with (``--seeds N``): ``--seed`` and the N - 1 after it."""
    return [s.seed + i for i in range(s.seeds)]


def over_seeds(s: Settings, name: str, train_one) -> NetworkResult:
    """Train a network once per seed of the run; the first seed's model is the run's model.

    `train_one(seed, keep)` trains (or reuses) the network with `seed`, saves it into the run
    folder when `keep` (the first seed only) and returns ``(proba, info, problems)`` as in
    `NetworkResult`. The hold-out split is the run's for every seed: the spread is training's.
    """
    seeds = network_seeds(s)
    runs = []
    for i, seed in enumerate(seeds):
        proba, info, problems = train_one(seed, i == 0)
        if len(seeds) > 1:
            log.info("  %s seed %d %s (%.1f s of training)", name, seed,
                     "reused from cache" if info["reused_from_cache"] else "trained", info["train_time_s"])
        runs.append((proba, info, problems))
    proba, info, problems = runs[0]
    info = {**info, "seeds": seeds}
    if len(seeds) == 1:
        return NetworkResult(proba, info, problems)
    info["seed_runs"] = [
        {"seed": seed, "train_time_s": run_info["train_time_s"],
         "reused_from_cache": run_info["reused_from_cache"],
         "selection_roc_auc": run_info["selection"]["roc_auc"]["mean"]}
        for seed, (_, run_info, _) in zip(seeds, runs, strict=True)
    ]
    return NetworkResult(proba, info, problems, np.stack([run[0] for run in runs]))


def cnn_results(data: Data, s: Settings, cache: StageCache, run_dir: Path) -> NetworkResult:
    """Train (or reuse) the CNN once per seed, predict the test split, save the first into the run."""
    from pipeline.facts import holdout_selection, model_info

    feats = logmel_cache(data, s, run_dir)

    def train_one(seed: int, keep: bool):
        model, seconds, reused = train_cnn_model(data, feats, s, cache, run_dir, seed=seed)
        t = time.perf_counter()
        proba = model.predict_proba(feats, data.test_idx).astype(np.float32)
        infer = (time.perf_counter() - t) / max(len(data.test_idx), 1)
        # A clip without audio has no CNN prediction: NaN; the report leaves it out for every model.
        proba[~feats.ok[data.test_idx]] = np.nan
        val_idx = data.val_idx[feats.ok[data.val_idx]]
        selection = holdout_selection(model.predict_proba(feats, val_idx), *data.labels(val_idx),
                                      data.holdout)
        out = run_dir / "models" / "cnn"
        if keep:
            if out.exists():
                shutil.rmtree(out)
            model.save(out)
        info = model_info("cnn", model, seconds, infer, reused, out, selection=selection,
                          model_input={"extractor": "logmel", "params": dict(feats.params)})
        return proba, info, dict(feats.problems)

    return over_seeds(s, "cnn", train_one)


def check_data(data: Data, s: Settings, run_dir: Path, *, needs_audio: bool):
    """Find the dataset's problems before any training; write ``data_problems.csv``.

    Audio missing, unreadable, empty or not 10 s long, and the release's known corrupt clips
    (`features.problems.find_data_problems`) are logged (the first 10 and the count) and written
    to the run folder (columns key, split, problem).

    Raises
    ------
    SettingsError
        When a model that needs audio is selected and the dataset has no audio file at all.
    """
    from core.atomic import atomic_write
    from features.problems import audio_available, find_data_problems

    ds = data.ds
    if needs_audio and audio_available(ds) == 0:
        raise SettingsError(
            f"{ds.root / 'audio'} holds no audio file of the dataset, and the CNN and the musicnn "
            "embedding need audio. Train the classical models on the dataset's own embedding "
            "only with --models lr,xgb,rf --embeddings release, or fetch the full release (with "
            "its audio) with --download."
        )
    problems = find_data_problems(ds, n_jobs=s.jobs)
    atomic_write(run_dir / "data_problems.csv", lambda tmp: problems.to_csv(tmp, index=False))
    if len(problems):
        first = ", ".join(f"{k} ({p})" for k, p in zip(problems["key"][:10], problems["problem"][:10],
                                                      strict=True))
        log.warning("Data problems in %d clip(s), listed in data_problems.csv; first: %s%s",
                    problems["key"].nunique(), first, " ..." if len(problems) > 10 else "")
    return problems
