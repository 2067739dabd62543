"""The session's shared pipeline run (tests/conftest.py `pipeline_run`) and its cache folder.

The run was given ``--cache-dir`` while ``$OPENMIC_COMPARE_CACHE`` named a folder that does not
exist: every cache it reads or writes, the pretrained musicnn weights included, must be under
``--cache-dir``. (tests/test_e2e.py and tests/test_tag.py check the run's outputs.)
"""

from __future__ import annotations

import json

from conftest import DEMO_CLIPS, DEMO_SEED

from features.musicnn import params as musicnn_params


def test_every_cache_of_the_run_is_under_cache_dir_weights_included(pipeline_run):
    work, run, cache, result = pipeline_run
    # Nothing was read from or fetched into the folder the environment names.
    assert not (work / "no-such-cache").exists()
    # The musicnn networks were built (the embedding and musicnn-ft) from the weights under
    # --cache-dir, which is all the run had: they are a link to the checked weights.
    weights = cache / "musicnn" / musicnn_params.WHEEL_VERSION
    assert weights.is_symlink() and (weights / "MTT_musicnn").is_dir()
    info = json.loads((run / "run.json").read_text())
    assert "musicnn" in info["embeddings"] and "musicnn-ft" in info["models"]
    assert "Training musicnn-ft" in result.stderr
    features = {p.name.split("-")[0] for p in (cache / "features").iterdir()}
    assert {"logmel", "musicnn_layers"} <= features  # one musicnn pass for every layer
    assert (cache / "models").is_dir() and any((cache / "models").iterdir())
    # The demo set was found where the pipeline makes it in that cache (the session's copy).
    demo = cache / "demo" / f"openmic-demo-{DEMO_CLIPS}-seed{DEMO_SEED}"
    assert f"({DEMO_CLIPS} clips, reused) at {demo}" in result.stderr
