"""Audio and datasets in, arrays out: OpenMIC loading, the VGGish chain, the CNN's log-mel, caching."""

from features.errors import DatasetError, ParameterError

__all__ = ["DatasetError", "ParameterError"]
