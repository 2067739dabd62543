"""``hear:features.musicnn.hear`` through the generic HEAR path against the built-in musicnn.

The toolkit's musicnn implements the HEAR API (`features.musicnn.hear`). Given to the generic
``"hear"`` extractor it must give the built-in ``"musicnn"`` extractor's embedding of the same
layer (MTT_musicnn, penultimate, 3 patches of a 10 s clip): exactly when the generic path resamples
as musicnn's front end does (resampy ``kaiser_best``); with the generic default (``soxr_hq``) the
difference is that of the two resamplers, measured here and in the README.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import REAL_CLIP

from features.extract import extract_dataset
from features.hear import resolve_params


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The real OpenMIC clip (44.1 kHz stereo OGG) and 10 s of mono noise and chords at 22.05 kHz."""
    folder = tmp_path_factory.mktemp("clips")
    t = np.arange(22050 * 10) / 22050
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 330 * t * (1 + t / 20))
    y += 0.05 * np.random.default_rng(0).standard_normal(len(t))
    sf.write(folder / "tone.wav", y.astype(np.float32), 22050)
    return [REAL_CLIP, folder / "tone.wav"], ["000046_3840", "tone"]


def _both(clips, tmp_path, resampler):
    paths, keys = clips
    builtin = extract_dataset(paths, keys, "musicnn", tmp_path, n_jobs=1, progress=False)
    params = resolve_params("features.musicnn.hear", resampler=resampler)
    generic = extract_dataset(paths, keys, "hear", tmp_path, params=params, n_jobs=1, progress=False)
    assert builtin.ok.all() and generic.ok.all()
    assert generic.data.shape == builtin.data.shape == (2, 3, 200)
    return np.asarray(generic.data), np.asarray(builtin.data)


def test_generic_path_with_musicnns_resampler_equals_the_builtin_extraction(clips, tmp_path):
    generic, builtin = _both(clips, tmp_path, "kaiser_best")
    np.testing.assert_allclose(generic, builtin, rtol=0, atol=1e-6)


def test_generic_default_resampler_differs_by_the_resamplers_only(clips, tmp_path):
    generic, builtin = _both(clips, tmp_path, "soxr_hq")
    for g, b, key in zip(generic, builtin, clips[1], strict=True):
        diff = np.abs(g - b).max()
        corr = np.corrcoef(g.ravel(), b.ravel())[0, 1]
        print(f"{key}: max |soxr_hq - kaiser_best| = {diff:.4f} (of max |value| "
              f"{np.abs(b).max():.3f}), correlation {corr:.5f}")
        assert 0 < diff < 0.5 * np.abs(b).max()
        assert corr > 0.99
