"""``bench_render_dataset``: end-to-end data set throughput (render -> PNG -> tar shards) per
worker count, with raw rasterisation of the same geometry measured in the same run as the
baseline (absolute numbers on shared machines are noisy; the ratio is the stable figure)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence


def best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Shortest wall time of ``repeats`` calls of ``fn`` (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_render_dataset(identities: int = 16, images_per_identity: int = 4, workers: Sequence[int] = (1, 2),
                         batch_size: int = 16, shard_size: int = 1000, seed: int = 0, backend: str = "auto",
                         texture_resolution: int = 512, repeats: int = 3) -> dict[str, Any]:
    """Measure ``render_dataset`` for each worker count and the raster baseline.

    Returns a dict with, per worker count, wall seconds (process start-up, face preparation,
    rendering, PNG encoding, tar writing, hashing, manifest), pairs/s and the ratio to the raw
    rasterisation rate; plus ``raster_only_images_per_s`` (``rasterize_ids`` on a batch of
    ``batch_size`` views of the data set's own first pairs), ``render_batch_pairs_per_s``
    (in-memory rendering of that batch, faces prepared), ``prepare_face_s`` per identity, and
    whether every worker count produced identical shards.
    """
    import torch

    from nirvis.render import pair as pair_mod
    from nirvis.render.geometry import project_views, views_geometry
    from nirvis.render.raster import rasterize_ids
    from nirvis.shards.config import RenderDatasetConfig
    from nirvis.shards.format import read_json
    from nirvis.shards.render import effective_config, render_dataset

    cfg = RenderDatasetConfig(identities=identities, images_per_identity=images_per_identity, shard_size=shard_size,
                              batch_size=batch_size, seed=seed, backend=backend, texture_resolution=texture_resolution)
    pairs = cfg.pairs
    runs: dict[str, dict[str, Any]] = {}
    digests = []
    with tempfile.TemporaryDirectory(prefix="nirvis-bench-") as tmp:
        for w in workers:
            t0 = time.perf_counter()
            summary = render_dataset(cfg.replace(workers=w), Path(tmp) / f"w{w}", progress=False)
            wall = time.perf_counter() - t0
            digests.append([s["sha256"] for s in read_json(Path(tmp) / f"w{w}" / "manifest.json")["shards"]])
            runs[str(w)] = {"seconds": round(wall, 3), "pairs_per_s": round(pairs / wall, 3),
                            "render_phase_pairs_per_s": summary["pairs_per_s"],
                            "steady_pairs_per_s": summary["steady_pairs_per_s"]}

    eff, _, _ = effective_config(cfg)
    res = cfg.sample_space.raw_resolution
    samples = [divmod(p, images_per_identity) for p in range(min(batch_size, pairs))]
    t0 = time.perf_counter()
    labels = sorted({label for label, _ in samples})
    prepared = {label: pair_mod.prepare_procedural_face(seed, label, resolution=texture_resolution,
                                                        led_nm=cfg.sample_space.led_nm, backend=eff.backend)
                for label in labels}
    prepare_s = (time.perf_counter() - t0) / len(labels)
    faces = [prepared[label] for label, _ in samples]
    params = [pair_mod.sample_params(cfg.sample_space, pair_mod.pair_seed(seed, label, i)) for label, i in samples]
    views = [p.vis_view for p in params]
    with torch.no_grad():
        world = views_geometry(faces, views)
        clip, _ = project_views(world, views, res)
        tri = faces[0].faces
        rasterize_ids(clip, tri, (res, res), backend=eff.backend)  # warm-up
        raster_s = best_of(lambda: rasterize_ids(clip, tri, (res, res), backend=eff.backend), repeats)
        pair_mod.render_batch(faces[:2], params[:2], backend=eff.backend)
        render_s = best_of(lambda: pair_mod.render_batch(faces, params, backend=eff.backend), max(1, repeats - 1))
    raster_rate = len(samples) / raster_s
    for r in runs.values():
        r["ratio_to_raster_only"] = round(r["pairs_per_s"] / raster_rate, 4)
    return {
        "benchmark": "render-dataset",
        "identities": identities, "images_per_identity": images_per_identity, "pairs": pairs,
        "batch_size": batch_size, "shard_size": shard_size, "backend": eff.backend,
        "raw_resolution": res, "output_resolution": cfg.resolution, "texture_resolution": texture_resolution,
        "torch_threads": torch.get_num_threads(),
        "workers": runs,
        "identical_shards_across_workers": all(d == digests[0] for d in digests),
        "raster_only_images_per_s": round(raster_rate, 2),
        "render_batch_pairs_per_s": round(len(samples) / render_s, 3),
        "prepare_face_s": round(prepare_s, 3),
        "note": "workers figures are wall time of render_dataset end to end (worker start-up and per-identity "
                "face preparation included); steady_pairs_per_s counts from the first progress report on (no "
                "start-up: what long jobs approach); ratio_to_raster_only = pairs/s divided by raster-only images/s",
    }
