"""``antialias.antialias`` compiled: silhouette-edge blending of adjacent pixel pairs.

The same float32 arithmetic per pixel pair as the torch function, and the same order of the
accumulated corrections per pixel (as pixel a of a horizontal pair, as pixel b, then the same for
vertical pairs: ``index_put_(accumulate=True)`` adds them in that order on the CPU)."""

from __future__ import annotations

import numba
import numpy as np
import torch

from nirvis.render.compiled import as_array


@numba.njit(nogil=True, inline="always")
def _triangle(f, ndc, tri, area, done):  # pragma: no cover - compiled
    """Signed screen area of triangle f (``ndc``: each vertex's screen position), on first use."""
    if done[f]:
        return
    c0, c1, c2 = ndc[tri[f, 0]], ndc[tri[f, 1]], ndc[tri[f, 2]]
    e1x = c1[0] - c0[0]
    e1y = c1[1] - c0[1]
    e2x = c2[0] - c0[0]
    e2y = c2[1] - c0[1]
    area[f] = e1x * e2y - e1y * e2x
    done[f] = True


@numba.njit(parallel=True, nogil=True, cache=True)
def _blend(color, ids, depth, clip, tri, nb, out):  # pragma: no cover - compiled
    n_img, h, w, n_ch = color.shape
    n_tri = tri.shape[0]
    one, half = np.float32(1.0), np.float32(0.5)
    for b in numba.prange(n_img):
        # per-triangle screen data and silhouette flags, only for the triangles an edge pixel
        # pair meets (a few hundred of ~45k): the same values as computing all of them
        area = np.empty(n_tri, np.float32)
        done = np.zeros(n_tri, np.bool_)
        sil = np.zeros((n_tri, 3), np.bool_)
        any_sil = np.zeros(n_tri, np.bool_)
        sil_done = np.zeros(n_tri, np.bool_)
        # corrections: [kind, y, x, c] for kinds (horizontal a, horizontal b, vertical a, vertical b)
        delta = np.empty((4, h, w, n_ch), np.float32)              # read only where ``has``
        has = np.zeros((4, h, w), np.bool_)
        touched = np.empty(h * w, np.int64)                        # pixels with a correction
        n_touched = 0
        ndc = np.empty((clip.shape[1], 2), np.float32)            # each vertex's screen position
        for v in range(clip.shape[1]):
            ndc[v, 0] = clip[b, v, 0] / clip[b, v, 3]
            ndc[v, 1] = clip[b, v, 1] / clip[b, v, 3]
        for axis in range(2):                      # horizontal pairs, then vertical
            ny = h if axis == 0 else h - 1
            nx = w - 1 if axis == 0 else w
            for y in range(ny):
                for x in range(nx):
                    yb = y if axis == 0 else y + 1
                    xb = x + 1 if axis == 0 else x
                    ia, ib = ids[b, y, x], ids[b, yb, xb]
                    if ia == ib:
                        continue
                    a_front = ib == 0 or (ia > 0 and depth[b, y, x] < depth[b, yb, xb])
                    f = (ia if a_front else ib) - 1
                    if not sil_done[f]:
                        _triangle(f, ndc, tri, area, done)
                        for k in range(3):
                            o = nb[f, k]
                            _triangle(max(o, 0), ndc, tri, area, done)
                            sk = o < 0 or ((area[f] > 0) != (area[max(o, 0)] > 0))
                            sil[f, k] = sk
                            any_sil[f] = any_sil[f] or sk
                        sil_done[f] = True
                    if not any_sil[f]:
                        continue
                    pax = (np.float32(x) + half) * np.float32(2.0 / w) - one
                    pay = one - (np.float32(y) + half) * np.float32(2.0 / h)
                    pbx = (np.float32(xb) + half) * np.float32(2.0 / w) - one
                    pby = one - (np.float32(yb) + half) * np.float32(2.0 / h)
                    fx, fy = (pax, pay) if a_front else (pbx, pby)
                    ox, oy = (pbx, pby) if a_front else (pax, pay)
                    ar = area[f]
                    if abs(ar) < np.float32(1e-12):
                        ar = np.float32(1e-12)
                    t = np.float32(2.0)
                    for k in range(3):
                        q0x, q0y = ndc[tri[f, (k + 1) % 3], 0], ndc[tri[f, (k + 1) % 3], 1]
                        q1x, q1y = ndc[tri[f, (k + 2) % 3], 0], ndc[tri[f, (k + 2) % 3], 1]
                        bf = ((q1x - q0x) * (fy - q0y) - (q1y - q0y) * (fx - q0x)) / ar
                        bo = ((q1x - q0x) * (oy - q0y) - (q1y - q0y) * (ox - q0x)) / ar
                        if sil[f, k] and bo < 0 and bf >= 0:
                            tk = bf / max(bf - bo, np.float32(1e-12))
                            t = min(t, tk)
                    if not t <= one:
                        continue
                    wa = max(t - half, np.float32(0.0))    # front covers part of the other pixel
                    wf = max(half - t, np.float32(0.0))    # the other shows in the front pixel
                    ka, kb = 2 * axis, 2 * axis + 1
                    if not (has[0, y, x] or has[1, y, x] or has[2, y, x] or has[3, y, x]):
                        touched[n_touched] = y * w + x
                        n_touched += 1
                    has[ka, y, x] = True
                    if not (has[0, yb, xb] or has[1, yb, xb] or has[2, yb, xb] or has[3, yb, xb]):
                        touched[n_touched] = yb * w + xb
                        n_touched += 1
                    has[kb, yb, xb] = True
                    for c in range(n_ch):
                        ca, cb = color[b, y, x, c], color[b, yb, xb, c]
                        cf, co = (ca, cb) if a_front else (cb, ca)
                        into_other = wa * (cf - co)
                        into_front = wf * (co - cf)
                        delta[ka, y, x, c] = into_front if a_front else into_other
                        delta[kb, yb, xb, c] = into_other if a_front else into_front
        out[b] = color[b]
        for i in range(n_touched):                 # pixels with corrections, in their fixed order
            y, x = touched[i] // w, touched[i] % w
            for c in range(n_ch):
                v = color[b, y, x, c]
                for kind in range(4):
                    if has[kind, y, x]:
                        v = v + delta[kind, y, x, c]
                out[b, y, x, c] = v


def antialias(color: torch.Tensor, rast: torch.Tensor, clip_pos: torch.Tensor, tri: torch.Tensor,
              neighbours: torch.Tensor) -> torch.Tensor:
    """``antialias.antialias`` of ``color`` float32 [B, H, W, C] with ``rast`` [B, H, W, 4],
    ``clip_pos`` [B, V, 4], ``tri`` [F, 3] and the edge neighbours int64 [F, 3] of ``tri``
    (``antialias._edge_neighbours``); no gradients."""
    col = as_array(color, np.float32)
    out = np.empty_like(col)
    _blend(col, as_array(rast[..., 3], np.int64), as_array(rast[..., 2], np.float32), as_array(clip_pos, np.float32),
           as_array(tri, np.int64), as_array(neighbours, np.int64), out)
    return torch.from_numpy(out)
