"""Index files beside the shards, so that loaders can seek: DALI's per-shard webdataset index and
the ``wids`` shard index of the whole data set. Both are derived from the shards alone (same
shards, same bytes) and written atomically.

DALI index, ``DIR/shards/shard-NNNNNN.idx`` (for ``nvidia.dali.fn.readers.webdataset(paths=...,
index_paths=...)``). Format facts from NVIDIA DALI ``tools/wds2idx.py`` (the reference writer) and
``dali/operators/reader/loader/webdataset_loader.cc`` (``ParseIndexFile`` / ``ParseSampleDesc``,
the reader); this module is an independent implementation:

* ASCII text, ``\\n`` line ends; the first line is ``v1.2 <number of samples>``;
* then one line per sample (consecutive regular-file members whose names agree up to the first
  dot after the last ``/``), in tar order, listing each member as ``<ext> <offset> <size> <name>``
  (single spaces, also between members): ``ext`` is the name after that dot (``vis.png``),
  ``offset`` the byte offset of the member's *data* (just past its 512-byte header; DALI checks
  that it is a multiple of 512), ``size`` the data length in bytes, ``name`` the member name;
* other members (directories, links, pax headers) are not listed. DALI reads the fields with
  ``>>``, so a name holding white space cannot be indexed (refused here).

wids index, ``DIR/wids-index.json`` (for ``wids.ShardListDataset("DIR/wids-index.json")``). Format
facts from webdataset's ``wids/wids_specs.py`` (``resolve_dsdesc``: ``wids_version`` must be 1,
``shardlist`` entries need ``url`` and ``nsamples``; relative urls are resolved against the
directory of the index file) and ``wids/wids_index.py`` (``main_create``: ``__kind__`` is
``wids-shard-index-v1``, entries also carry ``filesize``). The urls here are relative
(``shards/shard-000000.tar``), so the data set directory can move.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from nirvis.atomic import atomic_write_bytes
from nirvis.errors import NirvisError

DALI_INDEX_VERSION = "v1.2"
WIDS_INDEX = "wids-index.json"
WIDS_KIND = "wids-shard-index-v1"


class IndexFileError(NirvisError, ValueError):
    """An index file that does not parse (names the file and line)."""


def dali_index_path(tar_path: str | Path) -> Path:
    """``shard-000000.tar`` -> ``shard-000000.idx`` (the name ``wds2idx.py`` gives by default)."""
    p = Path(tar_path)
    return p.with_name(p.name.split(".", 1)[0] + ".idx")


def _split_name(name: str) -> tuple[str, str]:
    """(key, extension): split at the first dot after the last ``/`` (as DALI and wds2idx do)."""
    slash = name.rfind("/") + 1
    dot = name.find(".", slash)
    if dot < 0:
        raise ValueError(f"tar member {name!r} has no extension (expected <key>.<ext>)")
    return name[:dot], name[dot + 1:]


def tar_members(tar_path: str | Path) -> list[tuple[str, int, int]]:
    """``(name, data offset, size)`` of every regular file of ``tar_path``, in order (headers are
    read, data is seeked over)."""
    out = []
    with tarfile.open(tar_path, mode="r:") as tf:
        for info in tf:
            if info.isreg():
                out.append((info.name, info.offset_data, info.size))
    return out


def wds2idx_lines(tar_path: str | Path) -> list[str]:
    """The lines (without line ends) of the DALI index of ``tar_path``: ``v1.2 N``, then one line
    per sample (see the module docstring).

    Raises:
        ValueError: a member without extension or with white space in its name, or no sample.
    """
    samples: list[list[str]] = []
    last: Optional[str] = None
    for name, offset, size in tar_members(tar_path):
        if any(c.isspace() for c in name):
            raise ValueError(f"{tar_path}: tar member {name!r} has white space in its name (DALI cannot index it)")
        key, ext = _split_name(name)
        if not key or key.endswith("/"):  # hidden files: wds2idx skips them too
            continue
        if key != last:
            samples.append([])
            last = key
        samples[-1].append(f"{ext} {offset} {size} {name}")
    if not samples:
        raise ValueError(f"{tar_path}: holds no samples to index")
    return [f"{DALI_INDEX_VERSION} {len(samples)}"] + [" ".join(parts) for parts in samples]


def dali_index_bytes(tar_path: str | Path) -> bytes:
    return "".join(line + "\n" for line in wds2idx_lines(tar_path)).encode("ascii")


def write_dali_index(tar_path: str | Path) -> Path:
    """Write the DALI index beside ``tar_path`` (atomically) unless it already holds these bytes;
    returns its path."""
    path = dali_index_path(tar_path)
    data = dali_index_bytes(tar_path)
    if not (path.is_file() and path.read_bytes() == data):
        atomic_write_bytes(path, data)
    return path


def parse_dali_index(path: str | Path) -> list[list[tuple[str, int, int, str]]]:
    """The samples of a DALI index file: per sample its members ``(ext, offset, size, name)``.

    Raises:
        IndexFileError: not such an index (names the file and the line, as DALI's reader checks:
            version, positive count, count lines of ``ext offset size name`` groups, offsets
            multiples of 512).
    """
    path = Path(path)
    try:
        lines = path.read_bytes().decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise IndexFileError(f"{path}: not ASCII text (byte {exc.start})") from None
    head = lines[0].split()
    if len(head) != 2 or head[0] != DALI_INDEX_VERSION or not head[1].isdigit() or int(head[1]) < 1:
        raise IndexFileError(f"{path}: line 1 is {lines[0][:60]!r}, expected '{DALI_INDEX_VERSION} <samples>'")
    n = int(head[1])
    body = lines[1:]
    if body and body[-1] == "":
        body = body[:-1]
    if len(body) != n:
        raise IndexFileError(f"{path}: line 1 announces {n} samples, the file has {len(body)} sample lines")
    out = []
    for i, line in enumerate(body, start=2):
        f = line.split(" ")
        if not f or len(f) % 4 or not all(x.isdigit() for x in f[1::4] + f[2::4]):
            raise IndexFileError(f"{path}: line {i} is not a list of '<ext> <offset> <size> <name>'")
        parts = [(f[k], int(f[k + 1]), int(f[k + 2]), f[k + 3]) for k in range(0, len(f), 4)]
        if any(off % 512 for _, off, _, _ in parts):
            raise IndexFileError(f"{path}: line {i}: an offset is not a multiple of the tar block size (512)")
        out.append(parts)
    return out


def read_member(tar_path: str | Path, offset: int, size: int) -> bytes:
    """``size`` bytes of ``tar_path`` at ``offset`` (a member's data, as a DALI index gives it)."""
    with open(tar_path, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    if len(data) != size:
        raise ValueError(f"{tar_path}: {size} bytes at offset {offset} run past the end of the file")
    return data


# ----------------------------------------------------------------------------------- wids


def wids_index_doc(shards: Iterable[dict[str, Any]], name: str = "") -> dict[str, Any]:
    """The wids shard index of manifest shard entries (``name`` ``shards/shard-NNNNNN.tar``,
    ``samples``, ``bytes``); ``name``: the data set's name (omitted when empty)."""
    doc: dict[str, Any] = {"__kind__": WIDS_KIND, "wids_version": 1,
                           "shardlist": [{"url": s["name"], "nsamples": int(s["samples"]),
                                          "filesize": int(s["bytes"])} for s in shards]}
    if name:
        doc["name"] = name
    return doc


def wids_index_bytes(shards: Sequence[dict[str, Any]], name: str = "") -> bytes:
    """Canonical bytes of ``wids_index_doc`` (sorted keys, indent 1, final newline)."""
    return (json.dumps(wids_index_doc(shards, name), indent=1, sort_keys=True) + "\n").encode("utf-8")


def file_record(path: Path, root: Path, data: Optional[bytes] = None) -> dict[str, Any]:
    """``{"name": <relative to root>, "bytes", "sha256"}`` of a small file (the manifest's entry
    of an index file)."""
    data = path.read_bytes() if data is None else data
    return {"name": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_indexes(root: str | Path, shards: Sequence[dict[str, Any]], name: str = "") -> dict[str, Any]:
    """Write (or keep, when equal) the DALI index of every shard of ``shards`` (manifest entries,
    ``name`` relative to ``root``) and ``root/wids-index.json``; returns the manifest's record of
    them: ``{"dali": {"version", "shards": [file records]}, "wids": file record}``."""
    root = Path(root)
    dali = [file_record(write_dali_index(root / s["name"]), root) for s in shards]
    wbytes = wids_index_bytes(shards, name)
    wpath = root / WIDS_INDEX
    if not (wpath.is_file() and wpath.read_bytes() == wbytes):
        atomic_write_bytes(wpath, wbytes)
    return {"dali": {"version": DALI_INDEX_VERSION, "shards": dali}, "wids": file_record(wpath, root, wbytes)}


def check_indexes(root: str | Path, manifest: dict[str, Any], bad_shards: Iterable[str] = ()) -> list[str]:
    """Problems of the index files a manifest records (``manifest["indexes"]``; none recorded: a
    data set written before index files, nothing to check). Each names the file: missing, size or
    sha256 other than recorded, or bytes other than those derived from its shard(s) (shards named
    in ``bad_shards`` are not re-indexed: their own problem is already reported)."""
    root = Path(root)
    rec = manifest.get("indexes")
    if rec is None:
        return []
    hint = f"; `nirvis index {root}` rewrites it"
    try:
        dali = list(rec["dali"]["shards"])
        wids = dict(rec["wids"])
        shards = list(manifest["shards"])
        if len(dali) != len(shards):
            raise ValueError(f"{len(dali)} DALI index entries for {len(shards)} shards")
    except (KeyError, TypeError, ValueError) as exc:
        return [f"{root / 'manifest.json'}: malformed 'indexes' record ({exc})"]
    bad = set(bad_shards)
    problems = []
    for entry, shard in zip(dali, shards):
        tar = root / str(shard.get("name", ""))
        path = root / str(entry.get("name", ""))
        if path != dali_index_path(tar) or path.parent != root / "shards":
            problems.append(f"{root / 'manifest.json'}: DALI index entry {entry.get('name')!r} is not beside "
                            f"its shard {shard.get('name')!r}")
            continue
        found = _check_file(path, entry, hint)
        problems += found
        if not found and tar.name not in bad and tar.is_file():
            try:
                expected = dali_index_bytes(tar)
            except (OSError, ValueError, tarfile.TarError) as exc:
                problems.append(f"{tar}: cannot be indexed ({exc})")
                continue
            if path.read_bytes() != expected:
                problems.append(f"{path}: does not index {tar.name} (offsets or sizes differ){hint}")
    wpath = root / WIDS_INDEX
    if wids.get("name") != WIDS_INDEX:
        problems.append(f"{root / 'manifest.json'}: wids index entry {wids.get('name')!r}, expected {WIDS_INDEX!r}")
    else:
        found = _check_file(wpath, wids, hint)
        problems += found
        if not found and wpath.read_bytes() != wids_index_bytes(shards, index_name(manifest)):
            problems.append(f"{wpath}: does not list the manifest's shards (urls, nsamples, filesize){hint}")
    return problems


def _check_file(path: Path, entry: dict[str, Any], hint: str) -> list[str]:
    if not path.is_file():
        return [f"{path}: missing{hint}"]
    data = path.read_bytes()
    if len(data) != entry.get("bytes") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return [f"{path}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}... differ from the "
                f"manifest's record ({entry.get('bytes')} bytes, {str(entry.get('sha256'))[:16]}...): corrupted{hint}"]
    return []


def index_name(manifest: dict[str, Any]) -> str:
    """The data set's name in its wids index: ``nirvis-<first 12 hex digits of the fingerprint>``."""
    fp = manifest.get("fingerprint")
    return f"nirvis-{str(fp)[:12]}" if fp else ""


def dataset_name(fingerprint: str) -> str:
    return index_name({"fingerprint": fingerprint})


def index_files(root: Path, shards: Sequence[dict[str, Any]]) -> list[Path]:
    """The index files of a data set: each shard's DALI index, then the wids index."""
    return [dali_index_path(root / s["name"]) for s in shards] + [root / WIDS_INDEX]
