"""Regenerate the README's data-set card figures (``docs/figures/card_*.png``).

    python tools/card_figures.py [--out docs/figures] [--dataset DIR]

Renders 16 procedural identities x 4 pairs with ``configs/render/default.yaml`` (seed 0, 16 pairs a
shard; about 1.5 minutes on one CPU core) into a temporary directory, or takes the rendered
``--dataset DIR`` of that config, writes its card (``nirvis stats``, an example grid of 4 pairs to
keep the PNG small) and copies the plots to ``OUT/card_<name>.png``. Deterministic: the same code
gives the same PNGs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"), help="output directory (default docs/figures)")
    ap.add_argument("--dataset", help="an already rendered data set of the same config (skips rendering)")
    args = ap.parse_args()
    from nirvis.shards.card import PLOT_DIR, write_card
    from nirvis.shards.cli import main as shards_main

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ds = Path(args.dataset) if args.dataset else Path(tmp) / "ds"
        if not args.dataset:
            assert shards_main(["render-dataset", "--config", str(ROOT / "configs" / "render" / "default.yaml"),
                                "--identities", "16", "--images-per-identity", "4", "--shard-size", "16",
                                "--workers", "1", "--no-card", "--quiet", "--out", str(ds)]) == 0
        res = write_card(ds, examples=4)
        for rel in res["files"]:
            if rel.startswith(f"{PLOT_DIR}/"):
                dst = out / f"card_{Path(rel).name}"
                shutil.copyfile(ds / rel, dst)
                print(f"wrote {dst} ({dst.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
