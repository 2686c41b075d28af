"""Oulu-CASIA NIR-VIS: the 20/20 fine-tuning protocol and the separate 40-subject zero-shot set.

Expected layout (the release's native one)::

    ROOT/
      VL/<Illumination>/<Subject>/<Expression>/<frame>.jpeg     # visible light  -> VIS
      NI/<Illumination>/<Subject>/<Expression>/<frame>.jpeg     # near infrared -> NIR

e.g. ``VL/Strong/P001/Anger/000.jpeg``. Illumination folders (``Strong``, ``Weak``, ``Dark``) and
the six expressions (Anger, Disgust, Fear, Happiness, Sadness, Surprise) are matched without
regard to case. Modality comes from the top folder (VL -> VIS, NI -> NIR), never from a
substring search (the reference's "'VIS' in path" test mislabels these files).

Protocols (``protocol=``):
  ``"finetune"``: 20 test subjects (by default the 21st..40th subject in sorted order; the first
      20 are the training subjects), 8 frames per expression per subject in each modality: 960 VIS
      (all VIS images are gallery) and 960 NIR probes.
  ``"zeroshot"``: the 40-subject set (by default the first 40 subjects in sorted order): 1,920 VIS
      gallery, 1,920 NIR probes. Reported separately from ``finetune``.
Which subjects form each set is not fixed by the facts this module was written from: pass
``subjects=[...]`` (names of subject folders) to use an official split. The 8 frames of an
expression are chosen deterministically, evenly spaced over the sorted frames
(``np.linspace(0, n - 1, 8)`` rounded); an expression with fewer than 8 frames uses all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from nirvis.evaluate.benchmarks.base import (Fold, ImageList, PathLike, Protocol, ProtocolError,
                                             apply_missing_policy, image_files)

MODALITY_DIRS = {"VIS": "VL", "NIR": "NI"}
EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
PROTOCOLS = {"finetune": {"subjects": 20, "first": 20, "gallery": 960, "probes": 960},
             "zeroshot": {"subjects": 40, "first": 0, "gallery": 1920, "probes": 1920}}


def _child(parent: Path, name: str) -> Path:
    if not parent.is_dir():
        raise ProtocolError(f"{parent}: not found (Oulu-CASIA NIR-VIS layout: ROOT/VL|NI/<Illumination>/<Subject>/...)")
    for c in parent.iterdir():
        if c.is_dir() and c.name.lower() == name.lower():
            return c
    raise ProtocolError(f"{parent}: no folder {name!r} (found {sorted(c.name for c in parent.iterdir())[:8]})")


def pick_frames(files: Sequence[Path], n: int) -> list[Path]:
    if len(files) <= n:
        return list(files)
    idx = np.unique(np.rint(np.linspace(0, len(files) - 1, n)).astype(int))
    return [files[i] for i in idx]


def load(root: PathLike, protocol: str = "finetune", illumination: str = "strong",
         subjects: Optional[Sequence[str]] = None, per_expression: int = 8, allow_missing: bool = False,
         folds="all", **_ignored) -> Protocol:
    if protocol not in PROTOCOLS:
        raise ValueError(f"Oulu-CASIA protocol must be one of {sorted(PROTOCOLS)}, got {protocol!r}")
    root = Path(root)
    spec = PROTOCOLS[protocol]
    vis_ill = _child(_child(root, MODALITY_DIRS["VIS"]), illumination)
    all_subjects = sorted(c.name for c in vis_ill.iterdir() if c.is_dir())
    if subjects is None:
        subjects = all_subjects[spec["first"]:spec["first"] + spec["subjects"]]
        if len(subjects) < spec["subjects"]:
            raise ProtocolError(f"{vis_ill}: {len(all_subjects)} subject folders, the {protocol} protocol's default "
                                f"split needs {spec['first'] + spec['subjects']} (or pass subjects=[...])")
    lists = {}
    notes_missing: list[str] = []
    for modality, top in MODALITY_DIRS.items():
        ill = _child(_child(root, top), illumination)
        paths, labels = [], []
        for s in subjects:
            sdir = ill / s
            if not sdir.is_dir():
                notes_missing.append(str(sdir))
                continue
            exprs = sorted(c for c in sdir.iterdir() if c.is_dir())
            for e in exprs:
                for f in pick_frames(image_files(e), per_expression):
                    paths.append(str(f))
                    labels.append(s)
        lists[modality] = ImageList(tuple(paths), tuple(labels), modality)
    if notes_missing and not allow_missing:
        raise ProtocolError(f"oulu: {len(notes_missing)} subject folder(s) missing, e.g. {notes_missing[:5]} "
                            "(use allow_missing=True to evaluate what exists)")
    out, missing = apply_missing_policy("oulu", [Fold(protocol, lists["VIS"], lists["NIR"])], allow_missing)
    return Protocol("oulu", protocol, str(root), out, missing + notes_missing,
                    expected={protocol: {"gallery": spec["gallery"], "probes": spec["probes"]}},
                    notes=f"{illumination} illumination, subjects {list(subjects)}, {per_expression} frames per "
                          "expression; all VIS images are gallery")
