"""The README's reconstruction figure: photo | VIS and NIR renders of its reconstruction.

    python tools/reconstruct_figure.py --out docs/reconstruct_astronaut.png [PHOTO]

Without PHOTO it uses ``skimage.data.astronaut()`` (NASA portrait of Eileen Collins, public domain,
shipped by scikit-image). The photo is reconstructed as ``nirvis reconstruct`` does (512 px maps,
850 nm), then rendered frontal and turned 35 deg at 600 mm (448 px raw frames: sharp), with neutral
expression and no accessories, as the 112 x 112 crops ``render-dataset`` writes (shown enlarged 2x),
under the data set's default lighting and sensor ranges (seeds 11, 12). Prints the photo's report.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", nargs="?", help="photo file (default: skimage.data.astronaut())")
    ap.add_argument("--out", required=True, help="PNG to write")
    args = ap.parse_args(argv)
    from PIL import Image

    from nirvis.atomic import atomic_write_named
    from nirvis.faces.preview import contact_sheet
    from nirvis.reconstruct.batch import ReconstructConfig
    from nirvis.reconstruct.identity import reconstruct_person
    from nirvis.render.pair import render_batch
    from nirvis.render.prepared_face import prepare_face
    from nirvis.render.sampling import SampleSpace, sample_params

    with tempfile.TemporaryDirectory() as tmp:
        photo = args.photo
        if photo is None:
            import skimage.data

            photo = str(Path(tmp) / "astronaut.png")
            Image.fromarray(skimage.data.astronaut()).save(photo)
        rec = reconstruct_person([photo], ReconstructConfig(texture_resolution=512), {})
        entry = rec.report["photos"][0]
        print(json.dumps({k: entry.get(k) for k in ("status", "reason", "error_iod", "yaw_deg", "pitch_deg",
                                                    "visible_texture_fraction", "seconds")}))
        if rec.asset is None:
            print(f"{photo}: not reconstructed ({entry['status']})", file=sys.stderr)
            return 1
        img = np.asarray(Image.open(photo).convert("RGB"))
    pts = rec.fits[0]
    from nirvis.reconstruct.photo_camera import project

    uv = project(pts.vertices, pts.rotation, pts.translation, pts.camera)
    centre = np.nanmedian(uv, axis=0)
    half = 1.6 * float(np.nanmax(np.nanmax(uv, axis=0) - np.nanmin(uv, axis=0))) / 2
    x0, y0 = (centre - half).astype(int).clip(0)
    x1, y1 = (centre + half).astype(int)
    crop = Image.fromarray(img[y0:y1, x0:x1]).resize((224, 224), Image.LANCZOS)
    face = prepare_face(rec.asset)
    space = SampleSpace(glasses_probability=0.0, headwear_probability=0.0, expression_probability=0.0,
                        yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0), distance_mm=(600.0, 600.0),
                        raw_resolution=448)

    def turned(seed: int, yaw: float):
        p = sample_params(space, seed)
        v = dataclasses.replace(p.vis_view, yaw_deg=yaw)
        return dataclasses.replace(p, vis_view=v, nir_view=v)

    r = render_batch([face, face], [turned(11, 0.0), turned(12, 35.0)])
    big = [Image.fromarray(x.numpy()).convert("RGB").resize((224, 224), Image.NEAREST)
           for x in (r.vis[0], r.nir[0], r.vis[1], r.nir[1])]
    sheet = contact_sheet([crop] + big, columns=5,
                          labels=["photo", "VIS frontal", "NIR frontal", "VIS yaw 35", "NIR yaw 35"])
    atomic_write_named(args.out, lambda p: sheet.save(p, format="PNG"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
