"""Ablation baselines, the method registry, and the lookup-table cache."""

import numpy as np
import pytest
import torch

from nirvis.reflectance import lut as lut_mod
from nirvis.reflectance.baseline import METHODS, luma_nir, red_channel_nir
from nirvis.reflectance.invert import vis_to_nir, vis_to_nir_albedo
from nirvis.reflectance.regions import SkinRegionModel, SKIN_PRIOR, get_region
from nirvis.reflectance.skin import SkinOpticsConstants


def test_registry_methods():
    x = torch.tensor([[[0.45, 0.30, 0.22], [0.2, 0.1, 0.05]]])
    assert METHODS == ("spectral", "red", "luma")
    assert torch.equal(vis_to_nir(x, "red"), x[..., 0])
    assert torch.allclose(vis_to_nir(x, "luma"), 0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2])
    assert torch.allclose(vis_to_nir(x, "spectral", led_nm=940), vis_to_nir_albedo(x, led_nm=940))
    assert torch.equal(vis_to_nir_albedo(x, method="red"), red_channel_nir(x))
    assert torch.equal(vis_to_nir_albedo(x, method="luma"), luma_nir(x))
    with pytest.raises(ValueError, match="method"):
        vis_to_nir(x, "blue")
    with pytest.raises(ValueError, match="takes no options"):
        vis_to_nir(x, "red", rgb_grid=32)


def test_spectral_differs_from_baselines_where_it_matters():
    # Dark skin: NIR much brighter than either red or luma would claim.
    dark = torch.tensor([[[0.13, 0.053, 0.026]]])
    spectral = float(vis_to_nir(dark))
    assert spectral > 2 * float(vis_to_nir(dark, "red")) and spectral > 5 * float(vis_to_nir(dark, "luma"))


def test_lut_disk_cache_roundtrip(tmp_path, monkeypatch):
    model = SkinRegionModel(SKIN_PRIOR)
    lut_mod.clear_memory_cache()
    first = lut_mod.get_lut(model, cache_dir=tmp_path)
    files = list(tmp_path.glob("nirvis-reflectance-lut-skin-*.npz"))
    assert len(files) == 1 and first.key[:16] in files[0].name
    # A fresh process (empty memory) loads the file instead of rebuilding.
    lut_mod.clear_memory_cache()
    monkeypatch.setattr(lut_mod, "_build", lambda *a, **k: pytest.fail("should load from disk"))
    second = lut_mod.get_lut(model, cache_dir=tmp_path)
    assert torch.equal(first.colors, second.colors) and torch.equal(first.units, second.units)
    monkeypatch.undo()
    # A corrupt file is rebuilt and replaced.
    lut_mod.clear_memory_cache()
    files[0].write_bytes(b"not an npz")
    third = lut_mod.get_lut(model, cache_dir=tmp_path)
    assert torch.equal(first.colors, third.colors)
    with np.load(files[0]) as z:
        assert str(z["key"]) == first.key
    lut_mod.clear_memory_cache()


def test_lut_key_tracks_model_constants():
    a = lut_mod.lut_key(SkinRegionModel(SKIN_PRIOR))
    b = lut_mod.lut_key(SkinRegionModel(SKIN_PRIOR, SkinOpticsConstants(scattering_a_per_cm=46.0)))
    c = lut_mod.lut_key(get_region("lips"))
    assert len({a, b, c}) == 3
    assert a == lut_mod.lut_key(SkinRegionModel(SKIN_PRIOR))


def test_env_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NIRVIS_CACHE_DIR", str(tmp_path))
    lut_mod.clear_memory_cache()
    lut_mod.get_lut(get_region("iris"))
    assert list(tmp_path.glob("nirvis-reflectance-lut-iris-*.npz"))
    lut_mod.clear_memory_cache()
