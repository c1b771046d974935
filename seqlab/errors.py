"""The project's exceptions. User-facing errors say what, where, and the fix, in one line."""

from __future__ import annotations

__all__ = ["SeqlabError", "DataError", "ConfigError", "CheckpointError"]


class SeqlabError(Exception):
    """Base class: the CLI prints ``ClassName: message`` on one line and exits 2, no traceback."""


class DataError(SeqlabError, ValueError):
    """Bad input data. ``DataError("expected 3 columns", file="reviews.tsv", line=1832)`` renders as
    ``reviews.tsv:1832: expected 3 columns``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        self.file = file
        self.line = line
        self.reason = message
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        super().__init__(where + message)


class ConfigError(SeqlabError, ValueError):
    """A configuration key or value that cannot be used (unknown dotted key, wrong type, bad range)."""


class CheckpointError(SeqlabError):
    """A checkpoint that is missing, malformed, tampered with, or not a safetensors + JSON pair."""
