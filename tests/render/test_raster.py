"""Rasterisation primitives: backend parity, interpolation, textures, anti-aliasing, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from nirvis.faces import build_heads, load_head_model, sample_identity
from nirvis.render.antialias import antialias
from nirvis.render.interpolate import interpolate
from nirvis.render.raster import available_backends, rasterize, rasterize_ids
from nirvis.render.texture import build_mips, texture, uv_footprint

BACKENDS = [b for b in ("cpu", "gl", "torch", "cuda") if b in available_backends()]


def head_clip(batch: int = 2, yaw_deg: float = 25.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Procedural heads seen by a simple perspective camera 600 mm away (clip space, float32)."""
    model = load_head_model()
    v = torch.from_numpy(build_heads([sample_identity(k) for k in range(batch)]))
    a = math.radians(yaw_deg)
    rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float32)
    v = v @ rot.T
    z_eye = v[..., 2] - 600.0                      # camera at +600 mm looking down -z
    f = 1.0 / math.tan(math.radians(12.0))          # 24 degree vertical field of view
    near, far = 100.0, 2000.0
    clip = torch.stack([f * v[..., 0], f * (v[..., 1] + 20.0), (far + near) / (near - far) * z_eye
                        + 2 * far * near / (near - far), -z_eye], dim=-1)
    return clip.contiguous(), torch.from_numpy(model.template.faces.astype("int64"))


def interior_mask(ids: torch.Tensor) -> torch.Tensor:
    """Pixels whose 4-neighbours all see the same triangle (parity is only defined off edges)."""
    same = torch.ones_like(ids, dtype=torch.bool)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        same &= ids == torch.roll(ids, (dy, dx), dims=(1, 2))
    return same


def test_torch_reference_rasterizes_a_triangle_exactly():
    pos = torch.tensor([[[-1.0, -1.0, 0.5, 1.0], [1.0, -1.0, 0.5, 1.0], [-1.0, 1.0, 0.5, 1.0]]])
    rast = rasterize(pos, torch.tensor([[0, 1, 2]]), (4, 4), backend="torch")
    # row 3 (bottom), column 0: NDC (-0.75, -0.75) = 0.75 v0 + 0.125 v1 + 0.125 v2
    assert rast[0, 3, 0].tolist() == pytest.approx([0.75, 0.125, 0.5, 1.0])
    assert rast[0, 0, 3, 3] == 0  # top-right corner is outside


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs two rasterisation backends")
def test_backends_agree_on_ids_and_attributes():
    clip, tri = head_clip()
    res = (96, 80)
    ids = {b: rasterize_ids(clip, tri, res, backend=b) for b in BACKENDS}
    ref = ids["torch"]
    inner = interior_mask(ref)
    assert (ref > 0).float().mean() > 0.2  # the head fills the frame
    for name, got in ids.items():
        agree = (got == ref)[inner].float().mean()
        assert agree > 0.995, f"{name}: {agree:.4f} of interior pixels agree"
        coverage_diff = ((got > 0) != (ref > 0)).float().mean()
        assert coverage_diff < 0.01, name
        rast_b = rasterize(clip, tri, res, backend=name)
        rast_t = rasterize(clip, tri, res, backend="torch")
        attr = torch.randn(clip.shape[1], 5)
        both = inner & (got == ref)
        diff = (interpolate(attr, rast_b, tri) - interpolate(attr, rast_t, tri))[both].abs().max()
        assert diff < 1e-4, name


def test_interpolate_reproduces_linear_attributes():
    clip, tri = head_clip(1)
    rast = rasterize(clip, tri, (64, 64), backend="torch")
    # interpolating clip-space x / w must give the pixel centre's NDC x (perspective-correct weights
    # interpolate x and w separately; their ratio is linear in screen space)
    xw = interpolate(clip[0, :, [0, 3]], rast, tri)
    covered = rast[..., 3] > 0
    ndc_x = (torch.arange(64) + 0.5) / 32.0 - 1.0
    err = (xw[..., 0] / xw[..., 1].clamp(min=1e-6) - ndc_x.view(1, 1, 64))[covered].abs().max()
    assert err < 1e-4


def test_texture_mipmaps_prevent_aliasing():
    checker = ((torch.arange(256).view(-1, 1) // 2 + torch.arange(256).view(1, -1) // 2) % 2).float()
    mips = build_mips(checker.unsqueeze(-1))
    assert len(mips.levels) == 9 and mips.levels[-1].shape[-1] == 1
    # a 16x16 screen covering the whole texture: each pixel spans 16 texels
    g = (torch.arange(16) + 0.5) / 16 + 0.75 / 256  # inside a 2x2 block of the checker
    uv = torch.stack(torch.meshgrid(g, 1 - g, indexing="xy"), -1).unsqueeze(0)
    fp = uv_footprint(uv, torch.ones(1, 16, 16, dtype=torch.bool))
    filtered = texture(mips, uv, fp)
    point = texture(mips, uv)
    assert (filtered - 0.5).abs().max() < 0.02      # the checker averages to grey
    assert (point - 0.5).abs().mean() > 0.3         # bilinear alone aliases to black/white


def test_gradients_reach_vertices_and_albedo_finite_differences():
    clip, tri = head_clip(1)
    clip = clip.double()
    res = (48, 48)
    albedo = torch.rand(clip.shape[1], 3, dtype=torch.float64)
    weights = torch.rand(1, *res, 3, dtype=torch.float64)

    def loss(c, a):
        rast = rasterize(c, tri, res, backend="torch")
        col = interpolate(a, rast, tri)
        return (antialias(col, rast, c, tri) * weights).sum()

    c = clip.clone().requires_grad_(True)
    a = albedo.clone().requires_grad_(True)
    loss(c, a).backward()
    # albedo: the loss is linear in it, so a finite difference is exact
    vid = int(tri[int(rasterize_ids(clip, tri, res, "torch")[0, 24, 24]) - 1, 0])
    eps = 1e-3
    a2 = albedo.clone()
    a2[vid, 1] += eps
    fd = (loss(clip, a2) - loss(clip, albedo)) / eps
    assert float(a.grad[vid, 1]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
    # a vertex inside the face: central differences with the visibility held fixed
    for axis in (0, 1):
        c2, c3 = clip.clone(), clip.clone()
        c2[0, vid, axis] += 1e-3
        c3[0, vid, axis] -= 1e-3
        fd = (loss(c2, albedo) - loss(c3, albedo)) / 2e-3
        assert float(c.grad[0, vid, axis]) == pytest.approx(float(fd), rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_through_each_backend(backend):
    clip, tri = head_clip(1)
    c = clip.clone().requires_grad_(True)
    rast = rasterize(c, tri, (32, 32), backend=backend)
    interpolate(torch.ones(clip.shape[1], 1), rast, tri)
    col = interpolate(c[0, :, 2:3], rast, tri)
    antialias(col, rast, c, tri).sum().backward()
    assert torch.isfinite(c.grad).all() and c.grad.abs().sum() > 0


def test_antialias_blends_silhouettes_and_moves_them_with_vertices():
    pos = torch.tensor([[[-0.9, -0.8, 0.0, 1.0], [0.77, -0.8, 0.0, 1.0], [-0.9, 0.63, 0.0, 1.0]]], requires_grad=True)
    tri = torch.tensor([[0, 1, 2]])
    rast = rasterize(pos, tri, (8, 8), backend="torch")
    col = (rast[..., 3:] > 0).float()
    aa = antialias(col, rast, pos, tri)
    # the bottom edge at y = -0.8 lies 0.3 pixel past the midpoint into row 7: 0.2 coverage there
    assert aa[0, 7, 0, 0].item() == pytest.approx(0.2, abs=1e-5)
    assert aa[0, 3, 0, 0].item() == 1.0 and aa[0, 0, 7, 0].item() == 0.0   # interior / exterior untouched
    aa[0, 7, :, 0].sum().backward()
    assert pos.grad[0, 0, 1] < 0 and pos.grad[0, 1, 1] < 0   # lowering the bottom edge adds coverage


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="clip_pos"):
        rasterize(torch.zeros(3, 4), torch.tensor([[0, 1, 2]]), (4, 4), backend="torch")
    with pytest.raises(ValueError, match="tri: indices"):
        rasterize(torch.zeros(1, 3, 4), torch.tensor([[0, 1, 5]]), (4, 4), backend="torch")
    with pytest.raises(ValueError, match="backend"):
        rasterize(torch.zeros(1, 3, 4), torch.tensor([[0, 1, 2]]), (4, 4), backend="vulkan")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_unused_group_hint_changes_no_id(backend):
    """Skipping a triangle group that draws nothing in an image (here: collapsed to a point) gives
    the same ids, numbered in the whole mesh, and the same depths; an image that uses the group
    still sees it."""
    from nirvis.render.raster import rasterize_depth

    quad = torch.tensor([[-0.8, -0.8, 0.5, 1.0], [0.8, -0.8, 0.5, 1.0], [-0.8, 0.8, 0.5, 1.0], [0.8, 0.8, 0.5, 1.0]])
    small = torch.tensor([[-0.3, -0.3, 0.1, 1.0], [0.3, -0.3, 0.1, 1.0], [0.0, 0.3, 0.1, 1.0]])
    collapsed = torch.tensor([[0.0, 0.0, 0.9, 1.0]]).expand(3, 4)
    tri = torch.tensor([[0, 1, 2], [1, 3, 2], [4, 5, 6], [7, 8, 9]])      # quad, small triangle, unused
    clip = torch.stack([torch.cat([quad, small, collapsed]), torch.cat([quad, collapsed, small])])
    groups, use = [(2, 3), (3, 4)], torch.tensor([[True, False], [False, True]])
    full = rasterize_ids(clip, tri, (16, 16), backend=backend)
    hinted = rasterize_ids(clip, tri, (16, 16), backend=backend, groups=groups, use=use)
    assert torch.equal(full, hinted)
    assert (hinted[0] == 3).any() and (hinted[1] == 4).any() and not (hinted[0] == 4).any()
    assert torch.equal(rasterize_depth(clip, tri, (16, 16), backend=backend),
                       rasterize_depth(clip, tri, (16, 16), backend=backend, groups=groups, use=use))
    if backend in ("gl", "cpu"):  # the backends that follow the hint: an image with nothing left draws nothing
        nothing = rasterize_ids(clip, tri[2:], (16, 16), backend=backend, groups=[(0, 2)],
                                use=torch.tensor([[False], [False]]))
        assert int(nothing.max()) == 0
