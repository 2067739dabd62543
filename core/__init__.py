"""What every package of the toolkit shares: its two error types, atomic writes, the target rule,
the masked metrics and the threshold search. It imports nothing else of the project."""

from core.errors import DatasetError, ParameterError

__all__ = ["DatasetError", "ParameterError"]
