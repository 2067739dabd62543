"""Compare classical models on VGGish embeddings with a spectrogram CNN on OpenMIC-2018.

    python compare.py                      # ./openmic-2018 or $OPENMIC_ROOT, else the built-in demo set
    python compare.py --quick              # the same, small CNN and few epochs
    python compare.py --data PATH          # a dataset folder in OpenMIC's layout
    python compare.py --download [DIR]     # fetch the real OpenMIC-2018 (2.6 GB), then run on it

The script only wires the stages together (data -> features -> models -> evaluation -> report);
each stage lives in its own package and can be used alone from Python. Every stage's result is
cached under the cache folder (``$OPENMIC_COMPARE_CACHE``, default ``~/.cache/openmic-compare``),
keyed by everything it depends on, so the same command again reuses features and trained models,
and a run interrupted with Ctrl-C resumes where it stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from core.atomic import atomic_write, atomic_write_json

# TensorFlow's C++ start-up notices (oneDNN, CPU features) say nothing a user can act on.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("compare")

MODEL_NAMES = ("lr", "xgb", "rf", "cnn")
MODEL_DESCRIPTIONS = {
    "lr": "logistic regression per instrument on pooled embeddings (C tuned on validation)",
    "xgb": "XGBoost per instrument on pooled embeddings (depth, rate, trees tuned on validation)",
    "rf": "official baseline: random forest (depth 8, 100 trees) on clip-mean embeddings",
    "cnn": "spectrogram CNN on 128-band log-mel, masked BCE, trained from scratch",
}
DEFAULT_CACHE = Path(os.environ.get("OPENMIC_COMPARE_CACHE", "~/.cache/openmic-compare")).expanduser()


class SettingsError(ValueError):
    """A setting (flag or config entry) is invalid; the message says what to do instead."""


@dataclasses.dataclass
class Settings:
    """Every setting of a run; the command-line flags and the TOML config use the same names."""

    data: str | None = None
    download: str | None = None
    demo: bool = False
    demo_size: int | None = None
    models: tuple[str, ...] = MODEL_NAMES
    instruments: tuple[str, ...] | None = None
    quick: bool = False
    epochs: int | None = None
    seed: int = 0
    jobs: int = -1
    out: str | None = None
    no_cache: bool = False
    cache_dir: str = str(DEFAULT_CACHE)

    def __post_init__(self) -> None:
        # "~" in a TOML config reaches us unexpanded; every stage must see the same folder.
        for name in ("data", "download", "out", "cache_dir"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, str(Path(value).expanduser()))

    def to_toml(self) -> str:
        lines = ["# Settings of this run; pass this file back with --config to repeat it."]
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                lines.append(f"# {field.name} = (not set)")
            else:
                lines.append(f"{field.name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


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
        help=f"comma-separated models to train (default: {','.join(defaults.models)})",
    )
    p.add_argument(
        "--instruments",
        metavar="LIST",
        help="comma-separated instruments, e.g. trumpet,violin (default: all 20)",
    )
    p.add_argument("--quick", action="store_true", help="small CNN and few epochs (default: off)")
    p.add_argument("--epochs", type=int, metavar="N", help="CNN epochs (default: the CNN config's)")
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
    return p


def _split_list(value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    items = tuple(str(v).strip() for v in items if str(v).strip())
    if not items:
        raise SettingsError(f"--{what} is empty")
    return items


def parse_settings(argv: list[str] | None = None) -> Settings:
    """Flags over config file over defaults; validates names before any work starts."""
    args = vars(build_parser().parse_args(argv))
    values: dict[str, Any] = {}
    config = args.pop("config", None)
    if config is not None:
        values.update(_read_config(Path(config)))
    values.update({k.replace("-", "_"): v for k, v in args.items()})
    names = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SettingsError(
            f"unknown setting(s) {unknown} in {config}; valid ones: {', '.join(sorted(names))}"
        )
    for key in ("models", "instruments"):
        if values.get(key) is not None:
            values[key] = _split_list(values[key], key)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"config file {path} is not valid TOML: {err}") from None


def _validate(s: Settings) -> None:
    from features.openmic import CLASSES

    bad = [m for m in s.models if m not in MODEL_NAMES]
    if bad:
        raise SettingsError(f"unknown model(s) {bad}; valid models: {', '.join(MODEL_NAMES)}")
    if s.instruments is not None:
        bad = [i for i in s.instruments if i not in CLASSES]
        if bad:
            raise SettingsError(f"unknown instrument(s) {bad}; valid instruments: {', '.join(CLASSES)}")
    if sum(x is not None and x is not False for x in (s.data, s.download, s.demo or None)) > 1:
        raise SettingsError("choose one of --data, --download and --demo")
    if s.demo_size is not None and s.demo_size < 20:
        raise SettingsError(f"--demo-size must be at least 20, given {s.demo_size}")
    if s.epochs is not None and s.epochs < 1:
        raise SettingsError(f"--epochs must be at least 1, given {s.epochs}")
    if s.jobs == 0:
        raise SettingsError("--jobs 0 is not a number of processes; use -1 for all cores")


# ------------------------------------------------------------------------------------ caching


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts: the key of a cached stage."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_fingerprint(package: str) -> str:
    """Hash of a package's source: a cached model is not reused after its training code changed."""
    folder = Path(__file__).resolve().parent / package
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class StageCache:
    """Folders of finished stage outputs, each complete only once its ``done.json`` exists."""

    def __init__(self, root: Path | None):
        self.root = root

    def path(self, stage: str, key: str) -> Path | None:
        return None if self.root is None else self.root / stage / key

    def finished(self, stage: str, key: str) -> Path | None:
        path = self.path(stage, key)
        if path is not None and (path / "done.json").exists():
            return path
        return None

    def publish(self, stage: str, key: str, tmp: Path, info: dict[str, Any]) -> Path:
        """Move a finished temporary folder into place and mark it done (atomic rename)."""
        _write_json(tmp / "done.json", info)
        final = self.path(stage, key)
        if final is None:
            return tmp
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final

    def scratch(self, stage: str, run_dir: Path) -> Path:
        base = self.root / stage if self.root is not None else run_dir / ".work"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="partial-", dir=base))


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, indent=2, default=_json_default)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


# ------------------------------------------------------------------------------------ stages


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
        for candidate, why in (
            (os.environ.get("OPENMIC_ROOT"), "$OPENMIC_ROOT"),
            ("openmic-2018", "./openmic-2018"),
        ):
            if candidate and Path(candidate).is_dir():
                return Path(candidate), f"dataset found at {why} = {candidate}"
    return make_demo_set(s)


def check_data_folder(s: Settings) -> Path:
    root = Path(s.data).expanduser()
    if not root.is_dir():
        raise SettingsError(
            f"--data {root} is not a folder. Point it at the unpacked openmic-2018 folder, "
            "fetch the dataset with --download, or try the toolkit on the demo set with --demo."
        )
    return root


def make_demo_set(s: Settings) -> tuple[Path, str]:
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
    wanted = s.instruments or classes
    return [classes.index(name) for name in wanted]


@dataclasses.dataclass
class Data:
    """What every model sees: the dataset, the class subset and the three index sets."""

    ds: Any
    cols: list[int]
    fit_idx: Any
    val_idx: Any
    test_idx: Any
    key: str

    @property
    def embedding(self) -> str:
        return _embedding_name(self.ds)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.ds.classes[c] for c in self.cols)

    def labels(self, idx):
        return self.ds.Y_true[idx][:, self.cols], self.ds.Y_mask[idx][:, self.cols]


def load_data(root: Path, s: Settings) -> Data:
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
        return model, json.loads((done / "done.json").read_text())["train_time_s"], True
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
        return CNNModel.load(done), json.loads((done / "done.json").read_text())["train_time_s"], True
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


def model_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def library_versions() -> dict[str, str]:
    from importlib import metadata

    names = ["numpy", "scipy", "scikit-learn", "xgboost", "tensorflow", "keras", "librosa",
             "soundfile", "pandas", "joblib", "seaborn", "matplotlib", "jinja2"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "xgboost":
                try:
                    versions[name] = metadata.version("xgboost-cpu")
                except metadata.PackageNotFoundError:
                    pass
    return versions


# -------------------------------------------------------------------------------------- run


def prepare_run_dir(s: Settings, source: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = Path(s.out) if s.out else Path("runs") / f"{stamp}-{source}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise SettingsError(
            f"cannot write to the output folder {run_dir} ({err.strerror}); choose another with --out"
        ) from None
    return run_dir


def setup_logging(run_dir: Path) -> None:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    logfile = logging.FileHandler(run_dir / "compare.log")
    logfile.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    root.addHandler(logfile)
    logging.captureWarnings(True)


def check_writable_cache(s: Settings) -> StageCache:
    if s.no_cache:
        return StageCache(None)
    root = Path(s.cache_dir).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SettingsError(f"cannot create the cache folder {root} ({err.strerror}); "
                            "choose another with --cache-dir, or run with --no-cache") from None
    return StageCache(root)


def run(s: Settings) -> int:
    """The whole comparison; returns the process exit code."""
    import numpy as np

    from core import DatasetError

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    cache = check_writable_cache(s)
    if s.data is not None:
        check_data_folder(s)
    source_hint = "openmic" if (s.data or s.download or (not s.demo and _real_data_present())) else "demo"
    run_dir = prepare_run_dir(s, source_hint)
    setup_logging(run_dir)
    (run_dir / "settings.toml").write_text(s.to_toml())

    try:
        root, how = resolve_dataset(s)
        log.info("Data: %s", how)
        data = load_data(root, s)
    except DatasetError as err:
        raise SettingsError(str(err)) from None
    timings["data_s"] = time.perf_counter() - t0
    ds = data.ds
    source = dataset_source(ds)
    log.info("Split: %d train (%d fit + %d validation, grouped by artist), %d test clips; %d instruments",
             len(ds.train_idx), len(data.fit_idx), len(data.val_idx), len(data.test_idx), len(data.cols))

    models: dict[str, dict[str, Any]] = {}
    probas: dict[str, np.ndarray] = {}
    (run_dir / "models").mkdir(exist_ok=True)
    skipped: dict[str, str] = {}
    test_idx = data.test_idx
    for name in [m for m in s.models if m != "cnn"]:
        log.info("Training %s: %s", name, MODEL_DESCRIPTIONS[name])
        model, seconds, reused = train_embedding_model(name, data, s, cache, run_dir)
        log.info("  %s %s (%.1f s of training)", name, "reused from cache" if reused else "trained", seconds)
        t = time.perf_counter()
        probas[name] = model.predict_proba(ds.X[test_idx]).astype(np.float32)
        infer = (time.perf_counter() - t) / max(len(test_idx), 1)
        model.save(run_dir / "models" / f"{name}.joblib")
        models[name] = _model_info(name, model, seconds, infer, reused, run_dir / "models" / f"{name}.joblib")

    if "cnn" in s.models:
        t = time.perf_counter()
        feats = logmel_cache(data, s, run_dir)
        timings["logmel_s"] = time.perf_counter() - t
        skipped = dict(feats.problems)
        if skipped:
            log.warning("Skipping %d clip(s) with missing or corrupt audio: %s", len(skipped),
                        ", ".join(sorted(skipped)[:20]) + (" ..." if len(skipped) > 20 else ""))
        log.info("Training cnn: %s", MODEL_DESCRIPTIONS["cnn"])
        model, seconds, reused = train_cnn_model(data, feats, s, cache, run_dir)
        log.info("  cnn %s (%.1f s of training)", "reused from cache" if reused else "trained", seconds)
        t = time.perf_counter()
        proba = model.predict_proba(feats, test_idx).astype(np.float32)
        infer = (time.perf_counter() - t) / max(len(test_idx), 1)
        # A clip without audio has no CNN prediction: NaN, which the metrics leave out per model.
        proba[~feats.ok[test_idx]] = np.nan
        probas["cnn"] = proba
        cnn_dir = run_dir / "models" / "cnn"
        if cnn_dir.exists():
            shutil.rmtree(cnn_dir)
        model.save(cnn_dir)
        models["cnn"] = _model_info("cnn", model, seconds, infer, reused, cnn_dir)

    from reports import build_report, write_predictions

    yt, ym = data.labels(test_idx)
    write_predictions(run_dir / "predictions.npz", ds.sample_key[test_idx], data.classes, yt, ym, probas)
    _write_label_stats(data, run_dir)
    timings["total_before_report_s"] = time.perf_counter() - t0
    run_info = {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": s.seed,
        "settings": dataclasses.asdict(s),
        "dataset": _dataset_info(data, root, source, skipped),
        "models": models,
        "timings": timings,
        "versions": library_versions(),
    }
    _write_json(run_dir / "run.json", run_info)
    report = build_report(run_dir, seed=s.seed)
    timings["total_s"] = time.perf_counter() - t0
    run_info["timings"] = timings
    _write_json(run_dir / "run.json", run_info)
    if s.no_cache:
        # Intermediate features and checkpoints served this run only; the results are in place.
        shutil.rmtree(run_dir / ".work", ignore_errors=True)
    print_summary(run_dir, models)
    print(f"\nReport: {report.resolve()}")
    log.info("Done in %.0f s. Run folder: %s", timings["total_s"], run_dir)
    return 0


OPENMIC_SIZES = (20000, 5085)  # clips in the release, clips in split01_test


def dataset_source(ds) -> str:
    """"demo", "openmic" (the full release, where published numbers apply) or "custom"."""
    if ds.demo:
        return "demo"
    return "openmic" if (len(ds.sample_key), len(ds.test_idx)) == OPENMIC_SIZES else "custom"


def _real_data_present() -> bool:
    env = os.environ.get("OPENMIC_ROOT")
    return bool(env and Path(env).is_dir()) or Path("openmic-2018").is_dir()


def _model_info(name, model, seconds, infer, reused, path: Path) -> dict[str, Any]:
    import numpy as np

    return {
        "description": MODEL_DESCRIPTIONS[name],
        "train_time_s": float(seconds),
        "infer_time_per_clip_s": float(infer),
        "size_bytes": model_size(path),
        "thresholds": np.asarray(model.thresholds_, dtype=float).tolist(),
        "reused_from_cache": bool(reused),
    }


def _embedding_name(ds) -> str:
    if not ds.demo:
        if dataset_source(ds) == "openmic":
            return "VGGish (OpenMIC-2018 release, PCA-whitened, 8-bit)"
        return "X of openmic-2018.npz (embedding not recorded; VGGish if made like the release)"
    embedding = ds.demo.get("embedding", "unknown")
    return str(embedding.get("name", embedding)) if isinstance(embedding, dict) else str(embedding)


def _dataset_info(data: Data, root: Path, source: str, skipped: dict[str, str]) -> dict[str, Any]:
    ds = data.ds
    if source == "demo":
        demo = ds.demo or {}
        font = demo.get("sound_font", {})
        font = font.get("name", font) if isinstance(font, dict) else font
        description = (
            f"{demo.get('n_clips', len(ds.sample_key))} clips rendered from the {font} sound font, "
            f"seed {demo.get('seed', '?')}, {demo.get('labels_per_clip', '?')} observed labels per clip"
        )
    elif source == "openmic":
        description = "OpenMIC-2018 (Humphrey, Durand, McFee, ISMIR 2018), official split01"
    else:
        description = f"{len(data.ds.sample_key)} clips in OpenMIC-2018's layout at {root}"
    return {
        "source": source,
        "root": str(root),
        "description": description,
        "embedding": data.embedding,
        "n_train": len(data.fit_idx),
        "n_val": len(data.val_idx),
        "n_test": len(data.test_idx),
        "instruments": list(data.classes),
        "skipped_clips": skipped,
        "label_rule": "target = Y_true >= 0.5 on observed pairs (Y_mask) only",
    }


def _write_label_stats(data: Data, run_dir: Path) -> None:
    from features.openmic import label_statistics

    stats = label_statistics(
        data.ds, {"train": data.fit_idx, "validation": data.val_idx, "test": data.test_idx}
    )
    stats = stats[stats["instrument"].isin(data.classes)]
    atomic_write(run_dir / "label_stats.csv", lambda tmp: stats.to_csv(tmp, index=False))


def print_summary(run_dir: Path, models: dict[str, dict[str, Any]]) -> None:
    import pandas as pd

    metrics = pd.read_csv(run_dir / "metrics.csv")
    macro = metrics[metrics["instrument"] == "macro"]
    rows = []
    for name, info in models.items():
        row = {"model": name}
        for metric, label in (("f1_posneg", "macro F1 (pos/neg)"), ("roc_auc", "ROC AUC"), ("ap", "mAP")):
            hit = macro[(macro["model"] == name) & (macro["metric"] == metric)]
            if len(hit):
                r = hit.iloc[0]
                row[label] = f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        row["train s"] = f"{info['train_time_s']:.1f}" + (" (cached)" if info["reused_from_cache"] else "")
        rows.append(row)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


def main(argv: list[str] | None = None) -> int:
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
