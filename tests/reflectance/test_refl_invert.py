"""RGB -> skin parameters -> RGB round trip, gamut clamping, and the map conversion API."""

import numpy as np
import pytest
import torch

from nirvis.reflectance.invert import fit_region, invert_skin_params, vis_to_nir_albedo
from nirvis.reflectance.sensors import skin_albedo_nir, skin_albedo_vis
from nirvis.reflectance.skin import SkinParams


def _random_skin(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 3, generator=g, dtype=torch.float64)
    log = lambda lo, hi, t: lo * (hi / lo) ** t  # noqa: E731
    return SkinParams(melanin=log(0.002, 0.45, u[:, 0]), eumelanin_share=u[:, 1], blood=log(0.0015, 0.09, u[:, 2]))


def test_round_trip_over_skin_gamut():
    truth = _random_skin(2000)
    rgb = skin_albedo_vis(truth).float()
    fit = invert_skin_params(rgb)
    back = skin_albedo_vis(fit.params)
    err = (back - rgb).abs()
    print(f"round trip over {rgb.shape[0]} gamut colours: max {float(err.max()):.2e}, mean {float(err.mean()):.2e}")
    assert float(err.max()) < 2e-3
    assert float(err.mean()) < 1e-4
    assert float(fit.residual.max()) < 3e-3
    # The NIR albedo of the recovered parameters matches the truth (what the conversion needs).
    # A few colours are reached by several parameter sets (melanin amount vs type) whose NIR
    # differs slightly; that ambiguity is bounded.
    nir_err = (skin_albedo_nir(fit.params) - skin_albedo_nir(truth).float()).abs()
    print(f"NIR of recovered params: max {float(nir_err.max()):.3f}, p99 {float(nir_err.quantile(0.99)):.4f}")
    assert float(nir_err.max()) < 0.03 and float(nir_err.quantile(0.99)) < 0.005 and float(nir_err.mean()) < 1e-3


def test_round_trip_float64():
    truth = _random_skin(200, seed=3)
    rgb = skin_albedo_vis(truth)
    fit = invert_skin_params(rgb)
    assert fit.rgb_fit.dtype == torch.float64
    assert float((skin_albedo_vis(fit.params) - rgb).abs().max()) < 1e-4


def test_out_of_gamut_colours_clamp_with_residual():
    rgb = torch.tensor([[0.10, 0.20, 0.80], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.2, 0.6, 0.1]])
    fit = invert_skin_params(rgb)
    assert bool(torch.isfinite(fit.rgb_fit).all())
    assert float(fit.residual.min()) > 0.02
    assert torch.allclose(fit.residual, (fit.rgb_fit - rgb).norm(dim=-1), atol=1e-5)
    nir, res = vis_to_nir_albedo(rgb.reshape(1, 4, 3), return_residual=True)
    assert bool(((nir > 0.05) & (nir < 0.8)).all())
    assert torch.allclose(res.reshape(-1), fit.residual, atol=0.03)
    # The nearest gamut point of white is the lightest skin: the brightest NIR of the four.
    assert int(nir.reshape(-1).argmax()) == 2


def test_map_shapes_dtypes_and_inputs():
    tones = SkinParams(melanin=torch.tensor([[0.01, 0.05], [0.1, 0.2]]))
    img = skin_albedo_vis(tones)                          # [2, 2, 3]
    out = vis_to_nir_albedo(img)
    assert out.shape == (2, 2) and out.dtype == torch.float32
    assert torch.allclose(out, skin_albedo_nir(tones), atol=0.01)
    out940 = vis_to_nir_albedo(img.double(), led_nm=940)
    assert out940.dtype == torch.float64
    assert torch.allclose(out940.float(), skin_albedo_nir(tones, 940), atol=0.01)
    batch = vis_to_nir_albedo(img.unsqueeze(0).repeat(3, 1, 1, 1))
    assert batch.shape == (3, 2, 2)
    assert vis_to_nir_albedo(img.numpy()).shape == (2, 2)


def test_lattice_matches_exact_inversion():
    truth = _random_skin(3000, seed=5)
    img = skin_albedo_vis(truth).float().reshape(1, -1, 3)
    exact = vis_to_nir_albedo(img, rgb_grid=None)
    fast = vis_to_nir_albedo(img)
    d = (exact - fast).abs()
    assert float(d.mean()) < 0.002 and float(d.max()) < 0.02


def test_masks_blend_regions():
    skin_rgb = skin_albedo_vis(SkinParams(melanin=0.03))
    img = skin_rgb.reshape(1, 1, 3).repeat(1, 3, 1)
    full_lips = vis_to_nir_albedo(img, {"lips": torch.ones(1, 3)})
    none = vis_to_nir_albedo(img)
    half = vis_to_nir_albedo(img, {"lips": torch.full((1, 3), 0.5), "skin": torch.ones(1, 3)})
    assert torch.allclose(half, 0.5 * (full_lips + none), atol=1e-5)
    # Masks summing above 1 are renormalised: 1 lips + 1 teeth -> half each, no skin.
    both = vis_to_nir_albedo(img, {"lips": torch.ones(1, 3), "teeth": torch.ones(1, 3)})
    teeth = vis_to_nir_albedo(img, {"teeth": torch.ones(1, 3)})
    assert torch.allclose(both, 0.5 * (full_lips + teeth), atol=1e-5)


def test_invalid_arguments_raise_clear_errors():
    img = torch.full((2, 2, 3), 0.3)
    with pytest.raises(ValueError, match="albedo_map"):
        vis_to_nir_albedo(torch.full((2, 2), 0.3))
    with pytest.raises(ValueError, match="albedo_map.*\\[0, 1\\]"):
        vis_to_nir_albedo(img * 300)
    with pytest.raises(ValueError, match="unknown region 'nose'"):
        vis_to_nir_albedo(img, {"nose": torch.ones(2, 2)})
    assert vis_to_nir_albedo(img, {"nose": torch.ones(2, 2)}, ignore_unknown_regions=True).shape == (2, 2)
    with pytest.raises(ValueError, match="region_masks\\['lips'\\]"):
        vis_to_nir_albedo(img, {"lips": torch.ones(3, 2)})
    with pytest.raises(ValueError, match="led_nm"):
        vis_to_nir_albedo(img, led_nm=550)
    with pytest.raises(ValueError, match="method"):
        vis_to_nir_albedo(img, method="magic")
    with pytest.raises(ValueError, match="rgb_grid"):
        vis_to_nir_albedo(img, rgb_grid=1)
    with pytest.raises(ValueError, match="region"):
        fit_region(torch.tensor([0.5, 0.5, 0.5]), "sclera")
    with pytest.raises(ValueError, match="prior"):
        invert_skin_params(torch.tensor([0.5, 0.3, 0.2]), prior="nose")
    with pytest.raises(ValueError, match="rgb"):
        invert_skin_params(np.zeros((4, 2)))
