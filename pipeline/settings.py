"""Every setting of a run of compare.py: one dataclass, read from flags over a TOML file.

The command-line parser lives in compare.py; this module holds the settings themselves, their
TOML form (``settings.toml`` in the run folder, reusable with ``--config``) and their validation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pipeline.embeddings import DEFAULT_EMBEDDINGS, EMBEDDING_NAMES

MODEL_NAMES = ("lr", "xgb", "rf", "cnn", "musicnn-ft")
# musicnn-ft is on request (--models lr,xgb,rf,cnn,musicnn-ft). Its head mode would fit the default
# budget: on the 500-clip demo set its stage (then a second musicnn extraction, of the max_pool
# layer, about 0.27 CPU s per clip, and the head's training) took 94 s beside the 265 s of the rest
# of a fresh default run. Its max_pool rows now come from the run's one musicnn pass per clip
# (pipeline.embeddings.musicnn_cache), so what it adds is mostly the head's training.
DEFAULT_MODELS = ("lr", "xgb", "rf", "cnn")
FT_MODES = ("head", "full")
CLASSICAL_MODELS = ("lr", "xgb", "rf")
NETWORK_MODELS = ("cnn", "musicnn-ft")  # trained on the fit part, early-stopped on the hold-out
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
    models: tuple[str, ...] = DEFAULT_MODELS
    embeddings: tuple[str, ...] = DEFAULT_EMBEDDINGS
    cv_folds: int = 5
    instruments: tuple[str, ...] | None = None
    quick: bool = False
    epochs: int | None = None
    seed: int = 0
    jobs: int = -1
    out: str | None = None
    no_cache: bool = False
    cache_dir: str = str(DEFAULT_CACHE)
    dask: str | None = None
    ft_mode: str = "head"
    ft_epochs: int | None = None

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


def settings_from(flags: dict[str, Any], config_file: str | None = None) -> Settings:
    """Settings from command-line `flags` over the TOML `config_file` over the defaults.

    Parameters
    ----------
    flags : dict of str to value
        The flags given, by setting name (``demo_size``, not ``--demo-size``).
    config_file : str, optional
        A TOML file with any of the settings.

    Raises
    ------
    SettingsError
        For an unreadable config file, an unknown setting or an invalid value, before any work.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_read_config(Path(config_file)))
    values.update(flags)
    names = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SettingsError(
            f"unknown setting(s) {unknown} in {config_file}; valid ones: {', '.join(sorted(names))}"
        )
    for key in ("models", "instruments", "embeddings"):
        if values.get(key) is not None:
            values[key] = _split_list(values[key], key)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _split_list(value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    items = tuple(str(v).strip() for v in items if str(v).strip())
    if not items:
        raise SettingsError(f"--{what} is empty")
    return items


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
    bad = [e for e in s.embeddings if e not in EMBEDDING_NAMES]
    if bad:
        raise SettingsError(
            f"unknown embedding(s) {bad}; valid embeddings: {', '.join(EMBEDDING_NAMES)}"
        )
    if s.cv_folds < 2:
        raise SettingsError(f"--cv-folds must be at least 2, given {s.cv_folds}")
    if s.ft_mode not in FT_MODES:
        raise SettingsError(f"--ft-mode must be one of {', '.join(FT_MODES)}, given {s.ft_mode!r}")
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
    if s.ft_epochs is not None and s.ft_epochs < 1:
        raise SettingsError(f"--ft-epochs must be at least 1, given {s.ft_epochs}")
    if s.jobs == 0:
        raise SettingsError("--jobs 0 is not a number of processes; use -1 for all cores")
    if s.dask is not None:
        from pipeline.cluster import parse_dask

        parse_dask(s.dask)
