"""features.problems on small OpenMIC-layout folders whose audio files are really broken."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from audio_files import REAL_CLIP, write_cut, write_tone

from core.errors import ParameterError
from features import openmic
from features.problems import (
    BATCH_SIZE,
    ERRATA,
    audio_available,
    check_audio,
    find_data_problems,
)

ERRATA_TEST_KEY = "095259_180480"  # in split01_test and in the release's errata


def _break(ds: openmic.OpenMIC) -> dict[str, str]:
    """Damage clips 1..5 of a folder built with copied audio: key of each fault."""
    cut, empty, seven, gone, garbage = (Path(p) for p in ds.audio_path[1:6])
    write_cut(cut, 0.5)
    empty.write_bytes(b"")
    write_tone(seven, 7.32)
    gone.unlink()
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    names = ("cut", "empty", "seven", "gone", "garbage")
    return {name: str(ds.sample_key[i + 1]) for i, name in enumerate(names)}


@pytest.fixture
def broken(openmic_factory) -> tuple[openmic.OpenMIC, dict[str, str]]:
    ds = openmic.load(openmic_factory(n_clips=12, audio="copy"))
    return ds, _break(ds)


def _split_from_partition_files(root: Path) -> dict[str, str]:
    return {
        key: split
        for split, name in (("train", "split01_train.csv"), ("test", "split01_test.csv"))
        for key in (root / "partitions" / name).read_text().split()
    }


def _decoded_duration(path: Path) -> str:
    y, sr = sf.read(path)
    return f"duration {len(y) / sr:.3f} s, expected 10.000 s"


def test_each_problem_once_by_key_with_its_split(broken):
    ds, bad = broken
    problems = find_data_problems(ds, n_jobs=2, progress=False)
    split = _split_from_partition_files(ds.root)
    cut_path = ds.root / "audio" / bad["cut"][:3] / f"{bad['cut']}.ogg"
    expected = pd.DataFrame(
        sorted([
            (bad["cut"], split[bad["cut"]], _decoded_duration(cut_path)),
            (bad["empty"], split[bad["empty"]], "empty"),
            (bad["seven"], split[bad["seven"]], "duration 7.320 s, expected 10.000 s"),
            (bad["gone"], split[bad["gone"]], "audio file missing"),
            (bad["garbage"], split[bad["garbage"]], "unreadable: format not recognised"),
        ]),
        columns=["key", "split", "problem"],
    )  # fmt: skip
    pd.testing.assert_frame_equal(problems, expected)
    assert float(problems.set_index("key").loc[bad["cut"], "problem"].split()[1]) < 9.99


def test_decoding_finds_the_same_problems(broken):
    ds, _ = broken
    pd.testing.assert_frame_equal(
        find_data_problems(ds, decode=True, progress=False), find_data_problems(ds, progress=False)
    )


def test_errata_key_is_reported_beside_its_audio_problem(broken):
    ds, bad = broken
    row = int(ds.test_idx[0])
    keys = ds.sample_key.copy()
    keys[row] = ERRATA_TEST_KEY
    write_tone(Path(ds.audio_path[row]), 7.32)  # the errata clip is short as well
    errata_ds = dataclasses.replace(ds, sample_key=keys)
    problems = find_data_problems(errata_ds, progress=False)
    assert problems[problems["key"] == ERRATA_TEST_KEY].values.tolist() == [
        [ERRATA_TEST_KEY, "test", "duration 7.320 s, expected 10.000 s"],
        [ERRATA_TEST_KEY, "test", ERRATA],
    ]
    assert len(problems) == len(bad) + 2
    assert list(problems["key"]) == sorted(problems["key"])
    # A generated demo set invents its track ids: the errata do not apply to it.
    demo_ds = dataclasses.replace(errata_ds, demo={"synthetic": True})
    demo = find_data_problems(demo_ds, progress=False)
    assert ERRATA not in set(demo["problem"]) and len(demo) == len(bad) + 1


def test_rows_restrict_the_check(broken):
    ds, bad = broken
    row = int(np.flatnonzero(ds.sample_key == bad["empty"])[0])
    problems = find_data_problems(ds, rows=np.array([0, row]), progress=False)
    assert problems[["key", "problem"]].values.tolist() == [[bad["empty"], "empty"]]
    assert find_data_problems(ds, rows=np.array([0]), progress=False).empty
    with pytest.raises(ParameterError, match="rows"):
        find_data_problems(ds, rows=np.array([0.5]), progress=False)


def test_clean_dataset_has_no_problems_and_is_not_modified(openmic_factory):
    root = openmic_factory(n_clips=8, audio="copy")
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}
    ds = openmic.load(root)
    problems = find_data_problems(ds, decode=True, n_jobs=2, progress=False)
    assert problems.empty and list(problems.columns) == ["key", "split", "problem"]
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")} == before


def test_audio_available_counts_existing_files(broken, openmic_factory):
    ds, _ = broken
    assert audio_available(ds) == len(ds.sample_key) - 1  # one deleted; the empty one exists
    assert audio_available(openmic.load(openmic_factory("no-audio", n_clips=8, audio=None))) == 0


def test_check_audio_keeps_order_across_batches(tmp_path):
    n = 2 * BATCH_SIZE + 3
    paths = [REAL_CLIP if i % 3 else tmp_path / f"{i}.ogg" for i in range(n)]
    keys = [f"k{i}" for i in range(n)]
    expected = {f"k{i}": "audio file missing" for i in range(0, n, 3)}
    assert check_audio(paths, keys, n_jobs=2) == expected
    assert check_audio(paths, keys, n_jobs=1) == expected


def test_check_audio_accepts_the_real_clip_and_checks_lengths():
    assert check_audio([REAL_CLIP], ["000046_3840"], decode=True) == {}
    with pytest.raises(ParameterError, match="given 1 paths and 2 keys"):
        check_audio([REAL_CLIP], ["000046_3840", "x"])


def test_a_file_the_system_refuses_stops_the_check(broken):
    ds, _ = broken
    locked = Path(ds.audio_path[0])
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("this process may read any file (root with CAP_DAC_OVERRIDE)")
    with pytest.raises(PermissionError):
        find_data_problems(ds, progress=False)
