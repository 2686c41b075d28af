"""The project's error base class and the one place that turns errors into a command's exit code.

Every error class of nirvis derives from ``NirvisError`` (most also from the builtin they
specialise, e.g. ``ValueError``, so ``except ValueError`` keeps working). A ``NirvisError`` is a
user-facing problem: bad input, a missing or unreadable file, an output that already exists. Its
message names the file, field or option and says what is wrong; the command line prints it as one
line ``nirvis <command>: error: <message>`` and exits with the error's ``exit_code`` (2 unless a
class says otherwise). ``run_command`` does that for ``nirvis.cli.main`` and for the stand-alone
``python -m nirvis.<stage>.cli`` drivers.

Example:
    >>> from nirvis.errors import NirvisError, UsageError
    >>> issubclass(UsageError, NirvisError) and issubclass(UsageError, ValueError)
    True
    >>> UsageError("--count must be >= 1, got 0").exit_code
    2
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional

__all__ = ["NirvisError", "UsageError", "OutputExistsError", "OutputOverlapsInputError", "WriteError",
           "OutputLockedError", "as_write_error", "describe_os_error",
           "USER_INPUT_ERRORS", "run_command"]


class NirvisError(Exception):
    """Base class of every nirvis error: a user-facing problem, reported as one line.

    Attributes:
        exit_code: the command line's exit status for this error (2: bad input).
    """

    exit_code: int = 2


class UsageError(NirvisError, ValueError):
    """A bad command-line option or argument (the message names the option)."""


class OutputExistsError(NirvisError, FileExistsError):
    """An output path exists and replacing it was not asked for."""


class OutputOverlapsInputError(NirvisError, ValueError):
    """An output path that is, contains or lies inside an input (``atomic.check_output_apart``)."""


class OutputLockedError(NirvisError, RuntimeError):
    """Another nirvis process is writing the same output (``nirvis.output_lock``)."""


class WriteError(NirvisError, OSError):
    """An output could not be written (disk full, permissions, a read-only file system, ...).

    Raised by the atomic-write module (``nirvis.atomic``) with the target path and the cause, after
    it removed its temporary: nothing partial is left at the final path.
    """


#: Phrases by which writer libraries that do not raise ``OSError`` (safetensors, torch's zip
#: writer, onnx) report a failed write: their errors become a ``WriteError`` too.
_IO_FAILURE_PHRASES = ("os error", "i/o error", "errno", "no space left", "file too large", "read-only file system",
                       "permission denied", "failed writing", "unexpected pos", "disk quota")


def as_write_error(path: object, exc: BaseException) -> Optional["WriteError"]:
    """A ``WriteError`` naming ``path`` and the cause when ``exc`` is a failed write, else None.

    A failed write is an ``OSError`` (not a ``NirvisError``) or an error of a writer library whose
    message reports an operating-system I/O failure (``_IO_FAILURE_PHRASES``).

    Example:
        >>> from nirvis.errors import as_write_error
        >>> str(as_write_error("out/a.png", OSError(28, "No space left on device")))
        'out/a.png: could not write: No space left on device'
        >>> as_write_error("out/a.png", ValueError("bad value")) is None
        True
    """
    if isinstance(exc, NirvisError):
        return None
    if isinstance(exc, OSError):
        cause = exc.strerror or str(exc)
        if exc.filename and str(exc.filename) != str(path):
            cause = f"{cause} ({exc.filename})"
    elif isinstance(exc, Exception) and any(w in str(exc).lower() for w in _IO_FAILURE_PHRASES):
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    else:
        return None
    err = WriteError(f"{path}: could not write: {cause}")
    if isinstance(exc, OSError):
        err.errno = exc.errno
    return err


def describe_os_error(exc: OSError) -> str:
    """One line naming the path(s) and the cause of ``exc`` (``str(OSError)`` may name neither).

    Example:
        >>> from nirvis.errors import describe_os_error
        >>> describe_os_error(PermissionError(13, "Permission denied", "/data/out"))
        '/data/out: Permission denied'
        >>> describe_os_error(OSError(27, "File too large"))
        'File too large'
    """
    if isinstance(exc, NirvisError) or not exc.strerror:
        return str(exc)
    if exc.filename is None:
        return exc.strerror
    where = str(exc.filename) + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
    return f"{where}: {exc.strerror}"


#: Builtin errors that library functions raise for bad user input (a missing file, an invalid
#: value); the command line reports them like a ``NirvisError`` (exit code 2), not as a traceback.
USER_INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, FileExistsError,
                                                      NotADirectoryError, IsADirectoryError)


def run_command(args: argparse.Namespace, err: Optional[Callable[[str], object]] = None) -> int:
    """Run ``args.func(args)`` and return its exit code; errors become one line on stderr.

    Args:
        args: parsed arguments with ``func`` (the command's handler, returning an int exit code
            or None for 0) and ``command`` (its name, used in messages).
        err: where error lines go (default: print to stderr).

    Returns:
        The handler's exit code; a ``NirvisError``'s ``exit_code``; 2 for ``USER_INPUT_ERRORS``;
        2 for any other ``OSError`` too (a path that cannot be read or written: the line names
        the path and the cause); 130 on Ctrl-C.

    Example:
        >>> import argparse
        >>> from nirvis.errors import UsageError, run_command
        >>> def handler(args):
        ...     raise UsageError("--count must be >= 1, got 0")
        >>> run_command(argparse.Namespace(func=handler, command="identities"), err=print)
        nirvis identities: error: --count must be >= 1, got 0
        2
    """
    say = err if err is not None else (lambda line: print(line, file=sys.stderr))
    name = getattr(args, "command", None) or "nirvis"
    try:
        return int(args.func(args) or 0)
    except NirvisError as exc:
        say(f"nirvis {name}: error: {exc}")
        return exc.exit_code
    except OSError as exc:
        say(f"nirvis {name}: error: {describe_os_error(exc)}")
        return 2
    except USER_INPUT_ERRORS as exc:
        say(f"nirvis {name}: error: {exc}")
        return 2
    except KeyboardInterrupt:
        say(f"nirvis {name}: interrupted")
        return 130
