"""Writing files so that a crash never leaves one that looks finished.

Every file the package writes (model files, scores, reports, tables) goes
through :func:`atomic_output`: the content is written to a temporary name in
the target's folder, flushed to disk, and renamed over the target only when
complete. A reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .exceptions import DataError


def _normal_permissions() -> int:
    # mkstemp makes files readable by their owner only; a finished file gets what open() would have given it
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path, *, suffix: str = ".partial", error: type[Exception] = DataError):
    """Yield a temporary path next to ``path``; rename it to ``path`` if the block completes.

    On any exception (or interruption) the temporary file is removed and
    ``path`` is left as it was. ``error`` is the exception raised, naming
    the file, when the target's folder does not exist.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise error(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    try:
        os.fchmod(handle, _normal_permissions())
        os.close(handle)
        yield Path(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
