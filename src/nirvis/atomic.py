"""Atomic writes: a reader sees the old file (or none) or the complete new one, never a part.

Every file is written to a temporary sibling ``.<name>.<random>.tmp`` in the target's directory
(same file system), flushed (and ``fsync``-ed unless ``fsync=False``, for caches whose entries
are validated on read) and renamed over the target with ``os.replace``. A directory is built in a
temporary sibling ``.<name>.<random>.partial`` and renamed into place (``staged_dir``,
``publish_dir``); it carries a marker, ``.nirvis-output.json``, listing the files it was published
with, and ``--force`` (``force=True``) replaces only such a directory holding only those files,
never a directory of the user's. Whatever fails (the writer, the rename, Ctrl-C) removes the temporary: no
``.tmp`` / ``.partial`` is left behind and the target keeps its old content. Parent directories
are created as needed.

Example:
    >>> import json, os, tempfile
    >>> from nirvis.atomic import atomic_write_json, staged_dir
    >>> root = tempfile.mkdtemp()
    >>> p = atomic_write_json(os.path.join(root, "a", "doc.json"), {"b": 1, "a": [1, 2]})
    >>> open(p).read()
    '{\\n "a": [\\n  1,\\n  2\\n ],\\n "b": 1\\n}\\n'
    >>> with staged_dir(os.path.join(root, "out")) as tmp:
    ...     _ = (tmp / "x.txt").write_text("x")
    >>> sorted(os.listdir(root)), sorted(os.listdir(os.path.join(root, "out")))
    (['a', 'out'], ['.nirvis-output.json', 'x.txt'])
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator, Union

from nirvis.errors import OutputExistsError, OutputOverlapsInputError, as_write_error

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["atomic_write", "atomic_write_named", "atomic_write_bytes", "atomic_write_text", "atomic_write_json",
           "save_image", "staged_dir", "publish_dir", "check_output_path", "check_output_apart",
           "remove_stale_temporaries", "write_output_marker", "write_errors", "TEMP_SUFFIX", "STAGING_SUFFIX",
           "OUTPUT_MARKER"]

PathLike = Union[str, "os.PathLike[str]"]

#: Suffix of a temporary file (``.<name>.<random>.tmp``).
TEMP_SUFFIX = ".tmp"
#: Suffix of a temporary directory being built (``.<name>.<random>.partial``).
STAGING_SUFFIX = ".partial"
#: The file by which a directory says nirvis wrote it, and which files it wrote (``staged_dir``).
OUTPUT_MARKER = ".nirvis-output.json"
_MARKER_FORMAT = "nirvis-output"


@contextlib.contextmanager
def write_errors(path: PathLike) -> Iterator[None]:
    """Re-raise a failed write in the block (``nirvis.errors.as_write_error``) as a ``WriteError``
    naming ``path``; every other exception passes unchanged."""
    try:
        yield
    except Exception as exc:
        err = as_write_error(path, exc)
        if err is None:
            raise
        raise err from exc


def atomic_write(path: PathLike, write: Callable[[IO[bytes]], Any], *, fsync: bool = True) -> Path:
    """Write ``path`` atomically through ``write(f)``, which writes the content to ``f``.

    Args:
        path: the target file (its parent directories are created).
        write: called once with the temporary file opened for binary writing (e.g.
            ``lambda f: np.savez(f, a=a)``); must not close it.
        fsync: flush the file to disk before the rename (False: for caches).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: creating, writing or renaming the temporary file failed (disk full, a
            read-only file system, a parent that is a file, ...): names ``path`` and the cause.
        Whatever else ``write`` raises. The temporary file is removed in every case.

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import atomic_write
        >>> p = atomic_write(os.path.join(tempfile.mkdtemp(), "b.bin"), lambda f: f.write(b"abc"))
        >>> p.read_bytes()
        b'abc'
    """
    path = Path(path)
    with write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    tmp = Path(name)
    try:
        with write_errors(path):
            with os.fdopen(fd, "wb") as f:
                write(f)
                if fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_named(path: PathLike, write: Callable[[Path], Any], *, fsync: bool = True) -> Path:
    """Write ``path`` atomically through ``write(p)``, for writers that need a file NAME.

    ``p`` has ``path``'s own file name, inside a private temporary sibling directory
    ``.<name>.<random>.partial``; after ``write`` returns, the file is renamed to ``path``. For
    writers that take only a path (``cv2.imwrite``, ``safetensors``) or whose bytes depend on the
    file name (``torch.save`` / ``torch.jit.save`` name their zip archive after it).

    Args:
        path: the target file (its parent directories are created).
        write: called once with the temporary path; must create that file.
        fsync: flush the file to disk before the rename.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import atomic_write_named
        >>> d = tempfile.mkdtemp()
        >>> p = atomic_write_named(os.path.join(d, "n.txt"), lambda p: p.write_text(p.name))
        >>> p.read_text(), os.listdir(d)
        ('n.txt', ['n.txt'])
    """
    path = Path(path)
    with write_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=STAGING_SUFFIX, dir=path.parent))
    try:
        with write_errors(path):
            tmp = tmp_dir / path.name
            write(tmp)
            if fsync:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def atomic_write_bytes(path: PathLike, data: bytes, *, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); returns ``path``.

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import atomic_write_bytes
        >>> atomic_write_bytes(os.path.join(tempfile.mkdtemp(), "c.bin"), b"\\x00\\x01").read_bytes()
        b'\\x00\\x01'
    """
    return atomic_write(path, lambda f: f.write(data), fsync=fsync)


def atomic_write_text(path: PathLike, text: str, *, encoding: str = "utf-8", fsync: bool = True) -> Path:
    """Write ``text`` (encoded with ``encoding``, newlines as given) to ``path`` atomically.

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import atomic_write_text
        >>> atomic_write_text(os.path.join(tempfile.mkdtemp(), "t.txt"), "a\\nb\\n").read_bytes()
        b'a\\nb\\n'
    """
    return atomic_write_bytes(path, text.encode(encoding), fsync=fsync)


def atomic_write_json(path: PathLike, doc: Any, *, indent: int | None = 1, sort_keys: bool = True,
                      allow_nan: bool = True, default: Callable[[Any], Any] | None = None,
                      fsync: bool = True) -> Path:
    """Write ``json.dumps(doc, ...) + "\\n"`` (UTF-8) to ``path`` atomically.

    Args:
        path: the target file.
        doc: a JSON-serialisable value.
        indent, sort_keys, allow_nan, default: as for ``json.dumps`` (defaults: indent 1, sorted
            keys: the project's canonical form).
        fsync: as for ``atomic_write``.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import atomic_write_json
        >>> atomic_write_json(os.path.join(tempfile.mkdtemp(), "d.json"), {"z": 1, "a": 2}, indent=None).read_text()
        '{"a": 2, "z": 1}\\n'
    """
    text = json.dumps(doc, indent=indent, sort_keys=sort_keys, allow_nan=allow_nan, default=default) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def save_image(img: "Image.Image", path: PathLike, *, fsync: bool = True) -> Path:
    """Save a PIL image to ``path`` atomically, in the format its suffix names (``.png``, ...).

    Raises:
        ValueError: the suffix names no image format PIL can write (nothing is written).

    Example:
        >>> import os, tempfile
        >>> from PIL import Image
        >>> from nirvis.atomic import save_image
        >>> p = save_image(Image.new("RGB", (4, 3)), os.path.join(tempfile.mkdtemp(), "s.png"))
        >>> Image.open(p).size
        (4, 3)
    """
    from PIL import Image

    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image file extension {path.suffix!r} (use e.g. .png)")
    return atomic_write(path, lambda f: img.save(f, format=fmt), fsync=fsync)


def _occupied(out: Path) -> bool:
    """``out`` exists as anything but an empty directory."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        return True
    return out.is_dir() and any(out.iterdir())


def _files_under(directory: Path) -> list[str]:
    """Relative POSIX paths of the files (and links) under ``directory``, the marker left out."""
    out = []
    for root, dirs, files in os.walk(directory):
        base = Path(root)
        for d in dirs:
            if (base / d).is_symlink():
                files.append(d)
        for f in files:
            rel = (base / f).relative_to(directory).as_posix()
            if rel != OUTPUT_MARKER:
                out.append(rel)
    return sorted(out)


def write_output_marker(directory: PathLike) -> Path:
    """Write ``directory/.nirvis-output.json`` listing the files now in ``directory``.

    ``staged_dir`` calls it before publishing; ``force=True`` later replaces the directory only
    while it holds just those files. Its content is deterministic (no times, no paths outside).
    """
    directory = Path(directory)
    doc = {"format": _MARKER_FORMAT, "version": 1, "files": _files_under(directory)}
    path = directory / OUTPUT_MARKER
    path.write_text(json.dumps(doc, indent=0) + "\n", encoding="utf-8")
    return path


def _why_not_replaceable(out: Path) -> str | None:
    """Why ``--force`` may not replace the existing ``out`` (None: nirvis wrote it, as it is)."""
    if out.is_symlink() or not out.is_dir():
        return "it is not a directory nirvis wrote"
    marker = out / OUTPUT_MARKER
    try:
        doc = json.loads(marker.read_text(encoding="utf-8"))
        listed = set(doc["files"]) if doc.get("format") == _MARKER_FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        listed = None
    if listed is None:
        return f"it has no valid {OUTPUT_MARKER} (the marker of a directory nirvis wrote)"
    foreign = [f for f in _files_under(out) if f not in listed]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" (+{len(foreign) - 3} more)" if len(foreign) > 3 else "")
        return f"it holds {len(foreign)} file(s) nirvis did not write: {shown}"
    return None


def check_output_path(out: PathLike, force: bool = False, *, replace_unmarked: bool = False) -> Path:
    """Refuse an ``out`` that exists (an empty directory is fine) unless ``force`` and nirvis wrote
    it; returns ``out``.

    With ``force`` an existing ``out`` must be a directory published by ``staged_dir`` (it holds
    the marker ``OUTPUT_MARKER``) that holds only the files it was published with: ``--force``
    removes only what nirvis itself wrote. ``replace_unmarked`` lifts that check for callers that
    own ``out`` by construction (a checkpoint's step directory inside its run).

    Raises:
        OutputExistsError: ``out`` exists, is not an empty directory, and ``force`` is False or
            it is not a directory nirvis wrote (the message says why).

    Example:
        >>> import tempfile, pathlib
        >>> from nirvis.atomic import check_output_path, staged_dir
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with staged_dir(d / "out") as tmp:
        ...     _ = (tmp / "a.txt").write_text("a")
        >>> check_output_path(d / "out", force=True).name
        'out'
        >>> _ = (d / "out" / "mine.txt").write_text("the user's file")
        >>> check_output_path(d / "out", force=True)
        Traceback (most recent call last):
        ...
        nirvis.errors.OutputExistsError: ... it holds 1 file(s) nirvis did not write: mine.txt; ...
    """
    out = Path(out)
    if not _occupied(out):
        return out
    if not force:
        raise OutputExistsError(f"{out}: already exists and is not empty (use --force to replace it)")
    why = None if replace_unmarked else _why_not_replaceable(out)
    if why is not None:
        raise OutputExistsError(f"{out}: --force replaces only an output nirvis wrote, and {why}; remove it "
                                "yourself or choose another --out")
    return out


def check_output_apart(out: PathLike, inputs: Iterable[PathLike], option: str = "--out") -> Path:
    """Refuse an ``out`` that is, contains or lies inside one of ``inputs`` (with symlinks and
    ``..`` resolved): replacing it (``--force``) or writing into it would destroy or mix with the
    input. Returns ``out``.

    Raises:
        OutputOverlapsInputError: naming the option, the output and the input.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> check_output_apart(d / "export", [d / "data"]).name
        'export'
        >>> check_output_apart(d, [d / "data"])
        Traceback (most recent call last):
        ...
        nirvis.errors.OutputOverlapsInputError: --out ...: contains the input ...data; ...
    """
    o = Path(out).resolve()
    for item in inputs:
        i = Path(item).resolve()
        if o == i:
            what = "is the input"
        elif i.is_relative_to(o):
            what = f"contains the input {i}"
        elif o.is_relative_to(i) and i.is_dir():
            what = f"lies inside the input {i}"
        else:
            continue
        raise OutputOverlapsInputError(f"{option} {out}: {what}; choose an output apart from the inputs "
                                       "(it would be replaced or mixed with them)")
    return Path(out)


def publish_dir(tmp: PathLike, out: PathLike, force: bool = False, *, replace_unmarked: bool = False) -> Path:
    """Move the finished directory ``tmp`` to ``out`` (a sibling); an existing ``out`` is replaced
    only with ``force`` and when nirvis wrote it (``check_output_path``), or when it is an empty
    directory.

    An existing ``out`` is first renamed aside and removed only after ``tmp`` took its place, so a
    failure leaves the old ``out`` where it was.

    Raises:
        OutputExistsError: ``out`` exists and ``force`` is False (``tmp`` is left to the caller).
    """
    tmp, out = Path(tmp), Path(out)
    check_output_path(out, force, replace_unmarked=replace_unmarked)
    if not (out.exists() or out.is_symlink()):
        os.replace(tmp, out)
        return out
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    old = aside / out.name
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    return out


@contextlib.contextmanager
def staged_dir(out: PathLike, *, force: bool = False, mark: bool = True,
               replace_unmarked: bool = False) -> Iterator[Path]:
    """Build a directory atomically: yields an empty temporary sibling of ``out``; when the block
    ends normally it is published as ``out`` (``publish_dir``), when it raises it is removed.

    Args:
        out: the directory to create (its parent is created).
        force: replace an existing ``out`` that nirvis wrote (``check_output_path``); an existing
            ``out`` that may not be replaced is refused up front, before the block runs, and
            again when publishing.
        mark: write ``OUTPUT_MARKER`` (the files the block wrote) into the directory, so that a
            later ``--force`` may replace it.
        replace_unmarked: with ``force``, replace ``out`` even without a marker (for paths the
            caller owns by construction).

    Raises:
        OutputExistsError: ``out`` exists and may not be replaced.
        WriteError: creating, writing or renaming failed (names ``out`` and the cause).

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import staged_dir
        >>> out = os.path.join(tempfile.mkdtemp(), "run")
        >>> try:
        ...     with staged_dir(out) as tmp:
        ...         _ = (tmp / "half.txt").write_text("x")
        ...         raise RuntimeError("failed half way")
        ... except RuntimeError:
        ...     pass
        >>> os.path.exists(out), os.listdir(os.path.dirname(out))
        (False, [])
    """
    out = check_output_path(out, force, replace_unmarked=replace_unmarked)
    with write_errors(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=STAGING_SUFFIX, dir=out.parent))
    try:
        with write_errors(out):
            yield tmp
            if mark:
                write_output_marker(tmp)
            publish_dir(tmp, out, force, replace_unmarked=replace_unmarked)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(path: PathLike) -> list[Path]:
    """Remove the temporaries that writes of ``path`` left when their process was killed.

    Only for a path that a single writer owns (two writers of the same path would delete each
    other's temporaries). Returns the removed paths.

    Example:
        >>> import os, tempfile
        >>> from nirvis.atomic import remove_stale_temporaries
        >>> d = tempfile.mkdtemp()
        >>> open(os.path.join(d, ".a.tar.k3j9x2.tmp"), "w").close()
        >>> [p.name for p in remove_stale_temporaries(os.path.join(d, "a.tar"))], os.listdir(d)
        (['.a.tar.k3j9x2.tmp'], [])
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for p in sorted(path.parent.glob(f".{path.name}.*")):
        if p.name.endswith(TEMP_SUFFIX) and p.is_file():
            p.unlink(missing_ok=True)
        elif p.name.endswith(STAGING_SUFFIX) and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            continue
        removed.append(p)
    return removed
