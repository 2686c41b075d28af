"""HDR environments at run time: the shipped assets, SH rotation, panorama backgrounds, environment
sampling (determinism, NIR ambient rule, white balance) and soft shadows."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from nirvis.render import nir, vis
from nirvis.render.environment import (CATEGORIES, ENVIRONMENT_FILE, awb_gains, camera_directions, environment_dir,
                                       load_environments, panorama_lookup, rotate_sh, rotation_y, scene_background,
                                       scene_white)
from nirvis.render.lights import LightingConfig, sh_irradiance
from nirvis.render.occlusion import directional_shadow
from nirvis.render.sampling import SampleSpace, sample_params


def test_shipped_environments_load_with_their_provenance():
    envs = load_environments()
    assert envs.names == ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")
    assert set(envs.categories) <= set(CATEGORIES) and envs.categories[envs.index("forest")] == "outdoor"
    assert np.allclose(np.linalg.norm(envs.light_direction, axis=-1), 1.0, atol=1e-5)
    assert (envs.light_rgb >= 0).all() and (envs.light_solid_angle > 0).all()
    assert torch.isfinite(envs.panorama).all() and (envs.panorama >= 0).all()
    prov = json.loads((environment_dir() / "PROVENANCE.json").read_text())
    assert prov["file_sha256"] == hashlib.sha256((environment_dir() / ENVIRONMENT_FILE).read_bytes()).hexdigest()
    licences = (environment_dir().parent / "LICENSES.md").read_text()
    assert all(sha in licences for sha in prov["member_sha256"].values())
    with pytest.raises(ValueError, match="not one of"):
        envs.index("moon")


def test_rotated_sh_gives_the_rotated_irradiance():
    sh = load_environments().sh[0]
    rot = rotation_y(73.0)
    n = torch.nn.functional.normalize(torch.randn(1, 1, 50, 3, dtype=torch.float64), dim=-1)
    before = sh_irradiance(n @ torch.from_numpy(rot), torch.from_numpy(sh).unsqueeze(0))   # E(R^T n)
    after = sh_irradiance(n, torch.from_numpy(rotate_sh(sh, rot)).unsqueeze(0))
    assert torch.allclose(before, after, atol=1e-9)


def test_panorama_lookup_of_a_known_direction():
    pano = torch.zeros(1, 3, 16, 32)
    pano[0, :, 4, 24] = torch.tensor([1.0, 2.0, 3.0])                   # texel (row 4, column 24)
    theta = math.pi * (0.5 - 4.5 / 16)
    phi = 2 * math.pi * (24.5 / 32 - 0.5)
    d = torch.tensor([[[math.sin(phi) * math.cos(theta), math.sin(theta), -math.cos(phi) * math.cos(theta)]]])
    assert torch.allclose(panorama_lookup(pano, d), torch.tensor([[[1.0, 2.0, 3.0]]]), atol=1e-5)


def test_camera_centre_sees_the_rotated_panorama_centre():
    d = camera_directions(8, torch.tensor([20.0]))[0].view(8, 8, 3)
    centre = d[3:5, 3:5].mean((0, 1))
    assert torch.allclose(torch.nn.functional.normalize(centre, dim=0), torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)
    # rotating the environment by +90 deg about +y brings env +x in front of the camera (world -z)
    assert np.allclose(rotation_y(90.0) @ np.array([1.0, 0.0, 0.0]), [0.0, 0.0, -1.0], atol=1e-12)


def _env_params(seed, **bg):
    space = SampleSpace(lighting=LightingConfig(environment_probability=1.0))
    p = sample_params(space, seed)
    return replace(p, background={**p.background, **bg}) if bg else p


def test_scene_background_follows_the_environment_rotation():
    p = _env_params(3, vis_kind="scene", vis_blur=0.0)
    envs = load_environments()
    k = envs.index(p.environment["name"])
    centre = scene_background(p, 32)[15:17, 15:17].mean((0, 1))
    # the same direction looked up by hand: world -z -> env R^T (0, 0, -1)
    d_env = torch.from_numpy(rotation_y(p.environment["rotation_deg"]).T @ np.array([0.0, 0.0, -1.0])).float()
    expect = panorama_lookup(envs.panorama[k, 0].unsqueeze(0), d_env.view(1, 1, 3))[0, 0]
    assert torch.allclose(centre, expect, rtol=0.1)
    turned = replace(p, environment={**p.environment, "rotation_deg": p.environment["rotation_deg"] + 120.0})
    assert not torch.allclose(scene_background(turned, 32), scene_background(p, 32))


def test_backgrounds_are_deterministic_and_batch_independent():
    ps = [sample_params(SampleSpace(), k) for k in range(6)]
    assert {p.background["vis_kind"] for p in ps} == {"scene", "wall"}
    scale = torch.linspace(0.5, 2.0, 6)
    for spectrum in (vis, nir):
        whole = spectrum.background(ps, 24, torch.zeros(()), scale)
        for k in (0, 4):
            alone = spectrum.background([ps[k]], 24, torch.zeros(()), scale[k:k + 1])
            assert torch.equal(whole[k], alone[0])
        assert torch.equal(whole, spectrum.background(ps, 24, torch.zeros(()), scale))
    # exposure: the background scales with the face's exposure
    one = vis.background(ps[:1], 24, torch.zeros(()), torch.tensor([1.0]))
    assert torch.allclose(vis.background(ps[:1], 24, torch.zeros(()), torch.tensor([2.0])), 2 * one)


def test_walls_are_desaturated_and_nir_backgrounds_dark():
    ps = [sample_params(SampleSpace(), k) for k in range(40)]
    for p in ps:
        rgb = p.background["wall_rgb"]
        assert max(rgb) <= 0.85 and (max(rgb) - min(rgb)) <= 0.12 * max(rgb) + 1e-9
    bg = nir.background(ps, 16, torch.zeros(()), torch.ones(len(ps)))
    indoor = [k for k, p in enumerate(ps) if p.environment["nir_ambient_share"] in (None, 0.0)]
    assert float(bg[indoor].amax()) < 0.2                                # LED light barely reaches it


def test_sample_params_log_the_environment_and_are_deterministic():
    p = sample_params(SampleSpace(), 11)
    assert p == sample_params(SampleSpace(), 11)
    assert set(p.environment) >= {"name", "category", "rotation_deg", "intensity", "nir_ambient_share", "awb_gains"}
    json.dumps(p.to_dict())                                              # JSON-able
    names = {sample_params(SampleSpace(), k).environment["name"] for k in range(60)}
    assert None in names and len(names - {None}) >= 6                    # synthetic lighting stays as an option


def test_nir_ambient_only_in_outdoor_daylight():
    shares = {}
    for k in range(120):
        env = _env_params(k).environment
        shares.setdefault(env["category"], []).append(env["nir_ambient_share"])
    assert all(s == 0.0 for c in ("indoor", "night") for s in shares.get(c, []))
    assert any(s > 0.0 for s in shares["outdoor"])


def test_dominant_light_is_light_zero_within_the_azimuth_range():
    cfg = LightingConfig(environment_probability=1.0)
    for k in range(20):
        p = sample_params(SampleSpace(lighting=cfg), k)
        d = p.vis_lighting["directions"][0]
        assert abs(math.degrees(math.atan2(d[0], d[2]))) <= cfg.environment_light_azimuth_deg + 1e-6
        assert p.vis_lighting["angular_radius_rad"][0] > 0


def test_white_balance_leaves_small_casts():
    """AWB neutralises the illuminant but for the residual; the combined cast stays small."""
    white = np.array([1.0, 0.6, 0.25])                                   # tungsten-like
    assert np.allclose(white * awb_gains(white, 0.0) / white[1], 1.0)
    for k in range(40):
        p = sample_params(SampleSpace(), k)
        cast = scene_white(p.vis_lighting) * np.asarray(p.vis_sensor["wb_gains"][0])
        cast = cast / cast[1]
        assert 0.75 < cast.min() and cast.max() < 1.35, (k, cast)


def _occluded_points():
    """A 100 mm square at z = 0 and points 30 mm under it, from its centre (deep shadow) outwards."""
    quad = torch.tensor([[[-50., -50., 0.], [50., -50., 0.], [-50., 50., 0.], [50., 50., 0.]]])
    tri = torch.tensor([[0, 1, 2], [1, 3, 2]])
    xs = torch.tensor([0.0, 40.0, 46.0, 50.0, 54.0, 70.0])
    pts = torch.stack([xs, torch.zeros_like(xs), torch.full_like(xs, -30.0)], -1).view(1, 1, -1, 3)
    return quad, tri, pts


def test_soft_shadow_penumbra_grows_with_the_light_size():
    quad, tri, pts = _occluded_points()
    up = torch.tensor([[0.0, 0.0, 1.0]])
    lit = [directional_shadow(quad, tri, up, pts, res=128, angular_radius=torch.tensor([r])).flatten()
           for r in (0.0, 0.05, 0.12, 0.25)]
    hard = lit[0]
    assert hard[0] == 0 and hard[-1] == 1
    assert torch.equal(hard, directional_shadow(quad, tri, up, pts, res=128).flatten())   # tiny light: hard
    for a, b in zip(lit, lit[1:]):
        assert (b[1:4] >= a[1:4] - 1e-6).all()                           # inside the edge: lighter
        assert (b[4:] <= a[4:] + 1e-6).all()                             # outside: darker
    assert lit[-1][2] > hard[2] + 0.1 and lit[-1][0] == 0                # a wide source softens the edge only
    assert (lit[-1][2:5] > 0).all() and (lit[-1][2:5] < 1).all()         # a penumbra across the edge...
    assert lit[-1][1] == 0 and lit[1][4] == 1     # ...of half-width 30 mm x tan(radius): 7.7 mm at 0.25, 1.5 at 0.05


def test_soft_shadow_is_batch_independent():
    quad, tri, pts = _occluded_points()
    two = directional_shadow(quad.expand(2, -1, -1), tri, torch.tensor([[0.0, 0.0, 1.0]] * 2),
                             pts.expand(2, -1, -1, -1), angular_radius=torch.tensor([0.0, 0.2]))
    alone = directional_shadow(quad, tri, torch.tensor([[0.0, 0.0, 1.0]]), pts, angular_radius=torch.tensor([0.2]))
    assert torch.equal(two[1], alone[0]) and not torch.equal(two[0], two[1])


def test_lenses_mirror_the_environment_panorama():
    from nirvis.render.environment import mirror_radiance
    env_p = _env_params(5)
    synthetic = sample_params(SampleSpace(lighting=LightingConfig(environment_probability=0.0)), 5)
    r = torch.tensor([[0.0, 0.0, -1.0], [0.6, 0.0, 0.8]]).view(1, 1, 2, 3).expand(2, -1, -1, -1)
    rad, has = mirror_radiance([env_p, synthetic], r)
    assert has.tolist() == [True, False] and torch.equal(rad[1], torch.zeros_like(rad[1]))
    k = load_environments().index(env_p.environment["name"])
    d_env = torch.from_numpy(rotation_y(env_p.environment["rotation_deg"]).T @ np.array([0.0, 0.0, -1.0])).float()
    expect = panorama_lookup(load_environments().panorama[k, 1].unsqueeze(0), d_env.view(1, 1, 3))[0, 0]
    assert torch.allclose(rad[0, 0, 0], expect * env_p.environment["intensity"], rtol=1e-4)
