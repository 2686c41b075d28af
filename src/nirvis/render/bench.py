"""``nirvis bench render``: where a pair's time goes, per backend, against baselines of the same run.

``bench_render`` renders one batch of the data sets' default sample space (procedural faces at
the default texture size) and reports, per rasterisation backend, aligned pairs/s in memory, the
raw rasterisation rate of the same geometry, and the stage split of the fastest backend per pair
(``stage_ms_per_pair``: prepare face, geometry, raster, shade, sensor, align, encode, write).
``peer_pyrender`` renders the same textured head at the same size with pyrender on EGL, when it
is installed (it is not a dependency; see the README). The end-to-end figure into shards comes
from ``nirvis.shards.bench.bench_render_dataset`` (``nirvis.bench.bench_render_all``).
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import time
from typing import Any, Callable

from nirvis.shards.bench import best_of

#: (key, module, function): timed where the renderer looks the function up.
STAGES = (("geometry_pass", "nirvis.render.pair", "geometry_pass"),
          ("rasterize_ids", "nirvis.render.geometry", "rasterize_ids"),
          ("rasterize_depth", "nirvis.render.occlusion", "rasterize_depth"),
          ("views_geometry", "nirvis.render.geometry", "views_geometry"),
          ("shadow", "nirvis.render.vis", "directional_shadow"),
          ("masked_blur", "nirvis.render.spectrum", "masked_blur"),
          ("auto_exposure", "nirvis.render.pair", "auto_exposure"),
          ("composite_lenses", "nirvis.render.pair", "composite_lenses"),
          ("antialias", "nirvis.render.pair", "antialias"),
          ("project_landmarks", "nirvis.render.pair", "project_landmarks"),
          ("align_to_arcface", "nirvis.render.align", "align_to_arcface"),
          ("to_uint8", "nirvis.render.pair", "to_uint8"))
SPECTRUM_MEMBERS = ("shade", "background", "sensor")


class profiled:
    """Accumulate wall time of the renderer's stages (``STAGES``, and each spectrum's ``shade``,
    ``background`` and ``sensor`` as ``<name>.<member>``) by swapping in timed wrappers while the
    context is open. Nested stages overlap (``geometry_pass`` contains ``rasterize_ids``)."""

    def _timed(self, fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        def wrapped(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.times[key] = self.times.get(key, 0.0) + time.perf_counter() - t
        return wrapped

    def __enter__(self) -> dict[str, float]:
        from nirvis.render import pair as pair_mod

        self.times: dict[str, float] = {}
        self.saved: list[tuple[Any, str, Any]] = []
        for key, module, name in STAGES:
            mod = importlib.import_module(module)
            self.saved.append((mod, name, getattr(mod, name)))
            setattr(mod, name, self._timed(getattr(mod, name), key))
        self.saved.append((pair_mod, "SPECTRA", pair_mod.SPECTRA))
        timed = []
        for s in pair_mod.SPECTRA:
            members: dict[str, Any] = {m: self._timed(getattr(s, m), f"{s.name}.{m}") for m in SPECTRUM_MEMBERS}
            timed.append(dataclasses.replace(s, **members))
        pair_mod.SPECTRA = tuple(timed)
        return self.times

    def __exit__(self, *exc) -> None:
        for mod, name, fn in reversed(self.saved):
            setattr(mod, name, fn)


def stage_split(times: dict[str, float], batch: int, prepare_s: float, pairs_per_identity: int,
                encode_s: float, write_s: float) -> dict[str, float]:
    """The issue's stages in ms per pair from ``profiled`` times of one batch of ``batch`` pairs,
    a face's preparation (amortised over ``pairs_per_identity``) and the encode / write seconds per
    pair: geometry = the geometry pass without its rasterisation; raster = visible-surface and
    shadow-map rasterisation; shade = both spectra's shading (shadow filtering included),
    backgrounds, exposure, lenses and anti-aliasing; sensor = both camera pipelines; align =
    landmarks, the ArcFace warp and 8-bit conversion."""
    t = {k: v / batch * 1000.0 for k, v in times.items()}
    shade = sum(t.get(k, 0.0) for k in ("vis.shade", "nir.shade", "vis.background", "nir.background",
                                        "auto_exposure", "composite_lenses", "antialias"))
    split = {
        "prepare_face": prepare_s / pairs_per_identity * 1000.0,
        "geometry": t.get("geometry_pass", 0.0) - t.get("rasterize_ids", 0.0),
        "raster": t.get("rasterize_ids", 0.0) + t.get("rasterize_depth", 0.0),
        "shade": shade - t.get("rasterize_depth", 0.0),
        "sensor": t.get("vis.sensor", 0.0) + t.get("nir.sensor", 0.0),
        "align": t.get("project_landmarks", 0.0) + t.get("align_to_arcface", 0.0) + t.get("to_uint8", 0.0),
        "encode": encode_s * 1000.0,
        "write": write_s * 1000.0,
    }
    split["total"] = sum(split.values())
    return {k: round(v, 3) for k, v in split.items()}


def _encode_and_write(out: Any, compression: int) -> tuple[float, float]:
    """Seconds per pair to PNG-encode a rendered batch and to write it as one tar shard (in memory,
    with its sha256)."""
    import hashlib

    from nirvis.shards.format import ShardWriter, encode_png, sample_key

    vis, nir = out.vis.numpy(), out.nir.numpy()
    t0 = time.perf_counter()
    pngs = [(encode_png(vis[k], compression), encode_png(nir[k], compression)) for k in range(len(vis))]
    encode = (time.perf_counter() - t0) / len(vis)
    t0 = time.perf_counter()
    buf = io.BytesIO()
    writer = ShardWriter(buf)
    for k, (v, n) in enumerate(pngs):
        writer.add_sample(sample_key(k, 0), v, n, {"key": sample_key(k, 0)})
    writer.close()
    hashlib.sha256(buf.getvalue()).hexdigest()
    return encode, (time.perf_counter() - t0) / len(vis)


def peer_pyrender(face: Any, res: int, repeats: int = 20) -> dict[str, Any]:
    """Images/s of pyrender (OpenGL through EGL; on a CPU machine Mesa's llvmpipe) drawing the
    same textured head (the prepared face's mesh and VIS albedo, one directional light plus
    ambient, no shadows) at ``res`` x ``res``; ``{"available": False, ...}`` without pyrender."""
    import os

    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import numpy as np
        import pyrender
        import trimesh
        from PIL import Image
    except Exception as e:  # not installed, or no EGL for it
        return {"available": False, "reason": f"{type(e).__name__}: {e}"}
    tri = face.faces.numpy()
    verts = face.vertices.numpy()[tri.reshape(-1)]
    uv = face.uvs.numpy()[face.uv_faces.numpy().reshape(-1)]
    albedo = face.material.levels[0][0, :3].permute(1, 2, 0).clamp(0, 1).numpy() ** (1 / 2.2)
    image = Image.fromarray((albedo * 255).astype(np.uint8))
    mesh = trimesh.Trimesh(verts, np.arange(len(verts)).reshape(-1, 3), process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, image=image))
    scene = pyrender.Scene(ambient_light=[0.3, 0.3, 0.3])
    scene.add(pyrender.Mesh.from_trimesh(mesh))
    pose = np.eye(4)
    pose[2, 3] = 700.0
    scene.add(pyrender.PerspectiveCamera(yfov=np.radians(20.0)), pose=pose)
    scene.add(pyrender.DirectionalLight(intensity=3.0), pose=pose)
    renderer = pyrender.OffscreenRenderer(res, res)
    try:
        renderer.render(scene)
        seconds = best_of(lambda: [renderer.render(scene) for _ in range(repeats)], 2) / repeats
    finally:
        renderer.delete()
    return {"available": True, "images_per_s": round(1.0 / seconds, 2), "triangles": int(len(tri)),
            "resolution": res, "version": getattr(pyrender, "__version__", "unknown")}


def bench_render(batch: int = 16, repeats: int = 3, backends: tuple[str, ...] = ("cpu", "gl", "torch"),
                 pairs_per_identity: int = 20, peer: bool = True) -> dict[str, Any]:
    """In-memory render throughput at 112 x 112 (prepared faces -> aligned uint8 pairs) per
    backend, raw rasterisation of the same geometry, the per-stage split of the first backend, and
    the pyrender peer, all in one run. ``cuda`` needs a GPU and is measured by the GPU script."""
    import torch

    from nirvis.crop import CROP_SIZE
    from nirvis.render import pair as pair_mod
    from nirvis.render.geometry import project_views, views_geometry
    from nirvis.render.raster import available_backends, rasterize_ids
    from nirvis.shards.config import RenderDatasetConfig

    cfg = RenderDatasetConfig()
    space = cfg.sample_space
    avail = [b for b in backends if b in available_backends() and b != "cuda"]
    n_id = max(1, -(-batch // pairs_per_identity))
    pair_mod.prepare_procedural_face(cfg.seed, 10_000, resolution=cfg.texture_resolution)   # one-off caches
    t0 = time.perf_counter()
    faces = [pair_mod.prepare_procedural_face(cfg.seed, k, resolution=cfg.texture_resolution) for k in range(n_id)]
    prepare_s = (time.perf_counter() - t0) / n_id
    samples = [divmod(p, pairs_per_identity) for p in range(batch)]
    params = [pair_mod.sample_params(space, pair_mod.pair_seed(cfg.seed, label, i)) for label, i in samples]
    batch_faces = [faces[label] for label, _ in samples]
    res = space.raw_resolution
    result: dict[str, Any] = {"benchmark": "render", "batch": batch, "raw_resolution": res,
                              "output_resolution": CROP_SIZE, "texture_resolution": cfg.texture_resolution,
                              "pairs_per_identity": pairs_per_identity, "torch_threads": torch.get_num_threads(),
                              "prepare_procedural_face_s": round(prepare_s, 3), "backends": {}}
    with torch.no_grad():
        world = views_geometry(batch_faces, [p.vis_view for p in params])
        clip, _ = project_views(world, [p.vis_view for p in params], res)
        for name in avail:
            pair_mod.render_batch(batch_faces[:2], params[:2], backend=name)   # warm-up (contexts, kernels)
            e2e = best_of(lambda b=name: pair_mod.render_batch(batch_faces, params, backend=b), repeats)
            rasterize_ids(clip, batch_faces[0].faces, (res, res), backend=name)
            raster = best_of(lambda b=name: rasterize_ids(clip, batch_faces[0].faces, (res, res), backend=b), repeats)
            result["backends"][name] = {"pairs_per_s": round(batch / e2e, 2),
                                        "raster_only_images_per_s": round(batch / raster, 1)}
        with profiled() as prof:
            out = pair_mod.render_batch(batch_faces, params, backend=avail[0])
    encode_s, write_s = _encode_and_write(out, cfg.png_compression)
    result["stage_backend"] = avail[0]
    result["stage_ms_per_pair"] = stage_split(prof, batch, prepare_s, pairs_per_identity, encode_s, write_s)
    result["profiled_ms_per_pair"] = {k: round(v / batch * 1000.0, 3) for k, v in sorted(prof.items())}
    if "torch" in result["backends"]:
        base = result["backends"]["torch"]["pairs_per_s"]
        for r in result["backends"].values():
            r["ratio_to_torch"] = round(r["pairs_per_s"] / base, 2)
    if peer:
        result["peer_pyrender"] = peer_pyrender(faces[0], res)
        if result["peer_pyrender"].get("available"):
            fastest = max(r["pairs_per_s"] for r in result["backends"].values())
            result["peer_pyrender"]["our_pairs_per_s_over_its_images_per_s"] = round(
                fastest / result["peer_pyrender"]["images_per_s"], 3)
    return result
