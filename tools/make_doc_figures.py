"""Regenerate the README's figures of the head model and the renderer.

    python tools/make_doc_figures.py [--out docs]

Writes ``head_model_landmarks.png`` (the template head, front and three-quarter views: the 68
landmarks as red dots, region masks in colour: lips red, brows black, beard area blue, scalp hair
brown, irises green), ``albedo_vis_nir.png`` (the face part of the procedural VIS albedo, sRGB,
and NIR 850 nm albedo maps of six identities) and ``render_pairs.png`` (``nirvis render-preview``
of 6 procedural identities x 2 poses, VIS | NIR). Deterministic: the same code and assets give the same images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

REGION_COLOURS = {"hair": (0.45, 0.3, 0.2), "beard": (0.2, 0.45, 0.8), "lips": (0.85, 0.1, 0.15),
                  "brows": (0.05, 0.05, 0.05), "iris": (0.1, 0.6, 0.2)}


def head_model_figure(out: Path, size: int = 512) -> None:
    from nirvis.faces import load_head_model
    from nirvis.faces.preview import render_preview
    from nirvis.faces.regions import face_regions

    model = load_head_model()
    t = model.template
    res = 1024
    masks = face_regions(res)
    uv = t.uvs[t.uv_faces].mean(axis=1)
    rows = np.clip(((1.0 - uv[:, 1]) * res).astype(int), 0, res - 1)
    cols = np.clip((uv[:, 0] * res).astype(int), 0, res - 1)
    colour = np.tile(np.array([0.85, 0.68, 0.58]), (len(t.faces), 1))
    for name, rgb in REGION_COLOURS.items():
        w = masks[name][rows, cols][:, None]
        colour = colour * (1.0 - w) + np.array(rgb) * w
    points = t.vertices[model.landmark_vertices["68"]]
    views = [render_preview(t.vertices, t.faces, t.face_parts, size=size, yaw_deg=yaw, face_colours=colour,
                            points=points if yaw == 0 else None) for yaw in (0, 35)]
    sheet = Image.new("RGB", (2 * size + 4, size), (12, 12, 14))
    for k, im in enumerate(views):
        sheet.paste(im, (k * (size + 4), 0))
    sheet.save(out / "head_model_landmarks.png", optimize=True)


def albedo_figure(out: Path, resolution: int = 512, tile: int = 210) -> None:
    from nirvis.faces import identity_seed, load_head_model, sample_identity
    from nirvis.faces.preview import contact_sheet
    from nirvis.reflectance.maps import procedural_reflectance

    from nirvis.faces.regions import template_uv_geometry

    model = load_head_model()
    lm = model.template.vertices[model.landmark_vertices["68"]]
    geo = template_uv_geometry(resolution)
    p = geo.position
    # the face's box in UV space: texels of the frontal face (between the jaw ends, chin to brows + 30 mm)
    face = (geo.covered & (geo.part == 0) & (np.abs(p[..., 0]) < lm[16, 0]) & (p[..., 1] > lm[8, 1])
            & (p[..., 1] < lm[19, 1] + 30)
            & (p[..., 2] > lm[0, 2]))
    r, c = np.nonzero(face)
    rows, cols = slice(r.min(), r.max() + 1), slice(c.min(), c.max() + 1)
    tiles, labels = [], []
    for k in range(6):
        maps, app = procedural_reflectance(sample_identity(identity_seed(0, k)), resolution)
        vis = np.clip(maps.diffuse_vis[rows, cols], 0, 1)
        srgb = np.where(vis <= 0.0031308, 12.92 * vis, 1.055 * vis ** (1 / 2.4) - 0.055)
        nir = np.clip(maps.diffuse_nir[rows, cols], 0, 1)
        for img, label in ((srgb, f"id{k} VIS mel={app.melanin:.3f}"), (np.repeat(nir[..., None], 3, 2), "NIR850")):
            tiles.append(Image.fromarray((img * 255 + 0.5).astype(np.uint8)).resize((tile, tile)))
            labels.append(label)
    contact_sheet(tiles, columns=4, labels=labels).save(out / "albedo_vis_nir.png", optimize=True)


def render_figure(out: Path) -> None:
    from nirvis.cli import main as cli_main

    cli_main(["render-preview", "--identities", "6", "--poses", "2", "--seed", "0",
              "--out", str(out / "render_pairs.png")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs", help="output directory (default docs)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    head_model_figure(out)
    albedo_figure(out)
    render_figure(out)
    print(f"wrote {out / 'head_model_landmarks.png'}, {out / 'albedo_vis_nir.png'} and {out / 'render_pairs.png'}")


if __name__ == "__main__":
    main()
