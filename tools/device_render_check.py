"""The render checks to run when a GPU is lent (issue 15): parity and throughput of one device.

    python tools/device_render_check.py --device cuda --backend cuda --out gpu_check.json
    python tools/device_render_check.py --device cpu --backend torch --batches 2 --out cpu_check.json

It renders the same pairs (default sample space, raw 224 -> 112, procedural faces) on
``--device``/``--backend`` and on the CPU reference (``cpu`` backend when numba is installed,
else ``torch``), and reports: per-pixel differences of the uint8 images (mean, 99th percentile,
max; VIS and NIR), the largest landmark difference (pixels), in-memory pairs/s for each batch
size in ``--batch-sizes`` (device synchronised around each timing), and the device's name. One
JSON file, written atomically; nothing else is touched. Run it as one prepared command so the
lent device time goes to measuring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from nirvis.atomic import atomic_write_json
from nirvis.render import pair as pair_mod
from nirvis.render.raster import available_backends
from nirvis.shards.config import RenderDatasetConfig


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def render(faces, params, backend: str) -> pair_mod.RenderedBatch:
    with torch.no_grad():
        return pair_mod.render_batch(faces, params, backend=backend)


def check(device: str, backend: str, pairs: int, batch_sizes: list[int], batches: int) -> dict:
    dev = torch.device(device)
    cfg = RenderDatasetConfig()
    space = cfg.sample_space
    n_id = max(1, pairs // 4)
    ref_backend = "cpu" if "cpu" in available_backends() else "torch"
    cpu_faces = [pair_mod.prepare_procedural_face(cfg.seed, k, resolution=cfg.texture_resolution) for k in range(n_id)]
    dev_faces = [pair_mod.prepare_procedural_face(cfg.seed, k, resolution=cfg.texture_resolution, backend=backend,
                                                  device=dev) for k in range(n_id)]
    params = [pair_mod.sample_params(space, pair_mod.pair_seed(cfg.seed, k % n_id, k // n_id)) for k in range(pairs)]
    ref = render([cpu_faces[k % n_id] for k in range(pairs)], params, ref_backend)
    got = render([dev_faces[k % n_id] for k in range(pairs)], params, backend)

    def diff(a: torch.Tensor, b: torch.Tensor) -> dict:
        d = (a.cpu().float() - b.cpu().float()).abs().flatten()
        return {"mean": round(float(d.mean()), 4), "p99": float(d.quantile(0.99)) if d.numel() < 2 ** 24 else None,
                "max": float(d.max())}

    result = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "backend": backend,
        "reference_backend": ref_backend, "pairs": pairs, "raw_resolution": space.raw_resolution,
        "parity": {"vis_uint8": diff(got.vis, ref.vis), "nir_uint8": diff(got.nir, ref.nir),
                   "landmarks5_px_max": float((got.vis_landmarks5.cpu() - ref.vis_landmarks5).abs().max())},
        "throughput": {},
    }
    for bs in batch_sizes:
        faces = [dev_faces[k % n_id] for k in range(bs)]
        ps = [pair_mod.sample_params(space, pair_mod.pair_seed(cfg.seed, 1000 + k, 0)) for k in range(bs)]
        render(faces[:2], ps[:2], backend)                      # warm-up
        _sync(dev)
        t = time.perf_counter()
        for _ in range(batches):
            render(faces, ps, backend)
        _sync(dev)
        result["throughput"][str(bs)] = round(bs * batches / (time.perf_counter() - t), 2)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--backend", default="cuda")
    p.add_argument("--pairs", type=int, default=16, help="pairs compared against the CPU reference")
    p.add_argument("--batch-sizes", default="16,64,256", help="comma-separated batch sizes to time")
    p.add_argument("--batches", type=int, default=5, help="timed batches per size")
    p.add_argument("--out", required=True, help="JSON report")
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.batch_sizes.split(",") if s]
    result = check(a.device, a.backend, a.pairs, sizes, a.batches)
    atomic_write_json(Path(a.out), result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
