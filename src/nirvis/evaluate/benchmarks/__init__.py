"""Benchmark protocol loaders, one module per data set, each reading the native layout.

``load_protocol(name, root, **kwargs)`` dispatches to ``<module>.load``. ``vis_bin`` (LFW /
CFP-FP / AgeDB-30 ``.bin`` pair sets) is a verification benchmark with its own evaluation.
"""

from __future__ import annotations

import importlib

from nirvis.evaluate.benchmarks.base import Fold, ImageList, Protocol, ProtocolError

PROTOCOL_BENCHMARKS = {"casia": "casia", "lamp_hq": "lamp_hq", "oulu": "oulu", "buaa": "buaa",
                       "synthetic": "synthetic"}
ALIASES = {"casia_nir_vis": "casia", "casia-nir-vis": "casia", "lamp-hq": "lamp_hq", "lamphq": "lamp_hq",
           "oulu_casia": "oulu", "buaa_visnir": "buaa", "buaa-visnir": "buaa",
           "lfw": "vis_bin", "cfp_fp": "vis_bin", "agedb_30": "vis_bin", "cfp-fp": "vis_bin", "agedb": "vis_bin"}
BENCHMARKS = sorted(list(PROTOCOL_BENCHMARKS) + ["vis_bin", "lfw", "cfp_fp", "agedb_30"])


def canonical(name: str) -> str:
    n = name.lower()
    n = ALIASES.get(n, ALIASES.get(n.replace("-", "_"), n.replace("-", "_")))
    if n not in PROTOCOL_BENCHMARKS and n != "vis_bin":
        raise ValueError(f"unknown benchmark {name!r}; choose from {BENCHMARKS}")
    return n


def load_protocol(name: str, root, **kwargs) -> Protocol:
    n = canonical(name)
    if n == "vis_bin":
        raise ValueError(f"{name}: a pair-verification set, evaluated with nirvis.evaluate.benchmarks.vis_bin")
    mod = importlib.import_module(f"nirvis.evaluate.benchmarks.{PROTOCOL_BENCHMARKS[n]}")
    return mod.load(root, **kwargs)


__all__ = ["Fold", "ImageList", "Protocol", "ProtocolError", "load_protocol", "canonical", "BENCHMARKS"]
