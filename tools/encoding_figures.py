"""Bytes per pair, decode speed and error of each image encoding on rendered data sets.

Usage (render one data set per encoding with the same config first, e.g.)::

    for e in png jpeg webp; do
        nirvis render-dataset --out /tmp/enc_$e --identities 16 --images-per-identity 4 --seed 0 \\
            --encoding $e --quiet
    done
    OMP_NUM_THREADS=1 python tools/encoding_figures.py /tmp/enc_png /tmp/enc_jpeg /tmp/enc_webp

Prints one row per data set: encoding, image bytes per pair (VIS + NIR members), shard bytes per
pair (with the JSON member and tar headers), pairs decoded per second (VIS + NIR, one thread, best
of 3 passes over the data set in memory) and, against the first (lossless) data set, the mean and
max absolute pixel error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def main(dirs: list[str]) -> None:
    import cv2

    from nirvis.shards.format import decode_png
    from nirvis.shards.reader import iter_pairs

    cv2.setNumThreads(1)
    ref = None
    print("| encoding | image bytes / pair | shard bytes / pair | decode pairs/s (1 thread) | mean abs err "
          "| max abs err |")
    print("|---|---|---|---|---|---|")
    for d in dirs:
        manifest = json.loads((Path(d) / "manifest.json").read_text())
        enc = manifest["sample"].get("encoding", {"format": "png"})
        pairs = list(iter_pairs(d, decode=False))
        image_bytes = sum(len(p.vis) + len(p.nir) for p in pairs) / len(pairs)
        shard_bytes = sum(s["bytes"] for s in manifest["shards"]) / len(pairs)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            decoded = [(decode_png(p.vis, 3), decode_png(p.nir, 1)) for p in pairs]
            best = min(best, time.perf_counter() - t)
        if ref is None:
            ref, err = decoded, (0.0, 0)
        else:
            diffs = [np.abs(a.astype(int) - b.astype(int)) for r, g in zip(ref, decoded) for a, b in zip(r, g)]
            err = (float(np.mean([x.mean() for x in diffs])), int(max(x.max() for x in diffs)))
        name = enc["format"] + (f" q{enc['quality']}" if "quality" in enc else "")
        print(f"| {name} | {image_bytes:.0f} | {shard_bytes:.0f} | {len(pairs) / best:.0f} | {err[0]:.2f} | {err[1]} |")


if __name__ == "__main__":
    main(sys.argv[1:])
