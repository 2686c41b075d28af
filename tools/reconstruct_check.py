"""Reconstruct real photos and check them with an independent recognizer (dlib, trained on real photos).

    python tools/reconstruct_check.py PHOTO_DIR --out OUT_DIR [--sheet docs/reconstruct_sheet.png]

PHOTO_DIR holds photos (group photos are cut into one file per face first, with dlib's detector).
Every face is reconstructed (``nirvis reconstruct``'s code path), rendered frontal and at +-25 deg
yaw in VIS and NIR, and the dlib descriptor of each photo is compared with those of the VIS renders
of its own reconstruction and of every other one. Writes OUT_DIR/check.json and a sheet
(photo | VIS frontal | NIR frontal | VIS yaw 25). Photos are read at run time and never committed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def cut_faces(src: Path, dst: Path, pipeline) -> list[Path]:
    from PIL import Image

    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for f in sorted(src.iterdir()):
        if f.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        img = np.asarray(Image.open(f).convert("RGB"))
        for k, ((x0, y0, x1, y1), _) in enumerate(pipeline.detect(img, 1)):
            side = 2.6 * max(x1 - x0, y1 - y0)
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            box = [int(max(0, cx - side / 2)), int(max(0, cy - side / 2)),
                   int(min(img.shape[1], cx + side / 2)), int(min(img.shape[0], cy + side / 2))]
            p = dst / f"{f.stem}_face{k}.png"
            Image.fromarray(img[box[1]:box[3], box[0]:box[2]]).save(p)
            out.append(p)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("photos")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sheet", default=None)
    ap.add_argument("--extra", nargs="*", default=[], help="single-face photos added as they are")
    args = ap.parse_args(argv)
    from PIL import Image

    from nirvis.evaluate.realism import FacePipeline, real_photo_faces
    from nirvis.faces.preview import contact_sheet
    from nirvis.reconstruct.batch import ReconstructConfig
    from nirvis.reconstruct.identity import reconstruct_identity
    from nirvis.render.pair import render_batch
    from nirvis.render.prepared_face import prepare_face
    from nirvis.render.sampling import SampleSpace, sample_params

    out = Path(args.out)
    pipe = FacePipeline()
    files = cut_faces(Path(args.photos), out / "faces", pipe) + [Path(p) for p in args.extra]
    cache: dict = {}
    rows, tiles, labels, photo_desc, render_desc, names = [], [], [], [], [], []
    for f in files:
        img = np.asarray(Image.open(f).convert("RGB"))
        faces = real_photo_faces(img, pipe)
        if not faces:
            print(f"{f.name}: dlib finds no face in the cut-out; skipped", file=sys.stderr)
            continue
        asset, report = reconstruct_identity([str(f)], ReconstructConfig(texture_resolution=512), cache)
        photo = report["photos"][0]
        if asset is None:
            rows.append({"file": f.name, "status": photo["status"], "reason": photo.get("reason")})
            continue
        face = prepare_face(asset)
        space = SampleSpace(raw_resolution=256, glasses_probability=0.0, headwear_probability=0.0,
                            expression_probability=0.0, yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0),
                            roll_deg=(0.0, 0.0), distance_mm=(700.0, 700.0))
        params = [sample_params(space, 11)] + [_with_yaw(sample_params(space, 12 + k), y)
                                               for k, y in enumerate((-25.0, 25.0))]
        r = render_batch([face] * len(params), params)
        descs = [pipe.describe_crop(r.vis[k].numpy()).descriptor for k in range(len(params))]
        photo_desc.append(faces[0][1])
        render_desc.append(np.stack(descs))
        names.append(f.name)
        rows.append({"file": f.name, "status": "ok", "error_iod": photo["error_iod"], "yaw_deg": photo["yaw_deg"],
                     "visible_texture_fraction": photo.get("visible_texture_fraction")})
        if len(tiles) < 4 * 8:
            tiles += [Image.fromarray(faces[0][0]).resize((160, 160)),
                      Image.fromarray(r.vis[0].numpy()).resize((160, 160)),
                      Image.fromarray(r.nir[0].numpy()).convert("RGB").resize((160, 160)),
                      Image.fromarray(r.vis[2].numpy()).resize((160, 160))]
            labels += [f"{f.stem[:14]} photo", "VIS frontal", "NIR frontal", "VIS yaw 25"]
    n = len(names)
    dist = np.array([[float(np.linalg.norm(render_desc[j] - photo_desc[i], axis=1).mean()) for j in range(n)]
                     for i in range(n)])
    own = np.diag(dist)
    other = np.array([np.min(np.delete(dist[i], i)) if n > 1 else np.nan for i in range(n)])
    result = {"photos": rows, "n": n, "own_distance": own.round(4).tolist(),
              "nearest_other_distance": other.round(4).tolist(),
              "nearest_other_file": [names[int(np.argmin(np.where(np.arange(n) == i, np.inf, dist[i])))]
                                     if n > 1 else None for i in range(n)],
              "own_closer_than_all_others": int(np.sum(own < other)),
              "mean_own": round(float(own.mean()), 4) if n else None,
              "mean_other": round(float(dist[~np.eye(n, dtype=bool)].mean()), 4) if n > 1 else None,
              "rank1": round(float(np.mean(np.argmin(dist, axis=1) == np.arange(n))), 4) if n else None}
    (out / "check.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "photos"}, indent=1))
    if args.sheet and tiles:
        contact_sheet(tiles, columns=4, labels=labels).save(args.sheet)
    return 0


def _with_yaw(p, yaw: float):
    import dataclasses

    v = dataclasses.replace(p.vis_view, yaw_deg=yaw)
    return dataclasses.replace(p, vis_view=v, nir_view=v)


if __name__ == "__main__":
    sys.exit(main())
