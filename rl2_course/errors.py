"""Errors that mean "the request was wrong", as opposed to a bug in the course.

The CLI prints these as one line and exits with status 2; anything else is a bug and keeps
its traceback.
"""


from __future__ import annotations

import tempfile
from pathlib import Path


class UsageError(ValueError):
    """Bad input from the user: a wrong size, an unknown agent, a missing or foreign checkpoint."""


def writable_directory(path: str | Path, option: str = "--out") -> Path:
    """Create ``path`` if needed and prove a file can be written there, before any long work.

    Refuses a path that is a file, lies under a file, or is not writable, with a one-line
    `UsageError` that names ``option`` (the CLI option that gave the path) and the path.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(f"cannot write to {option} {path}: {err.strerror or err}") from None
    return path
