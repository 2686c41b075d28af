"""RGB albedo -> model parameters, and the VIS -> NIR diffuse albedo conversion.

Inversion, per texel (batched): the nearest entry of the region's parameter lookup table (in
companded colour sqrt(rgb + 0.002)) is the initial guess; then a few Levenberg-Marquardt
(damped Gauss-Newton) steps with a finite-difference Jacobian and box bounds (an active-set
projection keeps parameters inside the prior) minimise the companded colour error. Colours the
model cannot produce (outside the region's gamut) converge to the nearest gamut point; the
distance to it is reported as the residual (linear RGB, Euclidean).

``vis_to_nir_albedo`` blends regions by mask, inverts each region's texels with its own model or
rule (see ``regions``), and evaluates the fitted spectra with the NIR camera. By default the
per-texel map is evaluated on a lazily filled 48^3 RGB lattice and interpolated (``rgbgrid``),
which makes 1024 x 1024 maps take seconds; ``rgb_grid=None`` inverts every distinct colour.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import torch

from nirvis.reflectance._checks import (as_float_tensor, check_albedo_map, check_last_dim, check_led, check_range,
                                        torch_threads)
from nirvis.reflectance.baseline import METHODS, luma_nir, red_channel_nir
from nirvis.reflectance.lut import compand, get_lut, lut_key
from nirvis.reflectance.regions import (REGION_MODELS, SUPPORTED_REGIONS, InversionModel, RatioRule,
                                        SkinRegionModel, get_region)
from nirvis.reflectance.rgbgrid import lattice_lookup
from nirvis.reflectance.skin import SkinParams

__all__ = ["RegionFit", "SkinFit", "fit_region", "invert_skin_params", "vis_to_nir_albedo", "vis_to_nir",
           "nir_reflectance_maps"]

_DEFAULT_ITERATIONS = 15
_FD_STEP = 1e-3
_NN_CHUNK = 8192


# ------------------------------------------------------------------------------------ inversion


def _nearest_lut(model: InversionModel, target: torch.Tensor, cache_dir) -> torch.Tensor:
    lut = get_lut(model, cache_dir)
    colors = lut.colors.to(dtype=target.dtype, device=target.device)
    units = lut.units.to(dtype=target.dtype, device=target.device)
    c2 = (colors * colors).sum(-1)
    out = torch.empty(target.shape[0], units.shape[1], dtype=target.dtype, device=target.device)
    for s in range(0, target.shape[0], _NN_CHUNK):
        q = target[s:s + _NN_CHUNK]
        d = torch.addmm(c2.unsqueeze(0), q, colors.T, alpha=-2.0)   # |c|^2 - 2 q.c (+ |q|^2, constant)
        out[s:s + _NN_CHUNK] = units[d.argmin(dim=1)]
    return out


def _levenberg_marquardt(model: InversionModel, target: torch.Tensor, t: torch.Tensor,
                         iterations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise |compand(model(t)) - target|^2 over t in [0, 1]^P; returns (t, model rgb)."""
    n, p = t.shape
    dt = t.dtype
    rgb = model.vis_rgb(t)
    r = compand(rgb) - target
    cost = (r * r).sum(-1)
    mu = torch.full((n,), 1e-2, dtype=dt, device=t.device)
    active = torch.arange(n, device=t.device)
    idx = torch.arange(p, device=t.device)
    for _ in range(int(iterations)):
        if active.numel() == 0:
            break
        ta, ra, ca = t[active], r[active], compand(rgb[active])
        m = ta.shape[0]
        step = torch.where(ta <= 1.0 - _FD_STEP, torch.full_like(ta, _FD_STEP), torch.full_like(ta, -_FD_STEP))
        tp = ta.unsqueeze(0).repeat(p, 1, 1)                               # [P, m, P]
        tp[idx, :, idx] += step.T
        cp = compand(model.vis_rgb(tp.reshape(-1, p))).reshape(p, m, 3)
        jac = ((cp - ca.unsqueeze(0)) / step.T.unsqueeze(-1)).permute(1, 2, 0)   # [m, 3, P]
        jt = jac.transpose(1, 2)
        g = (jt @ ra.unsqueeze(-1)).squeeze(-1)                            # [m, P]
        a = jt @ jac                                                       # [m, P, P]
        fixed = ((ta <= 0.0) & (g > 0)) | ((ta >= 1.0) & (g < 0))
        free = ~fixed
        pair = free.unsqueeze(-1) & free.unsqueeze(-2)
        a = torch.where(pair, a, torch.zeros_like(a)) + torch.diag_embed(fixed.to(dt))
        g = torch.where(free, g, torch.zeros_like(g))
        diag = a.diagonal(dim1=-2, dim2=-1)
        ma = mu[active]
        damped = a + torch.diag_embed(ma.unsqueeze(-1) * (diag + 1e-9))
        delta = -torch.linalg.solve(damped, g.unsqueeze(-1)).squeeze(-1)
        tn = (ta + delta).clamp(0.0, 1.0)
        rgbn = model.vis_rgb(tn)
        rn = compand(rgbn) - target[active]
        costn = (rn * rn).sum(-1)
        old = cost[active]
        better = costn < old
        acc = active[better]
        t[acc], rgb[acc], r[acc], cost[acc] = tn[better], rgbn[better], rn[better], costn[better]
        mu[active] = torch.where(better, ma * 0.3, ma * 10.0).clamp(1e-8, 1e8)
        gain = old - costn
        done = (cost[active] < 1e-12) | (better & (gain <= 1e-5 * old)) | (~better & (mu[active] >= 1e5))
        active = active[~done]
    return t, rgb


def _fit_units(model: InversionModel, rgb: torch.Tensor, iterations: int,
               cache_dir) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit parameters ``[N, P]`` and fitted colours ``[N, 3]`` for colours ``rgb [N, 3]``."""
    work = rgb if rgb.dtype == torch.float64 else rgb.float()
    target = compand(work.clamp(0.0, 1.0))
    with torch.no_grad():
        t0 = _nearest_lut(model, target, cache_dir)
        if iterations <= 0:
            return t0, model.vis_rgb(t0)
        return _levenberg_marquardt(model, target, t0, iterations)


def _check_rgb(rgb: Any) -> torch.Tensor:
    x = as_float_tensor(rgb, "rgb")
    check_last_dim(x, 3, "rgb")
    check_range(x, "rgb", -1e-4, 1.0 + 1e-4)
    return x


def _check_iterations(iterations: Any) -> int:
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations: expected an integer >= 0, got {iterations!r}")
    return int(iterations)


@dataclass(frozen=True, eq=False)
class RegionFit:
    """Result of inverting RGB albedo with one region's model.

    Attributes:
        region: region name.
        param_names: names of the P fitted parameters.
        values: ``[..., P]`` physical parameter values.
        units: ``[..., P]`` the same in unit coordinates [0, 1].
        rgb_fit: ``[..., 3]`` linear sRGB the model produces for ``values`` (the nearest gamut
            point for out-of-gamut inputs).
        residual: ``[...]`` Euclidean distance between input and fitted linear RGB.

    Example:
        >>> import torch
        >>> from nirvis.reflectance.invert import fit_region
        >>> fit = fit_region(torch.tensor([[0.1, 0.2, 0.8]]), "skin")   # blue: not skin
        >>> fit.values.shape, bool(fit.residual[0] > 0.1)
        (torch.Size([1, 3]), True)
    """

    region: str
    param_names: tuple[str, ...]
    values: torch.Tensor
    units: torch.Tensor
    rgb_fit: torch.Tensor
    residual: torch.Tensor


def fit_region(rgb: Any, region: str = "skin", iterations: int = _DEFAULT_ITERATIONS,
               cache_dir: Optional[str | os.PathLike] = None) -> RegionFit:
    """Invert linear-sRGB albedo to the parameters of a region's spectral model.

    Args:
        rgb: ``[..., 3]`` linear sRGB albedo in [0, 1] (float tensor or array).
        region: an inversion region: ``skin``, ``lips``, ``brows``/``hair``/``beard`` or ``iris``.
        iterations: maximum Levenberg-Marquardt steps after the table lookup (0: lookup only).
        cache_dir: directory for the lookup-table disk cache (see ``lut``).

    Returns:
        ``RegionFit`` with tensors on the input's device (float32, or float64 for float64 input).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.invert import fit_region
        >>> fit = fit_region(torch.tensor([[0.03, 0.02, 0.015]]), "brows")
        >>> fit.param_names, bool(fit.residual[0] < 0.01)
        (('eumelanin', 'pheomelanin', 'surface'), True)
    """
    model = get_region(region)
    if not isinstance(model, InversionModel):
        raise ValueError(f"region: {region!r} uses a luminance-ratio rule, not an invertible model; "
                         f"invertible regions: {', '.join(sorted(REGION_MODELS))}")
    x = _check_rgb(rgb)
    its = _check_iterations(iterations)
    flat = x.reshape(-1, 3)
    t, rgb_fit = _fit_units(model, flat, its, cache_dir)
    values = model.values(t)
    out_dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    residual = (rgb_fit - flat.to(rgb_fit.dtype).clamp(0, 1)).norm(dim=-1)
    shape = x.shape[:-1]
    return RegionFit(region=region, param_names=tuple(s.name for s in model.specs),
                     values=values.reshape(*shape, -1).to(out_dt), units=t.reshape(*shape, -1).to(out_dt),
                     rgb_fit=rgb_fit.reshape(*shape, 3).to(out_dt), residual=residual.reshape(shape).to(out_dt))


@dataclass(frozen=True, eq=False)
class SkinFit:
    """Skin parameters recovered from RGB albedo.

    Attributes:
        params: ``SkinParams`` with batch shape [...] (fixed fields from the prior).
        rgb_fit: ``[..., 3]`` linear sRGB of the fitted parameters.
        residual: ``[...]`` linear-RGB distance between input and fit (0 inside the gamut).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.invert import invert_skin_params
        >>> fit = invert_skin_params(torch.tensor([[0.50, 0.33, 0.24]]), prior="lips")
        >>> float(fit.params.epidermis_thickness_um[0]), float(fit.params.oxygen_saturation[0])
        (30.0, 0.8500000238418579)
    """

    params: SkinParams
    rgb_fit: torch.Tensor
    residual: torch.Tensor


def invert_skin_params(rgb: Any, prior: str = "skin", iterations: int = _DEFAULT_ITERATIONS,
                       cache_dir: Optional[str | os.PathLike] = None) -> SkinFit:
    """Recover two-layer skin parameters from linear-sRGB diffuse albedo, per texel.

    Melanin fraction, eumelanin share and blood fraction are fitted; oxygen saturation and
    epidermis thickness are fixed by the prior (``"skin"``: 0.75 / 60 um; ``"lips"``: 0.85 /
    30 um and blood up to 25 %).

    Args:
        rgb: ``[..., 3]`` linear sRGB albedo in [0, 1].
        prior: ``"skin"`` or ``"lips"``.
        iterations: maximum refinement steps after the table lookup.
        cache_dir: lookup-table disk cache directory.

    Returns:
        ``SkinFit``; ``skin_albedo_vis(fit.params)`` reproduces ``fit.rgb_fit``.

    Example:
        >>> from nirvis.reflectance.skin import SkinParams
        >>> from nirvis.reflectance.sensors import skin_albedo_vis
        >>> from nirvis.reflectance.invert import invert_skin_params
        >>> rgb = skin_albedo_vis(SkinParams(melanin=0.03, eumelanin_share=0.7, blood=0.02))
        >>> fit = invert_skin_params(rgb)
        >>> fit.params.shape, bool(fit.residual < 1e-4), round(float(fit.params.melanin), 3)
        (torch.Size([]), True, 0.03)
    """
    if prior not in ("skin", "lips"):
        raise ValueError(f"prior: expected 'skin' or 'lips', got {prior!r}")
    model = REGION_MODELS[prior]
    if not isinstance(model, SkinRegionModel):  # pragma: no cover - registry invariant
        raise RuntimeError(f"region {prior!r} is not a skin model")
    fit = fit_region(rgb, prior, iterations, cache_dir)
    v = fit.values
    params = SkinParams(melanin=v[..., 0], eumelanin_share=v[..., 1], blood=v[..., 2],
                        oxygen_saturation=torch.full_like(v[..., 0], model.prior.oxygen_saturation),
                        epidermis_thickness_um=torch.full_like(v[..., 0], model.prior.epidermis_thickness_um))
    return SkinFit(params=params, rgb_fit=fit.rgb_fit, residual=fit.residual)


# ------------------------------------------------------------------------------- VIS -> NIR maps


def _model_nir(model: InversionModel, rgb: torch.Tensor, led: float, rgb_grid: Optional[int],
               iterations: int, cache_dir) -> torch.Tensor:
    """``[M, 2]`` (NIR albedo, residual) for colours ``rgb [M, 3]`` with an inversion model."""

    def solve(colors: torch.Tensor) -> torch.Tensor:
        t, fit = _fit_units(model, colors, iterations, cache_dir)
        res = (fit - colors.to(fit.dtype)).norm(dim=-1)
        return torch.stack([model.nir(t, led).clamp(0.0, 1.0), res], dim=-1)

    if rgb_grid is None:
        uniq, inverse = torch.unique(rgb, dim=0, return_inverse=True)
        return solve(uniq)[inverse]
    return lattice_lookup(("region", lut_key(model), led, iterations), rgb, rgb_grid, solve)


def _masks_to_weights(region_masks: Optional[Mapping[str, Any]], spatial: torch.Size, like: torch.Tensor,
                      ignore_unknown: bool) -> dict[str, torch.Tensor]:
    """Per-region blend weights [spatial] (non-skin regions plus 'skin' as the remainder)."""
    if region_masks is None:
        return {"skin": torch.ones(spatial, dtype=like.dtype, device=like.device)}
    if not isinstance(region_masks, Mapping):
        raise ValueError(f"region_masks: expected a dict name -> [H, W] mask, got {type(region_masks).__name__}")
    weights: dict[str, torch.Tensor] = {}
    hw = tuple(spatial[-2:])
    for name, mask in region_masks.items():
        if not isinstance(name, str):
            raise ValueError(f"region_masks: keys must be region names (str), got {name!r}")
        if name not in SUPPORTED_REGIONS:
            if ignore_unknown:
                continue
            raise ValueError(f"region_masks: unknown region {name!r}; supported: {', '.join(SUPPORTED_REGIONS)} "
                             "(pass ignore_unknown_regions=True to treat unknown regions as skin)")
        m = as_float_tensor(mask, f"region_masks[{name!r}]").to(dtype=like.dtype, device=like.device)
        if tuple(m.shape) != hw and tuple(m.shape) != tuple(spatial):
            raise ValueError(f"region_masks[{name!r}]: expected shape {list(hw)}"
                             + (f" or {list(spatial)}" if len(spatial) == 3 else "") + f", got {list(m.shape)}")
        check_range(m, f"region_masks[{name!r}]", -1e-4, 1.0 + 1e-4)
        if name == "skin":
            continue  # skin is the remainder of the other regions
        weights[name] = m.clamp(0.0, 1.0).expand(spatial)
    total = torch.zeros(spatial, dtype=like.dtype, device=like.device)
    for w in weights.values():
        total = total + w
    scale = torch.where(total > 1.0, 1.0 / total.clamp_min(1e-12), torch.ones_like(total))
    out = {name: w * scale for name, w in weights.items()}
    out["skin"] = (1.0 - total * scale).clamp(0.0, 1.0)
    return out


def vis_to_nir_albedo(albedo_map: Any, region_masks: Optional[Mapping[str, Any]] = None, led_nm: float = 850,
                      method: str = "spectral", *, rgb_grid: Optional[int] = 48, return_residual: bool = False,
                      ignore_unknown_regions: bool = False, iterations: int = _DEFAULT_ITERATIONS,
                      cache_dir: Optional[str | os.PathLike] = None, num_threads: Optional[int] = None) -> Any:
    """Convert a VIS diffuse albedo map (linear sRGB) to the NIR diffuse albedo of an LED camera.

    Every texel is a convex blend of regions: each non-skin mask contributes its value (masks
    summing above 1 are rescaled to sum 1) and the remainder is skin. Region handling:
    ``skin`` and ``lips`` invert the two-layer skin model (lips with thinner epidermis and more
    blood; ``mouth_cavity`` and ``eye_cavity`` mucosa use the lips prior too); ``brows``/``hair``/
    ``beard`` invert the hair melanin model; ``iris`` the iris model; ``sclera``, ``teeth`` and
    ``pupil`` scale the VIS luminance by a spectral NIR/VIS ratio (~0.86, ~1.15 and 1 at 850 nm).
    Colours outside a region's gamut are clamped to the nearest gamut colour; the distance is
    available with ``return_residual``.

    Args:
        albedo_map: ``[H, W, 3]`` or ``[B, H, W, 3]`` linear sRGB in [0, 1] (float tensor or
            array; CPU or CUDA).
        region_masks: optional dict name -> ``[H, W]`` (or ``[B, H, W]``) mask in [0, 1]. Names:
            ``skin, lips, brows, hair, beard, iris, sclera, teeth, pupil, mouth_cavity,
            eye_cavity`` (the names of ``nirvis.faces.regions.REGION_NAMES`` plus ``hair``).
        led_nm: NIR LED peak, 850 or 940 (any value in 760-980 nm).
        method: ``"spectral"`` (this model), or ablation baselines ``"red"``/``"luma"`` (these
            ignore masks and LED).
        rgb_grid: lattice points per axis for the interpolated evaluation (default 48; None
            inverts every distinct colour exactly).
        return_residual: also return the per-texel gamut residual ``[H, W]`` (linear RGB
            distance, mask-weighted; 0 for sclera/teeth).
        ignore_unknown_regions: treat unknown mask names as skin instead of raising.
        iterations: maximum refinement steps per inversion.
        cache_dir: lookup-table disk cache directory (default ``$NIRVIS_CACHE_DIR``, else memory).
        num_threads: torch intra-op threads for this call (restored afterwards); None keeps the
            current setting. On small shared VMs 1 thread is often faster and far more stable
            than 2 (lock-step threads stall when a virtual CPU is preempted).

    Returns:
        ``[H, W]`` (or ``[B, H, W]``) NIR albedo in [0, 1], same dtype/device as the input; with
        ``return_residual`` a tuple (nir, residual).

    Example:
        >>> import torch
        >>> from nirvis.reflectance.invert import vis_to_nir_albedo
        >>> light, dark = [0.50, 0.33, 0.24], [0.20, 0.09, 0.045]
        >>> albedo = torch.tensor([[light, dark]])
        >>> nir = vis_to_nir_albedo(albedo)
        >>> nir.shape, bool(abs(float(nir[0, 0] - nir[0, 1])) < 0.15)
        (torch.Size([1, 2]), True)
    """
    if method not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    x = check_albedo_map(albedo_map)
    led = check_led(led_nm)
    if rgb_grid is not None and (isinstance(rgb_grid, bool) or not isinstance(rgb_grid, (int, np.integer))
                                 or not 2 <= rgb_grid <= 256):
        raise ValueError(f"rgb_grid: expected an integer in [2, 256] or None, got {rgb_grid!r}")
    its = _check_iterations(iterations)
    torch_threads(num_threads)  # validates
    if method != "spectral":
        nir = red_channel_nir(x) if method == "red" else luma_nir(x)
        return (nir, torch.zeros_like(nir)) if return_residual else nir

    spatial = x.shape[:-1]
    weights = _masks_to_weights(region_masks, spatial, x, ignore_unknown_regions)
    with torch_threads(num_threads):
        nir, residual = _convert(x, weights, led, rgb_grid, its, cache_dir)
    return (nir, residual) if return_residual else nir


def _convert(x: torch.Tensor, weights: dict[str, torch.Tensor], led: float, rgb_grid: Optional[int], its: int,
             cache_dir) -> tuple[torch.Tensor, torch.Tensor]:
    spatial = x.shape[:-1]
    flat = x.reshape(-1, 3)
    nir = torch.zeros(flat.shape[0], dtype=x.dtype, device=x.device)
    residual = torch.zeros_like(nir)
    # Group region names that share a model (brows/hair/beard) so each model runs once.
    groups: dict[int, tuple[Any, torch.Tensor]] = {}
    for name, w in weights.items():
        handler = get_region(name)
        wf = w.reshape(-1)
        if id(handler) in groups:
            groups[id(handler)] = (handler, groups[id(handler)][1] + wf)
        else:
            groups[id(handler)] = (handler, wf)
    with torch.no_grad():
        for handler, wf in groups.values():
            sel = torch.nonzero(wf > 0, as_tuple=True)[0]
            if sel.numel() == 0:
                continue
            colors = flat[sel]
            if isinstance(handler, RatioRule):
                vals = handler.apply(colors, led).to(x.dtype)
                res = torch.zeros_like(vals)
            else:
                out = _model_nir(handler, colors, led, None if rgb_grid is None else int(rgb_grid), its, cache_dir)
                vals, res = out[:, 0].to(x.dtype), out[:, 1].to(x.dtype)
            nir[sel] += wf[sel] * vals
            residual[sel] += wf[sel] * res
    return nir.clamp(0.0, 1.0).reshape(spatial), residual.reshape(spatial)


def vis_to_nir(albedo_map: Any, method: str = "spectral", **kwargs: Any) -> torch.Tensor:
    """Convert a VIS albedo map to NIR albedo with the method named ``method``.

    Args:
        albedo_map: ``[H, W, 3]`` or ``[B, H, W, 3]`` linear RGB in [0, 1].
        method: ``"spectral"`` (biophysical; keyword arguments such as ``region_masks`` and
            ``led_nm`` are passed on), ``"red"`` or ``"luma"`` (ablation baselines of
            ``baseline``; they take no options and ignore the LED).
        **kwargs: options of ``vis_to_nir_albedo`` for ``"spectral"``.

    Returns:
        ``[H, W]`` or ``[B, H, W]`` NIR albedo in [0, 1].

    Example:
        >>> import torch
        >>> from nirvis.reflectance.invert import vis_to_nir
        >>> x = torch.tensor([[[0.45, 0.30, 0.22]]])
        >>> [round(float(vis_to_nir(x, m)[0, 0]), 2) for m in ("red", "luma")]
        [0.45, 0.33]
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "spectral":
        return vis_to_nir_albedo(albedo_map, **kwargs)
    ignored = {k for k in kwargs if k not in ("led_nm", "region_masks")}
    if ignored:
        raise ValueError(f"method: {method!r} takes no options, got {sorted(ignored)}")
    return red_channel_nir(albedo_map) if method == "red" else luma_nir(albedo_map)


def nir_reflectance_maps(maps: Any, led_nm: float = 850, method: str = "spectral", **kwargs: Any) -> Any:
    """Fill the NIR maps of a ``nirvis.faces.asset.ReflectanceMaps``.

    ``diffuse_nir`` comes from ``vis_to_nir_albedo(maps.diffuse_vis, maps.regions, ...)`` (region
    names it does not know are treated as skin); ``specular_nir`` equals ``specular_vis`` and the
    roughness map is shared (see ``specular``).

    Args:
        maps: a ``ReflectanceMaps``.
        led_nm: 850 or 940.
        method: ``"spectral"``, ``"red"`` or ``"luma"``.
        **kwargs: further options of ``vis_to_nir_albedo``.

    Returns:
        A new ``ReflectanceMaps`` with ``diffuse_nir`` and ``specular_nir`` set.

    Example:
        >>> from nirvis.faces.asset import ReflectanceMaps
        >>> from nirvis.reflectance.invert import nir_reflectance_maps
        >>> m = nir_reflectance_maps(ReflectanceMaps.flat(4, albedo=0.4))
        >>> m.diffuse_nir.shape, bool((m.specular_nir == m.specular_vis).all())
        ((4, 4), True)
    """
    from nirvis.faces.asset import ReflectanceMaps

    if not isinstance(maps, ReflectanceMaps):
        raise ValueError(f"maps: expected ReflectanceMaps, got {type(maps).__name__}")
    masks = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in maps.regions.items()}
    kwargs.setdefault("ignore_unknown_regions", True)
    nir = vis_to_nir_albedo(torch.from_numpy(np.asarray(maps.diffuse_vis, dtype=np.float32)), masks or None,
                            led_nm=led_nm, method=method, **kwargs)
    return dataclasses.replace(maps, diffuse_nir=nir.cpu().numpy(), specular_nir=np.array(maps.specular_vis, copy=True))
