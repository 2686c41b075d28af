"""Exports of a rendered data set: InsightFace RecordIO, image folders, and a preview sheet.

InsightFace / MXNet RecordIO layout (facts from MXNet ``python/mxnet/recordio.py``, dmlc-core
``include/dmlc/recordio.h`` + ``src/recordio.cc`` and InsightFace's ``recognition`` data loaders;
this module is an independent implementation, no MXNet needed):

* ``train.rec`` is a sequence of records. Each record is
  ``uint32 magic = 0xced7230a`` | ``uint32 lrecord`` | payload | zero padding to a multiple of 4
  bytes, little-endian. ``lrecord = (cflag << 29) | length`` with ``length < 2**29``. ``cflag`` is
  0 for a whole record; if the payload contains the magic word at a 4-byte-aligned offset, the
  writer splits it there (dropping that word) into parts flagged 1 (first), 2 (middle) and 3
  (last), and a reader re-inserts the magic between the parts.
* A record's payload is an image record: ``IRHeader`` packed as ``struct '<IfQQ'`` = (flag uint32,
  label float32, id uint64, id2 uint64), then, if ``flag > 0``, ``flag`` float32 labels (and the
  header's label field is 0), then the encoded image bytes (JPEG or PNG; decoded with imdecode).
* ``train.idx`` holds text lines ``"<record index>\\t<byte offset of the record>"``.
* InsightFace's convention: record 0 has no image and ``flag = 2``, labels
  ``(N + 1, N + 1 + C)``: images are records 1..N, and records N + 1 .. N + C are per-identity
  headers whose two labels are the ``[start, end)`` range of that identity's image records.
  Image records carry their class in the header's label field (``flag = 0``). The ``property``
  file holds ``"<num_classes>,<height>,<width>"``.

Here image record ``id`` is its record index and ``id2`` the modality (0 = VIS, 1 = NIR). Images
are stored as the shards' image bytes (PNG: lossless, NIR PNGs are 1-channel and imdecode to 3
channels; JPEG / WebP data sets: their bytes as they are).
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence, Union

import numpy as np

from nirvis.atomic import check_output_apart, staged_dir
from nirvis.crop import CROP_SIZE
from nirvis.output_lock import output_lock
from nirvis.errors import NirvisError

RECORDIO_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_IR_FORMAT = "<IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)  # 24
MODALITY_ID = {"vis": 0, "nir": 1}


@dataclass(frozen=True)
class IRHeader:
    flag: int
    label: Union[float, tuple[float, ...]]
    id: int
    id2: int


def pack_record(label: Union[float, Sequence[float]], payload: bytes, rec_id: int, id2: int = 0) -> bytes:
    """An image record payload: IRHeader (+ float32 label array when ``label`` is a sequence) + bytes."""
    if isinstance(label, (int, float, np.integer, np.floating)):
        return struct.pack(_IR_FORMAT, 0, float(label), int(rec_id), int(id2)) + payload
    arr = np.asarray(label, dtype="<f4")
    return struct.pack(_IR_FORMAT, arr.size, 0.0, int(rec_id), int(id2)) + arr.tobytes() + payload


def unpack_record(data: bytes) -> tuple[IRHeader, bytes]:
    flag, label, rec_id, id2 = struct.unpack(_IR_FORMAT, data[:_IR_SIZE])
    rest = data[_IR_SIZE:]
    if flag > 0:
        labels = tuple(float(x) for x in np.frombuffer(rest[:4 * flag], dtype="<f4"))
        return IRHeader(flag, labels, rec_id, id2), rest[4 * flag:]
    return IRHeader(flag, float(label), rec_id, id2), rest


def _lrec(cflag: int, length: int) -> bytes:
    return struct.pack("<I", (cflag << 29) | length)


def encode_recordio(data: bytes) -> bytes:
    """The framed bytes of one record (magic-splitting and padding as dmlc-core writes them)."""
    n = len(data)
    if n >= 1 << 29:
        raise ValueError(f"RecordIO records must be shorter than 2**29 bytes, got {n}")
    parts = []
    start = 0
    for i in range(0, n - n % 4, 4):
        if data[i:i + 4] == _MAGIC_BYTES:
            parts.append(_MAGIC_BYTES + _lrec(1 if start == 0 else 2, i - start) + data[start:i])
            start = i + 4
    parts.append(_MAGIC_BYTES + _lrec(3 if start else 0, n - start) + data[start:])
    pad = (-n) % 4
    return b"".join(parts) + b"\0" * pad


class RecordIOWriter:
    """Indexed RecordIO writer (``train.rec`` + ``train.idx``)."""

    def __init__(self, rec: BinaryIO, idx: Any):
        self.rec, self.idx = rec, idx
        self.offset = 0

    def write(self, index: int, payload: bytes) -> None:
        framed = encode_recordio(payload)
        self.idx.write(f"{index}\t{self.offset}\n")
        self.rec.write(framed)
        self.offset += len(framed)


def read_record_at(f: BinaryIO, offset: int) -> bytes:
    """Read (and reassemble) the record starting at ``offset``."""
    f.seek(offset)
    out = bytearray()
    while True:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"truncated record header at offset {f.tell() - len(head)}")
        magic, lrec = struct.unpack("<II", head)
        if magic != RECORDIO_MAGIC:
            raise ValueError(f"bad RecordIO magic {magic:#x} at offset {f.tell() - 8}")
        cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
        chunk = f.read(length)
        if len(chunk) != length:
            raise ValueError("truncated record payload")
        out += chunk
        if cflag in (0, 3):
            break
        out += _MAGIC_BYTES
    f.seek((-len(out)) % 4, os.SEEK_CUR)  # padding after the whole record
    return bytes(out)


def read_indexed_recordio(rec_path: Union[str, Path],
                          idx_path: Union[str, Path]) -> Iterator[tuple[int, IRHeader, bytes]]:
    """Yield ``(index, header, image bytes)`` for every record listed in ``idx_path``."""
    entries = []
    for line in Path(idx_path).read_text().splitlines():
        if line.strip():
            k, off = line.split("\t")
            entries.append((int(k), int(off)))
    with open(rec_path, "rb") as f:
        for k, off in entries:
            header, payload = unpack_record(read_record_at(f, off))
            yield k, header, payload


# ----------------------------------------------------------------------------- exporters


class DatasetExportError(NirvisError, ValueError):
    """A user-facing export/preview error."""


def _modalities(modality: str) -> tuple[str, ...]:
    if modality not in ("both", "vis", "nir"):
        raise DatasetExportError(f"--modality must be both, vis or nir; got {modality!r}")
    return ("vis", "nir") if modality == "both" else (modality,)


def require_verified(dataset: Union[str, Path]) -> None:
    """Raise ``DatasetExportError`` unless ``dataset`` verifies (``shards.verify.require_verified``),
    so an export never publishes a corrupted, truncated or padded data set."""
    from nirvis.shards.verify import require_verified as require

    require(dataset, DatasetExportError, "refusing to export a data set that does not verify")


def export_insightface_rec(dataset: Union[str, Path], out: Union[str, Path], *, modality: str = "both",
                           force: bool = False) -> dict[str, Any]:
    """Write ``out/train.rec``, ``out/train.idx`` and ``out/property`` (InsightFace layout).

    Images are records 1..N grouped by label (per pair: VIS then NIR with ``modality='both'``),
    followed by one identity header record per label and record 0 pointing at both ranges.
    ``property`` records the crops' size (the data set's ``resolution``; insightface trainers
    take 112). The format holds one image per record: raw frames and label passes are not
    exported (the result's ``dropped`` names them).
    """
    from nirvis.shards.reader import iter_pairs, read_manifest

    mods = _modalities(modality)
    check_output_apart(out, [dataset])
    with output_lock(out, "export"):  # before any work: a second writer learns at once
        require_verified(dataset)
        manifest = read_manifest(dataset)
        with staged_dir(out, force=force) as tmp:
            ranges: dict[int, list[int]] = {}
            n = 0
            # record 0 is written last in the file but its index line comes first: write images to a
            # body file, then assemble header + body with offsets shifted by the header's size.
            with open(tmp / "body.rec", "wb") as body, open(tmp / "body.idx", "w") as bidx:
                w = RecordIOWriter(body, bidx)
                for s in iter_pairs(dataset, decode=False):
                    for m in mods:
                        n += 1
                        w.write(n, pack_record(float(s.label), s.vis if m == "vis" else s.nir, n, MODALITY_ID[m]))
                        r = ranges.setdefault(s.label, [n, n])
                        if r[1] != n:  # shards are in label order, so an identity's images are contiguous
                            raise DatasetExportError(f"{s.shard}: label {s.label} is not contiguous in the data set")
                        r[1] = n + 1
                labels = sorted(ranges)
                c = len(labels)
                for j, label in enumerate(labels):
                    k = n + 1 + j
                    w.write(k, pack_record((float(ranges[label][0]), float(ranges[label][1])), b"", k))
            head = encode_recordio(pack_record((float(n + 1), float(n + 1 + c)), b"", 0))
            with open(tmp / "train.rec", "wb") as rec, open(tmp / "body.rec", "rb") as body:
                rec.write(head)
                shutil.copyfileobj(body, rec, 1 << 20)
            with open(tmp / "train.idx", "w") as idx:
                idx.write("0\t0\n")
                for line in (tmp / "body.idx").read_text().splitlines():
                    k, off = line.split("\t")
                    idx.write(f"{k}\t{int(off) + len(head)}\n")
            (tmp / "body.rec").unlink()
            (tmp / "body.idx").unlink()
            size = int(manifest.get("config", {}).get("resolution", CROP_SIZE))
            (tmp / "property").write_text(f"{c},{size},{size}\n")
            if c != manifest["counts"]["identities"]:
                raise DatasetExportError(f"{dataset}: found {c} labels, the manifest records "
                                         f"{manifest['counts']['identities']}")
        dropped = list(manifest.get("sample", {}).get("members", [])[3:])
        return {"format": "insightface-rec", "out": str(out), "images": n, "classes": c, "modalities": list(mods),
                "dropped": dropped}


def export_folders(dataset: Union[str, Path], out: Union[str, Path], *, modality: str = "both",
                   force: bool = False) -> dict[str, Any]:
    """Write ``out/<label:07d>/<key>_vis.png`` / ``_nir.png`` (the shards' image bytes; ``.jpg`` /
    ``.webp`` for data sets in those encodings) and list
    files ``vis_list.txt``, ``nir_list.txt``, ``all_list.txt`` of lines ``<relative path> <label>``.
    Raw frames and label passes go beside them as ``<key>_<member>`` with the member's dot made an
    underscore (``<key>_seg.png``, ``<key>_vis_raw.png``, ...; ``shards.members``), unlisted."""
    from nirvis.shards.reader import iter_pairs

    mods = _modalities(modality)
    check_output_apart(out, [dataset])
    with output_lock(out, "export"):  # before any work: a second writer learns at once
        require_verified(dataset)
        with staged_dir(out, force=force) as tmp:
            lists: dict[str, list[str]] = {m: [] for m in mods}
            allv: list[str] = []
            n = n_extra = 0
            for s in iter_pairs(dataset, decode=False):
                d = tmp / f"{s.label:07d}"
                d.mkdir(exist_ok=True)
                for m in mods:
                    rel = f"{s.label:07d}/{s.key}_{m}.{s.ext}"
                    (tmp / rel).write_bytes(s.vis if m == "vis" else s.nir)
                    line = f"{rel} {s.label}"
                    lists[m].append(line)
                    allv.append(line)
                    n += 1
                for suffix, data in s.extra.items():
                    stem, ext = suffix.split(".", 1)
                    (d / f"{s.key}_{stem}.{ext}").write_bytes(data)
                    n_extra += 1
            for m in mods:
                (tmp / f"{m}_list.txt").write_text("".join(x + "\n" for x in lists[m]))
            (tmp / "all_list.txt").write_text("".join(x + "\n" for x in allv))
        return {"format": "folders", "out": str(out), "images": n, "modalities": list(mods), "extra_files": n_extra}


def preview_sheet(dataset: Union[str, Path], count: int = 16, columns_pairs: int = 4, *,
                  one_per_identity: bool = False):
    """``(sheet, pairs)``: a contact sheet (PIL image) of the first ``count`` pairs, VIS | NIR
    side by side, and the number of pairs shown. ``one_per_identity``: the first pair of each of
    the first ``count`` identities instead (only those pairs' images are decoded)."""
    from PIL import Image

    from nirvis.faces.preview import contact_sheet
    from nirvis.shards.format import decode_png
    from nirvis.shards.reader import iter_pairs

    if count < 1:
        raise DatasetExportError(f"--count must be >= 1, got {count}")
    tiles, labels = [], []
    seen: set[int] = set()
    for s in iter_pairs(dataset, decode=False):
        if len(tiles) >= 2 * count:
            break
        if one_per_identity and s.label in seen:
            continue
        seen.add(s.label)
        tiles += [Image.fromarray(decode_png(s.vis, 3)), Image.fromarray(decode_png(s.nir, 1)).convert("RGB")]
        labels += [f"{s.key} VIS", "NIR"]
    if not tiles:
        raise DatasetExportError(f"{dataset}: no pairs to preview")
    return contact_sheet(tiles, columns=2 * min(columns_pairs, len(tiles) // 2), labels=labels), len(tiles) // 2
