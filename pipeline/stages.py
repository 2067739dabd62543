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
import time
from pathlib import Path
from typing import Any

from pipeline.cache import DONE, StageCache, code_fingerprint, fingerprint
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


@dataclasses.dataclass
class Data:
    """What every model sees: the dataset, the class subset and the three index sets.

    ``key`` is the fingerprint of the dataset's content and the split: part of every model's key.
    """

    ds: Any
    cols: list[int]
    fit_idx: Any
    val_idx: Any
    test_idx: Any
    key: str

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
    """Load the dataset at `root`, carve the validation split and key the content."""
    import numpy as np

    from features import openmic

    ds = openmic.load(root)
    cols = class_selection(s, ds.classes)
    fit_idx, val_idx = ds.validation_split(seed=s.seed)
    content = hashlib.sha256()  # every array a model sees: a changed file never reuses a stale model
    for array in (ds.sample_key.astype(str), ds.X, ds.Y_true, ds.Y_mask, ds.test_idx):
        content.update(np.ascontiguousarray(array).tobytes())
    key = fingerprint(str(root.resolve()), content.hexdigest(), fit_idx.tolist(), val_idx.tolist())
    return Data(ds=ds, cols=cols, fit_idx=fit_idx, val_idx=val_idx, test_idx=ds.test_idx, key=key)


def train_embedding_model(name: str, data: Data, s: Settings, cache: StageCache, run_dir: Path):
    """Train (or reuse) one of lr / xgb / rf; returns (model, seconds, reused)."""
    from baselines import PerInstrumentModel

    ds = data.ds
    key = fingerprint(data.key, name, data.cols, s.seed, code_fingerprint("baselines"))
    done = cache.finished("models", f"{name}-{key}")
    if done is not None:
        model = PerInstrumentModel.load(done / "model.joblib")
        return model, json.loads((done / DONE).read_text())["train_time_s"], True
    yf, mf = data.labels(data.fit_idx)
    yv, mv = data.labels(data.val_idx)
    start = time.perf_counter()
    model = PerInstrumentModel(name, seed=s.seed, n_jobs=s.jobs).fit(
        ds.X[data.fit_idx], yf, mf, X_val=ds.X[data.val_idx], Y_true_val=yv, Y_mask_val=mv,
        classes=list(data.classes), embedding=data.embedding,
    )
    seconds = time.perf_counter() - start
    tmp = cache.scratch("models", run_dir)
    model.save(tmp / "model.joblib")
    cache.publish("models", f"{name}-{key}", tmp, {"train_time_s": seconds})
    return model, seconds, False


def logmel_cache(data: Data, s: Settings, run_dir: Path):
    """The CNN's log-mel features of every clip (`features.extract.FeatureCache`), cached."""
    from features.extract import extract_dataset

    base = Path(s.cache_dir) / "features" if not s.no_cache else run_dir / ".work" / "features"
    return extract_dataset(
        data.ds.audio_path, data.ds.sample_key, "logmel", base, n_jobs=s.jobs
    )


def train_cnn_model(data: Data, feats, s: Settings, cache: StageCache, run_dir: Path):
    """Train (or reuse, or resume) the CNN; returns (model, seconds, reused)."""
    import numpy as np

    from cnn import CNNConfig, CNNModel, train_cnn

    config = CNNConfig.quick() if s.quick else CNNConfig()
    config = dataclasses.replace(config, seed=s.seed)
    if s.epochs is not None:
        config = dataclasses.replace(config, epochs=s.epochs)
    key = fingerprint(data.key, "cnn", data.cols, dataclasses.asdict(config), feats.params,
                      code_fingerprint("cnn"))
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
