"""Data problems found before any training: missing, empty, unreadable, truncated and errata clips.

`find_data_problems(ds)` checks every clip of an OpenMIC-layout dataset from its file header
(`features.audio.probe_audio`, no decoding) and against the release's errata
(`features.openmic.known_corrupt`), and returns one row per problem: a table to show, log or save
before a run spends its time on clips it cannot use. `check_audio` is the same audio check for
any list of files; `audio_available` counts the audio files that exist at all, for a clear early
stop when a dataset folder came without its audio.

Speed (``python benchmarks/bench_problems.py /tmp/demo800``: an 800-clip demo set, files in the
page cache, a 2-core machine shared with other work): about 2,300 clips/s with ``n_jobs=1``, so
about 9 s for the 20,000 clips of the release (the same on 800 links to the real 10 s OGG clip).
``n_jobs=2`` was no faster there, the second core being busy; threads help most where the files
come from a cold disk. Decoding every clip (``decode=True``) runs at about 50 clips/s a core.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm.auto import tqdm

from core.errors import ParameterError
from features.audio import CLIP_DURATION_S, ClipError, load_audio, probe_audio
from features.openmic import OpenMIC, _check_rows, known_corrupt

ERRATA = "known corrupt in the release (errata)"
NO_SPLIT = "none"  # a clip listed in neither partition
COLUMNS = ("key", "split", "problem")
BATCH_SIZE = 128  # clips per parallel task: one header check is too short to be a task alone


def find_data_problems(
    ds: OpenMIC,
    *,
    rows: np.ndarray | None = None,
    n_jobs: int = 1,
    decode: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Every clip's audio and errata problems, one row per problem.

    Parameters
    ----------
    ds : OpenMIC
        A loaded dataset (`features.openmic.load`).
    rows : np.ndarray [shape=(m,), int] or None
        Row indices of the clips to check; None checks every clip.
    n_jobs : int
        joblib workers (threads); -1 uses all cores.
    decode : bool
        False: check the header (see `features.audio.probe_audio`). True: decode every clip as
        `features.audio.load_audio` does, about 50 times slower.
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    pandas.DataFrame
        Columns ``key``, ``split`` (``"train"``, ``"test"``, or ``"none"`` for a clip in neither
        partition) and ``problem`` in plain words: ``"audio file missing"``, ``"empty"``,
        ``"unreadable: <reason>"``, ``"duration 7.320 s, expected 10.000 s"`` or
        ``"known corrupt in the release (errata)"``. One row per problem (a clip may have two),
        sorted by key then problem; no rows when every clip is fine. The errata apply to real
        FMA track ids only, so a generated demo set (``ds.demo``) is not checked against them.

    Raises
    ------
    OSError
        An audio file exists but cannot be opened (permissions, I/O): fix the machine, not the data.

    Examples
    --------
    >>> problems = find_data_problems(load("openmic-2018"), n_jobs=-1)
    >>> problems.groupby("problem").size()
    """
    rows = _check_rows(rows, len(ds.sample_key))
    keys = ds.sample_key[rows].astype(str)
    audio = check_audio(ds.audio_path[rows], keys, n_jobs=n_jobs, decode=decode, progress=progress)
    records = list(audio.items())
    if ds.demo is None:  # a demo set's invented track ids may coincide with the errata's
        records += [(key, ERRATA) for key in keys[known_corrupt(keys)]]
    split = np.full(len(ds.sample_key), NO_SPLIT, dtype=object)
    split[ds.train_idx] = "train"
    split[ds.test_idx] = "test"
    split_of = dict(zip(keys, split[rows], strict=True))
    table = pd.DataFrame(
        [(key, split_of[key], problem) for key, problem in records], columns=list(COLUMNS)
    )
    return table.sort_values(["key", "problem"], ignore_index=True)


def check_audio(
    paths: Sequence[str | Path] | np.ndarray,
    keys: Sequence[str] | np.ndarray,
    *,
    n_jobs: int = 1,
    decode: bool = False,
    progress: bool = False,
) -> dict[str, str]:
    """Find missing, empty, unreadable and wrong-length clips, so audio stages can skip them by key.

    Parameters
    ----------
    paths : sequence of str or Path [shape=(n,)]
        Audio files, e.g. ``ds.audio_path``.
    keys : sequence of str [shape=(n,)]
        The sample key of each path.
    n_jobs : int
        joblib workers (threads preferred; the backend can be set by `joblib.parallel_config`).
    decode : bool
        False: read the header (`features.audio.probe_audio`, about 1 ms a clip; catches truncated
        OGG files). True: decode every clip and check the decoded length, as the release's
        ``verify_dataset.py`` does (`features.audio.load_audio`, about 20 ms a clip).
    progress : bool
        Show a tqdm bar on stderr.

    Returns
    -------
    dict
        ``key -> problem`` for bad clips only, the problem in plain words (`ClipError.problem`),
        10.000 s expected of every clip.

    Raises
    ------
    ParameterError
        `paths` and `keys` differ in length.
    OSError
        A file exists but cannot be opened.
    """
    if len(paths) != len(keys):
        raise ParameterError(
            f"paths and keys differ in length: given {len(paths)} paths and {len(keys)} keys"
        )
    paths = [Path(p) for p in paths]
    batches = [paths[i : i + BATCH_SIZE] for i in range(0, len(paths), BATCH_SIZE)]
    results = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
        delayed(_problems)(batch, decode) for batch in batches
    )
    problems: list[str | None] = []
    with tqdm(total=len(paths), disable=not progress, unit="clip", desc="checking audio") as bar:
        for batch in results:
            problems.extend(batch)
            bar.update(len(batch))
    return {
        str(key): problem
        for key, problem in zip(keys, problems, strict=True)
        if problem is not None
    }


def audio_available(ds: OpenMIC) -> int:
    """How many of the dataset's audio files exist (0: the folder came without its audio).

    Returns
    -------
    int
        Count of ``ds.audio_path`` entries that are files (a symlink counts when its target does).
    """
    return sum(Path(p).is_file() for p in ds.audio_path)


def _problems(paths: list[Path], decode: bool) -> list[str | None]:
    """The problem of each clip in plain words, None where it is fine."""
    check = load_audio if decode else probe_audio
    problems = []
    for path in paths:
        try:
            check(path, expected_duration_s=CLIP_DURATION_S)
            problems.append(None)
        except ClipError as err:
            problems.append(err.problem)
    return problems
