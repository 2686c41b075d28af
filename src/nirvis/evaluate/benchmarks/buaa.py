"""BUAA-VisNir: 100 test subjects, one VIS gallery image each, NIR probes.

Expected layout (either of two)::

    ROOT/protocols/vis_gallery.txt, ROOT/protocols/nir_probe.txt   # "path label" lines, paths relative to ROOT
or
    ROOT/VIS/<subject>/<image>   ROOT/NIR/<subject>/<image>        # one folder per subject and modality

With lists, they are used as given (modality from the list). With folders, the test subjects are
``subjects=[...]`` or by default the subjects after the first 50 in natural sort order (numeric
names compare as numbers; the first 50 are the training subjects); gallery = the first VIS image
(by name) of each test subject, probes = all NIR images of the test subjects. Modality comes from
the top folder, never from a substring of the path.

Documented counts: gallery 100, probes 1,284.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

from nirvis.evaluate.benchmarks.base import (Fold, ImageList, PathLike, Protocol, ProtocolError,
                                             apply_missing_policy, image_files, native_path, read_list_file)

EXPECTED = {"gallery": 100, "probes": 1284}
TRAIN_SUBJECTS = 50


def natural_key(s: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _read(path: Path, root: Path, modality: str) -> ImageList:
    rows = read_list_file(path)
    bad = [i for i, r in enumerate(rows, 1) if len(r) < 2]
    if bad:
        raise ProtocolError(f"{path}: line(s) {bad[:5]} lack a label ('path label' expected)")
    return ImageList(tuple(str(native_path(root, r[0], path)) for r in rows), tuple(r[1] for r in rows), modality)


def load(root: PathLike, subjects: Optional[Sequence[str]] = None, allow_missing: bool = False,
         folds="all", **_ignored) -> Protocol:
    root = Path(root)
    lists = root / "protocols"
    if (lists / "vis_gallery.txt").is_file() or (lists / "nir_probe.txt").is_file():
        gallery = _read(lists / "vis_gallery.txt", root, "VIS")
        probe = _read(lists / "nir_probe.txt", root, "NIR")
        how = "protocol lists"
        absent_list: list[str] = []
    else:
        vdir, ndir = root / "VIS", root / "NIR"
        if not vdir.is_dir() or not ndir.is_dir():
            raise ProtocolError(f"{root}: neither protocols/vis_gallery.txt + nir_probe.txt nor VIS/ + NIR/ "
                                "subject folders found (BUAA-VisNir layout)")
        if subjects is None:
            every = sorted((c.name for c in vdir.iterdir() if c.is_dir()), key=natural_key)
            subjects = every[TRAIN_SUBJECTS:]
            if not subjects:
                raise ProtocolError(f"{vdir}: {len(every)} subjects; the default split needs more than "
                                    f"{TRAIN_SUBJECTS} (or pass subjects=[...])")
        g_paths, g_labels, p_paths, p_labels, absent = [], [], [], [], []
        for s in subjects:
            v = image_files(vdir / s) if (vdir / s).is_dir() else []
            n = image_files(ndir / s) if (ndir / s).is_dir() else []
            if not v:
                absent.append(str(vdir / s))
            else:
                g_paths.append(str(v[0]))
                g_labels.append(s)
            if not n:
                absent.append(str(ndir / s))
            p_paths += [str(f) for f in n]
            p_labels += [s] * len(n)
        if absent and not allow_missing:
            raise ProtocolError(f"buaa: {len(absent)} subject folder(s) missing or empty, e.g. {absent[:5]} "
                                "(use allow_missing=True to evaluate what exists)")
        gallery = ImageList(tuple(g_paths), tuple(g_labels), "VIS")
        probe = ImageList(tuple(p_paths), tuple(p_labels), "NIR")
        how = f"subject folders, {len(subjects)} test subjects"
        absent_list = absent
    out, missing = apply_missing_policy("buaa", [Fold("test", gallery, probe)], allow_missing)
    return Protocol("buaa", "test100", str(root), out, missing + absent_list,
                    expected={"test": dict(EXPECTED)}, notes=f"read from {how}")
