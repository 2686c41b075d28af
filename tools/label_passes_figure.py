"""The README's picture of a data set's label passes: for a few samples, the VIS and NIR crops,
segmentation, depth and normals side by side, and the raw VIS frame, read back from the shards.

    nirvis render-dataset --out /tmp/labels --identities 4 --images-per-identity 2 --seed 0 \\
        --raw --passes segmentation,depth,normal --quiet
    python tools/label_passes_figure.py /tmp/labels docs/figures/label_passes.png
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from nirvis.faces.segmentation import SEGMENTATION_CLASSES
    from nirvis.shards.reader import iter_pairs

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=4)
    args = ap.parse_args(argv)
    samples = []
    for s in iter_pairs(args.dataset):
        if s.index == 0:                                   # one pair per identity
            samples.append(s)
        if len(samples) == args.samples:
            break
    if not samples or "seg.png" not in samples[0].extra:
        print(f"{args.dataset}: needs a data set rendered with --raw --passes segmentation,depth,normal",
              file=sys.stderr)
        return 2
    cmap = plt.get_cmap("tab20", 20)
    cols = ["VIS", "NIR", "segmentation", "depth (mm)", "normal", "raw VIS frame"]
    fig, ax = plt.subplots(len(samples), len(cols), figsize=(2.0 * len(cols), 2.0 * len(samples) + 0.9))
    ax = np.atleast_2d(ax)
    for i, s in enumerate(samples):
        depth = s.extra["depth.png"]
        on = depth > 0
        d = np.where(on, depth, np.nan)
        normal = np.where(on[..., None], s.extra["normal.png"] * 0.5 + 0.5, 1.0)
        tiles = [s.vis, s.nir, cmap(s.extra["seg.png"] % 20), d, normal, s.extra["vis_raw.png"]]
        for j, t in enumerate(tiles):
            a = ax[i, j]
            a.imshow(t, cmap="gray" if j == 1 else ("viridis_r" if j == 3 else None),
                     vmin=np.nanmin(d) if j == 3 else None, vmax=np.nanmax(d) if j == 3 else None)
            a.set_xticks([])
            a.set_yticks([])
            if i == 0:
                a.set_title(cols[j], fontsize=9)
        ax[i, 0].set_ylabel(s.key, fontsize=7)
    handles = [Patch(color=cmap(k % 20), label=n.replace("_", " ")) for k, n in enumerate(SEGMENTATION_CLASSES)]
    fig.legend(handles=handles, loc="lower center", ncol=9, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(args.out, dpi=56, metadata={"Software": None})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
