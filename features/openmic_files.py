"""The files of an OpenMIC-2018 folder: their names and layout, and one reader for each.

Each reader checks what it reads and raises `DatasetError` naming the file and the fix;
`features.openmic.load` puts their results together. The release's layout::

    openmic-2018/
      openmic-2018.npz            X (n, 10, 128) VGGish codes 0..255, Y_true, Y_mask, sample_key
      class-map.json              class name -> column
      openmic-2018-metadata.csv   sample_key, artist_id, ... (41 columns)
      partitions/split01_train.csv, split01_test.csv   (or train01.txt, test01.txt)
      audio/NNN/<sample_key>.ogg
      demo.json                   only in a generated demo set
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DatasetError

CLASSES: tuple[str, ...] = (
    "accordion", "banjo", "bass", "cello", "clarinet", "cymbals", "drums", "flute", "guitar",
    "mallet_percussion", "mandolin", "organ", "piano", "saxophone", "synthesizer", "trombone",
    "trumpet", "ukulele", "violin", "voice",
)  # fmt: skip
DATASET_DIRNAME = "openmic-2018"
NPZ_NAME = "openmic-2018.npz"
CLASS_MAP_NAME = "class-map.json"
METADATA_NAME = "openmic-2018-metadata.csv"
DEMO_NAME = "demo.json"
# The first name is the one shipped; the second is the one the archive's README gives.
PARTITION_NAMES = {
    "train": ("split01_train.csv", "train01.txt"),
    "test": ("split01_test.csv", "test01.txt"),
}
N_FRAMES = 10  # VGGish rows per clip, one per 0.96 s
N_EMBEDDING = 128
UNOBSERVED_VALUE = 0.5
FIX_HINT = (
    "re-download it with `python compare.py --download` (or features.download.download_openmic)"
)


def resolve_root(root: Path) -> Path:
    """`root` itself, or its ``openmic-2018`` subfolder when that holds the npz."""
    if not (root / NPZ_NAME).is_file() and (root / DATASET_DIRNAME / NPZ_NAME).is_file():
        return root / DATASET_DIRNAME
    if not root.is_dir():
        raise DatasetError(
            f"no OpenMIC-2018 folder at {root}: download it with `python compare.py --download`"
        )
    return root


def read_json(path: Path) -> object:
    """A JSON file's content; missing or unreadable is a DatasetError."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"missing {path}: {FIX_HINT}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"cannot read {path} ({err}): {FIX_HINT}") from err


def read_class_map(path: Path) -> tuple[str, ...]:
    mapping = read_json(path)
    columns = list(mapping.values()) if isinstance(mapping, dict) else []
    if (
        not columns
        or not all(type(c) is int for c in columns)
        or sorted(columns) != list(range(len(columns)))
    ):
        raise DatasetError(
            f"{path} must map each class name to a distinct column 0..n-1: {FIX_HINT}"
        )
    classes = tuple(sorted(mapping, key=mapping.__getitem__))
    if classes != CLASSES:
        raise DatasetError(
            f"{path} lists classes {classes}, expected the 20 OpenMIC classes {CLASSES}: {FIX_HINT}"
        )
    return classes


_NPZ_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, KeyError)


def npz_array(path: Path, name: str, *, allow_pickle: bool = False) -> np.ndarray:
    """One array of an npz file; a missing, corrupt or pickled member is a DatasetError."""
    try:
        npz = np.load(path, allow_pickle=allow_pickle)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DatasetError(f"{path} is not an .npz archive: {FIX_HINT}")
        with npz:
            if name not in npz.files:
                raise DatasetError(
                    f"{path} has no array {name!r} (it holds {npz.files}): {FIX_HINT}"
                )
            return npz[name]
    except FileNotFoundError:
        raise DatasetError(f"missing {path}: {FIX_HINT}") from None
    except DatasetError:
        raise
    except _NPZ_READ_ERRORS as err:
        raise DatasetError(
            f"cannot read array {name!r} of {path}, the file looks truncated or corrupt ({err}): {FIX_HINT}"
        ) from err


def read_npz(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, Y_true, Y_mask = (npz_array(path, name) for name in ("X", "Y_true", "Y_mask"))
    keys = npz_array(path, "sample_key", allow_pickle=True)

    def bad(what: str) -> DatasetError:
        return DatasetError(f"{path}: {what}: {FIX_HINT}")

    if keys.ndim != 1 or not (
        keys.dtype.kind == "U" or all(isinstance(k, str) for k in keys.tolist())
    ):
        raise bad(
            f"sample_key must be a 1-d array of str, got shape {keys.shape} dtype {keys.dtype}"
        )
    keys = keys.astype(str)
    n = len(keys)
    if len(np.unique(keys)) != n:
        raise bad("sample_key holds duplicate keys")
    if X.ndim != 3 or X.shape != (n, N_FRAMES, N_EMBEDDING) or X.dtype.kind not in "iu":
        raise bad(
            f"X must be integer (n={n}, {N_FRAMES}, {N_EMBEDDING}), got shape {X.shape} dtype {X.dtype}"
        )
    if X.size and (X.min() < 0 or X.max() > 255):
        raise bad(f"X values must lie in 0..255, got {X.min()}..{X.max()}")
    if Y_true.shape != (n, n_classes) or Y_true.dtype.kind != "f":
        raise bad(
            f"Y_true must be float (n={n}, {n_classes}), got shape {Y_true.shape} dtype {Y_true.dtype}"
        )
    if Y_mask.shape != (n, n_classes) or Y_mask.dtype != np.bool_:
        raise bad(
            f"Y_mask must be bool (n={n}, {n_classes}), got shape {Y_mask.shape} dtype {Y_mask.dtype}"
        )
    if not np.all((Y_true >= 0.0) & (Y_true <= 1.0)):
        raise bad("Y_true must lie in [0, 1] (NaN or out-of-range values found)")
    if np.any(Y_true[~Y_mask] != UNOBSERVED_VALUE):
        raise bad(
            f"Y_true must be exactly {UNOBSERVED_VALUE} where Y_mask is False (unobserved pairs look imputed)"
        )
    if np.any(keys[1:] < keys[:-1]):  # the release is sorted; restore the order if a writer was not
        order = np.argsort(keys, kind="stable")
        keys, X, Y_true, Y_mask = keys[order], X[order], Y_true[order], Y_mask[order]
    return keys, X, Y_true, Y_mask


def find_partition(folder: Path, part: str) -> Path:
    for name in PARTITION_NAMES[part]:
        if (folder / name).is_file():
            return folder / name
    names = " or ".join(PARTITION_NAMES[part])
    raise DatasetError(f"missing {folder}/{names}: {FIX_HINT}")


def read_partitions(folder: Path, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    indices = {}
    for part in PARTITION_NAMES:
        path = find_partition(folder, part)
        try:
            part_keys = np.array(
                [
                    s
                    for s in (
                        line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                    )
                    if s
                ]
            )
        except (OSError, UnicodeDecodeError) as err:
            raise DatasetError(f"cannot read {path} ({err}): {FIX_HINT}") from err
        if len(np.unique(part_keys)) != len(part_keys):
            raise DatasetError(f"{path} lists some sample keys twice: {FIX_HINT}")
        idx = np.searchsorted(keys, part_keys)
        found = (idx < len(keys)) & (keys[np.minimum(idx, len(keys) - 1)] == part_keys)
        if not found.all():
            missing = part_keys[~found]
            raise DatasetError(
                f"{path} lists {len(missing)} sample keys absent from {NPZ_NAME} "
                f"(first: {str(missing[0])!r}): {FIX_HINT}"
            )
        indices[part] = (path, np.sort(idx).astype(np.int64))
    (train_path, train), (test_path, test) = indices["train"], indices["test"]
    both = np.intersect1d(train, test)
    if both.size:
        raise DatasetError(
            f"{train_path} and {test_path} share {both.size} sample keys "
            f"(first: {str(keys[both[0]])!r}); the split must be disjoint: {FIX_HINT}"
        )
    return train, test


def read_artist_ids(path: Path, keys: np.ndarray) -> np.ndarray:
    try:
        meta = pd.read_csv(path, usecols=["sample_key", "artist_id"], dtype={"sample_key": str})
        artist = pd.to_numeric(meta["artist_id"], errors="raise")
    except FileNotFoundError:
        raise DatasetError(f"missing {path}: {FIX_HINT}") from None
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DatasetError(
            f"cannot read columns sample_key, artist_id of {path} ({err}): {FIX_HINT}"
        ) from err
    if np.any(artist.dropna() % 1 != 0):
        raise DatasetError(f"{path}: artist_id must hold integers: {FIX_HINT}")
    by_key = pd.Series(artist.fillna(-1).to_numpy(), index=meta["sample_key"])
    by_key = by_key[~by_key.index.duplicated()]
    return by_key.reindex(keys).fillna(-1).to_numpy().astype(np.int64)


def read_demo(path: Path) -> dict | None:
    if not path.is_file():
        return None
    demo = read_json(path)
    if not isinstance(demo, dict):
        raise DatasetError(
            f"{path} must hold a JSON object; regenerate the demo set with `python -m features.demo`"
        )
    return demo
