"""De-lighting an unwrapped photo texture: 2nd-order SH lighting fitted over skin, then albedo.

Image model (the renderer's, ``nirvis.render.lights.sh_irradiance``): a linear photo value is
``c = a * E(n) / pi`` with ``a`` the diffuse albedo and ``E`` the irradiance of 9 RGB SH radiance
coefficients ``L`` (Ramamoorthi & Hanrahan 2001) at the world-frame normal ``n``; the camera's
exposure and white balance are folded into ``L``. Shadows cast by the head itself, interreflection
and specular reflection are not in the model (outliers, see ``fit_sh_lighting``).

Fit (the classic constant-albedo approach, e.g. Blanz & Vetter 1999, Egger et al. 2020's
survey): over visible skin texels, ``c ~ abar * E(n) / pi`` with one albedo ``abar`` per channel,
which is linear in the 27 products ``abar_c * L_kc``: weighted least squares per channel, a small
ridge on bands 1-2 (the visible normals span about a hemisphere), iterated with outliers dropped
(specular highlights, cast shadows, moles, stubble: |log ratio| beyond ``outlier_sigma`` robust
standard deviations). Texel albedo is then ``a = c / (E(n) / pi)``.

Skin tone vs light brightness and colour (the gauge): ``c = a * E`` is unchanged by
``a -> s * a, L -> L / s`` for any per-channel ``s``, so the photo alone cannot tell dark skin in
bright light from light skin in dim light, nor a warm light from a warmer skin. We fix the 3
scales by a Gaussian MAP estimate in log RGB (``skin_gauge``): the mean skin albedo ``abar`` has
the log-normal prior of the procedural identity prior's skin (``SKIN_LOG_MEAN``/``SKIN_LOG_COV``:
the biophysical skin model over ``sample_identity``/``sample_appearance``; melanin darkens skin and
shifts its chromaticity together, so chromaticity predicts luminance: R^2 0.93, log-rmse 0.20),
the light ``log l = log cbar - log abar`` a prior that is flat in brightness (photo exposure and
light intensity are never trusted: the recovered albedo is exactly invariant to them) and
Gaussian in chromaticity around neutral, with the spread that camera auto white balance leaves
(``light_chroma_cov``: 0-20 % of a 2800-7500 K Planckian cast, as ``render.lights`` samples it,
times the VIS sensor's white-balance error (balanced for 5500-7500 K), plus 3 % per channel; the
sensor term was missing at first: on renders the light colour's main-axis log std is 0.136, the
prior without it had 0.079, with it 0.126). Consequences: albedo luminance comes from the skin's
chromaticity through the prior; a residual colour cast is read partly as skin colour (along the
main chromaticity axis the skin prior's log std is 0.20, the light's 0.126), and a warm cast also
darkens the estimate (the Planckian and the melanin directions nearly coincide in chromaticity).
``cbar`` is the mean of the fitted ``abar * E / pi`` over the fit texels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from nirvis.render.lights import sh_irradiance

__all__ = ["SKIN_LOG_MEAN", "SKIN_LOG_COV", "ShFit", "Delighting", "irradiance_basis", "fit_sh_lighting",
           "skin_gauge", "light_chroma_cov", "skin_albedo_prior", "delight"]

#: Mean of log linear-sRGB skin albedo over the procedural identity prior (``skin_albedo_prior(1024)``:
#: identities ``sample_identity(0..1023)``, base skin parameters of ``sample_appearance``, D65).
SKIN_LOG_MEAN = np.array([-0.96134998, -1.53515812, -2.03130154])
#: Covariance of the same (``skin_albedo_prior(1024)``).
SKIN_LOG_COV = np.array([[0.09952952, 0.13977093, 0.17898845],
                         [0.13977093, 0.19935961, 0.25712236],
                         [0.17898845, 0.25712236, 0.33850510]])

_UNIT = np.ones(3) / np.sqrt(3.0)          # log-RGB brightness direction
_CHROMA = np.eye(3) - np.outer(_UNIT, _UNIT)


def skin_albedo_prior(count: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(mean float64 [3], covariance float64 [3, 3]) of log linear-sRGB skin albedo over the
    procedural identities ``sample_identity(0 .. count - 1)`` (their base skin parameters, without
    spatial modulation): how ``SKIN_LOG_MEAN`` / ``SKIN_LOG_COV`` were computed (~1.4 ms per identity)."""
    from nirvis.faces.head_model import load_head_model, sample_identity
    from nirvis.reflectance.maps import sample_appearance
    from nirvis.reflectance.sensors import skin_albedo_vis
    from nirvis.reflectance.skin import SkinParams

    model = load_head_model()
    apps = [sample_appearance(sample_identity(s, model)) for s in range(int(count))]

    def field(name: str) -> torch.Tensor:
        return torch.tensor([getattr(a, name) for a in apps], dtype=torch.float64)

    params = SkinParams(melanin=field("melanin"), eumelanin_share=field("eumelanin_share"), blood=field("blood"),
                        oxygen_saturation=field("oxygen_saturation"),
                        epidermis_thickness_um=field("epidermis_thickness_um"))
    logs = np.log(skin_albedo_vis(params).numpy())
    return logs.mean(0), np.cov(logs.T)


@functools.lru_cache(maxsize=1)
def light_chroma_cov(floor: float = 0.03) -> np.ndarray:
    """float64 [3, 3] covariance of the log-RGB light colour a white-balanced camera leaves, in the
    chromaticity plane (zero along (1, 1, 1)), around neutral (not around the mean cast), as the
    renderer draws it: shares 0..0.2 (``LightingConfig.awb_residual``) of the cast of Planckian
    lights 2800..7500 K (``LightingConfig.color_temperature_k``) relative to D65, times the VIS
    sensor's own white-balance error (``VisSensorConfig.wb_kelvin``: balanced for a Planckian
    5500..7500 K instead of 6500 K), on regular grids, plus ``floor`` (log std per channel) of
    other error (coloured environments are not Planckian)."""
    from nirvis.render.lights import LightingConfig
    from nirvis.render.sensor import REFERENCE_WHITE_K, VisSensorConfig, color_temperature_rgb

    lighting, sensor = LightingConfig(), VisSensorConfig()

    def log_rgb(kelvin: torch.Tensor, locus: str = "planckian") -> np.ndarray:
        return np.log(color_temperature_rgb(kelvin, locus).numpy())

    temps = torch.linspace(*lighting.color_temperature_k, 48, dtype=torch.float64)
    cast = log_rgb(temps) - log_rgb(torch.tensor(6504.0, dtype=torch.float64), "daylight")
    share = np.linspace(*lighting.awb_residual, 11)
    residual = (share[:, None, None] * cast[None]).reshape(-1, 3)
    wb = torch.linspace(*sensor.wb_kelvin, 21, dtype=torch.float64)
    wb_cast = log_rgb(torch.tensor(float(REFERENCE_WHITE_K), dtype=torch.float64)) - log_rgb(wb)
    samples = (residual[:, None, :] + wb_cast[None]).reshape(-1, 3) @ _CHROMA
    cov = samples.T @ samples / len(samples)
    return _CHROMA @ (cov + floor ** 2 * np.eye(3)) @ _CHROMA


def skin_gauge(mean_colour: np.ndarray) -> np.ndarray:
    """Mean skin albedo of a face whose mean skin colour under the photo's light is ``mean_colour``.

    MAP estimate of ``abar`` in ``log cbar = log abar + log l`` with ``log abar ~ N(SKIN_LOG_MEAN,
    SKIN_LOG_COV)`` and ``log l`` flat in brightness, ``N(0, light_chroma_cov())`` in chromaticity
    (see the module docstring): ``x = (S_a^-1 + P_l)^-1 (S_a^-1 mu_a + P_l log cbar)`` with ``P_l``
    the light's precision (pseudo-inverse, 0 along (1, 1, 1)).

    Args:
        mean_colour: float [3] linear RGB > 0, any scale (exposure and light intensity cancel).

    Returns:
        float64 [3] linear-sRGB mean skin albedo in (0, 1).

    Example:
        >>> import numpy as np
        >>> a = skin_gauge(np.array([0.40, 0.25, 0.16]))
        >>> bool(np.allclose(a, skin_gauge(np.array([0.40, 0.25, 0.16]) * 7.0)))   # brightness cancels
        True
    """
    c = np.asarray(mean_colour, np.float64).reshape(3)
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError(f"mean_colour: expected 3 positive finite values, got {c.tolist()}")
    prec_a = np.linalg.inv(SKIN_LOG_COV)
    prec_l = np.linalg.pinv(light_chroma_cov(), rcond=1e-9, hermitian=True)
    x = np.linalg.solve(prec_a + prec_l, prec_a @ SKIN_LOG_MEAN + prec_l @ np.log(c))
    return np.clip(np.exp(x), 1e-4, 1.0)


def irradiance_basis(normals: np.ndarray) -> np.ndarray:
    """float64 [N, 9]: column k is ``E(n) / pi`` for unit SH radiance coefficient k (the order of
    ``render.lights.sh_irradiance``, which computes it), at unit world-frame normals [N, 3]."""
    n = torch.as_tensor(np.asarray(normals, np.float64)).view(1, -1, 1, 3)
    eye = torch.eye(9, dtype=torch.float64).unsqueeze(0)           # [1, 9 coefficients, 9 "channels"]
    return sh_irradiance(n, eye)[0, :, 0].numpy() / np.pi


@dataclass(frozen=True, eq=False)
class ShFit:
    """The lighting fitted over skin texels.

    Attributes:
        product: float64 [9, 3] SH coefficients of ``abar * L`` (per channel): ``irradiance_basis(n)
            @ product`` is the photo value of the mean skin albedo at normal n.
        inliers: bool [N] texels kept by the last iteration.
        log_sigma: float64 [3] robust std of the per-channel log ratio photo / fit over the inliers.
    """

    product: np.ndarray
    inliers: np.ndarray
    log_sigma: np.ndarray

    def predict(self, basis: np.ndarray) -> np.ndarray:
        """float64 [N, 3] photo value of the mean albedo for basis rows [N, 9]."""
        return basis @ self.product


def _solve(basis: np.ndarray, colour: np.ndarray, weight: np.ndarray, ridge: float) -> np.ndarray:
    """Weighted ridge least squares per channel: float64 [9, 3]."""
    bw = basis * weight[:, None]
    gram = bw.T @ basis
    reg = ridge * np.trace(gram) / 9.0 * np.diag([0.0] + [1.0] * 8)
    return np.linalg.solve(gram + reg, bw.T @ colour)


def fit_sh_lighting(colour: np.ndarray, basis: np.ndarray, weight: np.ndarray, iterations: int = 5,
                    outlier_sigma: float = 2.5, ridge: float = 1e-3, min_texels: int = 30) -> ShFit:
    """Robust fit of ``colour ~ basis @ product`` (constant albedo times SH irradiance).

    Args:
        colour: float [N, 3] linear photo values of candidate skin texels (> 0).
        basis: float [N, 9] ``irradiance_basis`` of their normals.
        weight: float [N] >= 0 confidence (view angle, edges).
        iterations: refits; each keeps the texels whose per-channel log ratio photo / fit lies
            within ``outlier_sigma`` robust (1.4826 MAD) standard deviations of its median.
        ridge: Tikhonov weight on bands 1 and 2, relative to the mean diagonal of the normal matrix.
        min_texels: fewer usable texels raise ``ValueError``.

    Returns:
        ``ShFit``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> n = rng.normal(size=(500, 3)); n[:, 2] = np.abs(n[:, 2]); n /= np.linalg.norm(n, axis=1, keepdims=True)
        >>> B = irradiance_basis(n)
        >>> truth = np.zeros((9, 3)); truth[0] = 1.0; truth[2] = 0.5          # ambient + light from +z
        >>> c = B @ truth; c[:10] *= 3.0                                         # ten highlights
        >>> fit = fit_sh_lighting(c, B, np.ones(500), ridge=0.0)   # exact data: no ridge bias
        >>> bool(np.abs(fit.product - truth).max() < 1e-6), int((~fit.inliers).sum())
        (True, 10)
    """
    colour = np.asarray(colour, np.float64)
    basis = np.asarray(basis, np.float64)
    weight = np.asarray(weight, np.float64)
    usable = (weight > 0) & np.all(colour > 0, axis=1)
    if usable.sum() < min_texels:
        raise ValueError(f"fit_sh_lighting: {int(usable.sum())} usable skin texels, need at least {min_texels}")
    keep = usable.copy()
    sigma = np.full(3, np.inf)
    product = _solve(basis[keep], colour[keep], weight[keep], ridge)
    for _ in range(int(iterations)):
        pred = basis @ product
        ok = usable & np.all(pred > 1e-6, axis=1)
        ratio = np.log(np.where(ok[:, None], colour, 1.0) / np.where(ok[:, None], pred, 1.0))
        med = np.median(ratio[keep & ok], axis=0)
        sigma = np.maximum(1.4826 * np.median(np.abs(ratio[keep & ok] - med), axis=0), 1e-3)
        new = ok & np.all(np.abs(ratio - med) <= outlier_sigma * sigma, axis=1)
        if new.sum() < min_texels:
            break
        if np.array_equal(new, keep):
            break
        keep = new
        product = _solve(basis[keep], colour[keep], weight[keep], ridge)
    return ShFit(product=product, inliers=keep, log_sigma=sigma)


@dataclass(frozen=True, eq=False)
class Delighting:
    """Lighting and albedo of an unwrapped photo.

    Attributes:
        albedo: float32 [R, R, 3] linear-sRGB diffuse albedo in [0, 1] where ``weight > 0``, else 0.
        weight: float32 [R, R] in [0, 1]: the unwrap weight, 0 at saturated pixels, skin highlights
            (positive fit outliers) and where the fitted irradiance is too small to divide by.
        sh: float64 [9, 3] SH radiance coefficients ``L`` (world frame of ``render.lights``, exposure
            and white balance folded in): ``photo ~ albedo * sh_irradiance(n, L) / pi``.
        mean_albedo: float64 [3] the gauge ``abar`` (``skin_gauge``).
        mean_colour: float64 [3] ``cbar``, mean fitted photo value over the fit texels.
        fit_mask: bool [R, R] skin texels of the final fit (inliers).
    """

    albedo: np.ndarray
    weight: np.ndarray
    sh: np.ndarray
    mean_albedo: np.ndarray
    mean_colour: np.ndarray
    fit_mask: np.ndarray


def delight(colour: np.ndarray, normal: np.ndarray, weight: np.ndarray, candidates: np.ndarray,
            saturated: np.ndarray, iterations: int = 5, outlier_sigma: float = 2.5, ridge: float = 1e-3,
            highlight_sigma: float = 3.0) -> Delighting:
    """Fit SH lighting over skin texels and divide it out.

    Args:
        colour: float [R, R, 3] unwrapped linear photo colour.
        normal: float [R, R, 3] unit world-frame normals (the renderer's: +y up, +z to the camera).
        weight: float [R, R] unwrap confidence in [0, 1] (0 = not seen).
        candidates: bool [R, R] skin texels the lighting may be fitted on (no lips, brows, hair,
            beard, eyes).
        saturated: bool [R, R] texels whose photo pixels clip.
        iterations, outlier_sigma, ridge: see ``fit_sh_lighting``.
        highlight_sigma: candidate texels brighter than the fit by this many robust standard
            deviations (luminance) are treated as specular highlights (weight 0).

    Returns:
        ``Delighting``.
    """
    colour = np.asarray(colour, np.float32)
    weight = np.asarray(weight, np.float32)
    seen = weight > 0
    ys, xs = np.nonzero(seen)
    basis = irradiance_basis(normal[ys, xs])
    cand = candidates[ys, xs] & ~saturated[ys, xs]
    fit = fit_sh_lighting(colour[ys, xs][cand], basis[cand], weight[ys, xs][cand], iterations, outlier_sigma, ridge)
    pred = fit.predict(basis)                                           # [M, 3] mean-albedo photo value
    cbar = np.maximum(fit.predict(basis[cand][fit.inliers]).mean(0), 1e-6)
    abar = skin_gauge(cbar)
    floor = 0.05 * cbar
    ok = np.all(pred > floor, axis=1) & ~saturated[ys, xs]
    ratio = np.log(np.maximum(colour[ys, xs], 1e-6) / np.maximum(pred, 1e-6)).mean(1)
    highlight = np.zeros(len(ys), bool)
    highlight[np.flatnonzero(cand)] = (ratio[cand] - np.median(ratio[cand][fit.inliers])
                                       > highlight_sigma * float(fit.log_sigma.mean()))
    ok &= ~highlight
    albedo = np.zeros(colour.shape, np.float32)
    albedo[ys, xs] = np.where(ok[:, None], np.clip(colour[ys, xs] / np.maximum(pred, 1e-6) * abar, 0.0, 1.0), 0.0)
    w = np.zeros(weight.shape, np.float32)
    w[ys, xs] = np.where(ok, weight[ys, xs], 0.0)
    fit_mask = np.zeros(weight.shape, bool)
    fit_mask[ys[cand][fit.inliers], xs[cand][fit.inliers]] = True
    return Delighting(albedo=albedo, weight=w, sh=fit.product / abar[None, :], mean_albedo=abar,
                      mean_colour=cbar, fit_mask=fit_mask)
