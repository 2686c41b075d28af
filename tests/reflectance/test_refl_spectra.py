"""Published data tables: spot values, colorimetric consistency, argument checks."""

import math

import pytest
import torch

from nirvis.reflectance import spectra
from nirvis.reflectance.sensors import nir_weights, vis_weights


def test_prahl_hemoglobin_values_and_isosbestic_point():
    # Prahl (1999), omlc.org: HbO2 1058 and Hb 691.32 cm^-1/M at 850 nm.
    eps = spectra.hemoglobin_extinction(torch.tensor([850.0, 940.0], dtype=torch.float64))
    assert eps[0].tolist() == pytest.approx([1058.0, 691.32])
    assert eps[1].tolist() == pytest.approx([1214.0, 693.44])
    # The curves cross (isosbestic point) between 790 and 800 nm.
    d = spectra.hemoglobin_extinction(torch.tensor([790.0, 800.0]))
    assert d[0, 0] < d[0, 1] and d[1, 0] > d[1, 1]
    # Soret peak of HbO2 (414 nm) is ~500x the NIR values.
    soret = spectra.hemoglobin_extinction(torch.tensor([414.0]))[0, 0]
    assert float(soret) / 1058.0 > 400


def test_blood_absorption_conversion():
    # mu_a = 2.303 * e * 150 / 64500 (Prahl's conversion, 150 g/L).
    mu = spectra.blood_mua(torch.tensor([850.0], dtype=torch.float64), oxygen_saturation=1.0)
    assert float(mu) == pytest.approx(2.303 * 1058 * 150 / 64500)
    with pytest.raises(ValueError, match="oxygen_saturation"):
        spectra.blood_mua(torch.tensor([850.0]), oxygen_saturation=1.5)


def test_melanin_forms():
    wl = torch.arange(400.0, 1001.0, 10.0, dtype=torch.float64)
    jac = spectra.eumelanin_mua_jacques(wl)
    model = spectra.eumelanin_mua(wl)
    assert float(jac[wl == 500.0]) == pytest.approx(6.6e11 * 500 ** -3.33)
    assert float(model[wl == 500.0]) == pytest.approx(float(jac[wl == 500.0]))
    vis = (wl >= 400) & (wl <= 560)
    assert torch.allclose(model[vis], jac[vis], rtol=0.10)
    # In vivo form falls faster in the NIR (Zonios et al. 2008).
    assert float(model[wl == 850.0] / jac[wl == 850.0]) < 0.7
    assert bool((spectra.pheomelanin_mua(wl) > 0).all())


def test_baseline_water_scattering_values():
    wl = torch.tensor([400.0, 850.0, 970.0], dtype=torch.float64)
    base = spectra.baseline_mua(wl)
    assert float(base[1]) == pytest.approx(0.244 + 85.3 * math.exp(-(850 - 154) / 66.2))
    water = spectra.water_mua(wl)
    assert float(water[2]) > 5 * float(water[1])  # the 970 nm water band
    assert float(spectra.reduced_scattering(torch.tensor([500.0]))) == pytest.approx(46.0)


def test_cie_d65_white_point_and_srgb_white():
    wl = torch.as_tensor(spectra.VIS_WAVELENGTHS_NM, dtype=torch.float64)
    full = torch.arange(380.0, 781.0, 10.0, dtype=torch.float64)
    xyz = (spectra.cie_1931_cmf(full) * spectra.d65_spd(full).unsqueeze(-1)).sum(0)
    x, y = float(xyz[0] / xyz.sum()), float(xyz[1] / xyz.sum())
    assert x == pytest.approx(0.3127, abs=5e-4) and y == pytest.approx(0.3290, abs=5e-4)
    white = torch.ones(wl.numel(), dtype=torch.float64) @ vis_weights(wl)
    assert white.tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)


def test_nir_camera_normalisation_and_band():
    wl = torch.arange(700.0, 1001.0, 5.0, dtype=torch.float64)
    for led in (850, 940):
        w = nir_weights(wl, led)
        assert float(w.sum()) == pytest.approx(1.0)
        centre = float((w * wl).sum())
        assert abs(centre - led) < 15.0
    led = spectra.led_emission(torch.tensor([850.0, 867.5]), 850.0, 35.0)
    assert led.tolist() == pytest.approx([1.0, 0.5], abs=1e-6)
    f = spectra.longpass_filter(torch.tensor([800.0]), cut_on_nm=800.0, peak_transmission=1.0)
    assert float(f) == pytest.approx(0.5)


def test_wavelength_checks():
    with pytest.raises(ValueError, match="wavelengths"):
        spectra.baseline_mua(torch.tensor([350.0]))
    with pytest.raises(ValueError, match="wavelengths"):
        spectra.water_mua(torch.tensor([[500.0]]))
    with pytest.raises(ValueError, match="led_nm"):
        nir_weights(torch.arange(700.0, 1001.0, 5.0), 500)
    assert len(spectra.data_fingerprint()) == 64
