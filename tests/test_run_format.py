"""The run.json format: what the pipeline writes is what `compare.py tag` reads (one definition)."""

from __future__ import annotations

import json

import pytest

from pipeline.facts import toolkit_info
from tagging.inputs import RunFolderError
from tagging.models import read_run


def _write_run(folder, run_format):
    folder.mkdir()
    toolkit = {**toolkit_info(), "run_format": run_format}
    (folder / "run.json").write_text(json.dumps({"toolkit": toolkit, "models": {}}))
    return folder


def test_the_format_the_pipeline_writes_is_the_one_tagging_reads(tmp_path):
    written = toolkit_info()["run_format"]
    assert isinstance(written, int) and written >= 2  # 2: the first format with model inputs
    run = read_run(_write_run(tmp_path / "now", written))
    assert run["toolkit"]["run_format"] == written
    with pytest.raises(RunFolderError, match=rf"run format {written - 1}, tagging needs {written}"):
        read_run(_write_run(tmp_path / "older", written - 1))
    with pytest.raises(RunFolderError, match=rf"run format {written + 1}, newer than this toolkit "
                                             rf"reads \({written}\)"):
        read_run(_write_run(tmp_path / "newer", written + 1))
