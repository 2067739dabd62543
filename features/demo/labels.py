"""Crowd-like partial labels for the demo set, from the instruments really present in each clip.

Per clip, `labels_per_clip` (clip, instrument) pairs are "asked about": each present instrument
with probability ``min(OBSERVE_PRESENT_MAX, OPENMIC_POSITIVE_SHARE * labels_per_clip / m)``
(``m``: mean instruments per clip), so that at OpenMIC's density of about 2 labels per clip the
positive share is OpenMIC's 43 %; the rest of the asked pairs are absent instruments drawn at
random. At larger densities the share of positives is lower (about 22 % at 10 per clip). A
fraction `FLIP_RATE` of the observed labels is wrong, as crowd labels are. Relevances: yes in
[0.75, 1], no in [0, 0.25]; unobserved pairs are 0.5 and unmasked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import ParameterError

OPENMIC_POSITIVE_SHARE = 0.43  # 17,614 of 41,268 observed labels
OBSERVE_PRESENT_MAX = 0.9  # even at high density, some present instruments go unasked
FLIP_RATE = 0.02
UNOBSERVED = 0.5
YES_RANGE, NO_RANGE = (0.75, 1.0), (0.0, 0.25)
SURE_SHARE = 0.35  # share of labels whose annotators all agreed (relevance exactly 1 or 0)
NUM_RESPONSES = (1, 2, 3, 4, 5)
NUM_RESPONSES_P = (0.1, 0.2, 0.4, 0.2, 0.1)


@dataclass(frozen=True)
class CrowdLabels:
    """Partial labels of n clips over c classes."""

    Y_true: np.ndarray  # (n, c) float64, 0.5 where unobserved
    Y_mask: np.ndarray  # (n, c) bool
    num_responses: np.ndarray  # (n, c) int64, 0 where unobserved
    flipped: np.ndarray  # (n, c) bool, observed labels that contradict the audio

    def statistics(self, present: np.ndarray) -> dict[str, float | int]:
        """Observed density, positive share, flip count and recall of present instruments."""
        observed = int(self.Y_mask.sum())
        positive = int((self.Y_mask & (self.Y_true >= UNOBSERVED)).sum())
        return {
            "observed": observed,
            "observed_per_clip": observed / len(self.Y_mask),
            "positive": positive,
            "positive_share": positive / max(observed, 1),
            "flipped": int(self.flipped.sum()),
            "flipped_share": int(self.flipped.sum()) / max(observed, 1),
            "present_observed_share": float(self.Y_mask[present].mean()) if present.any() else 0.0,
            "instruments_per_clip": float(present.sum(axis=1).mean()),
        }


def crowd_labels(present: np.ndarray, *, labels_per_clip: int, seed: int) -> CrowdLabels:
    """Draw partial, slightly noisy labels for clips whose true instruments are known.

    Parameters
    ----------
    present : np.ndarray [shape=(n_clips, n_classes), dtype=bool]
        Which instruments each clip really contains.
    labels_per_clip : int
        Observed (asked) pairs per clip, 1..n_classes.
    seed : int
        Seed of every random draw.

    Returns
    -------
    CrowdLabels
    """
    present = np.asarray(present, dtype=bool)
    n, c = present.shape
    if not 1 <= labels_per_clip <= c:
        raise ParameterError(
            f"labels_per_clip must be in 1..{c}, given labels_per_clip={labels_per_clip}"
        )
    rng = np.random.default_rng(seed)
    mean_present = max(float(present.sum(axis=1).mean()), 1.0)
    p_ask = min(OBSERVE_PRESENT_MAX, OPENMIC_POSITIVE_SHARE * labels_per_clip / mean_present)
    mask = np.zeros((n, c), dtype=bool)
    for i in range(n):
        asked = np.flatnonzero(present[i] & (rng.random(c) < p_ask))
        asked = rng.permutation(asked)[:labels_per_clip]
        absent = np.flatnonzero(~present[i])
        n_absent = min(labels_per_clip - len(asked), len(absent))
        mask[i, asked] = True
        mask[i, rng.choice(absent, size=n_absent, replace=False)] = True
    flipped = mask & (rng.random((n, c)) < FLIP_RATE)
    says_yes = present ^ flipped
    sure = rng.random((n, c)) < SURE_SHARE
    yes = np.where(sure, YES_RANGE[1], rng.uniform(*YES_RANGE, size=(n, c)))
    no = np.where(sure, NO_RANGE[0], rng.uniform(*NO_RANGE, size=(n, c)))
    y_true = np.where(mask, np.where(says_yes, yes, no), UNOBSERVED)
    responses = rng.choice(NUM_RESPONSES, size=(n, c), p=NUM_RESPONSES_P)
    return CrowdLabels(
        Y_true=y_true.astype(np.float64),
        Y_mask=mask,
        num_responses=np.where(mask, responses, 0).astype(np.int64),
        flipped=flipped,
    )
