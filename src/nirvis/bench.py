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
from nirvis.atomic import atomic_write_json
from nirvis.shards.bench import best_of


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
    build_s = best_of(lambda: build_heads(ids, model=model))
    weights = np.random.default_rng(0).random((count, len(model.target_names)), dtype=np.float32)
    baseline_s = best_of(lambda: weights @ model.offsets)
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
    print(json.dumps(result, indent=1))
    if out:
        atomic_write_json(out, result, sort_keys=False)
    return result


def bench_render_all(batch: int = 16, dataset_identities: int = 32, dataset_images: int = 20,
                     peer: bool = True) -> dict[str, Any]:
    """``nirvis bench render``: in-memory render throughput per backend with the per-stage split and
    the pyrender peer (``nirvis.render.bench.bench_render``), then ``render-dataset`` end to end
    into shards with the default config (``dataset_images`` pairs per identity) per worker count,
    each with the raw rasterisation rate measured in the same run; ``summary`` holds the issue's
    figures (end-to-end pairs/s, and its ratio to the raster-only rate)."""
    from nirvis.render.bench import bench_render
    from nirvis.shards.bench import bench_render_dataset

    result = bench_render(batch=batch, pairs_per_identity=dataset_images, peer=peer)
    ds = bench_render_dataset(identities=dataset_identities, images_per_identity=dataset_images, repeats=1)
    result["render_dataset"] = ds
    best = max(ds["workers"].items(), key=lambda kv: kv[1]["pairs_per_s"])
    result["summary"] = {
        "end_to_end_pairs_per_s": best[1]["pairs_per_s"], "workers": int(best[0]),
        "steady_pairs_per_s": best[1]["steady_pairs_per_s"],
        "raster_only_images_per_s": ds["raster_only_images_per_s"],
        "ratio_to_raster_only": best[1]["ratio_to_raster_only"],
        "pairs_per_identity": dataset_images, "backend": ds["backend"],
        "targets": {"end_to_end_pairs_per_s": 100, "ratio_to_raster_only": 0.5},
    }
    return result


BENCHMARKS["render"] = bench_render_all


def bench_align_cli(count: int = 24) -> dict[str, Any]:
    """``nirvis bench align``: raw-image alignment accuracy and speed (``nirvis.evaluate.bench``)."""
    from nirvis.evaluate.bench import bench_align

    return bench_align(count=count)


BENCHMARKS["align"] = bench_align_cli


def bench_train_cli(config: str = "configs/train/tiny.yaml", data: str | None = None,
                    steps: int = 10) -> dict[str, Any]:
    """``nirvis bench train``: loader-only images/s, full training-step images/s and the ID-MMD
    share of step time in one run (``nirvis.train.bench``). Without ``data`` a small data set
    (16 identities x 4 pairs) is rendered into a temporary directory first."""
    import tempfile

    from nirvis.shards.config import RenderDatasetConfig
    from nirvis.shards.render import render_dataset
    from nirvis.train.bench import bench_train
    from nirvis.train.config import load_config

    cfg = load_config(config, {})
    with tempfile.TemporaryDirectory(prefix="nirvis-bench-train-") as tmp:
        if data is None:
            data = str(Path(tmp) / "data")
            render_dataset(RenderDatasetConfig(identities=16, images_per_identity=4, shard_size=16, batch_size=16,
                                               workers=1, texture_resolution=128), Path(data), progress=False)
        result = bench_train(cfg, [data], steps=steps)
    return {"benchmark": "train", "config": config, **result}


BENCHMARKS["train"] = bench_train_cli


def bench_realism_cli(dataset: str | None = None, real_photos: str | None = None, plot: str | None = None,
                      detector: str = "hog", limit: int | None = None) -> dict[str, Any]:
    """``nirvis bench realism DIR``: how an independent detector and recognizer trained on real
    photographs (dlib) see a render-dataset output, optionally next to real photos
    (``nirvis.evaluate.realism``); ``plot``: PNG of the distance histograms."""
    from nirvis.errors import UsageError
    from nirvis.evaluate.realism import plot_distances, realism_report

    if dataset is None:
        raise UsageError("bench realism needs the data set directory: nirvis bench realism DIR")
    report, arrays = realism_report(dataset, real_photos, detector=detector, limit=limit)
    if plot:
        plot_distances(arrays, plot, title=f"{dataset} ({report['identities']} identities, "
                                           f"{report['samples']} pairs)")
        report["plot"] = str(plot)
    return report


BENCHMARKS["realism"] = bench_realism_cli


def bench_reconstruct_cli(count: int = 20) -> dict[str, Any]:
    """``nirvis bench reconstruct``: shape, albedo, lighting-invariance and landmark errors and
    seconds per photo (with the stage breakdown) of ``nirvis reconstruct`` on ``count`` rendered
    identities x 3 lightings, against the renderer's ground truth (``nirvis.reconstruct.bench``)."""
    from nirvis.reconstruct.bench import bench_reconstruct

    return bench_reconstruct(count=count)


BENCHMARKS["reconstruct"] = bench_reconstruct_cli
