"""What a feature cache holds, in 16 hex digits (`features.extract.FeatureCache.identity`)."""

from __future__ import annotations

import hashlib
import json


def feature_identity(extractor: str, params: dict, audio_identity: str) -> str:
    """`FeatureCache.identity`: 16 hex digits over the extractor, its parameters and the audio.

    A view of a cache (one layer of "musicnn_layers") names what it holds with the extractor and
    parameters that would compute it alone, and keeps the audio's identity.
    """
    blob = json.dumps([extractor, params, audio_identity], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
