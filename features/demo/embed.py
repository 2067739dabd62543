"""The demo set's `X`: the VGGish chain where its weights are present, else a named stand-in.

The stand-in works on the same VGGish log-mel examples (`features.vggish.waveform_to_examples`,
96 frames x 64 bands per 0.96 s): per example, the mean and the standard deviation over time of
each of the 64 log-mel bands (128 values), standardised with fixed constants and quantised
exactly like the released embeddings (clip to [-2, 2], then ``(z + 2) * 255 / 4`` truncated to
uint8). It is deterministic and needs no weights, but it is *not* VGGish and is never called so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from features import vggish_params as p
from features.vggish import waveform_to_examples

STAND_IN_NAME = "stand-in: log-mel band mean+std, quantised like VGGish"
STAND_IN_DESCRIPTION = (
    "per 0.96 s VGGish log-mel example (64 bands), the mean and the standard deviation over its "
    "96 frames of each band (128 values), standardised with fixed constants "
    "((mean - {m0}) / {m1}, (std - {s0}) / {s1}), clipped to [-2, 2] and quantised to 0..255 as "
    "VGGish's PCA output is; computed from the decoded OGG with the {resampler} resampler"
)
VGGISH_NAME = "VGGish (toolkit chain, official weights)"
# Fixed standardisation of the stand-in, measured once on demo audio (log-mel units, ln scale):
# band means have median -0.05 and 1st-99th percentiles -3.2..2.4; deviations median 0.7 and
# 5th-95th percentiles 0.34..1.63. About 1 % of values reach the clipping at +-2.
BAND_MEAN_CENTER, BAND_MEAN_SCALE = -0.1, 1.3
BAND_STD_CENTER, BAND_STD_SCALE = 0.85, 0.45
STAND_IN_RESAMPLER = "soxr_hq"  # 100x faster than kaiser_best; values differ by ~0.005


def quantize(z: np.ndarray) -> np.ndarray:
    """Clip to [-2, 2] and map to 0..255 as VGGish's post-processing does (truncating)."""
    z = np.clip(z, p.QUANTIZE_MIN_VAL, p.QUANTIZE_MAX_VAL)
    scale = 255.0 / (p.QUANTIZE_MAX_VAL - p.QUANTIZE_MIN_VAL)
    return ((z - p.QUANTIZE_MIN_VAL) * scale).astype(np.uint8)


def stand_in_embedding(y: np.ndarray, sr: int) -> np.ndarray:
    """The stand-in embedding of a waveform.

    Parameters
    ----------
    y : np.ndarray [shape=(n_samples,) or (n_channels, n_samples)]
        Audio in librosa layout.
    sr : int
        Sampling rate in Hz.

    Returns
    -------
    rows : np.ndarray [shape=(n_examples, 128), dtype=uint8]
        One row per 0.96 s (10 for a 10 s clip): 64 band means, then 64 band deviations.

    Examples
    --------
    >>> y = np.random.default_rng(0).uniform(-1, 1, size=(2, 441000))
    >>> stand_in_embedding(y, 44100).shape
    (10, 128)
    """
    y = np.asarray(y)
    if y.ndim == 2 and 1 < y.shape[0] <= y.shape[1]:
        y = _channel_mean(y)  # what `waveform_to_examples` would do, without its slow axis-0 mean
    examples = waveform_to_examples(y, sr, resampler=STAND_IN_RESAMPLER)
    z_mean = (examples.mean(axis=1) - BAND_MEAN_CENTER) / BAND_MEAN_SCALE
    z_std = (examples.std(axis=1) - BAND_STD_CENTER) / BAND_STD_SCALE
    return quantize(np.concatenate([z_mean, z_std], axis=1))


def _channel_mean(y: np.ndarray) -> np.ndarray:
    """Float64 mean of the rows of `y` (channels, samples), bit for bit ``y.mean(axis=0)``."""
    mono = y[0].astype(np.float64)
    for channel in y[1:]:
        mono += channel
    mono /= len(y)
    return mono


def embedding_info(vggish: bool) -> dict[str, str]:
    """Name and plain-words description of the embedding, for demo.json and reports."""
    if vggish:
        return {
            "name": VGGISH_NAME,
            "description": "features.vggish_model.embed_file on each OGG clip, as OpenMIC's X was made",
        }
    description = STAND_IN_DESCRIPTION.format(
        m0=BAND_MEAN_CENTER,
        m1=BAND_MEAN_SCALE,
        s0=BAND_STD_CENTER,
        s1=BAND_STD_SCALE,
        resampler=STAND_IN_RESAMPLER,
    )
    return {"name": STAND_IN_NAME, "description": description, "resampler": STAND_IN_RESAMPLER}


def vggish_weights_present() -> bool:
    """True where the official VGGish weights are in the toolkit's cache (nothing is downloaded).

    The cheap folder test first avoids importing Keras (seconds) where they cannot be present.
    """
    cache = Path(os.environ.get(p.CACHE_ENV_VAR, "~/.cache/openmic-compare")).expanduser()
    if not (cache / "vggish").is_dir():
        return False
    try:
        from features.vggish_model import fetch_weights
    except ImportError:
        return False
    from core.errors import DatasetError

    try:
        fetch_weights(download=False)
    except DatasetError:
        return False
    return True


def vggish_embed_files(paths: list[Path]) -> np.ndarray:
    """VGGish rows of each file with the official weights.

    Returns
    -------
    X : np.ndarray [shape=(len(paths), 10, 128), dtype=uint8]
    """
    from features.vggish_model import VGGish

    vggish = VGGish.pretrained(download=False)
    return np.stack([fit_rows(vggish.embed_file(path)) for path in paths])


def fit_rows(rows: np.ndarray, n_rows: int = 10) -> np.ndarray:
    """Exactly `n_rows` rows: extra rows dropped, missing ones repeated from the last."""
    if len(rows) >= n_rows:
        return rows[:n_rows]
    return np.concatenate([rows, np.repeat(rows[-1:], n_rows - len(rows), axis=0)])
