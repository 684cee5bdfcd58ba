"""Writing a file so that it is either the complete new file or untouched: write a temporary file beside it, then
rename it over the target (atomic on POSIX and Windows). Ctrl-C or a crash mid-write leaves no half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

# Results and styles are meant to be shared: readable by everyone, writable by the owner (mkstemp makes 0600).
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_write(path: str) -> Iterator[str]:
    """Yield a temporary path in path's folder (created if missing) to write to; on success it replaces path."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:  # KeyboardInterrupt too: the target stays as it was
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
