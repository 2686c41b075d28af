"""Command ``reconstruct`` of the nirvis CLI (``register(subparsers)``, as the other stages).

Exit codes: 0 every photo was used, 1 some photo could not be used (each one is reported in
``OUT/reports`` and ``OUT/index.json``; the others are still reconstructed), 2 a user error
(bad option, missing input), reported as one line by ``nirvis.errors.run_command``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from nirvis.errors import run_command


def run_reconstruct(args: argparse.Namespace) -> int:
    from nirvis.reconstruct.batch import ReconstructConfig, reconstruct_dataset

    cfg = ReconstructConfig(texture_resolution=args.resolution, led_nm=args.led, refine=args.refine)
    summary = reconstruct_dataset(args.inputs, args.out, cfg, workers=args.workers,
                                  group_by_folder=args.group_by_folder, progress=not args.quiet)
    photos = summary["photo_status"]
    n_photos = sum(photos.values())
    bad = n_photos - photos.get("ok", 0)
    if not summary["complete"]:
        print(f"reconstruct: this rank is done; {summary['missing']} identities still missing (other ranks); "
              "the last rank to finish writes the index")
        return 0
    err = summary["mean_error_iod"]
    print(f"reconstruct: {summary['assets']} face assets from {n_photos} photos in {args.out} "
          f"(photo status: {', '.join(f'{k} {v}' for k, v in photos.items())}; "
          f"mean landmark error {'-' if err is None else f'{100 * err:.2f} % of the eye distance'}; "
          f"{summary['seconds_per_photo'] or 0:.2f} s/photo)")
    if bad:
        print(f"nirvis reconstruct: {bad} photo(s) not used; see {args.out}/index.json and {args.out}/reports/",
              file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="reconstruct face assets (shape, VIS/NIR reflectance) from photos")
    p.add_argument("inputs", nargs="+", help="photo files and/or folders (one identity per photo)")
    p.add_argument("--out", required=True, help="asset directory (resumed when it exists)")
    p.add_argument("--group-by-folder", action="store_true",
                   help="one identity per sub-folder of a folder input, its photos fused")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--resolution", type=int, default=512, help="reflectance map size (default 512)")
    p.add_argument("--led", type=int, default=850, help="NIR LED wavelength in nm (default 850)")
    p.add_argument("--refine", action="store_true",
                   help="refine each one-photo identity's shape by the photo's shading (+0.4 s per photo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_reconstruct)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="nirvis")
    register(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
