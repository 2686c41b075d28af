"""``nirvis bench ...``: measured figures, printed and saved as JSON.

Every benchmark also times a baseline in the same run and reports ratios to it, since absolute
numbers on shared machines are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nirvis import __version__


def _best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def machine_info() -> dict[str, Any]:
    import torch

    return {"nirvis": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "cpu_count": os.cpu_count(), "machine": platform.machine()}


def bench_faces(count: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Head model figures: sampling and building throughput, and how distinct the heads are.

    Baseline: a float32 matrix product of the same shape as the head build ([count, T] x [T, 3V]),
    i.e. the BLAS cost of the work the build cannot avoid.
    """
    import tempfile

    from nirvis.faces import build_heads, identity_seed, load_head_model, sample_identity, save_asset
    from nirvis.faces.procedural import procedural_asset

    t0 = time.perf_counter()
    model = load_head_model()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ids = [sample_identity(identity_seed(seed, k), model) for k in range(count)]
    sample_s = time.perf_counter() - t0
    build_s = _best_of(lambda: build_heads(ids, model=model))
    weights = np.random.default_rng(0).random((count, len(model.target_names)), dtype=np.float32)
    baseline_s = _best_of(lambda: weights @ model.offsets)
    heads = build_heads(ids, model=model)
    v = heads[:, model.face_region].reshape(count, -1).astype(np.float64)
    sq = (v ** 2).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * v @ v.T, 0.0) / model.face_region.sum()
    rms = np.sqrt(d2[np.triu_indices(count, 1)])
    same = np.array_equal(build_heads(ids[:10], model=model), build_heads(
        [sample_identity(identity_seed(seed, k), model) for k in range(10)], model=model))
    n_assets = min(count, 20)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for k in range(n_assets):
            save_asset(procedural_asset(ids[k], resolution=512), Path(tmp) / f"{k}")
        asset_s = time.perf_counter() - t0
    return {
        "benchmark": "faces",
        "count": count,
        "seed": seed,
        "model_load_s": round(load_s, 4),
        "sample_identities_per_s": round(count / sample_s, 1),
        "build_heads_per_s": round(count / build_s, 1),
        "build_1000_heads_s": round(build_s * 1000 / count, 4),
        "baseline_matmul_per_s": round(count / baseline_s, 1),
        "build_to_baseline_ratio": round(baseline_s / build_s, 3),
        "assets_512_written_per_s": round(n_assets / asset_s, 2),
        "face_region_vertices": int(model.face_region.sum()),
        "pairwise_rms_mm": {"min": round(float(rms.min()), 3), "median": round(float(np.median(rms)), 3),
                            "p01": round(float(np.percentile(rms, 1)), 3), "max": round(float(rms.max()), 3)},
        "same_seed_identical": bool(same),
    }


BENCHMARKS: dict[str, Callable[..., dict[str, Any]]] = {"faces": bench_faces}


def run_bench(name: str, out: str | None, **kwargs: Any) -> dict[str, Any]:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {sorted(BENCHMARKS)}")
    result = BENCHMARKS[name](**kwargs)
    result["machine"] = machine_info()
    result["date_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
    return result
