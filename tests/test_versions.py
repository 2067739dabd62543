"""core.versions: one record of library versions for run.json, saved models and feature caches."""

from __future__ import annotations

import platform

import numpy as np
import pandas as pd

from core.versions import RUN_LIBRARIES, library_versions


def test_python_first_then_each_library_in_the_order_asked():
    versions = library_versions(["pandas", "numpy"])
    assert list(versions) == ["python", "pandas", "numpy"]
    assert versions["python"] == platform.python_version()
    assert versions["pandas"] == pd.__version__ and versions["numpy"] == np.__version__


def test_the_cpu_build_counts_as_the_library():
    import xgboost  # installed as xgboost-cpu by default (pyproject.toml)

    assert library_versions(["xgboost"]) == {"python": platform.python_version(),
                                             "xgboost": xgboost.__version__}


def test_a_library_not_installed_is_left_out():
    assert library_versions(["no-such-library-anywhere"]) == {"python": platform.python_version()}


def test_default_covers_every_library_of_a_run():
    assert list(library_versions()) == ["python", *RUN_LIBRARIES]
