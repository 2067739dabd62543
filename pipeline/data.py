"""The run's data: the dataset folder (found, downloaded or generated), loaded and checked.

`load_data` gives the `Data` every model sees: the dataset, the selected instruments, the split
and the networks' adaptive hold-out, and a key of their content (part of every model's cache key).
`check_data` lists the dataset's problems before any training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cache import fingerprint
from pipeline.settings import Settings, SettingsError

log = logging.getLogger("compare")

OPENMIC_SIZES = (20000, 5085)  # clips in the release, clips in split01_test


def dataset_source(ds) -> str:
    """"demo", "openmic" (the full release, where published numbers apply) or "custom"."""
    if ds.demo:
        return "demo"
    return "openmic" if (len(ds.sample_key), len(ds.test_idx)) == OPENMIC_SIZES else "custom"


def embedding_name(ds) -> str:
    """The embedding in the dataset's ``X``, in plain words (what the demo set says it used)."""
    if not ds.demo:
        if dataset_source(ds) == "openmic":
            return "VGGish (OpenMIC-2018 release, PCA-whitened, 8-bit)"
        return "X of openmic-2018.npz (embedding not recorded; VGGish if made like the release)"
    embedding = ds.demo.get("embedding", "unknown")
    return str(embedding.get("name", embedding)) if isinstance(embedding, dict) else str(embedding)



def found_dataset() -> tuple[Path, str] | None:
    """The dataset folder found without being told: $OPENMIC_ROOT, else ./openmic-2018; or None.

    Returns (folder, how it was found).
    """
    for candidate, why in (
        (os.environ.get("OPENMIC_ROOT"), "$OPENMIC_ROOT"),
        ("openmic-2018", "./openmic-2018"),
    ):
        if candidate and Path(candidate).is_dir():
            return Path(candidate), f"dataset found at {why} = {candidate}"
    return None


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
        found = found_dataset()
        if found is not None:
            return found
    return make_demo_set(s)


def check_data_folder(s: Settings) -> Path:
    """The ``--data`` folder; a SettingsError with the ways forward when it is not a folder."""
    root = Path(s.data).expanduser()
    if not root.is_dir():
        raise SettingsError(
            f"--data {root} is not a folder. Point it at the unpacked openmic-2018 folder, "
            "fetch the dataset with --download, or try the toolkit on the demo set with --demo."
        )
    return root


def make_demo_set(s: Settings) -> tuple[Path, str]:
    """Generate (or reuse) the synthetic demo set; returns (folder, what it is in plain words)."""
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
    """Columns of the selected instruments (``--instruments``, default all) in `classes`."""
    wanted = s.instruments or classes
    return [classes.index(name) for name in wanted]


# The networks' hold-out (early stopping, thresholds) grows from the first share to the last until
# every selected instrument has this many observed labels in it; below that the run warns.
HOLDOUT_FRACTIONS = (0.15, 0.2, 0.25, 0.3)
MIN_HOLDOUT_OBSERVED = 20


@dataclasses.dataclass
class Data:
    """What every model sees: the dataset, the class subset and the index sets.

    The classical models use all of ``ds.train_idx`` (cross-validated selection); the networks
    train on ``fit_idx`` and stop early on the hold-out ``val_idx`` (both carved from train_idx,
    grouped by artist). ``holdout`` records the hold-out's share and its warnings.
    ``key`` is the fingerprint of the dataset's content and the split: part of every model's key.
    """

    ds: Any
    cols: list[int]
    fit_idx: Any
    val_idx: Any
    test_idx: Any
    key: str
    holdout: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def train_idx(self):
        return self.ds.train_idx

    @property
    def embedding(self) -> str:
        return embedding_name(self.ds)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.ds.classes[c] for c in self.cols)

    def labels(self, idx):
        """(Y_true, Y_mask) of rows `idx`, selected classes only: (len(idx), n_selected) each."""
        return self.ds.Y_true[idx][:, self.cols], self.ds.Y_mask[idx][:, self.cols]


def load_data(root: Path, s: Settings) -> Data:
    """Load the dataset at `root`, check that it can be trained and tested on, carve the hold-out.

    Raises
    ------
    SettingsError
        For an empty split, or a split without any observed label of the selected instruments.
    """
    from features import openmic

    ds = openmic.load(root)
    cols = class_selection(s, ds.classes)
    check_splits(ds, cols, root)
    fit_idx, val_idx, holdout = holdout_split(ds, cols, s.seed)
    # Every array a model sees, by content: a changed file never reuses a stale model, and the same
    # dataset elsewhere (moved, copied) reuses every model. Audio-based features add their own
    # identity (`features.extract.FeatureCache.identity`) to the keys of the models they train.
    content = hashlib.sha256()
    for array in (ds.sample_key.astype(str), ds.X, ds.Y_true, ds.Y_mask, ds.train_idx, ds.test_idx,
                  ds.artist_id):
        content.update(np.ascontiguousarray(array).tobytes())
    key = fingerprint(content.hexdigest(), fit_idx.tolist(), val_idx.tolist())
    return Data(ds=ds, cols=cols, fit_idx=fit_idx, val_idx=val_idx, test_idx=ds.test_idx, key=key,
                holdout=holdout)


def check_splits(ds, cols: list[int], root: Path) -> None:
    """A SettingsError naming the split and the fix when there is nothing to train or test on."""
    names = [ds.classes[c] for c in cols]
    for split, rows in (("split01_train", ds.train_idx), ("split01_test", ds.test_idx)):
        if len(rows) == 0:
            raise SettingsError(
                f"{root / 'partitions' / (split + '.csv')} lists no clip of the dataset: "
                "nothing to train or test on. Restore the partition file from the release."
            )
        if not ds.Y_mask[np.ix_(rows, cols)].any():
            raise SettingsError(
                f"{split} has no observed label for the selected instruments ({', '.join(names)}): "
                "nothing to learn or score. Choose other --instruments or check Y_mask in "
                f"{root / 'openmic-2018.npz'}."
            )


def holdout_split(ds, cols: list[int], seed: int) -> tuple[Any, Any, dict[str, Any]]:
    """The networks' artist-grouped hold-out, large enough for every selected instrument.

    Tries the shares in `HOLDOUT_FRACTIONS` in order and keeps the first whose hold-out holds at
    least `MIN_HOLDOUT_OBSERVED` observed labels of every selected instrument; otherwise the last,
    with a warning that names the instruments short of it.

    Returns
    -------
    fit_idx, val_idx : np.ndarray
    holdout : dict
        ``fraction``, ``min_observed`` (the least observed labels of an instrument in it),
        ``warnings`` (list of str; the caller logs them when a network is trained).
    """
    for fraction in HOLDOUT_FRACTIONS:
        fit_idx, val_idx = ds.validation_split(fraction=fraction, seed=seed)
        observed = ds.Y_mask[np.ix_(val_idx, cols)].sum(axis=0)
        if observed.min() >= MIN_HOLDOUT_OBSERVED:
            break
    short = [ds.classes[c] for c, n in zip(cols, observed, strict=True) if n < MIN_HOLDOUT_OBSERVED]
    warnings = []
    if short:
        warnings.append(
            f"the networks' hold-out ({len(val_idx)} clips, {fraction:.0%} of train) has fewer than "
            f"{MIN_HOLDOUT_OBSERVED} observed labels for: {', '.join(short)}; their early stopping "
            "and thresholds rest on little evidence"
        )
    return fit_idx, val_idx, {"fraction": fraction, "n_clips": len(val_idx),
                              "min_observed": int(observed.min()), "warnings": warnings}


def check_data(data: Data, s: Settings, run_dir: Path, *, needs_audio: bool):
    """Find the dataset's problems before any training; write ``data_problems.csv``.

    Audio missing, unreadable, empty or not 10 s long, and the release's known corrupt clips
    (`features.problems.find_data_problems`) are logged (the first 10 and the count) and written
    to the run folder (columns key, split, problem).

    Raises
    ------
    SettingsError
        When a model that needs audio is selected and the dataset has no audio file at all.
    """
    from core.atomic import atomic_write
    from features.problems import audio_available, find_data_problems

    ds = data.ds
    if needs_audio and audio_available(ds) == 0:
        raise SettingsError(
            f"{ds.root / 'audio'} holds no audio file of the dataset, and the CNN and the musicnn "
            "embedding need audio. Train the classical models on the dataset's own embedding "
            "only with --models lr,xgb,rf --embeddings release, or fetch the full release (with "
            "its audio) with --download."
        )
    problems = find_data_problems(ds, n_jobs=s.jobs)
    atomic_write(run_dir / "data_problems.csv", lambda tmp: problems.to_csv(tmp, index=False))
    if len(problems):
        first = ", ".join(f"{k} ({p})" for k, p in zip(problems["key"][:10], problems["problem"][:10],
                                                      strict=True))
        log.warning("Data problems in %d clip(s), listed in data_problems.csv; first: %s%s",
                    problems["key"].nunique(), first, " ..." if len(problems) > 10 else "")
    return problems
