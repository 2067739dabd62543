"""Every setting of a run of compare.py: one dataclass, read from flags over a TOML file.

The command-line parser lives in compare.py; this module holds the settings themselves, their
TOML form (``settings.toml`` in the run folder, reusable with ``--config``) and their validation.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from core import registry

EMBEDDING_NAMES = registry.embedding_names()
DEFAULT_EMBEDDINGS = registry.embedding_names(default=True)

# The models come from the registry (core.registry), which says why musicnn-ft is on request.
MODEL_NAMES = registry.model_ids()
DEFAULT_MODELS = registry.model_ids(default=True)
FT_MODES = ("head", "full")
FT_MODEL = registry.BY_ID["musicnn-ft"].id
CLASSICAL_MODELS = registry.model_ids("classical")
NETWORK_MODELS = registry.model_ids("network")  # trained on the fit part, early-stopped on the hold-out
DEFAULT_CACHE = Path(os.environ.get("OPENMIC_COMPARE_CACHE", "~/.cache/openmic-compare")).expanduser()


LOCAL = "local"  # --dask local[:N]: worker processes on this machine


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
    seeds: int = 1
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
    bad = [e for e in s.embeddings if e not in EMBEDDING_NAMES and not e.startswith("hear:")]
    if bad:
        raise SettingsError(
            f"unknown embedding(s) {bad}; valid embeddings: {', '.join(EMBEDDING_NAMES)}, "
            "hear:MODULE[:WEIGHTS_PATH]"
        )
    _check_hear_specs(s.embeddings, EMBEDDING_NAMES)
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
    if s.seeds < 1:
        raise SettingsError(f"--seeds must be at least 1 (trainings of each network), given {s.seeds}")
    if s.jobs == 0:
        raise SettingsError("--jobs 0 is not a number of processes; use -1 for all cores")
    if s.dask is not None:
        parse_dask(s.dask)


def parse_dask(value: str) -> int | str:
    """The ``--dask`` setting: a number of local worker processes, or a scheduler address.

    Parameters
    ----------
    value : str
        ``"local"`` (one worker process per core), ``"local:N"`` (N >= 1) or a scheduler address
        ``tcp://host:port`` / ``tls://host:port``.

    Returns
    -------
    int or str
        The number of local workers, or the address as given.

    Raises
    ------
    SettingsError
        For any other value.
    """
    value = str(value)  # a TOML config may hold a number
    local = re.fullmatch(rf"{LOCAL}(?::(\d+))?", value)
    if local:
        n = int(local.group(1)) if local.group(1) is not None else os.cpu_count() or 1
        if n < 1:
            raise SettingsError(f"--dask {value}: a local cluster needs at least 1 worker")
        return n
    if re.fullmatch(r"(tcp|tls)://[^\s/:]+(:\d+)?", value):
        return value
    raise SettingsError(
        f"--dask must be 'local', 'local:N' (N worker processes on this machine) or a scheduler "
        f"address such as tcp://host:8786; given {value!r}"
    )


def _check_hear_specs(specs: tuple[str, ...], builtin: tuple[str, ...]) -> None:
    """The ``hear:`` entries of ``--embeddings`` are well formed and name distinct embeddings.

    Raises
    ------
    SettingsError
    """
    from features.hear.loading import HearError, parse_spec

    names = []
    for spec in (e for e in specs if e.startswith("hear:")):
        try:
            names.append(parse_spec(spec)[0])
        except HearError as err:
            raise SettingsError(str(err)) from None
    clash = sorted({n for n in names if names.count(n) > 1 or n in builtin})
    if clash:
        raise SettingsError(
            f"--embeddings names the HEAR module(s) {clash} twice or as a built-in embedding; "
            "each module is one embedding of a run: give it once (another weights file: another run)"
        )


def finetune_config(s: Settings, mode: str, *, seed: int | None = None):
    """The `cnn.FinetuneConfig` of a run: the mode's defaults, `seed` (default the run's); --quick
    trains 3 epochs; --ft-epochs sets the epochs of the run's own mode (not those of the head a
    full-mode run starts from)."""
    from cnn import FinetuneConfig

    seed = s.seed if seed is None else seed
    config = FinetuneConfig(seed=seed) if mode == "head" else FinetuneConfig.full(seed=seed)
    if s.quick:
        config = dataclasses.replace(config, epochs=3, patience=0)
    if s.ft_epochs is not None and mode == s.ft_mode:
        config = dataclasses.replace(config, epochs=s.ft_epochs)
    return config
