"""The ``nirvis`` command line. Thin: parses arguments and calls one function per command."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from nirvis import __version__
from nirvis.atomic import check_output_path, remove_stale_temporaries, save_image, staged_dir
from nirvis.errors import UsageError, run_command
from nirvis.output_lock import output_lock

# ----------------------------------------------------------------------------------- commands


def cmd_identities(args: argparse.Namespace) -> int:
    from nirvis.faces import load_head_model
    from nirvis.faces.preview import contact_sheet
    from nirvis.shards.config import MAX_IDENTITIES

    if not 1 <= args.count <= MAX_IDENTITIES:
        raise UsageError(f"--count must lie in [1, {MAX_IDENTITIES}] (labels have 7 digits), got {args.count}")
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.resolution not in (128, 256, 512, 1024, 2048):
        raise UsageError(f"--resolution must be one of 128, 256, 512, 1024, 2048; got {args.resolution}")
    out = check_output_path(args.out, args.force)
    if args.preview and Path(args.preview).resolve().is_relative_to(out.resolve()):
        raise UsageError("--preview must lie outside --out (the output directory is replaced as a whole)")
    model = load_head_model()
    index: list[dict] = []
    previews: list = []
    start = time.perf_counter()
    with output_lock(out, "identities"):
        remove_stale_temporaries(out)  # what a killed run left (we hold the lock: no other writer)
        _write_identities(args, out, model, index, previews)
    elapsed = time.perf_counter() - start
    if args.preview:
        labels = [f"#{e['label']} {'M' if e['gender'] > 0.5 else 'F'} {e['age_years']:.0f}y" for e in index]
        sheet = contact_sheet(previews, columns=min(8, len(previews)), labels=labels[: len(previews)])
        save_image(sheet, Path(args.preview))
    print(f"identities: wrote {args.count} face assets to {out} in {elapsed:.1f} s "
          f"({args.count / elapsed:.1f} identities/s)" + (f"; preview {args.preview}" if args.preview else ""))
    return 0


def _write_identities(args: argparse.Namespace, out: Path, model, index: list, previews: list) -> None:
    """Build the ``identities`` output in a staged directory and publish it as ``out``."""
    from tqdm import tqdm

    from nirvis.faces import identity_seed, sample_identity, save_asset
    from nirvis.faces.preview import preview_asset
    from nirvis.reflectance.maps import procedural_face_asset

    with staged_dir(out, force=args.force) as tmp:
        for label in tqdm(range(args.count), desc="identities", unit="id", disable=args.quiet):
            identity = sample_identity(identity_seed(args.seed, label), model)
            asset = procedural_face_asset(identity, resolution=args.resolution)
            name = f"{label:07d}"
            save_asset(asset, tmp / name)
            index.append({"label": label, "dir": name, "seed": identity.seed, "gender": round(identity.gender, 4),
                          "age_years": round(identity.age_years, 2), "race": [round(r, 4) for r in identity.race]})
            if args.preview and label < args.preview_count:
                previews.append(preview_asset(asset, size=160, yaw_deg=20.0 if label % 2 else -20.0))
        doc = {"nirvis_version": __version__, "count": args.count, "seed": args.seed,
               "resolution": args.resolution, "head_model": model.provenance, "identities": index}
        (tmp / "identities.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def cmd_import_face(args: argparse.Namespace) -> int:
    from nirvis.faces import save_asset
    from nirvis.faces.importer import import_reconstruction

    out = check_output_path(args.out, args.force)
    asset = import_reconstruction(
        args.mesh, args.diffuse, specular_path=args.specular, normal_path=args.normal,
        roughness_path=args.roughness, units=args.units, diffuse_encoding=args.diffuse_encoding,
        landmarks_path=args.landmarks, resolution=args.resolution,
    )
    placed = ""
    if not args.landmarks:
        from nirvis.reconstruct.place_landmarks import place_landmarks

        asset, report = place_landmarks(asset)
        placed = (f" (placed automatically from {report['views_used']} renders, "
                  f"{report['orientation']}; see metadata.landmarks_placed)")
    save_asset(asset, out, overwrite=True)
    m = asset.mesh
    print(f"import-face: wrote {out}: {len(m.vertices)} vertices, {len(m.faces)} triangles, "
          f"maps {asset.maps.resolution[0]}x{asset.maps.resolution[1]}, units {asset.metadata['units']}"
          f"{' (guessed)' if asset.metadata['units_guessed'] else ''}, "
          f"landmarks {sorted(asset.landmarks) or 'none'}{placed}")
    return 0


def cmd_render_preview(args: argparse.Namespace) -> int:
    from PIL import Image

    from nirvis.faces.preview import contact_sheet
    from nirvis.render.pair import SampleSpace, prepare_procedural_face, render_batch, sample_params

    if args.identities < 1 or args.poses < 1:
        raise UsageError("--identities and --poses must be >= 1")
    space = SampleSpace(pairing=args.pairing, led_nm=args.led)
    faces = [prepare_procedural_face(args.seed, k, resolution=args.resolution, led_nm=args.led,
                                     nir_method=args.nir_method, backend=args.backend)
             for k in range(args.identities)]
    batch_faces = [faces[i] for i in range(args.identities) for _ in range(args.poses)]
    params = [sample_params(space, args.seed * 1_000_003 + i * 1009 + j)
              for i in range(args.identities) for j in range(args.poses)]
    out = render_batch(batch_faces, params, backend=args.backend)
    tiles, labels = [], []
    for k, p in enumerate(params):
        size, bicubic = (args.tile, args.tile), Image.Resampling.BICUBIC
        vis = Image.fromarray(out.vis[k].numpy()).resize(size, bicubic)
        nir = Image.fromarray(out.nir[k].numpy()).convert("RGB").resize(size, bicubic)
        tiles += [vis, nir]
        labels += [f"id{k // args.poses} VIS yaw{p.vis_view.yaw_deg:+.0f}", f"NIR {args.led}nm"]
    sheet = contact_sheet(tiles, columns=2 * args.poses, labels=labels)
    save_image(sheet, Path(args.out))
    print(f"render-preview: wrote {args.out} ({args.identities} identities x {args.poses} poses, VIS | NIR)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from nirvis.bench import run_bench

    out = args.out or f"bench/{args.benchmark}.json"
    kwargs = {}
    if args.benchmark == "faces":
        kwargs = {"count": args.count or 1000}
    elif args.benchmark == "render":
        kwargs = {"batch": args.count or 16}
    elif args.benchmark == "train":
        kwargs = {"config": args.config or "configs/train/tiny.yaml", "data": args.data, "steps": args.count or 10}
    elif args.benchmark == "align":
        kwargs = {"count": args.count or 24}
    elif args.benchmark == "reconstruct":
        kwargs = {"count": args.count or 20}
    elif args.benchmark == "realism":
        plot = args.plot or str(Path(out).with_suffix(".png"))
        kwargs = {"dataset": args.dataset, "real_photos": args.real_photos, "plot": plot,
                  "detector": args.detector, "limit": args.count}
    run_bench(args.benchmark, out, **kwargs)
    print(f"bench {args.benchmark}: saved {out}")
    return 0


# ------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nirvis", description="Paired NIR/VIS face rendering and "
                                     "cross-spectral face recognition.")
    parser.add_argument("--version", action="version", version=f"nirvis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("identities", help="sample procedural identities and write face assets")
    p.add_argument("--count", type=int, required=True, help="number of identities (labels 0..N-1)")
    p.add_argument("--seed", type=int, default=0, help="global seed (identity k uses a seed mixed from it and k)")
    p.add_argument("--out", required=True, help="output directory (one asset directory per identity)")
    p.add_argument("--preview", help="write a contact sheet of the first identities to this PNG")
    p.add_argument("--preview-count", type=int, default=32, help="identities shown in the preview (default 32)")
    p.add_argument("--resolution", type=int, default=512, help="reflectance map size (default 512)")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_identities)

    p = sub.add_parser("import-face", help="import an external reconstruction (OBJ with UVs + textures)")
    p.add_argument("mesh", help="OBJ file with texture coordinates")
    p.add_argument("--diffuse", required=True, help="diffuse albedo texture")
    p.add_argument("--specular", help="specular albedo texture (optional)")
    p.add_argument("--normal", help="tangent-space normal map (optional)")
    p.add_argument("--roughness", help="roughness texture (optional)")
    p.add_argument("--units", default="auto", help="OBJ units: mm, cm, dm, m or auto (default)")
    p.add_argument("--diffuse-encoding", default="srgb", choices=["srgb", "linear"],
                   help="encoding of the diffuse texture (default srgb)")
    p.add_argument("--landmarks", help='JSON {"5": [[x,y,z]...], "68": [...]} in OBJ units (default: placed '
                                        'automatically from renders of the mesh, +y up, face towards +z or -z)')
    p.add_argument("--resolution", type=int, help="output map size (default: the diffuse texture's)")
    p.add_argument("--out", required=True, help="output asset directory")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_import_face)

    p = sub.add_parser("render-preview", help="contact sheet of rendered VIS/NIR pairs of procedural identities")
    p.add_argument("--identities", type=int, default=8, help="number of identities (rows), default 8")
    p.add_argument("--poses", type=int, default=3, help="pairs per identity (columns of VIS | NIR), default 3")
    p.add_argument("--seed", type=int, default=0, help="global seed")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--backend", default="auto", choices=["auto", "cpu", "gl", "cuda", "torch"], help="rasteriser")
    p.add_argument("--pairing", default="shared", choices=["shared", "independent"], help="pair geometry mode")
    p.add_argument("--led", type=int, default=850, choices=[850, 940], help="NIR LED wavelength (nm)")
    p.add_argument("--nir-method", default="spectral", choices=["spectral", "red", "luma"],
                   help="VIS -> NIR albedo transform")
    p.add_argument("--resolution", type=int, default=512, help="reflectance map size")
    p.add_argument("--tile", type=int, default=160, help="tile size in the sheet (pixels)")
    p.set_defaults(func=cmd_render_preview)

    p = sub.add_parser("bench", help="measure throughput (printed and saved as JSON)")
    p.add_argument("benchmark", choices=["faces", "render", "train", "align", "realism", "reconstruct"],
                   help="what to measure")
    p.add_argument("dataset", nargs="?", help="realism: the render-dataset output directory")
    p.add_argument("--count", type=int,
                   help="problem size (faces: identities, default 1000; render: batch, 16; train: steps, 10; "
                        "align: rendered identities, 24; realism: at most this many pairs, default all; "
                        "reconstruct: rendered identities (x 3 lightings), 20)")
    p.add_argument("--out", "--json", dest="out", help="JSON output path (default bench/<benchmark>.json)")
    p.add_argument("--config", help="train: training YAML (default configs/train/tiny.yaml)")
    p.add_argument("--data", help="train: rendered data set (default: render a small one)")
    p.add_argument("--real-photos", help="realism: folder of real photos (files = different people, "
                                         "a sub-folder = one person)")
    p.add_argument("--plot", help="realism: PNG of the distance histograms (default: --out with .png)")
    p.add_argument("--detector", default="hog", choices=["hog", "cnn"],
                   help="realism: dlib face detector (hog, default; cnn: MMOD, ~30x slower on CPU)")
    p.set_defaults(func=cmd_bench)

    from nirvis.evaluate.cli import register as register_evaluate
    from nirvis.reconstruct.cli import register as register_reconstruct
    from nirvis.reflectance.cli import register as register_reflectance
    from nirvis.shards.cli import register as register_shards
    from nirvis.train.cli import register as register_train

    register_reflectance(sub)
    register_reconstruct(sub)
    register_shards(sub)
    register_train(sub)
    register_evaluate(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``nirvis`` command line; returns the exit code (0 ok, 2 a user error reported as
    one line ``nirvis <command>: error: ...``; see ``nirvis.errors.run_command``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
