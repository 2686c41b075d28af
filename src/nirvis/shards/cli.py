"""Commands ``render-dataset``, ``verify``, ``index``, ``preview`` and ``export`` of the nirvis CLI.

``register(subparsers)`` adds them to the main parser (``nirvis.cli``); every handler returns an
int exit code: 0 success, 1 a data set that fails verification; user errors are raised (a
``NirvisError``) and reported by ``nirvis.errors.run_command``: one line ``nirvis <cmd>: error: ...``
on stderr, exit code 2, nothing published. ``python -m nirvis.shards.cli`` runs
these commands on their own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from nirvis.atomic import save_image
from nirvis.crop import CROP_SIZE, CROP_SIZES
from nirvis.errors import run_command

#: command-line flag of each config field it overrides (named in error messages)
FLAGS = {
    "identities": "--identities", "images_per_identity": "--images-per-identity", "resolution": "--resolution",
    "backend": "--backend", "device": "--device", "workers": "--workers", "shard_size": "--shard-size",
    "seed": "--seed", "identity_source": "--identity-source", "batch_size": "--batch-size",
    "encoding": "--encoding", "quality": "--quality", "raw": "--raw", "passes": "--passes",
}


# ----------------------------------------------------------------------------------- commands


def _pass_list(text: str) -> tuple[str, ...]:
    """``--passes a,b``: the names (checked with the config's other fields)."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def run_render_dataset(args: argparse.Namespace) -> int:
    from nirvis.shards.config import load_config
    from nirvis.shards.render import format_summary, render_dataset

    overrides = {field: getattr(args, field) for field in FLAGS}
    cfg = load_config(args.config, overrides, FLAGS)
    summary = render_dataset(cfg, args.out, force=args.force, progress=not args.quiet,
                             wait_timeout_s=args.wait_timeout, card=not args.no_card)
    print(format_summary(summary))
    if summary.get("card_error"):
        print(f"nirvis render-dataset: warning: the data set is complete but its card was not written: "
              f"{summary['card_error']}", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from nirvis.shards.verify import verify_dataset

    from nirvis.shards.reader import read_manifest

    report = verify_dataset(args.dir, decode=not args.no_decode)
    if report.ok:
        indexed = "indexes" in read_manifest(args.dir)
        print(f"verify: {args.dir} ok: {report.shards} shards, {report.samples} pairs (sha256, counts, keys"
              f"{'' if args.no_decode else ', every image decoded, json parsed'}"
              f"{', DALI and wids index files' if indexed else ''})")
        if not indexed:
            print(f"verify: {args.dir} records no index files (rendered before them); `nirvis index {args.dir}` "
                  "writes them")
        return 0
    for problem in report.problems:
        print(f"nirvis verify: {problem}", file=sys.stderr)
    bad = sorted({p.split(":", 1)[0].rsplit("/", 1)[-1] for p in report.problems})
    print(f"nirvis verify: FAILED: {len(report.problems)} problem(s) in {', '.join(bad)}", file=sys.stderr)
    return 1


def run_index(args: argparse.Namespace) -> int:
    from nirvis.shards.verify import index_dataset

    res = index_dataset(args.dir)
    what = ", ".join(res["written"]) if res["written"] else "nothing (every index file was up to date)"
    print(f"index: {res['dir']}: {res['shards']} shards, {res['pairs']} pairs indexed; wrote {what}")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from nirvis.shards.export import preview_sheet

    sheet, n = preview_sheet(args.dir, count=args.count)
    save_image(sheet, Path(args.out))
    print(f"preview: wrote {args.out} (first {n} pairs of {args.dir}, VIS | NIR)")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from nirvis.shards.card import write_card

    res = write_card(args.dir, examples=args.examples)
    d = res["stats"]["dataset"]
    print(f"stats: {args.dir}: {d['identities']} identities, {d['pairs']} pairs; wrote {', '.join(res['files'])}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from nirvis.shards.export import export_folders, export_insightface_rec

    fn = export_insightface_rec if args.format == "insightface-rec" else export_folders
    res = fn(args.dir, args.out, modality=args.modality, force=args.force)
    extra = f", {res['classes']} classes" if "classes" in res else ""
    extra += f", {res['extra_files']} raw-frame / label files" if res.get("extra_files") else ""
    print(f"export: wrote {res['images']} images ({'+'.join(res['modalities'])}{extra}) as {res['format']} "
          f"to {res['out']}")
    if res.get("dropped"):
        print(f"export: {res['format']} holds the aligned images only; not exported: {', '.join(res['dropped'])}")
    return 0


# ------------------------------------------------------------------------------------- parser


def register(subparsers: Any) -> None:
    """Add ``render-dataset``, ``verify``, ``index``, ``preview`` and ``export`` to ``subparsers`` (from
    ``parser.add_subparsers()``); each sets ``func`` (namespace -> int exit code)."""
    p = subparsers.add_parser(
        "render-dataset", help="render paired NIR/VIS images into resumable WebDataset shards",
        description="Render a data set of aligned NIR/VIS pairs into WebDataset tar shards (DIR/shards), with "
                    "DIR/config.yaml (effective config) and DIR/manifest.json (written last). Reruns resume; "
                    "the same config gives byte-identical shards for any --workers. Under torchrun every rank "
                    "renders its own shards and rank 0 writes the manifest.")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--config", help="YAML config (e.g. configs/render/default.yaml); flags override it")
    p.add_argument("--identities", type=int, help="number of identities (labels 0..N-1)")
    p.add_argument("--images-per-identity", type=int, help="pairs per identity")
    p.add_argument("--resolution", type=int,
                   help=f"aligned crop side: {', '.join(map(str, CROP_SIZES))} (default {CROP_SIZE}; the ArcFace "
                        "template scaled; the raw render is at least twice as large, so crops are never upsampled)")
    p.add_argument("--raw", action="store_true", default=None,
                   help="also store the uncropped camera frames (<key>.vis_raw.<ext> ...), landmarks in raw pixels")
    p.add_argument("--passes", type=_pass_list,
                   help="comma-separated label passes to store: segmentation, depth, normal (PNG members, "
                        "pixel-aligned with the images; README, data-set outputs)")
    p.add_argument("--backend", help="rasteriser: auto, cpu, gl, cuda or torch")
    p.add_argument("--device", help="cpu or cuda (cuda:LOCAL_RANK under torchrun)")
    p.add_argument("--workers", type=int, help="CPU worker processes (results do not depend on it)")
    p.add_argument("--shard-size", type=int, help="pairs per shard")
    p.add_argument("--batch-size", type=int,
                   help="pairs rendered together (memory/speed only: the bytes are the same for any value)")
    p.add_argument("--seed", type=int, help="global seed")
    p.add_argument("--encoding", help="image members: png (lossless, default), jpeg or webp")
    p.add_argument("--quality", type=int, help="jpeg / webp quality 1-100 (default 95)")
    p.add_argument("--identity-source", help="'procedural' or a directory of face assets (nirvis identities --out)")
    p.add_argument("--force", action="store_true", help="replace an output directory holding a different config")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-card", action="store_true",
                   help="do not write the data-set card (README.md, stats.json, card/*.png; `nirvis stats DIR`)")
    p.add_argument("--wait-timeout", type=float, default=86400.0,
                   help="torchrun: seconds rank 0 waits for the other ranks' shards (default 86400)")
    p.set_defaults(func=run_render_dataset)

    p = subparsers.add_parser("verify", help="check a rendered data set (hashes, counts, decodability)",
                              description="Check every shard of a rendered data set against its manifest: sha256, "
                                          "sample counts and keys, PNG decoding (shapes, dtypes), JSON and the index "
                                          "files. "
                                          "Exit 0 when intact, 1 when a problem is found, 2 on a usage error.")
    p.add_argument("dir", help="render-dataset output directory")
    p.add_argument("--no-decode", action="store_true", help="skip decoding images (hashes and keys only)")
    p.set_defaults(func=run_verify)

    p = subparsers.add_parser("index", help="(re)write a data set's DALI and wids index files",
                              description="Write DIR/shards/shard-NNNNNN.idx (DALI webdataset index, one per shard) "
                                          "and DIR/wids-index.json (wids shard index) of a complete data set and "
                                          "record them in its manifest: for data sets rendered before index files, "
                                          "or to repair damaged ones. The shards must verify first; files already "
                                          "right are left alone.")
    p.add_argument("dir", help="render-dataset output directory")
    p.set_defaults(func=run_index)

    p = subparsers.add_parser("preview", help="contact sheet of rendered pairs (VIS | NIR)")
    p.add_argument("dir", help="render-dataset output directory")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--count", type=int, default=16, help="number of pairs (default 16)")
    p.set_defaults(func=run_preview)

    p = subparsers.add_parser("export", help="export a rendered data set for other trainers",
                              description="Export to InsightFace RecordIO (train.rec, train.idx, property) or to "
                                          "image folders OUT/<label>/<key>_vis.png|_nir.png with list files.")
    p.add_argument("dir", help="render-dataset output directory")
    p.add_argument("--format", required=True, choices=["insightface-rec", "folders"], help="output format")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--modality", default="both", choices=["both", "vis", "nir"], help="images to export")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser("stats", help="write a data set's card: README.md, stats.json and plots",
                              description="Read every sample's JSON of a complete data set and write DIR/README.md "
                                          "(a data-set card), DIR/stats.json (counts, histograms, shares) and "
                                          "DIR/card/*.png (plots, an example grid). The same data set gives the "
                                          "same bytes. render-dataset writes it at the end unless --no-card.")
    p.add_argument("dir", help="render-dataset output directory")
    p.add_argument("--examples", type=int, default=8, help="pairs in the example grid (default 8; 0: none)")
    p.set_defaults(func=run_stats)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Stand-alone entry point (``python -m nirvis.shards.cli``) until ``nirvis.cli`` registers these."""
    parser = argparse.ArgumentParser(prog="nirvis", description="nirvis data set commands")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(sub)
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
