"""Writing files so that a crash never leaves one that looks finished.

Every file the package writes (model files, scores, reports, tables) goes
through :func:`atomic_output`: the content is written to a temporary name in
the target's folder, flushed to disk, and renamed over the target only when
complete. A reader sees the old file or the new one, never half of one.

The temporary name carries the writer's process id (``.scores.csv.<pid>.<random>.partial``):
a writer killed outright (SIGKILL, power loss) cannot remove its file, so the next
writer of the same target removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
import threading
from pathlib import Path

from .exceptions import DataError


def _normal_permissions() -> int:
    # mkstemp makes files readable by their owner only; a finished file gets what open() would have given it
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


@contextlib.contextmanager
def _signals_held():
    """Hold SIGTERM and SIGINT (where the platform can) while a temporary file is created and named.

    Python runs a signal's handler between two steps of the program: one that raises (SIGTERM under the
    command line, Ctrl-C) right after ``mkstemp`` made the file but before its name was bound would leave the
    file behind. Held, the signal is delivered when the block ends, inside the writer's cleanup.
    """
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def remove_own_partials(path, *, every_output_in_folder: bool = False) -> list[Path]:
    """Remove the temporary files (or folders) of ``path`` that this process made (any suffix of this module).

    With ``every_output_in_folder``, ``path`` is a folder and those of every output in it are removed.
    The command line calls it when a SIGTERM or Ctrl-C ends a command: a signal can land in the instant
    between a writer's creation of its temporary file and the start of the block that would remove it.
    """
    path = Path(path)
    folder = path if every_output_in_folder else (path.parent if str(path.parent) else Path("."))
    name = r"\.[^/]+\." if every_output_in_folder else re.escape(f".{path.name}.")
    pattern = re.compile(name + re.escape(f"{os.getpid()}.") + r"[A-Za-z0-9_]+\.(partial|tmp)$")
    return _remove_matching(folder, lambda match: True, pattern)


def remove_stale_partials(path, *, suffix: str = ".partial") -> list[Path]:
    """Remove the temporary files (or folders) left next to ``path`` by writers of it that were killed.

    Only names of this module's pattern for ``path`` whose process no longer runs are removed,
    so a concurrent writer's file is left alone. Returns what was removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[A-Za-z0-9_]+" + re.escape(suffix) + "$")
    def stale(match) -> bool:
        pid = int(match.group(1))
        return pid != os.getpid() and _process_is_gone(pid)

    return _remove_matching(folder, stale, pattern)


def _remove_matching(folder: Path, accept, pattern) -> list[Path]:
    """Remove the entries of ``folder`` whose name ``pattern`` matches and ``accept(match)`` accepts (files,
    or folders with their content); what cannot be listed or removed is left. Returns what was removed."""
    import shutil

    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match and accept(match):
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
    return removed


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
    remove_stale_partials(path, suffix=suffix)
    temporary = None
    try:
        with _signals_held():  # a SIGTERM or Ctrl-C arriving now is handled once the name is known
            handle, temporary = tempfile.mkstemp(prefix=_temporary_prefix(path), suffix=suffix, dir=folder)
            os.fchmod(handle, _normal_permissions())
            os.close(handle)
        yield Path(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise
