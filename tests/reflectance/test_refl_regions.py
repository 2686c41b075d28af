"""Non-skin regions: hair/brows, lips, iris, sclera, teeth; and the specular assumption."""

import pytest
import torch

from nirvis.reflectance.invert import vis_to_nir_albedo
from nirvis.reflectance.regions import get_region
from nirvis.reflectance.sensors import luminance, skin_albedo_nir, skin_albedo_vis
from nirvis.reflectance.skin import SkinParams
from nirvis.reflectance.specular import SKIN_F0, nir_roughness, specular_albedo


def _one(rgb, region=None, led=850):
    img = torch.tensor([[rgb]], dtype=torch.float32)
    masks = None if region is None else {region: torch.ones(1, 1)}
    return float(vis_to_nir_albedo(img, masks, led_nm=led))


@pytest.mark.parametrize("region", ["brows", "hair", "beard"])
def test_dark_hair_is_much_lighter_in_nir(region):
    for rgb in ([0.03, 0.02, 0.015], [0.02, 0.013, 0.01], [0.06, 0.035, 0.02]):
        vis_g = rgb[1]
        nir = _one(rgb, region)
        assert nir > 5 * vis_g and nir - vis_g > 0.1, (rgb, nir)
        assert nir < 0.45  # still clearly darker than skin (~0.5-0.6)
    # Black stays dark; blond hair is bright in both bands.
    assert _one([0.005, 0.004, 0.004], region) < 0.1
    assert _one([0.45, 0.33, 0.18], region) > 0.5


def test_lips_redder_than_skin_in_vis_similar_in_nir():
    for melanin in (0.01, 0.03, 0.1):
        skin = SkinParams(melanin=melanin, blood=0.012)
        lips = SkinParams(melanin=melanin, blood=0.08, oxygen_saturation=0.85, epidermis_thickness_um=30.0)
        s_rgb, l_rgb = skin_albedo_vis(skin), skin_albedo_vis(lips)
        assert float(l_rgb[0] / l_rgb[1]) > float(s_rgb[0] / s_rgb[1]) + 0.3      # redder
        assert abs(float(skin_albedo_nir(lips) - skin_albedo_nir(skin))) < 0.1  # similar NIR
        # Through the map conversion: lips texel under the lips mask vs skin texel.
        nir_lips = _one(l_rgb.tolist(), "lips")
        nir_skin = _one(s_rgb.tolist())
        assert abs(nir_lips - nir_skin) < 0.1
        assert abs(nir_lips - float(skin_albedo_nir(lips))) < 0.02


def test_iris_melanin_model_gives_grey_nir():
    brown = _one([0.10, 0.045, 0.021], "iris")
    assert 0.25 <= brown <= 0.4                  # brown irises ~0.25-0.35 NIR
    dark_brown = _one([0.05, 0.025, 0.012], "iris")
    assert 0.1 <= dark_brown < brown
    blue = _one([0.12, 0.15, 0.2], "iris")       # little melanin: NIR set by stroma scattering
    assert 0.05 <= blue <= 0.3


def test_sclera_near_white_slightly_lower_in_nir():
    rgb = [0.72, 0.70, 0.66]
    y = float(luminance(torch.tensor(rgb)))
    for led in (850, 940):
        nir = _one(rgb, "sclera", led)
        assert 0.7 * y < nir < y
    assert get_region("sclera").ratio(850) > get_region("sclera").ratio(940)


def test_teeth_high_in_nir():
    nir = _one([0.62, 0.58, 0.50], "teeth")
    assert 0.6 <= nir <= 0.75


def test_specular_albedo_is_band_independent():
    assert float(specular_albedo("nir")) == pytest.approx(float(specular_albedo("vis")))
    assert float(specular_albedo("nir")) == pytest.approx(SKIN_F0) and 0.025 < SKIN_F0 < 0.031
    m = torch.tensor([[0.02, 0.05], [0.03, 0.04]])
    assert torch.equal(specular_albedo("nir", m), m)
    assert torch.equal(nir_roughness(m), m)
    with pytest.raises(ValueError, match="spectrum"):
        specular_albedo("uv")
    with pytest.raises(ValueError, match="specular_vis"):
        specular_albedo("nir", torch.tensor([1.5]))


def test_every_procedural_region_name_is_supported():
    from nirvis.faces.regions import REGION_NAMES
    from nirvis.reflectance.regions import SUPPORTED_REGIONS

    assert set(REGION_NAMES) <= set(SUPPORTED_REGIONS)
    # Pupil: spectrally flat (dark stays dark); mouth/eye cavity mucosa: the lips model.
    assert _one([0.02, 0.02, 0.02], "pupil") == pytest.approx(0.02, abs=1e-4)
    lips_rgb = skin_albedo_vis(SkinParams(melanin=0.02, blood=0.08, oxygen_saturation=0.85,
                                          epidermis_thickness_um=30.0)).tolist()
    assert _one(lips_rgb, "mouth_cavity") == pytest.approx(_one(lips_rgb, "lips"), abs=1e-6)
    assert _one(lips_rgb, "eye_cavity") == pytest.approx(_one(lips_rgb, "lips"), abs=1e-6)
