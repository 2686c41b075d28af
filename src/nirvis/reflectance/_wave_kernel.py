"""The compiled loop of ``wave_noise.plane_wave_noise`` (numba; imported only when it runs)."""

from __future__ import annotations

import numba
import numpy as np

_TWO_PI_HI = 6.283185307179586            # 2 pi rounded to float64
_TWO_PI_LO = 2.4492935982947064e-16       # 2 pi - _TWO_PI_HI
_INV_TWO_PI = 0.15915494309189535


@numba.njit(inline="always", cache=True)
def _cos(x):  # pragma: no cover - compiled
    n = np.rint(x * _INV_TWO_PI)
    r = (x - n * _TWO_PI_HI) - n * _TWO_PI_LO       # in [-pi, pi]
    s = 0.5 * r                                     # in [-pi/2, pi/2]
    s2 = s * s
    p = -7.647163731819816e-13                       # sin(s) = s + s^3 p(s^2): Taylor to s^15
    p = p * s2 + 1.6059043836821613e-10
    p = p * s2 - 2.505210838544172e-08
    p = p * s2 + 2.7557319223985893e-06
    p = p * s2 - 1.984126984126984e-04
    p = p * s2 + 8.333333333333333e-03
    p = p * s2 - 1.6666666666666666e-01
    sn = s + s * s2 * p
    return 1.0 - 2.0 * sn * sn


@numba.njit(nogil=True, cache=True)
def wave_sum(px, py, pz, w, phase, coef, out):  # pragma: no cover - compiled
    """out[i] += coef * sum_j cos(<p_i, w_j> + phase_j), waves j in order; p as float64 [N] x, y, z."""
    n = px.shape[0]
    for j in range(w.shape[0]):
        wx, wy, wz, ph = w[j, 0], w[j, 1], w[j, 2], phase[j]
        for i in range(n):                          # elementwise: vectorises
            out[i] += coef * _cos(px[i] * wx + py[i] * wy + pz[i] * wz + ph)
