"""The demo set's files, in OpenMIC-2018's layout: where each one goes and what it holds.

The layout is the release's (see `features.openmic` and docs/architecture.md): the clips as
``audio/NNN/<key>.ogg``, ``openmic-2018.npz`` (X, Y_true, Y_mask, sample_key), ``class-map.json``,
the split01 partitions, the 41-column metadata and the aggregated labels; the demo adds
``demo-stems.csv``, every instrument's level in every clip (the ground truth behind the labels).
Every file is written atomically, so a folder never holds half a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from core.atomic import atomic_write, atomic_write_json, atomic_write_text
from features.demo.labels import CrowdLabels
from features.demo.plan import ClipPlan
from features.openmic import CLASS_MAP_NAME, CLASSES, METADATA_NAME, NPZ_NAME

AGGREGATED_LABELS_NAME = "openmic-2018-aggregated-labels.csv"
STEMS_NAME = "demo-stems.csv"
# libvorbis shifts its whole input buffer after each encoded block, so one 10 s write costs
# O(n^2) copying (a third of the encoding time); blocks of this size avoid it.
OGG_WRITE_FRAMES = 8192
# The 41 columns of OpenMIC's openmic-2018-metadata.csv (FMA track metadata), in order.
METADATA_COLUMNS = (
    "track_id", "album_id", "album_title", "album_url", "artist_id", "artist_name", "artist_url",
    "artist_website", "license_image_file", "license_image_file_large", "license_parent_id",
    "license_title", "license_url", "tags", "track_bit_rate", "track_comments", "track_composer",
    "track_copyright_c", "track_copyright_p", "track_date_created", "track_date_recorded",
    "track_disc_number", "track_duration", "track_explicit", "track_explicit_notes",
    "track_favorites", "track_file", "track_genres", "track_image_file", "track_information",
    "track_instrumental", "track_interest", "track_language_code", "track_listens",
    "track_lyricist", "track_number", "track_publisher", "track_title", "track_url",
    "sample_key", "start_time",
)  # fmt: skip


def audio_path(root: Path, sample_key: str) -> Path:
    """Where OpenMIC keeps a clip: ``audio/NNN/<key>.ogg`` (NNN: the key's first 3 characters)."""
    return root / "audio" / sample_key[:3] / f"{sample_key}.ogg"


def write_ogg(path: Path, y: np.ndarray, sr: int) -> None:
    """Write audio as OGG Vorbis (libsndfile's default quality), in blocks of `OGG_WRITE_FRAMES`.

    Parameters
    ----------
    path : Path
    y : np.ndarray [shape=(n_channels, n_samples)]
        Audio in librosa layout.
    sr : int
        Sampling rate in Hz.
    """
    frames = np.ascontiguousarray(y.T)
    with sf.SoundFile(path, "w", sr, frames.shape[1], format="OGG", subtype="VORBIS") as f:
        for start in range(0, len(frames), OGG_WRITE_FRAMES):
            f.write(frames[start : start + OGG_WRITE_FRAMES])


def is_complete(root: Path, n_clips: int) -> bool:
    """True when `root` holds a readable npz of `n_clips` keys and an audio file for each."""
    try:
        with np.load(root / NPZ_NAME, allow_pickle=True) as npz:
            keys = npz["sample_key"]
    except (OSError, KeyError, ValueError):
        return False
    return len(keys) == n_clips and all(audio_path(root, str(k)).is_file() for k in keys)


def write_dataset(
    root: Path,
    plan: list[ClipPlan],
    records: list[dict],
    X: np.ndarray,
    labels: CrowdLabels,
    is_test: np.ndarray,
) -> None:
    """Write every file of the set except the audio (already there) and ``demo.json``.

    Parameters
    ----------
    root : Path
        The folder being built.
    plan : list of ClipPlan
        The clips, in sample-key order.
    records : list of dict
        Per clip, in the order of `plan`: ``"sample_key"`` and ``"stems"`` (one dict per
        instrument, the rows of ``demo-stems.csv``).
    X : np.ndarray [shape=(n_clips, 10, 128)], values 0..255
    labels : CrowdLabels
        Y_true, Y_mask [shape=(n_clips, 20)] and the number of responses per observed label.
    is_test : np.ndarray [shape=(n_clips,), dtype=bool]
        Clips of split01's test partition.
    """
    keys = np.array([c.sample_key for c in plan], dtype=object)

    def save_npz(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(
                f, X=X.astype(np.int64), Y_true=labels.Y_true, Y_mask=labels.Y_mask, sample_key=keys
            )

    atomic_write(root / NPZ_NAME, save_npz)
    atomic_write_json(root / CLASS_MAP_NAME, {c: i for i, c in enumerate(CLASSES)}, indent=4)
    (root / "partitions").mkdir(exist_ok=True)
    for name, rows in (("split01_train.csv", ~is_test), ("split01_test.csv", is_test)):
        atomic_write_text(root / "partitions" / name, "".join(f"{k}\n" for k in keys[rows]))
    atomic_write(root / METADATA_NAME, lambda tmp: _metadata(plan).to_csv(tmp, index=False))
    atomic_write(
        root / AGGREGATED_LABELS_NAME,
        lambda tmp: _aggregated_labels(keys, labels).to_csv(tmp, index=False),
    )
    stems = pd.DataFrame(
        [{"sample_key": r["sample_key"], **s} for r in records for s in r["stems"]]
    )
    atomic_write(root / STEMS_NAME, lambda tmp: stems.to_csv(tmp, index=False))


def _metadata(plan: list[ClipPlan]) -> pd.DataFrame:
    meta = pd.DataFrame(index=range(len(plan)), columns=list(METADATA_COLUMNS), dtype=object)
    meta["track_id"] = [c.track_id for c in plan]
    meta["artist_id"] = [c.artist.artist_id for c in plan]
    meta["artist_name"] = [f"Demo artist {c.artist.artist_id}" for c in plan]
    meta["track_title"] = [f"Demo track {c.track_id}" for c in plan]
    meta["sample_key"] = [c.sample_key for c in plan]
    meta["start_time"] = [c.start_ms / 1000 for c in plan]
    return meta


def _aggregated_labels(keys: np.ndarray, labels: CrowdLabels) -> pd.DataFrame:
    rows, cols = np.nonzero(labels.Y_mask)
    return pd.DataFrame(
        {
            "sample_key": keys[rows],
            "instrument": np.asarray(CLASSES)[cols],
            "relevance": labels.Y_true[rows, cols],
            "num_responses": labels.num_responses[rows, cols],
        }
    )
