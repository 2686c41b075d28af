"""Head-hair shells: prior and metadata, geometry (never over the face), material, rendering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nirvis.colour import luminance_rec709
from nirvis.faces import IdentityParams, load_head_model
from nirvis.reflectance.maps import sample_appearance
from nirvis.render.facial_hair import FACIAL_STYLES, sample_facial_hair
from nirvis.render.geometry import geometry_pass
from nirvis.render.hair import (GRID_COLS, GRID_ROWS, STYLES, HairParams, hair_grid, hair_material, hair_specular,
                                hair_topology, head_centre, sample_hair)
from nirvis.render.pair import (SampleSpace, prepare_face, procedural_identity_asset, render_batch, sample_params)
from nirvis.render.pixels import scatter_pixels
from nirvis.render.raster import resolve_backend
from nirvis.render.sampling import glasses_params
from nirvis.render.shading import vertex_normals

FRONTAL = SampleSpace(yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0), expression_probability=0.0,
                      glasses_probability=0.0, raw_resolution=96)


@pytest.fixture(scope="module")
def template():
    m = load_head_model()
    return m.template.vertices, m.template.faces, m.template.vertices[m.landmark_vertices["68"]]


@pytest.fixture(scope="module")
def asset():
    return procedural_identity_asset(0, 7, resolution=64)


def _with_style(asset, facial=None, **changes):
    app = dict(asset.metadata["appearance"])
    app["hair"] = {**app["hair"], **changes}
    app["facial_hair"] = facial or {"style": "none", "length_mm": 0.0, "density": 0.0}
    return prepare_face(asset.replace(metadata={**asset.metadata, "appearance": app}))


def _identities(n):
    rng = np.random.default_rng(5)
    out = []
    for k in range(n):
        race = rng.dirichlet([1, 1, 1])
        out.append(IdentityParams(seed=k, gender=float(rng.uniform()), age_years=float(rng.uniform(18, 75)),
                                  race=tuple(float(r) for r in race / race.sum())))
    return out


def test_the_prior_draws_every_style_and_is_deterministic():
    ids = _identities(400)
    styles = [sample_hair(i, sample_appearance(i).to_dict()) for i in ids]
    assert {s.style for s in styles} == set(STYLES)
    again = [sample_hair(i, sample_appearance(i).to_dict()).to_dict() for i in ids[:20]]
    assert [s.to_dict() for s in styles[:20]] == again
    # women mostly wear it long or medium, men mostly short; curl follows African ancestry
    women = [s.style for s, i in zip(styles, ids) if i.gender < 0.5]
    men = [s.style for s, i in zip(styles, ids) if i.gender > 0.5]
    assert np.mean([s in ("long", "medium") for s in women]) > 0.4 > np.mean([s in ("long", "medium") for s in men])
    coily = [i.race[0] for s, i in zip(styles, ids) if s.style == "coily"]
    assert np.mean(coily) > np.mean([i.race[0] for i in ids]) + 0.15
    # shaved heads are exactly those the skin maps paint as shaved
    assert all((s.style == "shaved") == (sample_appearance(i).scalp_hair < 0.5) for s, i in zip(styles, ids))


def test_the_style_is_logged_in_the_asset_and_round_trips(asset):
    hair = asset.metadata["appearance"]["hair"]
    assert hair["style"] in STYLES and hair["thickness_mm"] > 0
    assert HairParams.from_dict(hair).to_dict() == hair
    with pytest.raises(ValueError, match="appearance.hair.style"):
        HairParams.from_dict({**hair, "style": "mohawk"})


def test_the_shell_has_fixed_topology_and_outward_normals(template):
    v, f, lm = template
    for style in ("short", "long", "coily", "shaved"):
        pos, attr = hair_grid(v, f, lm, HairParams(style=style, thickness_mm=10.0, length_y_mm=-150.0, curl=0.5))
        assert pos.shape == (GRID_ROWS * GRID_COLS, 3) and attr.shape == (GRID_ROWS * GRID_COLS, 4)
    assert int(hair_topology().max()) == GRID_ROWS * GRID_COLS - 1
    pos, _ = hair_grid(v, f, lm, HairParams(style="short", thickness_mm=6.0))
    p = torch.from_numpy(pos)[None]
    n = vertex_normals(p, hair_topology())[0]
    out = (n * (p[0] - torch.from_numpy(head_centre(v, lm)).float())).sum(-1)
    assert (out > 0).float().mean() > 0.95


def test_the_shell_never_lies_over_the_face(template):
    v, f, lm = template
    skin = np.zeros(len(v), bool)
    skin[f[load_head_model().template.face_parts == 0].reshape(-1)] = True
    face = skin & (v[:, 1] < lm[[19, 24], 1].mean() + 5.0) & (v[:, 1] > lm[8, 1]) & (np.abs(v[:, 0]) < lm[16, 0] - 5) \
        & (v[:, 2] > -30.0)
    for style, length in (("short", 0.0), ("medium", -80.0), ("long", -180.0), ("coily", 0.0), ("tied", 0.0)):
        pos, _ = hair_grid(v, f, lm, HairParams(style=style, thickness_mm=30.0 if style == "coily" else 12.0,
                                                length_y_mm=length, curl=0.9 if style == "coily" else 0.0,
                                                parting_x_mm=10.0))
        # every hair point over the face below the brows lies behind (inside) the skin there
        in_box = np.flatnonzero((pos[:, 1] < lm[[19, 24], 1].mean() + 5.0) & (pos[:, 1] > lm[8, 1])
                                & (np.abs(pos[:, 0]) < lm[16, 0] - 5) & (pos[:, 2] > v[face, 2].min()))
        assert len(in_box) > 50
        d = np.linalg.norm(pos[in_box, None, :2] - v[face][None, :, :2], axis=-1)          # [K, Vf]
        skin_z = np.where(d < 6.0, v[face][None, :, 2], -np.inf).max(1)       # the outer skin surface there
        covered = np.isfinite(skin_z)
        assert covered.mean() > 0.9 and (pos[in_box[covered], 2] < skin_z[covered] - 2.0).all(), style


def _hair_pixels(face, seed=3, yaw=0.0):
    p = sample_params(FRONTAL, seed)
    p = dataclasses.replace(p, vis_view=dataclasses.replace(p.vis_view, yaw_deg=yaw))
    g = geometry_pass([face], [p.vis_view], p.raw_resolution, resolve_backend("auto"), glasses_params([p]))
    return g, float((g.hair > 0.5).sum())


def test_shaved_heads_have_no_hair_pixels_and_long_hair_covers_more_than_short(asset):
    _, shaved = _hair_pixels(_with_style(asset, style="shaved"))
    _, short = _hair_pixels(_with_style(asset, style="short", thickness_mm=6.0))
    _, long_ = _hair_pixels(_with_style(asset, style="long", thickness_mm=10.0, length_y_mm=-170.0))
    assert shaved == 0 and short > 100 and long_ > 1.3 * short


def test_hair_does_not_hide_the_face_in_a_frontal_render(asset):
    lm = asset.landmarks["68"].positions(asset.mesh.vertices, asset.mesh.faces)
    g_bald, _ = _hair_pixels(_with_style(asset, style="shaved"))
    # the face: pixels of the bald render below the brows, inside the jaw, facing the camera
    face = ((g_bald.pos[..., 1] < float(lm[[19, 24], 1].mean()) - 3.0)
            & (g_bald.pos[..., 0].abs() < float(lm[16, 0]) - 8) & (g_bald.pos[..., 2] > -20.0))
    face = face.to(torch.float32).unsqueeze(-1)
    face_img = scatter_pixels(face, g_bald.pixels)
    assert float(face_img.sum()) > 200
    for style, extra in (("long", {"length_y_mm": -170.0}), ("coily", {"thickness_mm": 30.0, "curl": 1.0}),
                         ("medium", {"length_y_mm": -90.0, "thickness_mm": 13.0})):
        g_hair, count = _hair_pixels(_with_style(asset, style=style, **extra))
        hair_img = scatter_pixels(g_hair.hair, g_hair.pixels)
        assert count > 100 and float((hair_img * face_img).sum()) == 0.0, style


def test_dark_hair_is_much_brighter_in_nir_than_in_vis_and_blond_less_so():
    dark, blond = hair_material(HairParams("short", 5.0, eumelanin=1.3), 850), hair_material(
        HairParams("short", 5.0, eumelanin=0.1), 850)
    ratio_dark = float(dark[3] / luminance_rec709(dark[:3]))
    ratio_blond = float(blond[3] / luminance_rec709(blond[:3]))
    assert ratio_dark > 3.0 and 1.0 < ratio_blond < ratio_dark
    assert torch.equal(hair_material(None, 850), torch.zeros(9))


def test_the_highlight_is_anisotropic():
    n = torch.tensor([[0.0, 0.0, 1.0]])
    v = l = torch.tensor([[0.0, 0.0, 1.0]])  # noqa: E741
    albedo, f0 = torch.tensor([[0.05]]), torch.tensor([[0.046]])
    across = hair_specular(torch.tensor([[0.0, 1.0, 0.0]]), n, v, l, albedo, f0)     # strands across the view: lit
    along = hair_specular(torch.tensor([[0.0, 0.0, 1.0]]), n, v, l, albedo, f0)      # strands towards the viewer
    assert float(across) > 10 * float(along) >= 0


def test_hair_renders_deterministically_whatever_the_batch(asset):
    face = prepare_face(asset)
    again = prepare_face(asset)
    assert face.hair_vertices is not None and torch.equal(face.hair_vertices, again.hair_vertices)
    other = _with_style(asset, style="long", length_y_mm=-150.0)
    params = [sample_params(SampleSpace(raw_resolution=96), k) for k in range(3)]
    alone = render_batch([face], params[:1])
    batch = render_batch([other, face, other], [params[1], params[0], params[2]])
    assert torch.equal(alone.vis[0], batch.vis[1]) and torch.equal(alone.nir[0], batch.nir[1])


def test_beards_grow_on_the_lower_face_only_and_are_logged(asset):
    assert asset.metadata["appearance"]["facial_hair"]["style"] in FACIAL_STYLES
    lm = asset.landmarks["68"].positions(asset.mesh.vertices, asset.mesh.faces)
    _, none = _hair_pixels(_with_style(asset, style="shaved"))
    counts = {}
    for style, length in (("moustache", 4.0), ("goatee", 8.0), ("full", 12.0)):
        g, counts[style] = _hair_pixels(_with_style(asset, style="shaved",
                                                    facial={"style": style, "length_mm": length, "density": 1.0}))
        hairy = g.hair[..., 0] > 0.5
        assert int(hairy.sum()) > 20, style
        y, x = g.pos[..., 1][hairy], g.pos[..., 0][hairy]
        assert float(y.max()) < float(lm[36:48, 1].min()), style                  # nothing at or above the eyes
        central = x.abs() < float(lm[54, 0] - lm[48, 0]) / 2 + 5.0
        assert float(y[central].max()) < float(lm[30, 1]), style                  # the nose stays bare
    assert none == 0 and counts["moustache"] < counts["goatee"] < counts["full"]
    women = [sample_facial_hair(i) for i in _identities(100) if i.gender <= 0.5]
    assert women and all(f.style == "none" for f in women)


def test_beards_are_painted_with_soft_outlines(template):
    """A full beard's colour comes from a per-texel density with a soft outline (many partial
    texels, no hard box) that the prepared face paints into the skin texture; no beard, no paint."""
    from nirvis.render.facial_hair import FacialHairParams, beard_texel_density

    model = load_head_model()
    lm = model.template.vertices[model.landmark_vertices["68"]]
    full = FacialHairParams(style="full", length_mm=10.0, density=1.0)
    d = beard_texel_density(model.template, lm, full, 256)
    assert d.shape == (256, 256) and d.max() > 0.95 and d.min() == 0.0
    assert ((d > 0.05) & (d < 0.9)).sum() > 0.08 * (d >= 0.9).sum()       # the outline fades out
    assert beard_texel_density(model.template, lm, FacialHairParams(style="stubble"), 256) is None
    asset = procedural_identity_asset(0, 4, resolution=64)
    meta = dict(asset.metadata)
    meta["appearance"] = {**meta["appearance"], "facial_hair": full.to_dict()}
    bearded = prepare_face(asset.replace(metadata=meta), subdivision_levels=0)
    meta["appearance"] = {**meta["appearance"], "facial_hair": FacialHairParams().to_dict()}
    bare = prepare_face(asset.replace(metadata=meta), subdivision_levels=0)
    painted = (bearded.material.levels[0][..., :3] - bare.material.levels[0][..., :3]).abs().amax(-1) > 0.02
    assert 0.01 < float(painted.float().mean()) < 0.2
