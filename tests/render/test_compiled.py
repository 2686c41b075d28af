"""The ``cpu`` backend: the compiled rasteriser and per-pixel kernels against their torch references."""

from __future__ import annotations

import math

import pytest
import torch

from nirvis.render.raster import available_backends, rasterize_depth, rasterize_ids
from nirvis.render.raster.torch_ref import rasterize_ids_torch

pytestmark = pytest.mark.skipif("cpu" not in available_backends(), reason="numba is not installed")


def posed_heads(batch: int = 3, res: int = 128):
    """GBuffer of procedural heads (hair, beard shells, glasses on some) from the cpu backend."""
    from nirvis.render.geometry import geometry_pass
    from nirvis.render.prepared_face import prepare_procedural_face
    from nirvis.render.sampling import SampleSpace, glasses_params, headwear_params, sample_params

    faces = [prepare_procedural_face(0, k, resolution=32) for k in range(batch)]
    params = [sample_params(SampleSpace(raw_resolution=res), 11 + k) for k in range(batch)]
    return geometry_pass(faces, [p.vis_view for p in params], res, "cpu", glasses_params(params),
                         headwear_params(params)), params


def test_cpu_rasteriser_is_the_torch_reference_bit_for_bit():
    """Same ids and depths as the reference on subdivided heads with shells (edges, ties and
    all), with or without the unused-group hint."""
    g, _ = posed_heads()
    ref_ids, ref_depth = rasterize_ids_torch(g.clip, g.tri, (128, 128), with_depth=True)
    assert (ref_ids > 0).float().mean() > 0.15
    for hint in ({}, {"groups": g.draw_groups, "use": g.group_use}):
        assert torch.equal(rasterize_ids(g.clip, g.tri, (128, 128), backend="cpu", **hint), ref_ids)
        assert torch.equal(rasterize_depth(g.clip, g.tri, (128, 128), backend="cpu", **hint), ref_depth)


def test_cpu_rasteriser_skips_triangles_behind_the_eye_and_out_of_depth():
    tri = torch.tensor([[0, 1, 2]])
    behind = torch.tensor([[[-1.0, -1.0, 0.0, 1.0], [1.0, -1.0, 0.0, 1.0], [0.0, 1.0, 0.0, -1.0]]])
    far = torch.tensor([[[-1.0, -1.0, 1.5, 1.0], [1.0, -1.0, 1.5, 1.0], [0.0, 1.0, 1.5, 1.0]]])
    for clip in (behind, far):
        assert int(rasterize_ids(clip, tri, (8, 8), backend="cpu").max()) == 0
        assert torch.equal(rasterize_ids(clip, tri, (8, 8), backend="cpu"), rasterize_ids_torch(clip, tri, (8, 8)))


def test_compiled_shadow_filtering_matches_the_torch_lookups():
    """directional_shadow on the cpu backend (compiled hard PCF / soft PCSS) gives the torch
    lookups' visibility exactly, for hard and soft lights in one batch."""
    from nirvis.render.occlusion import directional_shadow

    g, _ = posed_heads()
    light = torch.nn.functional.normalize(torch.tensor([[0.5, 0.6, 0.6], [-0.7, 0.3, 0.6], [0.1, 0.9, 0.3]]), dim=-1)
    radius = torch.tensor([0.0, 0.05, math.radians(12.0)])                # hard, soft, very soft
    args = (g.shadow_world, g.shadow_tri, light, g.pos)
    kw = {"angular_radius": radius, "groups": g.shadow_groups, "use": g.group_use}
    ref = directional_shadow(*args, **kw, backend="torch")
    got = directional_shadow(*args, **kw, backend="cpu")
    assert 0.05 < float(ref[g.skin > 0].mean()) < 0.95            # some of each: lit and shadowed skin
    assert torch.equal(got, ref)
    assert torch.equal(directional_shadow(*args, backend="cpu"), directional_shadow(*args, backend="torch"))


def test_compiled_geometry_pass_matches_the_torch_pass():
    """The cpu backend's geometry pass (compiled barycentrics, interpolation, vertex normals)
    gives the torch backend's G-buffer: the same pixels and ids, every attribute equal to float
    rounding (products and sums in the reference's order; torch's fused multiply-adds are
    reproduced, so on this machine they are equal bit for bit)."""
    from nirvis.render.accessories import GlassesParams
    from nirvis.render.geometry import geometry_pass
    from nirvis.render.prepared_face import prepare_procedural_face
    from nirvis.render.sampling import SampleSpace, glasses_params, headwear_params, sample_params

    faces = [prepare_procedural_face(0, k, resolution=32) for k in range(2)]
    params = [sample_params(SampleSpace(raw_resolution=96), k) for k in range(6)]
    glasses = list(glasses_params(params))
    glasses[0] = GlassesParams(enabled=True)                        # lenses in front of one face
    views = [p.vis_view for p in params]
    batch = [faces[k % 2] for k in range(6)]
    ref = geometry_pass(batch, views, 96, "torch", glasses, headwear_params(params))
    got = geometry_pass(batch, views, 96, "cpu", glasses, headwear_params(params))
    assert torch.equal(ref.pixels.index, got.pixels.index) and torch.equal(ref.rast[..., 3], got.rast[..., 3])
    for name in ("rast", "pos", "normal", "view_dir", "ao", "skin", "material", "hair", "hair_tangent", "lens_normal",
                 "lens_pos"):
        torch.testing.assert_close(getattr(got, name), getattr(ref, name), atol=2e-6, rtol=0, msg=name)
    assert ref.lens_pixels is not None and torch.equal(ref.lens_pixels.index, got.lens_pixels.index)


def test_compiled_antialias_matches_the_torch_blend():
    """Silhouette blending on the cpu backend gives the torch result exactly (same per-pair
    arithmetic, corrections added in the same order), and changes only edge pixels."""
    from nirvis.render.antialias import antialias

    g, _ = posed_heads(res=96)
    color = torch.rand(g.rast.shape[0], 96, 96, 3, generator=torch.Generator().manual_seed(0))
    ref = antialias(color, g.rast, g.clip, g.tri, "torch")
    got = antialias(color, g.rast, g.clip, g.tri, "cpu")
    changed = (ref != color).any(-1)
    assert 0 < int(changed.sum()) < 0.2 * changed.numel()
    assert torch.equal(got, ref)


def test_compiled_specular_matches_ggx_and_kajiya_kay():
    """The cpu backend's specular term (GGX, blended into Kajiya-Kay on hair) is the torch
    composition to float rounding (its powers come from the C library, torch's from its own)."""
    from nirvis.render.hair import specular

    g, _ = posed_heads()
    assert g.hair is not None and bool((g.hair > 0).any())
    light = torch.nn.functional.normalize(torch.tensor([0.4, 0.5, 0.8]), dim=0).view(1, 1, 1, 3).expand_as(g.normal)
    args = (g.normal, g.view_dir, light, g.material[..., 6:7], g.material[..., 4:5], g.material[..., 0:3], g.hair,
            g.hair_tangent)
    ref = specular(*args, backend="torch")
    got = specular(*args, backend="cpu")
    assert ref.shape == got.shape and float(ref.max()) > 0
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-9)
    no_hair = specular(*args[:6], None, None, backend="cpu")
    torch.testing.assert_close(no_hair, specular(*args[:6], None, None, backend="torch"), rtol=1e-6, atol=1e-9)


def test_compiled_subsurface_blur_matches_masked_blur():
    """The skin's screen-space diffusion on the cpu backend: the torch ``masked_blur`` to float
    rounding (taps summed in order), per channel width, unchanged outside the mask."""
    from nirvis.render.compiled.blur import masked_blur as compiled_blur
    from nirvis.render.pixels import scatter_pixels
    from nirvis.render.shading import masked_blur

    g, _ = posed_heads()
    img = scatter_pixels(torch.rand(g.pos.shape[0], 1, g.pixels.count, 3, generator=torch.Generator().manual_seed(1)),
                         g.pixels)
    skin = scatter_pixels(g.skin, g.pixels)
    sigma = torch.tensor([[1.5, 0.7, 0.3], [2.5, 1.0, 0.2], [0.6, 0.6, 0.6]])
    ref = masked_blur(img, skin, sigma)
    got = compiled_blur(img, skin, sigma)
    assert float((ref - img).abs().max()) > 0.05                  # it blurs
    assert torch.equal(got[skin[..., 0] == 0], img[skin[..., 0] == 0])
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_compiled_quantisation_is_to_uint8_exactly():
    """8-bit quantisation (every backend uses the compiled pass when numba is installed) gives
    the float64 rule's bytes, at the half steps and either side of them too; NaN is refused."""
    from nirvis.render.compiled.quantise import to_uint8 as compiled_to_uint8
    from nirvis.render.sensor import to_uint8

    half_steps = (torch.arange(256.0) + 0.5) / 255.0
    values = torch.cat([half_steps, torch.nextafter(half_steps, torch.tensor(2.0)),
                        torch.nextafter(half_steps, torch.tensor(-1.0)), torch.tensor([-3.0, 0.0, 1.0, 7.0]),
                        torch.rand(5000, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.2])
    for x in (values, values.double(), values.view(-1, 4, 1)):
        ref = torch.floor(x.double().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        assert torch.equal(compiled_to_uint8(x), ref) and torch.equal(to_uint8(x), ref)
    with pytest.raises(ValueError, match="NaN"):
        to_uint8(torch.tensor([0.2, float("nan")]))


def test_compiled_material_lookup_matches_footprint_and_trilinear_texture():
    """The cpu backend's material lookup (UV footprint at the listed pixels, trilinear across
    mip levels, one texture per face) is the torch ``uv_footprint`` + ``sample_materials``."""
    from nirvis.render import geometry as geometry_mod
    from nirvis.render.compiled import texture as compiled_texture
    from nirvis.render.pixels import gather_pixels, scatter_pixels
    from nirvis.render.texture import uv_footprint

    from nirvis.render.prepared_face import prepare_procedural_face

    g, _ = posed_heads()
    faces = [prepare_procedural_face(0, k, resolution=64) for k in range(2)]
    batch = [faces[k % 2] for k in range(g.pos.shape[0])]
    uv = torch.rand(g.pos.shape[0], 1, g.pixels.count, 2, generator=torch.Generator().manual_seed(2)) * 0.02 + 0.4
    uv = uv + g.pos[..., :2] * 0.002                               # smooth over the face, varied footprints
    uv_img = scatter_pixels(uv, g.pixels)
    ok = scatter_pixels(torch.ones_like(uv[..., :1]), g.pixels)[..., 0] > 0
    ref = geometry_mod.sample_materials(batch, uv, gather_pixels(uv_footprint(uv_img, ok).unsqueeze(-1),
                                                                 g.pixels)[..., 0])
    got = compiled_texture.sample_materials([f.material for f in batch], uv_img, ok, g.pixels.index, uv)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_without_numba_the_torch_paths_run(monkeypatch):
    """numba is a dependency, but a machine without it still renders: ``auto`` falls back to
    ``gl`` / ``torch`` and every stage (8-bit quantisation included) takes its torch path."""
    import nirvis.render.compiled as compiled
    from nirvis.render.raster import resolve_backend
    from nirvis.render.sensor import to_uint8

    monkeypatch.setattr(compiled, "cpu_available", lambda: False)
    assert resolve_backend("auto") in ("gl", "torch")
    assert not compiled.use_compiled("cpu", torch.zeros(1))
    assert to_uint8(torch.tensor([0.5 / 255, 0.25, 2.0])).tolist() == [1, 64, 255]
    with pytest.raises(Exception, match="numba"):
        resolve_backend("cpu")


def test_compiled_camera_pipelines_match_the_torch_sensors():
    """The cpu backend's VIS and NIR camera tails (noise from the same per-image generators,
    exposure, white balance, clipping and sRGB; vignetting and gain) equal the torch pipelines
    to one float32 ulp of the sRGB power, before JPEG and after it up to rare 1-step flips."""
    from nirvis.render.sensor import NirSensorParams, VisSensorParams, apply_nir_sensor, apply_vis_sensor

    gen = torch.Generator().manual_seed(5)
    rgb, nir = torch.rand(3, 40, 36, 3, generator=gen) * 1.2, torch.rand(3, 40, 36, 1, generator=gen)
    vis_p = VisSensorParams(blur_sigma_px=torch.tensor([0.0, 0.8, 1.5]), shot=torch.tensor([1e-3, 0.0, 4e-3]),
                            read=torch.tensor([0.01, 0.02, 0.0]), exposure=torch.tensor([1.0, 1.3, 0.7]),
                            wb_gains=torch.tensor([[1.0, 1.0, 1.0], [1.2, 1.0, 0.8], [0.9, 1.0, 1.4]]),
                            jpeg_quality=None)
    nir_p = NirSensorParams(blur_sigma_px=torch.tensor([0.5, 0.0, 1.0]), vignetting=torch.tensor([0.0, 0.3, 0.6]),
                            shot=torch.tensor([2e-3, 1e-3, 0.0]), read=torch.tensor([0.0, 0.01, 0.03]),
                            gain=torch.tensor([1.0, 1.8, 0.6]), jpeg_quality=None)

    def gens():
        return [torch.Generator().manual_seed(100 + k) for k in range(3)]
    for fn, img, p in ((apply_vis_sensor, rgb, vis_p), (apply_nir_sensor, nir, nir_p)):
        ref, got = fn(img, p, gens(), "torch"), fn(img, p, gens(), "cpu")
        assert got.shape == ref.shape and float((ref - img).abs().max()) > 0.05
        torch.testing.assert_close(got, ref, rtol=2e-7, atol=1e-7)
        assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0
    with_jpeg = VisSensorParams(**{**{f: getattr(vis_p, f) for f in ("blur_sigma_px", "shot", "read", "exposure",
                                                                      "wb_gains")}, "jpeg_quality": 90})
    ref, got = apply_vis_sensor(rgb, with_jpeg, gens(), "torch"), apply_vis_sensor(rgb, with_jpeg, gens(), "cpu")
    assert float(((ref - got).abs() > 0).float().mean()) < 0.01
    with pytest.raises(ValueError, match="gains"):
        apply_vis_sensor(rgb, VisSensorParams(wb_gains=torch.tensor([[1.0, -1.0, 1.0]] * 3)), gens(), "cpu")


def test_compiled_camera_blur_matches_the_grouped_convolution():
    """The cpu backend's camera blur: per image its own truncated, normalised taps and reflected
    borders, as the torch convolution (sums in another order: float rounding), sigma 0 exact."""
    from nirvis.render.sensor import _camera_blur, gaussian_blur

    img = torch.rand(4, 20, 17, 3, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.0, 0.6, 2.0, 9.0])                    # the last: radius capped at 16
    ref, got = gaussian_blur(img, sigma), _camera_blur(img, sigma, "cpu")
    assert torch.equal(got[0], img[0]) and float((ref[3] - img[3]).abs().max()) > 0.1
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)


def test_compiled_pixel_lists_are_the_torch_scatter_and_gather_exactly():
    """Pixel lists to images and back: the compiled copies give the torch functions' values bit
    for bit (numbers and images as background, padding slots), and the torch path keeps gradients."""
    from nirvis.render import pixels as px

    mask = torch.rand(3, 9, 7, generator=torch.Generator().manual_seed(4)) > 0.6
    pixels = px.pixel_list(mask)
    vals = torch.rand(3, 1, pixels.count, 2, generator=torch.Generator().manual_seed(5))
    bg = torch.rand(3, 9, 7, 2, generator=torch.Generator().manual_seed(6))
    img = px.scatter_pixels(vals, pixels, bg)
    torch.testing.assert_close(px.scatter_pixels(vals.requires_grad_(), pixels, bg).detach(), img, rtol=0, atol=0)
    for background in (0.25, bg):
        got = px.scatter_pixels(vals.detach(), pixels, background)
        want = bg if isinstance(background, torch.Tensor) else torch.full_like(bg, 0.25)
        assert torch.equal(got[~mask], want[~mask])
    back = px.gather_pixels(img, pixels)
    assert torch.equal(back[pixels.valid.unsqueeze(1)], vals.detach()[pixels.valid.unsqueeze(1)])
    ref = px.gather_pixels(img.clone().requires_grad_(), pixels)
    assert ref.requires_grad and torch.equal(ref.detach(), back)


def test_compiled_environment_irradiance_is_the_torch_formula_exactly():
    """The occluded SH irradiance of the covered pixels: the torch formula's float32 operations
    in its order, so the values are equal, RGB and grey environments alike."""
    from nirvis.render.lights import ambient_irradiance

    g, _ = posed_heads()
    for c in (3, 1):
        sh = torch.randn(g.normal.shape[0], 9, c, generator=torch.Generator().manual_seed(c)) * 0.5
        ref, got = ambient_irradiance(g.normal, sh, g.ao, "torch"), ambient_irradiance(g.normal, sh, g.ao, "cpu")
        assert ref.shape == got.shape and float(ref.max()) > 0 and bool((ref == 0).any())
        assert torch.equal(got, ref)


def test_compiled_surface_attributes_are_the_torch_ones():
    """The compiled surface step (hair material blend, unit normals, tilted hair tangents, view
    directions, subsurface weight) equals the torch reference on a real G-buffer's attributes,
    including zero-length normals on padding pixels."""
    from nirvis.render.compiled.surface import surface_attributes as compiled_surface
    from nirvis.render.geometry import surface_attributes

    gen = torch.Generator().manual_seed(3)
    b, n = 3, 500
    attrs = torch.rand(b, 1, n, 19, generator=gen) * 2 - 1
    attrs[..., 2] += 600.0                                                  # positions in front of the camera
    attrs[:, :, -20:, 3:6] = 0.0                                            # padding: no normal
    material, strands = torch.rand(b, 1, n, 7, generator=gen), torch.rand(b, 1, n, 1, generator=gen)
    hair_mat = torch.rand(b, 1, 1, 9, generator=gen)
    cam_pos = torch.tensor([[0.0, 0.0, d] for d in (900.0, 1100.0, 1300.0)])
    mask_px = (torch.rand(b, 1, n, 1, generator=gen) > 0.1).float()
    ref = surface_attributes(attrs, material, hair_mat, strands, cam_pos, mask_px)
    got = compiled_surface(attrs, material, hair_mat, strands, cam_pos, mask_px)
    assert [t.shape for t in got] == [t.shape for t in ref]
    for name, r, g in zip(("material", "normal", "tangent", "view_dir", "skin"), ref, got):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=1e-6, msg=name)
    assert float(got[1][:, :, -20:].abs().max()) == 0.0


def test_compiled_light_projection_is_the_torch_one():
    """orthographic_light_clip on the cpu backend gives the torch projection bit for bit, with
    per-sample and shared extents, for directions near the frame's helper switch."""
    from nirvis.render.occlusion import orthographic_light_clip

    gen = torch.Generator().manual_seed(5)
    points = torch.randn(4, 3000, 3, generator=gen) * 90.0
    direction = torch.tensor([[0.3, 0.95, 0.1], [0.2, 0.85, 0.4], [-0.6, 0.2, 0.7], [0.0, -1.0, 0.0]])
    for half, depth in ((torch.tensor([110.0, 120.0, 95.0, 130.0]), torch.tensor([110.0, 120.0, 95.0, 130.0])),
                        (150.0, 200.0)):
        ref = orthographic_light_clip(points, direction, half, depth)
        got = orthographic_light_clip(points, direction, half, depth, backend="cpu")
        assert got.shape == (4, 3000, 4) and float(ref[..., :2].abs().max()) > 0.5
        assert torch.equal(got, ref)
