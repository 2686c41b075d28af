"""tools/build_environments.py: its pure functions on synthetic panoramas, and its output read back
by the runtime loader (the real EXR sources need the bpy wheel and openexr: not in the tests)."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import torch

from nirvis.render.environment import load_environments, panorama_lookup
from nirvis.render.lights import sh_basis, sh_irradiance

from tool_helpers import load_tool

tool = load_tool("build_environments")


def _unit(v):
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def test_pixel_grid_covers_the_sphere_and_matches_the_runtime_lookup():
    d, solid = tool.pixel_directions(16, 32)
    assert solid.sum() * 32 == pytest.approx(4 * np.pi, rel=1e-9)
    assert np.allclose(np.linalg.norm(d, axis=-1), 1.0)
    pano = torch.arange(16 * 32, dtype=torch.float32).view(1, 1, 16, 32)
    got = panorama_lookup(pano, torch.from_numpy(d.reshape(1, -1, 3)).float())   # texel centres -> own values
    assert torch.allclose(got.view(-1), pano.view(-1), atol=1e-3)


def test_sh_basis_is_the_runtime_basis():
    d = np.stack([_unit(v) for v in np.random.default_rng(0).normal(size=(20, 3))])
    assert np.allclose(tool.sh9_basis(d), sh_basis(torch.from_numpy(d)).numpy(), atol=1e-6)


def test_constant_environment_gives_constant_irradiance():
    """A uniform sky of radiance L gives irradiance pi * L on every normal (Ramamoorthi & Hanrahan)."""
    coeffs = tool.sh9_project(np.full((64, 128, 3), 0.7))
    assert np.abs(coeffs[1:]).max() < 1e-3 * coeffs[0, 0]              # midpoint quadrature of band 2
    n = torch.nn.functional.normalize(torch.randn(1, 5, 7, 3, dtype=torch.float64), dim=-1)
    e = sh_irradiance(n, torch.from_numpy(coeffs).unsqueeze(0))
    assert torch.allclose(e, torch.full_like(e, np.pi * 0.7), rtol=1e-3)


def _spot_panorama(direction, radius_deg=3.0, level=500.0, h=128, w=256):
    d, _ = tool.pixel_directions(h, w)
    pano = np.full((h, w, 3), 0.2) * np.array([0.8, 1.0, 1.2])
    spot = d @ _unit(direction) > np.cos(np.radians(radius_deg))
    pano[spot] = level * np.array([1.0, 0.9, 0.7])
    return pano, spot


@pytest.mark.parametrize("direction", [(0.3, 0.8, -0.5), (-0.9, 0.1, 0.4), (0.0, 0.2, 1.0)])
def test_dominant_light_of_a_bright_spot(direction):
    pano, spot = _spot_panorama(direction)
    light = tool.extract_dominant_light(pano)
    assert float(light["direction"] @ _unit(direction)) > np.cos(np.radians(1.0))
    disc = 2 * np.pi * (1 - np.cos(np.radians(3.0)))                    # solid angle of the spot
    assert light["solid_angle"] == pytest.approx(disc, rel=0.25)
    assert light["rgb"][0] > light["rgb"][2] > 0                         # its colour (warm) is kept
    assert light["residual"].max() < 0.2 * pano.max()                    # and it left the residual


def test_derive_environment_normalises_and_keeps_the_light_out_of_the_sh():
    pano, _ = _spot_panorama((0.0, 0.7, -0.7), level=200.0)
    env = tool.derive_environment(pano * 37.0, size=(32, 64))           # absolute level does not matter
    d, solid = tool.pixel_directions(*pano.shape[:2])
    full = pano * env["scale"] * 37.0
    assert ((full @ tool.REC709_Y) * solid).sum() / (4 * np.pi) == pytest.approx(1 / np.pi, rel=1e-6)
    assert env["panorama"].dtype == np.float16 and env["panorama"].shape == (32, 64, 3)
    # irradiance from the SH (rest) plus the light, at the light's own normal, equals the full map's
    n = torch.from_numpy(env["light_direction"].astype(np.float64)).view(1, 1, 1, 3)
    e_sh = sh_irradiance(n, torch.from_numpy(env["sh"].astype(np.float64)).unsqueeze(0)).view(3).numpy()
    cos = np.clip(d @ env["light_direction"].astype(np.float64), 0, None)[..., None]
    e_true = (full * cos * solid[..., None]).sum((0, 1))
    assert np.allclose(e_sh + env["light_rgb"], e_true, rtol=0.05)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="non-negative"):
        tool.derive_environment(np.full((8, 16, 3), -1.0))
    with pytest.raises(ValueError, match="black"):
        tool.derive_environment(np.zeros((8, 16, 3)))


def test_round_float16_error_bound():
    x = np.random.default_rng(1).uniform(1e-3, 3e4, 1000)
    r = tool.round_float16(x).astype(np.float64)
    assert np.abs(r / x - 1).max() <= 2.0 ** (tool.PANORAMA_DROP_BITS - 11) + 2 ** -11


def test_member_sha256_is_checked(tmp_path):
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(tool.WORLD + "license.txt", "All HDRIs are licensed as CC0.")
    with pytest.raises(SystemExit, match="sha256"):
        tool.read_member(zipfile.ZipFile(wheel), "license.txt")


def test_written_asset_loads_at_run_time(tmp_path):
    envs = {name: tool.derive_environment(_spot_panorama(d)[0], size=(32, 64))
            for name, d in (("forest", (0.5, 0.6, -0.6)), ("studio", (-0.7, 0.1, 0.7)))}
    out = tool.write_asset(envs, tmp_path, {"builder": "test"})
    loaded = load_environments(str(out))
    assert loaded.names == ("forest", "studio") and loaded.categories == ("outdoor", "indoor")
    assert np.allclose(loaded.light_direction[0], envs["forest"]["light_direction"], atol=1e-6)
    assert loaded.panorama.shape == (2, 2, 3, 32, 64)
    import json
    prov = json.loads((tmp_path / "PROVENANCE.json").read_text())
    assert prov["file_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
