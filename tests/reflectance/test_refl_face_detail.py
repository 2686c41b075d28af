"""Face details of procedural identities: brows, lashes, eyes, wrinkles, make-up (VIS and NIR)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nirvis.faces import IdentityParams, identity_seed, load_head_model, sample_identity
from nirvis.faces.regions import BrowShape, brow_centreline, face_regions
from nirvis.reflectance import spectra
from nirvis.reflectance.cosmetics import carbon_black_spectrum, pigment_film_spectrum
from nirvis.reflectance.face_detail import EYESHADOW_KINDS, LIPSTICK_KINDS, FaceDetail, sample_face_detail
from nirvis.reflectance.maps import procedural_face_asset, procedural_reflectance, sample_appearance
from nirvis.reflectance.sensors import spectrum_to_nir, spectrum_to_vis_rgb
from nirvis.reflectance.tissues import iris_reflectance_spectrum

RES = 512


def _identities(n: int, seed: int = 3) -> list[IdentityParams]:
    return [sample_identity(identity_seed(seed, k)) for k in range(n)]


def _luma(v: np.ndarray) -> np.ndarray:
    return v @ np.array([0.2126, 0.7152, 0.0722])


@pytest.fixture(scope="module")
def dark_haired():
    """A dark-haired identity with dense brows and its maps at RES."""
    ident = next(i for i in _identities(60) if sample_appearance(i).hair_eumelanin > 0.8
                 and sample_appearance(i).brow_density > 0.7 and not sample_appearance(i).detail.makeup)
    maps, app = procedural_reflectance(ident, RES)
    return ident, maps, app


def test_every_detail_field_in_range_and_logged():
    fields = {f.name for f in dataclasses.fields(FaceDetail)}
    for ident in _identities(80):
        app = sample_appearance(ident)
        d = app.detail
        assert d is not None and set(app.to_dict()["detail"]) == fields
        shape = d.brow_shape()
        assert 0.0 < shape.head_inset_mm < 5 and -1.5 <= shape.tail_outset_mm < 6
        assert 11.0 < shape.head_height_mm < shape.peak_height_mm < 30.0
        assert 0.5 <= shape.peak_position <= 0.8 and 2.0 <= shape.tail_drop_mm <= 8.5
        assert shape.head_thickness_mm > shape.body_thickness_mm > shape.tail_thickness_mm > 1.0
        assert 100 <= d.brow_hairs <= 800 and 0.05 < d.brow_hair_width_mm < 0.13
        assert 0.03 <= d.brow_eumelanin <= 1.8 and 0 <= d.brow_pheomelanin <= 0.6
        assert 0.6 <= d.lash_density <= 1 and 1.6 <= d.lash_length_mm <= 3.0
        assert 28 <= d.iris_scattering <= 43 and 0.1 <= d.iris_eumelanin_share <= 0.45
        assert 0.35 <= d.collarette_radius <= 0.47 and 1.0 <= d.collarette_melanin <= 3.4
        for v in (d.iris_fibre_contrast, d.limbal_ring, d.socket_shadow, d.under_eye, d.wrinkles,
                  d.lipstick_opacity, d.eyeliner, d.eyeshadow_opacity):
            assert 0.0 <= v <= 1.0
        assert d.lipstick in ("", *LIPSTICK_KINDS) and d.eyeshadow in ("", *EYESHADOW_KINDS)
        if not d.makeup:
            assert not (d.lipstick or d.eyeshadow or d.eyeliner or d.mascara)
    asset = procedural_face_asset(_identities(1)[0], resolution=64)
    assert set(asset.metadata["appearance"]["detail"]) == fields


def test_details_are_deterministic_and_do_not_shift_older_choices():
    ident = _identities(1, seed=9)[0]
    a, b = sample_appearance(ident), sample_appearance(ident)
    assert a == b
    # the older appearance draws come from stream 0x5E, untouched by the detail stream
    older = sample_face_detail(ident, a.melanin, a.hair_eumelanin, a.hair_pheomelanin, a.brow_density)
    assert older == a.detail
    m1, _ = procedural_reflectance(ident, 64)
    m2, _ = procedural_reflectance(ident, 64)
    assert np.array_equal(m1.diffuse_vis, m2.diffuse_vis) and np.array_equal(m1.regions["brows"], m2.regions["brows"])


def test_sex_and_age_priors():
    idents = _identities(300, seed=4)
    apps = [(i, sample_appearance(i).detail) for i in idents]
    men = [d for i, d in apps if i.gender > 0.5]
    women = [d for i, d in apps if i.gender <= 0.5]

    def mean(xs):
        return float(np.mean(xs))

    assert mean([d.brow_body_thickness_mm for d in men]) > 1.15 * mean([d.brow_body_thickness_mm for d in women])
    assert mean([d.brow_peak_height_mm - d.brow_head_height_mm for d in women]) > \
        mean([d.brow_peak_height_mm - d.brow_head_height_mm for d in men]) + 1.0      # women arch more
    assert mean([d.brow_head_height_mm for d in men]) < mean([d.brow_head_height_mm for d in women])
    young = [d.wrinkles for i, d in apps if i.age_years < 30]
    old = [d.wrinkles for i, d in apps if i.age_years > 55]
    assert max(young) < 0.1 < mean(old)
    assert 0.3 < mean([d.makeup for d in women]) < 0.6 and mean([d.makeup for d in men]) < 0.08


def test_brow_centreline_sits_above_the_eye_on_each_side():
    model = load_head_model()
    v = model.template.vertices
    lm, five = v[model.landmark_vertices["68"]], v[model.landmark_vertices["5"]]
    for side in (-1, 1):
        line, thick, t = brow_centreline(lm, five, BrowShape(), side)
        assert np.sign(line[:, 0]).tolist() == [side] * len(line)
        assert abs(line[0, 0]) < abs(lm[39, 0]) and abs(line[-1, 0]) > abs(lm[36, 0])   # head inside, tail outside
        eye_y = five[0, 1]
        assert 12 < line[0, 1] - eye_y < 20 and line[:, 1].argmax() not in (0, len(line) - 1)
        assert thick[0] > thick[-1] and t[0] == 0 and t[-1] == 1


def test_brows_darker_than_skin_in_vis_with_less_contrast_in_nir(dark_haired):
    """Dark hair absorbs strongly in the visible and far less at 850 nm (melanin): the brow/skin
    contrast is much weaker in the NIR; the brows carry strand texture (not a flat paint)."""
    _, maps, _ = dark_haired
    r = face_regions(RES)
    brow = maps.regions["brows"]
    dense = brow > 0.4
    around = (r["skin"] > 0.99) & (r["hair"] < 0.01) & (r["brows"] < 0.01) & (brow < 0.01)
    near = np.zeros_like(around)
    ys, xs = np.nonzero(dense)
    near[max(ys.min() - 12, 0):ys.max() + 12, max(xs.min() - 12, 0):xs.max() + 12] = True
    around &= near
    assert dense.sum() > 20 and around.sum() > 50
    vis_ratio = _luma(maps.diffuse_vis[dense]).mean() / _luma(maps.diffuse_vis[around]).mean()
    nir_ratio = maps.diffuse_nir[dense].mean() / maps.diffuse_nir[around].mean()
    assert vis_ratio < 0.6 and nir_ratio > vis_ratio + 0.05
    assert brow[r["brows"] > 0.5].std() > 0.05                        # ragged strand coverage


def test_lash_line_darker_than_the_lid(dark_haired):
    """The upper lid margin carries the dark lash line along its whole length (the outer third
    too, where the mesh's margin arches up to 2.5 mm over the landmark chord); the lid skin above
    it is lighter."""
    ident, maps, _ = dark_haired
    from nirvis.faces.regions import template_eyelid_margins, template_uv_geometry
    from nirvis.reflectance.detail_maps import upper_margin_height

    geo = template_uv_geometry(RES)
    r = face_regions(RES)
    cov = geo.covered & (r["skin"] > 0.99) & (geo.normal[..., 2] > 0)
    pos = torch.from_numpy(geo.position[cov])
    lm68 = load_head_model().template.vertices[load_head_model().landmark_vertices["68"]]
    h = upper_margin_height(pos, lm68, template_eyelid_margins()).numpy()
    lum = _luma(maps.diffuse_vis[cov])
    ax = np.abs(pos[:, 0].numpy())
    for lo, hi in ((22.0, 36.0), (36.0, 42.0)):                      # inner two thirds, outer third
        eye_x = (ax > lo) & (ax < hi)
        lash = eye_x & (h > -0.3) & (h < 1.2)
        lid = eye_x & (h > 3.0) & (h < 6.0)
        assert lash.sum() > 2 and lid.sum() > 3
        assert lum[lash].mean() < 0.6 * lum[lid].mean()
        assert maps.diffuse_nir[cov][lash].mean() < maps.diffuse_nir[cov][lid].mean()


def test_older_identities_have_more_wrinkle_darkening():
    base = _identities(1, seed=11)[0]
    young = dataclasses.replace(base, age_years=22.0)
    old = dataclasses.replace(base, age_years=70.0)
    r = face_regions(RES)
    fore = np.zeros((RES, RES), bool)
    from nirvis.faces.regions import template_uv_geometry

    geo = template_uv_geometry(RES)
    p = geo.position
    # forehead and crow's-feet skin, away from brows and hair
    fore = geo.covered & (r["skin"] > 0.99) & (r["hair"] < 0.01) & (r["brows"] < 0.01) & (geo.normal[..., 2] > 0)
    fore &= (p[..., 1] > 20) & (p[..., 1] < 60) & (np.abs(p[..., 0]) < 30)
    spreads = []
    for ident in (young, old):
        maps, app = procedural_reflectance(ident, RES)
        lum = _luma(maps.diffuse_vis[fore])
        spreads.append(np.percentile(lum, 50) - np.percentile(lum, 3))
    assert sample_appearance(old).detail.wrinkles > 0.5 > sample_appearance(young).detail.wrinkles
    assert spreads[1] > 1.3 * spreads[0]


def test_iris_colours_differ_in_vis_and_converge_in_nir():
    wv = torch.from_numpy(spectra.VIS_WAVELENGTHS_NM).float()
    wn = torch.from_numpy(spectra.NIR_WAVELENGTHS_NM).float()
    mel = torch.tensor([1.5, 20.0, 300.0])                              # blue, hazel, dark brown
    v = spectrum_to_vis_rgb(iris_reflectance_spectrum(mel, 0.2, 35.0, wv), wv)
    n = spectrum_to_nir(iris_reflectance_spectrum(mel, 0.2, 35.0, wn), wn, 850.0)
    lum = v @ torch.tensor([0.2126, 0.7152, 0.0722])
    assert v[0, 2] > v[0, 0] and v[2, 0] > 2 * v[2, 2]                 # blue is blue, brown is brown
    assert lum[0] / lum[2] > 4 and float(n.max() / n.min()) < 1.3       # alike in the NIR
    assert 0.15 < float(n.min()) and float(n.max()) < 0.45


def test_iris_pattern_and_limbal_ring():
    ident = _identities(1, seed=2)[0]
    maps, _ = procedural_reflectance(ident, 512)
    r = face_regions(512)
    iris = r["iris"] > 0.99
    lum = _luma(maps.diffuse_vis[iris])
    assert lum.std() / lum.mean() > 0.1                                  # fibres, crypts, collarette
    from nirvis.faces.regions import IRIS_RADIUS_MM, template_uv_geometry

    geo = template_uv_geometry(512)
    five = load_head_model().template.vertices[load_head_model().landmark_vertices["5"]]
    d = np.min([np.linalg.norm(geo.position - c, axis=-1) for c in five[:2]], axis=0) / IRIS_RADIUS_MM
    rim = iris & (d > 0.9)
    mid = iris & (d > 0.5) & (d < 0.75)
    assert _luma(maps.diffuse_vis[rim]).mean() < 0.85 * _luma(maps.diffuse_vis[mid]).mean()


def test_makeup_spectra_nir_behaviour():
    wl = torch.tensor([450.0, 550.0, 650.0, 850.0, 940.0])
    black = carbon_black_spectrum(wl)
    assert float(black.max()) < 0.06                                     # eyeliner/mascara dark in NIR too
    for edge, floor, high, band in list(LIPSTICK_KINDS.values()) + list(EYESHADOW_KINDS.values()):
        s = pigment_film_spectrum(wl, edge, floor, high, iron_band=band)
        assert float(s[3]) > 0.3 and float(s[3]) > float(s[0])           # iron oxides / red lakes bright in NIR
    with pytest.raises(ValueError, match="floor"):
        pigment_film_spectrum(wl, 590.0, 1.5)


def test_lipstick_changes_vis_more_than_nir():
    ident = next(i for i in _identities(200, seed=5) if sample_appearance(i).detail.lipstick == "red")
    bare = dataclasses.replace(sample_appearance(ident).detail, makeup=False, lipstick="", lipstick_opacity=0.0,
                               eyeliner=0.0, eyeshadow="", eyeshadow_opacity=0.0, mascara=False)
    with_lip, app = procedural_reflectance(ident, 128)
    without, _ = procedural_reflectance(ident, 128, appearance=dataclasses.replace(app, detail=bare))
    lips = face_regions(128)["lips"] > 0.99
    dv = np.abs(with_lip.diffuse_vis[lips][:, 1] - without.diffuse_vis[lips][:, 1]).mean()
    dn = np.abs(with_lip.diffuse_nir[lips] - without.diffuse_nir[lips]).mean()
    assert dv > 0.02 and dn < dv


def test_skin_albedo_table_matches_the_forward_model():
    """The per-identity skin albedo table interpolates the forward model to ~1e-3."""
    from nirvis.reflectance.maps import _skin_albedo_lut
    from nirvis.reflectance.sensors import skin_albedo_nir, skin_albedo_vis
    from nirvis.reflectance.skin import SkinParams

    g = torch.Generator().manual_seed(0)
    n = 4000
    params = SkinParams(melanin=(torch.rand(n, generator=g) * 4 - 5.5).exp(), eumelanin_share=0.8,
                        blood=(torch.rand(n, generator=g) * 2.5 - 5.5).exp(), oxygen_saturation=0.75,
                        epidermis_thickness_um=torch.where(torch.rand(n, generator=g) < 0.3, 40.0, 60.0))
    vis, nir = _skin_albedo_lut(params, 850.0)
    assert (vis - skin_albedo_vis(params)).abs().max() < 3e-3
    assert (nir - skin_albedo_nir(params, led_nm=850.0)).abs().max() < 3e-3
