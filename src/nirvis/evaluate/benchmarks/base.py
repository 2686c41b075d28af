"""Shared types of the benchmark loaders: image lists with explicit modality, folds, protocols,
list-file parsing and the missing-file policy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Optional, Sequence, Union

import numpy as np

from nirvis.errors import NirvisError

MODALITIES = ("VIS", "NIR")
IMAGE_EXTS = (".jpg", ".jpeg", ".bmp", ".png", ".tif", ".tiff")
PathLike = Union[str, Path]


class ProtocolError(NirvisError, FileNotFoundError):
    """A protocol cannot be read: missing or malformed list files, missing or unreadable images."""


@dataclass(frozen=True)
class ImageList:
    """Images of one modality with identity labels. ``paths`` are file paths, or references the
    protocol's ``read_image`` understands (the synthetic benchmark's shard members)."""

    paths: tuple[str, ...]
    labels: tuple[str, ...]
    modality: str

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if len(self.paths) != len(self.labels):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, keep: Sequence[bool]) -> "ImageList":
        k = np.asarray(keep, bool)
        return ImageList(tuple(p for p, m in zip(self.paths, k) if m),
                         tuple(lab for lab, m in zip(self.labels, k) if m), self.modality)


@dataclass(frozen=True)
class Fold:
    name: str
    gallery: ImageList
    probe: ImageList


def read_image_file(path: str) -> Optional[np.ndarray]:
    """uint8 RGB [H, W, 3] (or grey [H, W] for single-channel files); None if unreadable."""
    import cv2

    from nirvis.image_limits import check_image_size

    check_image_size(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 3:
        img = img[..., ::-1]  # BGR -> RGB
    return np.ascontiguousarray(img)


@dataclass
class Protocol:
    """One benchmark protocol: its folds (gallery VIS, probes NIR) and where images come from.

    ``missing`` lists images that did not exist when the protocol was read with
    ``allow_missing=True`` (they were removed from the folds); ``expected`` holds documented
    counts (per fold) for comparison."""

    benchmark: str
    name: str
    root: str
    folds: list[Fold]
    missing: list[str] = field(default_factory=list)
    expected: dict = field(default_factory=dict)
    notes: str = ""
    read_image: Callable[[str], Optional[np.ndarray]] = field(default=read_image_file, repr=False)
    #: the data set's own eye positions of an image (float [2, 2] (x, y), OpenCV pixel convention)
    #: or None; used by raw-image alignment when no face is detected (CASIA ``.pos`` files)
    eyes: Optional[Callable[[str], Optional[np.ndarray]]] = field(default=None, repr=False)

    def counts(self) -> list[dict]:
        return [{"fold": f.name, "gallery": len(f.gallery), "probes": len(f.probe),
                 "gallery_subjects": len(set(f.gallery.labels)), "probe_subjects": len(set(f.probe.labels))}
                for f in self.folds]


def native_path(root: PathLike, entry: str, source: PathLike = "") -> Path:
    """A list entry (``s2\\NIR\\10153\\001.bmp`` or ``VIS/x.jpg``) as a path under ``root``:
    backslashes and slashes both separate components. An entry that would leave ``root`` (a ``..``
    component, an absolute path or a drive) is a ``ProtocolError`` naming ``source`` (the list file)."""
    pure = PureWindowsPath(entry) if "\\" in entry else PurePosixPath(entry)
    parts = [p for p in pure.parts if p not in ("", ".", "/", "\\")]
    if pure.is_absolute() or pure.drive or pure.anchor or ".." in parts:
        where = f"{source}: " if str(source) else ""
        raise ProtocolError(f"{where}list entry {entry!r} points outside the image root {root} (absolute or '..')")
    return Path(root).joinpath(*parts)


def read_list_file(path: PathLike) -> list[list[str]]:
    """Non-empty lines of a list file split on whitespace (every line is data: no header is
    skipped; UTF-8 with or without BOM; CRLF or LF)."""
    p = Path(path)
    if not p.is_file():
        raise ProtocolError(f"{p}: protocol list file not found")
    rows = []
    for line in p.read_text(encoding="utf-8-sig", errors="strict").splitlines():
        line = line.strip()
        if line:
            rows.append(line.split())
    if not rows:
        raise ProtocolError(f"{p}: protocol list file is empty")
    return rows


def apply_missing_policy(benchmark: str, folds: list[Fold], allow_missing: bool,
                         exists: Callable[[str], bool] = lambda p: Path(p).is_file()) -> tuple[list[Fold], list[str]]:
    """Check that every image of the folds exists. Without ``allow_missing``: one ProtocolError
    with the count and the first few paths. With it: the folds without the missing images, and
    the sorted list of missing paths."""
    all_paths = sorted({p for f in folds for lst in (f.gallery, f.probe) for p in lst.paths})
    missing = [p for p in all_paths if not exists(p)]
    if not missing:
        return folds, []
    if not allow_missing:
        shown = "\n  ".join(missing[:5])
        raise ProtocolError(f"{benchmark}: {len(missing)} of {len(all_paths)} image(s) listed by the protocol are "
                            f"missing, e.g.\n  {shown}\n(use allow_missing=True / --allow-missing to evaluate what "
                            "exists; the missing files are recorded in the report)")
    gone = set(missing)
    out = [dataclasses.replace(f, gallery=f.gallery.subset([p not in gone for p in f.gallery.paths]),
                               probe=f.probe.subset([p not in gone for p in f.probe.paths])) for f in folds]
    return out, missing


def select_folds(available: Sequence[str], folds: Union[str, Sequence, int, None]) -> list[str]:
    """``"all"``/None -> every fold; ``"1,2"``, ``[1, 2]``, ``3``, ``"dev"`` -> those folds."""
    if folds is None or folds == "all":
        return list(available)
    if isinstance(folds, int):
        folds = [folds]
    if isinstance(folds, str):
        folds = [f.strip() for f in folds.split(",") if f.strip()]
    names = [str(f) for f in folds]
    bad = [n for n in names if n not in available]
    if bad:
        raise ValueError(f"unknown fold(s) {bad}; available: {list(available)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"fold(s) {twice} given more than once (each fold counts once in the mean)")
    if not names:
        raise ValueError(f"no fold given; available: {list(available)}")
    return names


def image_files(directory: Path) -> list[Path]:
    """Image files directly in ``directory``, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
