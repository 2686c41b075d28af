"""One writer per output: an advisory lock file next to an output directory or file.

``render-dataset``, ``train``, ``export`` and ``reconstruct`` hold ``output_lock(out, ...)`` while
they write ``out``. A second process writing the same output gets one clear error
(``OutputLockedError``: which command, its pid, the lock file) instead of the two racing over the
same temporaries. The lock is ``fcntl.flock`` on a hidden sibling, ``PARENT/.NAME.lock``, so it
lives outside the output (nothing to clean up inside a data set, and it works before the output
exists); a process killed with ``kill -9`` releases it with its file descriptors (the file it
leaves is reused). Under ``torchrun`` every rank that writes takes its own lock (``tag``), so the
ranks of one launch do not lock each other out, while a second launch does.

Locks are advisory and local: they keep nirvis processes on one machine (or on a file system with
working ``flock``, e.g. local disks; NFS depends on its configuration) apart. Where ``fcntl`` is
missing (Windows) the lock is a no-op.

Example:
    >>> import tempfile, pathlib
    >>> from nirvis.output_lock import output_lock, OutputLockedError
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "ds"
    >>> with output_lock(out, "render-dataset"):
    ...     try:
    ...         with output_lock(out, "render-dataset"):
    ...             pass
    ...     except OutputLockedError as exc:
    ...         print("refused:", "another `nirvis render-dataset`" in str(exc))
    refused: True
    >>> sorted(p.name for p in out.parent.iterdir())  # the lock file is removed on release
    []
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union

from nirvis.atomic import write_errors
from nirvis.errors import OutputLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["output_lock", "lock_path", "OutputLockedError", "LOCK_SUFFIX"]

LOCK_SUFFIX = ".lock"


def lock_path(out: Union[str, os.PathLike], tag: str = "") -> Path:
    """The lock file of output ``out``: ``PARENT/.NAME[.TAG].lock``."""
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}{'.' + tag if tag else ''}{LOCK_SUFFIX}"


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return "pid unknown"
    return f"pid {text[0]}" if text else "pid unknown"


@contextlib.contextmanager
def output_lock(out: Union[str, os.PathLike], command: str, tag: str = "") -> Iterator[Path]:
    """Hold the lock of output ``out`` for ``nirvis command`` while the block runs.

    Args:
        out: the output directory or file (need not exist yet; its parent is created).
        command: the command name, for the message another process gets.
        tag: a suffix for writers that share ``out`` legitimately (``rank3`` under torchrun).

    Yields:
        The lock file's path.

    Raises:
        OutputLockedError: another process holds the lock (names the command, its pid, the lock).
        WriteError: the lock file cannot be created (a read-only parent, a parent that is a file).
    """
    path = lock_path(out, tag)
    if fcntl is None:  # pragma: no cover - Windows
        yield path
        return
    fd = -1
    try:
        with write_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    fd = -1
                    raise OutputLockedError(
                        f"{out}: another `nirvis {command}` ({_holder(path)}) is writing it (lock file {path}); "
                        "wait for it to finish, or stop it first") from None
                try:  # the holder before us may have unlinked the file we locked: lock the current one
                    same = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
                fd = -1
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} nirvis {command}\n".encode())
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
