"""The two exception types of the toolkit.

`ParameterError` is raised for a bad argument (its message shows the offending value);
`DatasetError` for a bad file on disk (its message names the file and what to do about it).
Both derive from `ValueError`, so callers that catch `ValueError` see them too.
"""


class ParameterError(ValueError):
    """A function was called with an argument it cannot handle."""


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or inconsistent."""
