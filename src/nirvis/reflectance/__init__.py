"""Spectral skin reflectance: VIS diffuse albedo to NIR diffuse albedo.

A biophysical two-layer skin model (melanin epidermis over blood dermis, Kubelka-Munk layers with
published chromophore spectra, calibrated to the NIST skin reflectance data set) evaluated by a
VIS camera (CIE 1931 / D65 -> linear sRGB) and an NIR camera (850/940 nm LED x silicon QE x
long-pass filter). RGB albedo maps are inverted to model parameters per texel and re-rendered in
the NIR; lips, hair, iris, sclera and teeth regions have their own models or rules.

Modules: ``spectra`` (published data), ``optics`` (Kubelka-Munk, boundary), ``skin`` (the skin
model), ``tissues`` (hair, iris, sclera, teeth), ``sensors`` (camera responses), ``regions`` (region
registry), ``lut`` (parameter lookup tables and their cache), ``invert`` (inversion and map
conversion), ``rgbgrid`` (lattice acceleration), ``specular`` (specular albedo), ``baseline``
(ablation transforms and the method names; ``invert.vis_to_nir`` selects by name), ``plot``, ``cli``.
"""

from nirvis.reflectance.invert import (RegionFit, SkinFit, fit_region, invert_skin_params, nir_reflectance_maps,
                                       vis_to_nir, vis_to_nir_albedo)
from nirvis.reflectance.plot import plot_skin_spectra
from nirvis.reflectance.regions import SUPPORTED_REGIONS
from nirvis.reflectance.sensors import (linear_to_srgb, skin_albedo_nir, skin_albedo_vis, spectrum_to_nir,
                                        spectrum_to_vis_rgb, srgb_to_linear)
from nirvis.reflectance.skin import SkinOpticsConstants, SkinParams, skin_reflectance_spectrum, skin_tone_series
from nirvis.reflectance.specular import SKIN_F0, specular_albedo

__all__ = [
    "SkinParams", "SkinOpticsConstants", "skin_reflectance_spectrum", "skin_tone_series",
    "skin_albedo_vis", "skin_albedo_nir", "spectrum_to_vis_rgb", "spectrum_to_nir",
    "invert_skin_params", "fit_region", "SkinFit", "RegionFit", "vis_to_nir_albedo", "vis_to_nir",
    "nir_reflectance_maps", "SUPPORTED_REGIONS", "specular_albedo", "SKIN_F0", "plot_skin_spectra",
    "srgb_to_linear", "linear_to_srgb",
]
