"""``nirvis bench ...``: measured figures, printed and saved as JSON.

Every benchmark also times a baseline in the same run and reports ratios to it, since absolute
numbers on shared machines are noisy.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nirvis import __version__
from nirvis.atomic import atomic_write_json
from nirvis.crop import CROP_SIZE
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


def bench_render(batch: int = 32, repeats: int = 3, backends: tuple[str, ...] = ("gl", "torch", "cuda")
                 ) -> dict[str, Any]:
    """Render throughput at 112x112 end to end (prepared faces -> aligned uint8 pairs) per backend,
    and raw rasterisation alone for the same geometry, in one run; plus the per-identity cost of
    preparing a procedural face (mesh, biophysical VIS/NIR maps at the data sets' default
    ``texture_resolution``, hair and beard shells, subdivision, AO, mips). Stage timings
    (first backend) show where the time goes."""
    from nirvis.render import pair as pair_mod
    from nirvis.render.geometry import project_views, views_geometry
    from nirvis.render.raster import available_backends, rasterize_ids

    # the cuda backend needs faces and parameters on a CUDA device; this benchmark renders on the
    # CPU (no GPU was available to validate a CUDA run), so it is listed but not timed
    avail = [b for b in backends if b in available_backends() and b != "cuda"]
    t0 = time.perf_counter()
    n_id = 8
    from nirvis.shards.config import RenderDatasetConfig

    texture = RenderDatasetConfig().texture_resolution
    faces = [pair_mod.prepare_procedural_face(0, k, resolution=texture) for k in range(n_id)]
    prepare_s = (time.perf_counter() - t0) / n_id
    space = pair_mod.SampleSpace()
    params = [pair_mod.sample_params(space, k) for k in range(batch)]
    batch_faces = [faces[k % n_id] for k in range(batch)]
    result: dict[str, Any] = {"benchmark": "render", "batch": batch, "raw_resolution": space.raw_resolution,
                              "output_resolution": CROP_SIZE, "texture_resolution": texture,
                              "prepare_procedural_face_s": round(prepare_s, 3),
                              "backends": {}}
    for name in avail:
        pair_mod.render_batch(batch_faces[:2], params[:2], backend=name)  # warm-up (contexts, caches)
        e2e = best_of(functools.partial(pair_mod.render_batch, batch_faces, params, backend=name), repeats)
        views = [p.vis_view for p in params]
        world = views_geometry(batch_faces, views)
        clip, _ = project_views(world, views, space.raw_resolution)
        tri = batch_faces[0].faces
        raster = best_of(functools.partial(rasterize_ids, clip, tri, (space.raw_resolution,) * 2, backend=name),
                         repeats)
        result["backends"][name] = {
            "pairs_per_s": round(batch / e2e, 2),
            "raster_only_images_per_s": round(batch / raster, 1),
            "raster_share_of_pair_time": round(2 * raster / e2e, 3),
        }
    with _profiled() as prof:
        pair_mod.render_batch(batch_faces, params, backend=avail[0])
    result["stage_seconds_per_pair"] = {k: round(v / batch, 5) for k, v in prof.items()}
    result["baseline_backend"] = "torch"
    if "torch" in result["backends"]:
        base = result["backends"]["torch"]["pairs_per_s"]
        for r in result["backends"].values():
            r["ratio_to_torch"] = round(r["pairs_per_s"] / base, 2)
    return result


class _profiled:
    """Accumulate wall time of the renderer's main stages (monkey-patched timers).

    ``STAGES``: (key, module, function) patched where the renderer looks the function up; each
    spectrum's ``shade``, ``background`` and ``sensor`` are timed as ``<name>.<member>`` (by
    swapping ``pair.SPECTRA`` for wrapped copies). Nested stages overlap (e.g. ``vis.shade``
    contains ``shadow`` and ``masked_blur``)."""

    STAGES = (("rasterize_ids", "nirvis.render.geometry", "rasterize_ids"),
              ("rasterize_pixels", "nirvis.render.geometry", "rasterize_pixels"),
              ("interpolate", "nirvis.render.geometry", "interpolate"),
              ("texture", "nirvis.render.geometry", "texture"),
              ("views_geometry", "nirvis.render.geometry", "views_geometry"),
              ("masked_blur", "nirvis.render.spectrum", "masked_blur"),
              ("shadow", "nirvis.render.vis", "directional_shadow"),
              ("antialias", "nirvis.render.pair", "antialias"),
              ("auto_exposure", "nirvis.render.pair", "auto_exposure"))
    SPECTRUM_MEMBERS = ("shade", "background", "sensor")

    def _timed(self, fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.times[key] = self.times.get(key, 0.0) + time.perf_counter() - t
        return wrapped

    def __enter__(self) -> dict[str, float]:
        import dataclasses
        import importlib

        from nirvis.render import pair as pair_mod

        self.times: dict[str, float] = {}
        self.saved: list[tuple[Any, str, Any]] = []
        for key, module, name in self.STAGES:
            mod = importlib.import_module(module)
            self.saved.append((mod, name, getattr(mod, name)))
            setattr(mod, name, self._timed(getattr(mod, name), key))
        self.saved.append((pair_mod, "SPECTRA", pair_mod.SPECTRA))
        timed = []
        for s in pair_mod.SPECTRA:
            members: dict[str, Any] = {m: self._timed(getattr(s, m), f"{s.name}.{m}") for m in self.SPECTRUM_MEMBERS}
            timed.append(dataclasses.replace(s, **members))
        pair_mod.SPECTRA = tuple(timed)
        return self.times

    def __exit__(self, *exc) -> None:
        for mod, name, fn in reversed(self.saved):
            setattr(mod, name, fn)


def bench_render_all(batch: int = 32, dataset_identities: int = 16, dataset_images: int = 4) -> dict[str, Any]:
    """``nirvis bench render``: in-memory render throughput per backend (``bench_render``) and the
    end-to-end ``render-dataset`` throughput into shards per worker count, each with the raw
    rasterisation rate measured in the same run."""
    from nirvis.shards.bench import bench_render_dataset

    result = bench_render(batch=batch)
    result["render_dataset"] = bench_render_dataset(identities=dataset_identities,
                                                    images_per_identity=dataset_images, repeats=1)
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
