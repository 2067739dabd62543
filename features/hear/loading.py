"""Import a HEAR 2021 module, check that it implements the API, load its model once per process.

Every failure is a `HearError` whose message says what to do: install the module or one of its
dependencies, give the weights file (``hear:MODULE:WEIGHTS_PATH``) when the module cannot download
it, or use a module that implements the API. The identity of an embedding (`identity`) is what
makes its features reproducible: the module's name and version, a hash of its source file and of
the weights file; it goes into the feature cache's key and into ``run.json``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from core.errors import ParameterError

PREFIX = "hear:"
REQUIRED_FUNCTIONS = ("load_model", "get_scene_embeddings")
TIMESTAMP_FUNCTION = "get_timestamp_embeddings"
# Exception names that mean a download failed (urllib, requests, urllib3, huggingface_hub, ...).
_DOWNLOAD_ERROR_WORDS = ("Connection", "URLError", "HTTP", "Timeout", "Offline", "EntryNotFound")
_API = (
    "the HEAR 2021 API: load_model(model_file_path=''), get_scene_embeddings(audio, model), "
    "get_timestamp_embeddings(audio, model), and a model with sample_rate, scene_embedding_size "
    "and timestamp_embedding_size"
)


class HearError(ParameterError):
    """A HEAR module cannot be used as an embedding; the message says what to do."""


def parse_spec(spec: str) -> tuple[str, str]:
    """``"hear:MODULE[:WEIGHTS_PATH]"`` -> ``(MODULE, WEIGHTS_PATH or "")``.

    Raises
    ------
    HearError
        Not of that form, or MODULE is not a dotted Python name.

    Examples
    --------
    >>> parse_spec("hear:hear21passt.base:/models/passt.pt")
    ('hear21passt.base', '/models/passt.pt')
    """
    if not spec.startswith(PREFIX):
        raise HearError(f"a HEAR embedding is hear:MODULE[:WEIGHTS_PATH], given {spec!r}")
    module, _, weights = spec[len(PREFIX):].partition(":")
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise HearError(
            f"a HEAR embedding is hear:MODULE[:WEIGHTS_PATH] with MODULE an importable Python "
            f"module (e.g. hear:hear21passt.base), given {spec!r}"
        )
    return module, weights


def import_module(name: str) -> ModuleType:
    """Import the module `name`, checking that it has the HEAR functions."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        missing = err.name or ""
        if name == missing or name.startswith(missing + "."):
            raise HearError(
                f"no module named {name!r} can be imported: install the package that provides it "
                f"(pip install hear21passt for hear21passt.base, pip install panns-hear for "
                f"panns_hear; see the README, 'Bring your own embedding'), or put its folder on "
                f"PYTHONPATH"
            ) from None
        raise HearError(
            f"the HEAR module {name!r} needs the module {missing!r}, which is not installed: "
            f"install the package that provides it (e.g. pip install {missing.split('.')[0]})"
        ) from None
    except Exception as err:  # a module's own import error: say which module and why
        raise HearError(f"importing the HEAR module {name!r} failed: {type(err).__name__}: {err}") \
            from None
    missing = [f for f in REQUIRED_FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise HearError(
            f"{name} does not implement {_API}: it has no {', '.join(missing)}. Give a module that "
            "does (for a package, the submodule with these functions, e.g. hear21passt.base)"
        )
    return module


def check_model(name: str, model: Any, has_timestamps: bool) -> None:
    """The model's HEAR attributes: positive integer sizes and sample rate."""
    wanted = ["sample_rate", "scene_embedding_size"]
    if has_timestamps:
        wanted.append("timestamp_embedding_size")
    bad = [a for a in wanted if not _positive_int(getattr(model, a, None))]
    if bad:
        shown = ", ".join(f"{a}={getattr(model, a, '(missing)')!r}" for a in bad)
        raise HearError(
            f"{name}.load_model() returned a model without {_API}: {shown} (each must be a "
            "positive integer)"
        )


def _positive_int(value: Any) -> bool:
    try:
        return int(value) == value and int(value) > 0
    except (TypeError, ValueError):
        return False


@lru_cache(maxsize=4)
def load(name: str, weights: str = "") -> tuple[ModuleType, Any]:
    """The module `name` and its model, loaded once per process (each extraction worker too).

    Parameters
    ----------
    name : str
        An importable module implementing the HEAR 2021 API.
    weights : str
        Passed to ``load_model`` as ``model_file_path``; "" lets the module use its default
        (which may download the weights).

    Returns
    -------
    module, model

    Raises
    ------
    HearError
        The module is missing or does not implement the API, the weights file is missing, or
        ``load_model`` fails (a failed download says where to put the weights instead).
    """
    module = import_module(name)
    if weights and not Path(weights).exists():
        raise HearError(
            f"the weights file {weights} given for {name} (hear:{name}:{weights}) does not exist: "
            "give the path of the downloaded weights file"
        )
    try:
        model = module.load_model(weights) if weights else module.load_model()
    except Exception as err:
        raise _load_error(name, weights, err) from None
    check_model(name, model, callable(getattr(module, TIMESTAMP_FUNCTION, None)))
    return module, model


def _load_error(name: str, weights: str, err: Exception) -> HearError:
    what = f"{name}.load_model({weights!r}) failed ({type(err).__name__}: {err})"
    if _is_download_error(err):
        return HearError(
            f"{what}: it needs its weights, and could not read or download them (this machine may "
            f"be offline). Download the weights file where you are online (the module's README "
            f"says from where; see also this toolkit's README, 'Bring your own embedding') and "
            f"give its path: --embeddings hear:{name}:/path/to/weights; or run the module once "
            "online so that it caches them, then copy its cache here"
        )
    return HearError(f"{what}: check the module's installation and its weights")


def _is_download_error(err: BaseException) -> bool:
    """Whether `err` (or what caused it) is an I/O or network error: weights not at hand."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        names = [c.__name__ for c in type(err).__mro__]
        if isinstance(err, OSError) or any(w in n for n in names for w in _DOWNLOAD_ERROR_WORDS):
            return True
        err = err.__cause__ or err.__context__
    return False


@lru_cache(maxsize=8)
def identity(name: str, weights: str = "") -> dict[str, Any]:
    """What identifies the embedding's values: the module, its version, source and weights.

    Returns
    -------
    dict
        ``module``; ``version`` (of the installed distribution that provides the module, else
        its ``__version__``, else None); ``source_sha256`` (of the module's file; None for a
        module without one); ``weights`` (the path given, "" for the module's default) and
        ``weights_sha256`` (of the file, or of every file of a folder; "" for the default).
    """
    module = import_module(name)
    source = getattr(module, "__file__", None)
    return {
        "module": name,
        "version": _version(module),
        "source_sha256": _sha256_file(Path(source)) if source else None,
        "weights": str(Path(weights).resolve()) if weights else "",
        "weights_sha256": _sha256_path(Path(weights)) if weights else "",
    }


def check_identity(recorded: dict[str, Any]) -> None:
    """The module and weights here must be those `recorded` (a run's embedding parameters).

    Raises
    ------
    HearError
        Naming what differs (version, source, weights) and what to do.
    """
    weights = recorded.get("weights", "")
    if weights and not Path(weights).exists():
        raise HearError(
            f"the weights file {weights} of the HEAR module {recorded['module']} (SHA-256 "
            f"{recorded.get('weights_sha256')}) is not there: put that file at that path"
        )
    here = identity(recorded["module"], weights)
    differ = [k for k in ("version", "source_sha256", "weights_sha256") if here[k] != recorded.get(k)]
    if differ:
        shown = "; ".join(f"{k}: run {recorded.get(k)!r}, here {here[k]!r}" for k in differ)
        raise HearError(
            f"the HEAR module {recorded['module']} here is not the one the run's models were "
            f"trained with ({shown}): install that version and its weights, or train again "
            "with this one"
        )


def _version(module: ModuleType) -> str | None:
    top = module.__name__.split(".")[0]
    for dist in importlib.metadata.packages_distributions().get(top, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    version = getattr(module, "__version__", None)
    return None if version is None else str(version)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_path(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (relative names and contents, sorted)."""
    if path.is_file():
        return _sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_sha256_file(file)}\n".encode())
    return digest.hexdigest()
