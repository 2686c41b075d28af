"""Headwear (beanies, caps, hair bands): parameters, sampling, geometry, materials, rendering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nirvis.render.geometry import geometry_pass, project_landmarks, views_geometry
from nirvis.render.hair import GRID_COLS, GRID_ROWS
from nirvis.render.headwear import (KINDS, N_VERTICES, PALETTE, HeadwearParams, _edges, _polar, _radius,
                                    flatten_hair, head_frame, headwear_mesh, headwear_topology, sample_headwear)
from nirvis.render.pair import SampleSpace, prepare_procedural_face, render_batch, sample_params
from nirvis.render.raster import resolve_backend
from nirvis.render.sampling import glasses_params, headwear_params

FRONTAL = SampleSpace(yaw_deg=(0.0, 0.0), pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0), expression_probability=0.0,
                      glasses_probability=0.0, headwear_probability=0.0, raw_resolution=96)
CAP = HeadwearParams(kind="cap", thickness_mm=2.5, front_mm=28.0, side_mm=28.0, back_deg=8.0, brim_mm=70.0,
                     brim_tilt_deg=12.0, colour="red", vis_rgb=PALETTE["red"], dye="dyed", nir=0.65, pattern_mm=60.0)
BEANIE = HeadwearParams(kind="beanie", thickness_mm=4.0, front_mm=22.0, side_mm=15.0, back_deg=-4.0,
                        colour="navy", vis_rgb=PALETTE["navy"], nir=0.6)
BAND = HeadwearParams(kind="headband", thickness_mm=3.0, front_mm=45.0, side_mm=35.0, back_deg=10.0, width_mm=25.0,
                      colour="white", vis_rgb=PALETTE["white"], dye="undyed", nir=0.78, pattern_mm=4.0)


@pytest.fixture(scope="module")
def face():
    pf = prepare_procedural_face(0, 7, resolution=16)          # an identity with scalp hair
    assert pf.hair_vertices is not None
    return pf


def _with(params, hw: HeadwearParams):
    return dataclasses.replace(params, accessories={**params.accessories, "headwear": hw.to_dict()})


def test_params_round_trip_and_validate():
    for p in (HeadwearParams(), CAP, BEANIE, BAND):
        assert HeadwearParams.from_dict(p.to_dict()) == p
    assert not HeadwearParams().enabled and CAP.enabled
    with pytest.raises(ValueError, match="kind"):
        HeadwearParams(kind="sombrero")
    with pytest.raises(ValueError, match="dye"):
        HeadwearParams(kind="cap", dye="neon")
    with pytest.raises(ValueError, match="width_mm"):
        HeadwearParams(kind="headband", width_mm=1.0)
    with pytest.raises(ValueError, match="headwear_probability"):
        SampleSpace(headwear_probability=1.5)


def test_sampling_is_deterministic_and_keeps_the_other_draws():
    never, always = SampleSpace(headwear_probability=0.0), SampleSpace(headwear_probability=1.0)
    for seed in range(6):
        a, b = sample_params(never, seed), sample_params(always, seed)
        assert a.accessories["headwear"]["kind"] == "none" and b.accessories["headwear"]["kind"] in KINDS[1:]
        assert sample_params(always, seed) == b
        same = {**b.accessories, "headwear": a.accessories["headwear"]}
        assert dataclasses.replace(b, accessories=same) == a        # nothing else moved
    draws = [sample_headwear(np.random.default_rng(k), 1.0) for k in range(300)]
    assert {d.kind for d in draws} == set(KINDS[1:])
    carbon = [d.nir for d in draws if d.dye == "carbon"]
    dyed = [d.nir for d in draws if d.dye == "dyed"]
    assert carbon and dyed and max(carbon) <= 0.18 < 0.35 <= min(dyed)
    assert all(d.width_mm >= 10 for d in draws if d.kind == "headband")
    assert headwear_params([sample_params(never, 0)])[0] == HeadwearParams()


def test_disabled_headwear_is_collapsed_and_changes_nothing(face):
    topo = headwear_topology()
    assert int(topo.max()) == N_VERTICES - 1
    v, attr = headwear_mesh(HeadwearParams(), head_frame(face))
    assert v.shape == (N_VERTICES, 3) and np.allclose(v, v[:1]) and not attr.any()
    view = sample_params(FRONTAL, 0).vis_view
    plain = views_geometry([face], [view], glasses_params([sample_params(FRONTAL, 0)]))
    with_none = views_geometry([face], [view], None, [HeadwearParams()])
    assert torch.equal(with_none[:, :plain.shape[1]], plain)          # head, shells, glasses untouched
    assert with_none.shape[1] == plain.shape[1] + N_VERTICES


def test_hair_never_pokes_through_the_fabric(face):
    fr = head_frame(face)
    for hw in (BEANIE, CAP, BAND):
        hair = flatten_hair(face.hair_vertices, face, hw).numpy().astype(np.float64)
        el, phi, r = _polar(hair, fr.centre)
        bot, top = _edges(fr, hw, phi)
        under = (el >= bot) & (el <= top)
        assert under.sum() > 50
        assert (r[under] <= _radius(fr, hw, el[under], phi[under]) - 1.4).all()
        v, _ = headwear_mesh(hw, fr)
        if hw.kind != "headband":
            assert v[:, 1].max() > face.vertices[:, 1].max()          # over the crown
    assert torch.equal(flatten_hair(face.hair_vertices, face, HeadwearParams()), face.hair_vertices)
    assert GRID_ROWS * GRID_COLS == face.hair_vertices.shape[0]


def test_headwear_stays_above_the_brows_and_leaves_the_face_alone(face):
    params = sample_params(FRONTAL, 3)
    backend = resolve_backend("auto")
    g0 = geometry_pass([face], [params.vis_view], 96, backend, glasses_params([params]), [HeadwearParams()])
    n_head = face.vertices.shape[0]
    lm68 = project_landmarks(g0.world, face.landmarks68, face.faces, [params.vis_view], 96)
    brow_row = float(lm68[0, 17:27, 1].min())                         # the brows' top, image rows grow down
    eye_row = float(lm68[0, 36:48, 1].min())                          # the eyes' top
    for hw in (CAP, BEANIE, BAND):
        g = geometry_pass([face], [params.vis_view], 96, backend, glasses_params([params]), [hw])
        ids = g.rast[0, ..., 3].long() - 1
        wear = ids >= g.tri.shape[0] - headwear_topology().shape[0]
        assert wear.sum() > 30, hw.kind
        cols = slice(int(lm68[0, 17, 0]) + 1, int(lm68[0, 26, 0]))       # between the brows' outer ends
        rows = wear[:, cols].nonzero()[:, 0].float()
        limit = eye_row if hw.kind == "cap" else brow_row
        assert rows.max() < limit - 1.0, (hw.kind, float(rows.max()), limit)
        below = slice(int(limit) + 1, 96)
        same = ids[below, cols] == (g0.rast[0, ..., 3].long() - 1)[below, cols]   # the face below: same triangles
        assert bool(same.all()), (hw.kind, int((~same).sum()))
        assert (g.material[0, 0, :, 0] >= 0).all() and int((g.skin > 0).sum()) < int((g0.skin > 0).sum())
        assert torch.equal(g.world[:, :n_head], g0.world[:, :n_head])


def test_carbon_black_is_dark_in_nir_and_dyed_black_is_not(face):
    params = sample_params(FRONTAL, 5)
    dyed = dataclasses.replace(BEANIE, colour="black", vis_rgb=PALETTE["black"], dye="dyed", nir=0.55)
    carbon = dataclasses.replace(dyed, dye="carbon", nir=0.06)
    red = dataclasses.replace(dyed, colour="red", vis_rgb=PALETTE["red"], nir=0.65)
    out = render_batch([face] * 3, [_with(params, h) for h in (dyed, carbon, red)], align=False)
    g = geometry_pass([face], [params.vis_view], 96, resolve_backend("auto"), glasses_params([params]), [dyed])
    ids = g.rast[0, ..., 3].long() - 1
    wear = ids >= g.tri.shape[0] - headwear_topology().shape[0]
    nir = out.nir.float()[:, wear].mean(1)
    assert torch.equal(out.vis[0], out.vis[1])                        # same visible colour: same VIS bytes
    assert nir[1] < 0.4 * nir[0] and nir[1] < 0.4 * nir[2], nir.tolist()
    vis_red = out.vis.float()[2][wear].mean(0)
    assert vis_red[0] > 2 * vis_red[1]                                # red in VIS


def test_a_pair_renders_the_same_alone_and_in_a_batch(face):
    other = prepare_procedural_face(0, 3, resolution=16)
    ps = [_with(sample_params(FRONTAL, 10 + k), h) for k, h in enumerate((CAP, HeadwearParams(), BAND))]
    batch = render_batch([face, other, other], ps)
    alone = render_batch([face], ps[:1])
    again = render_batch([face], ps[:1])
    assert torch.equal(alone.vis[0], batch.vis[0]) and torch.equal(alone.nir[0], batch.nir[0])
    assert torch.equal(alone.vis, again.vis) and torch.equal(alone.nir, again.nir)
    with_none = render_batch([other], [_with(ps[2], HeadwearParams())])
    assert not torch.equal(with_none.vis[0], batch.vis[2])            # the band shows
