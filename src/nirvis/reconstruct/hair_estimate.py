"""Head hair of a photographed person, for the renderer's hair shell (``render.hair.HairParams``).

A reconstructed head is otherwise bald with the photo's hair painted on the scalp. From the photo
and its 478 MediaPipe points (frame of the face: ``up`` from the chin (152) to the top of the
forehead (10), ``h`` that distance, ``w`` the face width between points 234 and 454):

1. Hair colour: the median linear RGB of the band ``0.12 h .. 0.35 h`` above point 10, ``0.6 w``
   wide (the top of the head above the hairline), compared with the forehead skin just below 10
   (``0.05 h .. 0.15 h``). A band whose colour is within ``BALD_LOG_DISTANCE`` of the skin's
   (log RGB) is scalp: style ``shaved``.
2. Hair albedo: the band colour times the skin's albedo per unit photo value (the de-lighting's
   ``mean_albedo / mean_colour``: the skin calibrates the light), then fibre pigments (eumelanin,
   pheomelanin) by nearest log-RGB match on a grid of ``render.hair.hair_albedo``.
3. Length: patches beside the face at ear height (``0.5 h`` below 10, ``0.15 w`` outside the
   face) and at jaw height (``0.85 h`` below 10) whose colour is within ``SAME_HAIR_LOG_DISTANCE``
   of the band on both sides: ``long`` (down past the jaw), ``medium`` (ear level), else ``short``.
   A background of the hair's colour reads as long hair; that, curls and partings are not
   estimated (documented limits).

Everything in photo pixels; patches outside the photo count as unseen.
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import numpy as np

from nirvis.colour import decode_srgb

__all__ = ["estimate_hair", "hair_pigments", "BALD_LOG_DISTANCE", "SAME_HAIR_LOG_DISTANCE"]

#: Band colour this close to the forehead skin's (RMS log RGB) counts as bare scalp. Small: blond
#: hair is close to skin colour (the astronaut's: 0.137), and a wrong "short" shell on a bald head
#: takes the scalp's own colour, which looks nearly bald anyway.
BALD_LOG_DISTANCE = 0.08
#: A patch beside the face this close to the band's colour counts as the same hair.
SAME_HAIR_LOG_DISTANCE = 0.25
#: Shell thickness (mm) and curtain length (mm, head frame y) per estimated style.
STYLE_SHAPE = {"short": (6.0, 0.0), "medium": (9.0, -60.0), "long": (10.0, -140.0), "shaved": (0.0, 0.0)}
_MIN_PIXELS = 30


def _patch(rgb: np.ndarray, centre: np.ndarray, axis_u: np.ndarray, half_u: float, half_v: float
           ) -> Optional[np.ndarray]:
    """Linear RGB [N, 3] of the pixels in the rectangle around ``centre`` with half-sizes along
    ``up`` (``half_u``) and across (``half_v``); None when fewer than ``_MIN_PIXELS`` lie in the photo."""
    h, w = rgb.shape[:2]
    across = np.array([axis_u[1], -axis_u[0]])
    r = float(np.hypot(half_u, half_v))
    x0, x1 = int(max(0, np.floor(centre[0] - r))), int(min(w, np.ceil(centre[0] + r) + 1))
    y0, y1 = int(max(0, np.floor(centre[1] - r))), int(min(h, np.ceil(centre[1] + r) + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    d = np.stack([xs - centre[0], ys - centre[1]], -1).astype(np.float64)
    inside = (np.abs(d @ axis_u) <= half_u) & (np.abs(d @ across) <= half_v)
    px = rgb[y0:y1, x0:x1][inside]
    if len(px) < _MIN_PIXELS:
        return None
    return decode_srgb(px.astype(np.float64) / 255.0)


def _log_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.log(np.maximum(a, 1e-4)) - np.log(np.maximum(b, 1e-4))) ** 2)))


@functools.lru_cache(maxsize=2)
def _pigment_grid(led_nm: float) -> tuple[np.ndarray, np.ndarray]:
    from nirvis.render.hair import hair_albedo

    eu = np.geomspace(0.02, 2.0, 36)
    ph = np.array([0.0, 0.02, 0.05, 0.1, 0.15, 0.25, 0.4])
    pigments = np.array([(e, p) for e in eu for p in ph])
    vis = np.stack([hair_albedo(float(e), float(p), led_nm)[0].double().numpy() for e, p in pigments])
    return pigments, vis


def hair_pigments(albedo: np.ndarray, led_nm: float = 850.0) -> tuple[float, float]:
    """(eumelanin, pheomelanin) whose fibre albedo (``render.hair.hair_albedo``) is nearest to the
    linear-RGB ``albedo`` [3] in log RGB."""
    pigments, vis = _pigment_grid(float(led_nm))
    d = np.sum((np.log(np.maximum(vis, 1e-4)) - np.log(np.maximum(np.asarray(albedo, np.float64), 1e-4))) ** 2, axis=1)
    e, p = pigments[int(np.argmin(d))]
    return float(e), float(p)


def estimate_hair(rgb: np.ndarray, points: np.ndarray, albedo_per_value: np.ndarray, led_nm: float = 850.0,
                  seed: int = 0) -> tuple[Optional[dict[str, Any]], dict[str, Any]]:
    """Hair parameters of the person in a photo.

    Args:
        rgb: uint8 [H, W, 3] sRGB photo.
        points: float [478, 2] MediaPipe points (pixels).
        albedo_per_value: float [3] skin albedo per unit linear photo value (``mean_albedo /
            mean_colour`` of the de-lighting).
        led_nm: NIR LED for the pigment grid.
        seed: ``HairParams.seed`` (strand texture phase).

    Returns:
        (``HairParams.to_dict()`` or None when the top of the head is not in the photo, report dict).
    """
    from nirvis.render.hair import HairParams

    p = np.asarray(points, np.float64)
    top, chin = p[10], p[152]
    up = top - chin
    h = float(np.linalg.norm(up))
    if not np.isfinite(h) or h < 1.0:
        return None, {"hair": "unknown", "reason": "no face frame"}
    up /= h
    width = float(np.linalg.norm(p[454] - p[234]))
    across = np.array([up[1], -up[0]])
    band = _patch(rgb, top + up * 0.235 * h, up, 0.115 * h, 0.3 * width)
    skin = _patch(rgb, top - up * 0.10 * h, up, 0.05 * h, 0.2 * width)
    if band is None or skin is None:
        return None, {"hair": "unknown", "reason": "the top of the head is outside the photo"}
    band_c, skin_c = np.median(band, axis=0), np.median(skin, axis=0)
    report: dict[str, Any] = {"band_linear_rgb": np.round(band_c, 4).tolist(),
                              "band_to_skin_log_distance": round(_log_distance(band_c, skin_c), 3)}
    albedo = np.clip(band_c * np.asarray(albedo_per_value, np.float64), 1e-3, 1.0)
    eu, ph = hair_pigments(albedo, led_nm)
    if report["band_to_skin_log_distance"] < BALD_LOG_DISTANCE:
        style = "shaved"
    else:
        sides = {}
        mid = (p[234] + p[454]) / 2.0
        for name, below in (("ear", 0.5), ("jaw", 0.85)):
            seen = []
            for edge in (p[234], p[454]):
                outward = across * np.sign(float((edge - mid) @ across) or 1.0)
                base = edge + outward * 0.15 * width
                centre = base + up * (float(top @ up) - below * h - float(base @ up))
                patch = _patch(rgb, centre, up, 0.06 * h, 0.06 * width)
                seen.append(None if patch is None else _log_distance(np.median(patch, axis=0), band_c))
            sides[name] = seen
        report["side_log_distance"] = {k: [None if d is None else round(d, 3) for d in v] for k, v in sides.items()}

        def hair_both(name: str) -> bool:
            return all(d is not None and d < SAME_HAIR_LOG_DISTANCE for d in sides[name])

        style = "long" if hair_both("jaw") and hair_both("ear") else "medium" if hair_both("ear") else "short"
    thickness, length = STYLE_SHAPE[style]
    params = HairParams(style=style, thickness_mm=thickness, length_y_mm=length, eumelanin=eu, pheomelanin=ph,
                        seed=int(seed))
    report.update(hair=style, eumelanin=round(eu, 4), pheomelanin=round(ph, 4),
                  albedo=np.round(albedo, 4).tolist())
    return params.to_dict(), report
