"""Analytic anti-aliasing of silhouette edges, with gradients to vertex positions.

Follows the idea of nvdiffrast's ``antialias`` (Laine et al. 2020, "Modular Primitives for
High-Performance Differentiable Rendering"): for each pair of horizontally or vertically adjacent
pixels that see different triangles, if a *silhouette* edge of the front triangle (a mesh boundary
edge, or an edge between a front- and a back-facing triangle) passes between the two pixel
centres, the two colours are blended by how far past the midpoint the edge lies. The crossing
point is computed from clip-space positions in torch, so gradients reach the vertices: this is
what makes silhouettes (and thus shape and pose) learnable. Interior edges are left alone.
"""

from __future__ import annotations

import functools

import torch

from nirvis.render.compiled import use_compiled
from nirvis.render.raster.common import pixel_centres_ndc
from nirvis.shapes import check_shape


@functools.lru_cache(maxsize=8)
def _edge_neighbours(tri_bytes: bytes, n_tri: int) -> torch.Tensor:
    """int64 [F, 3]: the triangle across edge k (opposite vertex k) of each triangle, -1 on boundaries."""
    tri = torch.frombuffer(bytearray(tri_bytes), dtype=torch.int64).view(n_tri, 3)
    a = torch.stack([tri[:, 1], tri[:, 2], tri[:, 0]], 1)
    b = torch.stack([tri[:, 2], tri[:, 0], tri[:, 1]], 1)
    lo, hi = torch.minimum(a, b).reshape(-1), torch.maximum(a, b).reshape(-1)
    key = lo * (int(tri.max()) + 1) + hi
    order = torch.argsort(key, stable=True)
    ks = key[order]
    nb = torch.full((n_tri * 3,), -1, dtype=torch.int64)
    same = ks[1:] == ks[:-1]
    i, j = order[:-1][same], order[1:][same]
    nb[i] = torch.div(j, 3, rounding_mode="floor")
    nb[j] = torch.div(i, 3, rounding_mode="floor")
    return nb.view(n_tri, 3)


def antialias(color: torch.Tensor, rast: torch.Tensor, clip_pos: torch.Tensor, tri: torch.Tensor,
              backend: str = "torch") -> torch.Tensor:
    """Blend colours across silhouette edges by their sub-pixel position.

    Args:
        color: float [B, H, W, C] shaded image (background already filled in).
        rast: float32 [B, H, W, 4] from ``rasterize`` for the same ``clip_pos`` and ``tri``.
        clip_pos: float [B, V, 4] clip-space positions (gradients flow to them).
        tri: int [F, 3].
        backend: ``cpu`` runs the compiled loop (``compiled.antialias``: the same values, no
            gradients) when nothing needs gradients; otherwise this torch code.

    Returns:
        float [B, H, W, C], equal to ``color`` away from silhouettes.
    """
    sizes = check_shape(rast, ["B", "H", "W", 4], "rast", kind=torch.Tensor)
    check_shape(color, ["B", "H", "W", "C"], "color", sizes, kind=torch.Tensor)
    b, h, w, _ = color.shape
    tri64 = tri.long().cpu().contiguous()
    nb = _edge_neighbours(tri64.numpy().tobytes(), len(tri64)).to(clip_pos.device)
    if use_compiled(backend, color, rast, clip_pos):
        from nirvis.render.compiled import antialias as compiled_antialias
        return compiled_antialias.antialias(color, rast, clip_pos, tri, nb)
    tri_d = tri.long().to(clip_pos.device)
    screen = clip_pos[..., :2] / clip_pos[..., 3:4]                     # [B, V, 2]
    n_tri = tri_d.shape[0]
    corners = screen.index_select(1, tri_d.reshape(-1)).view(b, n_tri, 3, 2)   # [B, F, 3, 2]
    e1 = corners[:, :, 1] - corners[:, :, 0]
    e2 = corners[:, :, 2] - corners[:, :, 0]
    area = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]            # [B, F]
    facing = area.detach() > 0
    nbc = nb.clamp(min=0)
    facing_nb = facing.index_select(1, nbc.reshape(-1)).view(b, n_tri, 3)
    silhouette = (nb < 0).unsqueeze(0) | (facing.unsqueeze(-1) != facing_nb)   # [B, F, 3]
    has_silhouette = silhouette.any(-1).reshape(-1)                     # [B * F], flat (b, f)
    ids = rast[..., 3].long()
    depth = rast[..., 2]
    # per-pixel and per-triangle lookups below index flattened tensors with one int64 index
    # (much cheaper than multi-tensor advanced indexing; the same values)
    ids_flat, depth_flat = ids.reshape(-1), depth.reshape(-1)
    px, py = pixel_centres_ndc(h, w, clip_pos.device, clip_pos.dtype)
    out = color
    deltas = []
    for axis in (2, 1):  # horizontal pairs, then vertical pairs
        if color.shape[axis] < 2:
            continue
        n = color.shape[axis] - 1
        ia, ib = ids.narrow(axis, 0, n), ids.narrow(axis, 1, n)
        cand = (ia != ib).nonzero(as_tuple=False)                       # [P, 3] (b, y, x) of pixel a
        if len(cand) == 0:
            continue
        bi, yi, xi = cand.unbind(1)
        yb, xb = (yi, xi + 1) if axis == 2 else (yi + 1, xi)
        pix_a = (bi * h + yi) * w + xi                                  # flat pixel indices
        pix_b = pix_a + (1 if axis == 2 else w)
        id_a, id_b = ids_flat.index_select(0, pix_a), ids_flat.index_select(0, pix_b)
        a_front = (id_b == 0) | ((id_a > 0) & (depth_flat.index_select(0, pix_a) < depth_flat.index_select(0, pix_b)))
        bf_idx = bi * n_tri + torch.where(a_front, id_a, id_b) - 1      # flat (b, front triangle)
        # only a front triangle with a silhouette edge can blend: drop interior pairs early
        keep = has_silhouette.index_select(0, bf_idx).nonzero()[:, 0]
        if len(keep) == 0:
            continue
        bi, yi, xi, yb, xb, a_front, bf_idx = (bi[keep], yi[keep], xi[keep], yb[keep], xb[keep], a_front[keep],
                                               bf_idx[keep])
        pa = torch.stack([px[xi], py[yi]], -1)
        pb = torch.stack([px[xb], py[yb]], -1)
        p_front = torch.where(a_front.unsqueeze(-1), pa, pb)
        p_other = torch.where(a_front.unsqueeze(-1), pb, pa)
        c = corners.view(-1, 3, 2)[bf_idx]                              # [P, 3, 2]
        ar = area.reshape(-1)[bf_idx]
        ar = torch.where(ar.abs() < 1e-12, torch.full_like(ar, 1e-12), ar)

        def bary(p, c=c, ar=ar):
            # b_k = signed area of (p, edge k) / area, edge k opposite vertex k
            out_k = []
            for k in range(3):
                q0, q1 = c[:, (k + 1) % 3], c[:, (k + 2) % 3]
                out_k.append(((q1[:, 0] - q0[:, 0]) * (p[:, 1] - q0[:, 1])
                              - (q1[:, 1] - q0[:, 1]) * (p[:, 0] - q0[:, 0])) / ar)
            return torch.stack(out_k, -1)

        bf, bo = bary(p_front), bary(p_other)                           # [P, 3]
        crossing = silhouette.view(-1, 3)[bf_idx] & (bo < 0) & (bf >= 0)
        t = bf / (bf - bo).clamp(min=1e-12)                             # 0 at front centre, 1 at other
        t = torch.where(crossing, t, torch.full_like(t, 2.0)).min(-1).values
        valid = t <= 1.0
        if not valid.any():
            continue
        t = t[valid]
        bi, yi, xi, yb, xb, a_front = bi[valid], yi[valid], xi[valid], yb[valid], xb[valid], a_front[valid]
        col_a, col_b = color[bi, yi, xi], color[bi, yb, xb]
        col_f = torch.where(a_front.unsqueeze(-1), col_a, col_b)
        col_o = torch.where(a_front.unsqueeze(-1), col_b, col_a)
        into_other = (t - 0.5).clamp(min=0).unsqueeze(-1) * (col_f - col_o)   # front covers part of other
        into_front = (0.5 - t).clamp(min=0).unsqueeze(-1) * (col_o - col_f)   # other shows in front pixel
        d_a = torch.where(a_front.unsqueeze(-1), into_front, into_other)
        d_b = torch.where(a_front.unsqueeze(-1), into_other, into_front)
        deltas.append((bi, yi, xi, d_a))
        deltas.append((bi, yb, xb, d_b))
    if deltas:
        out = color.clone()                                             # one copy, accumulated in place
        for bi, yi, xi, d in deltas:
            out.index_put_((bi, yi, xi), d, accumulate=True)
    return out
