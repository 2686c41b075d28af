"""prepare_face subdivides the head (Loop, default 1 level) and carries AO, skin weights, UVs and
landmarks over; expressive heads rebuilt in views_geometry go through the same operator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nirvis.faces import Expression, build_heads
from nirvis.render.camera import pose_rotation
from nirvis.render.geometry import geometry_pass, project_landmarks, views_geometry
from nirvis.render.pair import SampleSpace, prepare_face, procedural_identity_asset, render_batch, sample_params
from nirvis.render.raster import resolve_backend
from nirvis.render.sampling import View, glasses_params


@pytest.fixture(scope="module")
def asset():
    return procedural_identity_asset(0, 2, resolution=16)


@pytest.fixture(scope="module")
def faces(asset):
    return {levels: prepare_face(asset, subdivision_levels=levels) for levels in (0, 1)}


def test_default_face_is_subdivided_and_level_zero_is_the_asset_mesh(asset, faces):
    coarse, fine = faces[0], faces[1]
    assert coarse.subdivision is None and coarse.cage_faces is None
    assert torch.equal(coarse.vertices, torch.from_numpy(asset.mesh.vertices))
    assert fine.subdivision is not None and fine.subdivision.levels == 1
    kept = asset.mesh.part_mask("eyeball", "teeth")
    assert fine.faces.shape[0] == 4 * int((~kept).sum()) + int(kept.sum())
    assert fine.vertices.shape[0] == fine.subdivision.n_vertices[1] and fine.uvs.shape[0] > coarse.uvs.shape[0]
    assert torch.equal(fine.cage_faces, coarse.faces)
    assert prepare_face(asset).faces.shape == fine.faces.shape                 # the default is one level
    for pf in (coarse, fine):
        assert pf.ao.shape == (pf.vertices.shape[0], 1) and pf.skin_vertex.shape == pf.ao.shape
        assert bool(((pf.ao >= 0) & (pf.ao <= 1)).all()) and bool(((pf.skin_vertex >= 0) & (pf.skin_vertex <= 1)).all())
    # the old vertices (first in the subdivided mesh) keep their AO up to the subdivision's smoothing
    n = coarse.vertices.shape[0]
    change = (fine.ao[:n] - coarse.ao).abs()
    assert float(change.mean()) < 0.02 and float(change.max()) < 0.2


def test_landmarks_project_where_they_were(faces):
    views = [sample_params(SampleSpace(), k).vis_view for k in range(3)]
    px = {}
    for levels, pf in faces.items():
        world = views_geometry([pf] * 3, views)
        px[levels] = project_landmarks(world, pf.landmarks68, pf.faces, views, 160)
    # pixels at 160 x 160; Loop smoothing pulls a landmark on a small local bump (shape prior v4's
    # landmark offsets) up to ~1 px, a misattached landmark would move several
    assert float((px[0] - px[1]).norm(dim=-1).max()) < 1.25


def test_expressive_heads_go_through_the_same_operator(faces):
    fine = faces[1]
    view = View(20.0, -5.0, 3.0, distance_mm=600.0, focal_mm=50.0, expression={"jawOpen": 0.6})
    world = views_geometry([fine], [view])
    base = build_heads([fine.identity], [Expression({"jawOpen": 0.6})])[0]
    expected = fine.subdivision.apply(base) @ pose_rotation(torch.tensor([20.0]), torch.tensor([-5.0]),
                                                            torch.tensor([3.0]))[0].numpy().T
    n = fine.vertices.shape[0]                      # the head first, then its hair and beard shells
    assert world.shape[:2] == (1, n + fine.hair_vertices.shape[0] + len(fine.beard_vertex))
    assert np.allclose(world[0, :n].numpy(), expected, atol=1e-3)
    # and the same head renders the same bytes alone or in a batch with others
    params = [sample_params(SampleSpace(raw_resolution=64, expression_probability=1.0), k) for k in range(2)]
    batch = render_batch([fine] * 2, params)
    alone = render_batch([fine], params[1:])
    assert torch.equal(batch.vis[1], alone.vis[0]) and torch.equal(batch.nir[1], alone.nir[0])


def test_subdivided_head_covers_the_same_pixels_up_to_a_thin_outline_band(faces):
    params = [sample_params(SampleSpace(glasses_probability=0.0), k) for k in range(4)]
    views = [p.vis_view for p in params]
    masks = {}
    for levels, pf in faces.items():
        g = geometry_pass([pf] * 4, views, 160, resolve_backend("auto"), glasses_params(params))
        masks[levels] = g.mask[..., 0] > 0
    inter = (masks[0] & masks[1]).sum((1, 2)).float()
    union = (masks[0] | masks[1]).sum((1, 2)).float()
    iou = inter / union
    assert bool((iou > 0.95).all()) and bool((iou < 1.0).any()), iou
