"""Files the package writes: atomic writes, and JSON that strict readers accept.

A crash or Ctrl-C mid-write leaves the old file, never half a new one.

One helper for the whole package (checkpoints, training logs, result tables, tuned tables):
write a temporary file in the same directory, flush it to disk, then ``os.replace`` it over the
target (atomic on POSIX and Windows), and make the rename itself durable.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask (e.g. 0o644)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then move it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, default_file_mode())   # mkstemp makes 0600; give the usual rw-r--r--
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())       # the bytes are on disk before the name points at them
        os.replace(tmp, path)          # atomic: the old file or the new one, never half
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def json_safe(value: Any) -> Any:
    """``value`` with every NaN float as None: strict JSON (RFC 8259) has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["atomic_write", "atomic_write_text", "default_file_mode", "json_safe"]
