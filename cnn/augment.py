"""Training-time augmentation of log-mel batches, in numpy with an explicit random generator.

Each transform takes a batch ``x`` of shape ``(batch, n_mels, n_frames)`` float32 (raw log-mel,
before the model's standardisation) and a `numpy.random.Generator`, so a batch's augmentation is
a pure function of its seed: training is reproducible whatever the tf.data threading.

The mixup label rule (`mixup_labels`) -- for class k, clips a and b mixed with weight lam:

==========================  ===================================  ==========
a's label                   b's label                            mix
==========================  ===================================  ==========
observed ``t_a``            observed ``t_b``                     ``lam * t_a + (1 - lam) * t_b``
observed positive ``t_a``   unobserved                           ``t_a`` (positive)
observed negative           unobserved                           unobserved
unobserved                  unobserved                           unobserved
==========================  ===================================  ==========

and symmetrically for b. "Positive" means ``t >= 0.5`` (`core.targets.is_positive`). A present instrument stays audible in
the mix whatever the other clip holds, so the mix is positive; an absent one may be present in
the other clip, so nothing is known. When both are observed the targets are interpolated
(standard mixup). Soft targets follow the same table with the confidences.
"""

from __future__ import annotations

import numpy as np

from cnn.config import LOGMEL_PER_DB, CNNConfig
from cnn.losses import split_targets
from core.targets import is_positive


def random_crop(x: np.ndarray, n_frames: int | None, rng: np.random.Generator) -> np.ndarray:
    """A random window of `n_frames` frames per clip (the whole clip when None or longer)."""
    total = x.shape[-1]
    if n_frames is None or n_frames >= total:
        return x
    starts = rng.integers(0, total - n_frames + 1, size=len(x))
    return np.stack([clip[:, s : s + n_frames] for clip, s in zip(x, starts, strict=True)])


def random_gain(x: np.ndarray, gain_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add a level offset uniform in [-gain_db, gain_db] dB per clip (log-mel units converted)."""
    if gain_db <= 0:
        return x
    offsets = rng.uniform(-gain_db, gain_db, size=(len(x), 1, 1)) * LOGMEL_PER_DB
    return (x + offsets).astype(x.dtype)


def mixup_labels(
    t_a: np.ndarray, m_a: np.ndarray, t_b: np.ndarray, m_b: np.ndarray, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and mask of mixed clips (the rule in the module docstring).

    Parameters
    ----------
    t_a, t_b : np.ndarray [shape=(batch, n_classes)]
        Targets of the two clips (hard or soft; any value where unobserved).
    m_a, m_b : np.ndarray [shape=(batch, n_classes)]
        Masks, bool or 0/1.
    lam : np.ndarray [shape=(batch,)]
        Weight of clip a in the mix.

    Returns
    -------
    targets : np.ndarray [shape=(batch, n_classes)]
        0 where the mix is unobserved.
    mask : np.ndarray [shape=(batch, n_classes)] bool
    """
    m_a, m_b = np.asarray(m_a).astype(bool), np.asarray(m_b).astype(bool)
    lam = np.asarray(lam, dtype=np.float64)[:, None]
    both = m_a & m_b
    only_a_pos = m_a & ~m_b & is_positive(t_a)
    only_b_pos = m_b & ~m_a & is_positive(t_b)
    targets = np.where(both, lam * t_a + (1 - lam) * t_b, 0.0)
    targets = np.where(only_a_pos, t_a, targets)
    targets = np.where(only_b_pos, t_b, targets)
    return targets, both | only_a_pos | only_b_pos


def mixup(
    x: np.ndarray, packed: np.ndarray, alpha: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mix each clip with a random partner of the batch, weight ~ Beta(alpha, alpha).

    The log-mel values are interpolated linearly, the labels by `mixup_labels`.

    Parameters
    ----------
    x : np.ndarray [shape=(batch, n_mels, n_frames)]
    packed : np.ndarray [shape=(batch, 2 * n_classes)]
        Targets and mask (`cnn.losses.pack_targets`).
    alpha : float
        0 switches mixup off.
    """
    if alpha <= 0 or len(x) < 2:
        return x, packed
    partner = rng.permutation(len(x))
    lam = rng.beta(alpha, alpha, size=len(x))
    mixed = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner]
    t, m = split_targets(packed)
    targets, mask = mixup_labels(t, m, t[partner], m[partner], lam)
    new_packed = np.concatenate([targets, mask], axis=1).astype(packed.dtype)
    return mixed.astype(x.dtype), new_packed


def spec_augment(
    x: np.ndarray,
    fill: np.ndarray,
    rng: np.random.Generator,
    *,
    time_masks: int,
    time_mask_frames: int,
    freq_masks: int,
    freq_mask_bands: int,
) -> np.ndarray:
    """SpecAugment-style masking: bands of frames and of mel bins set to `fill`.

    Parameters
    ----------
    fill : np.ndarray [shape=(n_mels,)]
        Value per mel band written into the masks (the training mean: zero after
        standardisation).
    time_masks, freq_masks : int
        Masks per clip; each has a width uniform in [0, time_mask_frames] or
        [0, freq_mask_bands] and a uniform position.
    """
    x = x.copy()
    n_mels, n_frames = x.shape[1:]
    column = np.asarray(fill, dtype=x.dtype)[:, None]
    for clip in x:
        for _ in range(time_masks):
            w = int(rng.integers(0, min(time_mask_frames, n_frames) + 1))
            s = int(rng.integers(0, n_frames - w + 1))
            clip[:, s : s + w] = column
        for _ in range(freq_masks):
            h = int(rng.integers(0, min(freq_mask_bands, n_mels) + 1))
            s = int(rng.integers(0, n_mels - h + 1))
            clip[s : s + h, :] = column[s : s + h]
    return x


def augment_batch(
    x: np.ndarray, packed: np.ndarray, config: CNNConfig, fill: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Crop, gain, mixup, then masking, each as switched on in `config`."""
    x = random_crop(x, config.train_frames, rng)
    x = random_gain(x, config.gain_db, rng)
    x, packed = mixup(x, packed, config.mixup_alpha, rng)
    if config.time_masks or config.freq_masks:
        x = spec_augment(x, fill, rng, time_masks=config.time_masks,
                         time_mask_frames=config.time_mask_frames, freq_masks=config.freq_masks,
                         freq_mask_bands=config.freq_mask_bands)
    return x, packed
