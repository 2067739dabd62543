"""Versions of the installed libraries, recorded beside everything the toolkit saves.

One helper serves the run record (``run.json``), the saved models' metadata and the feature
caches' manifests, so that all of them name libraries the same way (by their pip names).
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata

# The libraries a run of compare.py depends on, in the order run.json lists them.
RUN_LIBRARIES = (
    "numpy", "scipy", "scikit-learn", "xgboost", "tensorflow", "keras", "librosa",
    "soundfile", "pandas", "joblib", "seaborn", "matplotlib", "jinja2",
)
# The default install ships CPU-only builds under other pip names (pyproject.toml, README);
# a GPU install replaces them with the plain names.
_DISTRIBUTIONS = {
    "xgboost": ("xgboost", "xgboost-cpu"),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
}


def library_versions(names: Iterable[str] | None = None) -> dict[str, str]:
    """The Python version and the installed version of each named library.

    Parameters
    ----------
    names : iterable of str, optional
        pip names of the libraries, e.g. ``("numpy", "xgboost")``; default `RUN_LIBRARIES`.
        ``xgboost`` and ``tensorflow`` are also found under their CPU builds' names
        (``xgboost-cpu``, ``tensorflow-cpu``).

    Returns
    -------
    dict of str to str
        ``{"python": "3.11.9", name: version, ...}`` in the order given; a library that is not
        installed is left out.

    Examples
    --------
    >>> library_versions(["numpy"])  # doctest: +SKIP
    {'python': '3.11.9', 'numpy': '2.1.3'}
    """
    versions = {"python": platform.python_version()}
    for name in RUN_LIBRARIES if names is None else names:
        version = _installed_version(name)
        if version is not None:
            versions[name] = version
    return versions


def _installed_version(name: str) -> str | None:
    for distribution in _DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None
