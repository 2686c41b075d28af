"""Face-detail maps at texel positions of the template head: brow and lash strands, eye
(iris pattern, limbal ring, sclera vessels, lid shadow), wrinkles, blemishes, make-up masks.

Everything works on the covered texels' template positions ``pos`` float32 [N, 3] (mm; +x the
subject's left, +y up, +z towards the viewer) and the template landmarks, in the template's
front (x, y) plane, which is one-to-one on the front-facing face. The maps are coverages in
[0, 1] or albedo multipliers; ``maps.procedural_reflectance`` composites them. Random
placements come from the generator passed in (the caller's own stream).

Hair strands (brows, lashes) and vessels are line segments with a Gaussian cross-section of
``radius`` mm and a per-strand opacity, tapering to the tip; overlapping strands combine as
1 - prod(1 - a). At 512 px a texel spans ~0.66 mm of the eye region, so a 0.1 mm hair is drawn
as a faint stroke of one texel: the texture carries the strands' direction and the brow's
ragged, directional coverage, not individual hairs.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from nirvis.faces.regions import IRIS_RADIUS_MM, PUPIL_RADIUS_MM, EyelidMargins, brow_centreline
from nirvis.reflectance.face_detail import FaceDetail


class PlaneGrid:
    """A regular grid over a box of the template's front plane, for splatting strands and lines.

    Strands and lines are deposited as sample points with an area (or depth) each, summed with
    bilinear weights, blurred with a Gaussian and read back at texel positions: the cost is that
    of the grid, not of texels x strands.

    Args:
        points: float32 [N, 2] texel positions the result is read at (mm).
        cell_mm: grid spacing.
        pad_mm: margin around the points' bounding box.
    """

    def __init__(self, points: torch.Tensor, cell_mm: float, pad_mm: float = 2.0) -> None:
        self.points = points
        self.cell = float(cell_mm)
        if points.shape[0] == 0:
            self.lo = torch.zeros(2)
            self.shape = (1, 1)
        else:
            self.lo = points.min(0).values - pad_mm
            hi = points.max(0).values + pad_mm
            size = ((hi - self.lo) / self.cell).ceil().long() + 1
            self.shape = (int(size[1]), int(size[0]))                       # (rows = y, cols = x)
        self.grid = torch.zeros(self.shape)

    def deposit(self, xy: torch.Tensor, amount: torch.Tensor) -> None:
        """Add ``amount`` [K] at points ``xy`` [K, 2] (bilinear weights; outside points dropped)."""
        g = (xy - self.lo) / self.cell
        x0, y0 = g[:, 0].floor(), g[:, 1].floor()
        fx, fy = g[:, 0] - x0, g[:, 1] - y0
        h, w = self.shape
        flat = self.grid.view(-1)
        for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            xi, yi = (x0 + dx).long(), (y0 + dy).long()
            ok = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            flat.index_add_(0, (yi * w + xi)[ok], (amount * wt)[ok])

    def read(self, sigma_mm: float) -> torch.Tensor:
        """The deposits per unit area, blurred by a Gaussian of ``sigma_mm``, at the points [N]."""
        field = self.grid / (self.cell * self.cell)
        s = max(sigma_mm / self.cell, 0.3)
        r = int(math.ceil(3 * s))
        k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / s) ** 2)
        k = k / k.sum()
        f = field.view(1, 1, *self.shape)
        f = torch.nn.functional.conv2d(f, k.view(1, 1, 1, -1), padding=(0, r))
        f = torch.nn.functional.conv2d(f, k.view(1, 1, -1, 1), padding=(r, 0))
        h, w = self.shape
        g = (self.points - self.lo) / self.cell
        norm = torch.stack([g[:, 0] / max(w - 1, 1), g[:, 1] / max(h - 1, 1)], dim=1) * 2 - 1
        return torch.nn.functional.grid_sample(f, norm.view(1, 1, -1, 2), align_corners=True)[0, 0, 0]


def strand_coverage(points: torch.Tensor, roots: torch.Tensor, dirs: torch.Tensor, length: torch.Tensor,
                    width: torch.Tensor, bend: torch.Tensor, texel_mm: float) -> torch.Tensor:
    """Coverage float32 [N] in [0, 1] of hair strands (or vessels) at 2-D points.

    Each strand covers ``length x width`` (tapering to half its width at the tip); the covered
    area per unit area D, filtered to the texel size, gives coverage 1 - exp(-D) (randomly
    overlapping strands).

    Args:
        points: float32 [N, 2] mm.
        roots: float32 [M, 2] strand roots; dirs: [M, 2] unit directions; length: [M] mm.
        width: [M] strand diameter at the root (mm; eyebrow hairs ~0.1).
        bend: [M] sideways curvature (offset at the tip as a fraction of the length).
        texel_mm: texel size the result is filtered to.
    """
    if roots.shape[0] == 0 or points.shape[0] == 0:
        return torch.zeros(points.shape[0])
    cell = max(0.12, texel_mm / 4.0)
    grid = PlaneGrid(points, cell)
    k = max(4, int(math.ceil(float(length.max()) / cell)))
    tt = (torch.arange(k, dtype=torch.float32) + 0.5) / k                     # [k]
    side = torch.stack([-dirs[:, 1], dirs[:, 0]], dim=1)                    # [M, 2]
    along = tt[None, :, None] * length[:, None, None] * dirs[:, None, :]
    curl = (bend * length)[:, None, None] * (tt * tt)[None, :, None] * side[:, None, :]
    xy = roots[:, None, :] + along + curl                                      # [M, k, 2]
    area = (length / k)[:, None] * width[:, None] * (1.0 - 0.5 * tt)[None, :]
    grid.deposit(xy.reshape(-1, 2), area.reshape(-1))
    return 1.0 - torch.exp(-grid.read(max(0.5 * texel_mm, cell)))


def line_darkening(points: torch.Tensor, lines: list[tuple[np.ndarray, float, float]], cell_mm: float) -> torch.Tensor:
    """Sum float32 [N] of Gaussian line profiles depth * exp(-(d / width)^2) at 2-D points, for
    ``lines`` of (polyline [K, 2] mm, width mm, depth) (lines grouped by width, one blur each)."""
    out = torch.zeros(points.shape[0])
    if points.shape[0] == 0:
        return out
    for width in sorted({w for _, w, _ in lines}):
        cell = max(cell_mm, 0.5 * width)
        grid = PlaneGrid(points, cell, pad_mm=3.0 * width)
        for line, w, depth in lines:
            if w != width or depth <= 0:
                continue
            dense = torch.tensor(_resample(line, max(8, int(_length(line) / (0.5 * cell)) + 1)), dtype=torch.float32)
            ds = _length(line) / (len(dense) - 1)
            amount = torch.full((len(dense),), depth * width * math.sqrt(math.pi) * ds)
            amount[[0, -1]] *= 0.5
            grid.deposit(dense, amount)
        out += grid.read(width / math.sqrt(2.0))
    return out


def _length(line: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())


def _tangents(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit tangents and upward-pointing normals [K, 2] of a polyline [K, 2]."""
    tang = np.gradient(line, axis=0)
    tang /= np.linalg.norm(tang, axis=1, keepdims=True).clip(1e-9)
    nrm = np.stack([-tang[:, 1], tang[:, 0]], axis=1)
    nrm *= np.sign(nrm[:, 1:2] + 1e-12)
    return tang, nrm


def brow_coverage(pos: torch.Tensor, candidate: torch.Tensor, lm68: np.ndarray, lm5: np.ndarray,
                  detail: FaceDetail, rng: np.random.Generator, texel_mm: float) -> torch.Tensor:
    """Eyebrow hair coverage float32 [N] in [0, 1]: ``detail.brow_hairs`` strands per brow,
    rooted inside the identity's brow shape, growing upward-outward at the head, sideways along
    the body (lower hairs tilted up, upper hairs down, meeting along the centre) and downward at
    the tail. ``candidate`` bool [N]: texels that may carry brow hair (front-facing skin). Hairs
    are 0.1 mm thick (0.08 for women: finer on average)."""
    shape = detail.brow_shape()
    out = torch.zeros(pos.shape[0])
    for side in (-1, 1):
        line, thick, tpar = brow_centreline(lm68, lm5, shape, side)
        line = line + np.array([0.0, 0.5 * side * detail.brow_asymmetry_mm])
        tang, nrm = _tangents(line)
        m = detail.brow_hairs
        ramp = np.clip(tpar / 0.15, 0.0, 1.0)
        weight = thick * (0.3 + 0.7 * ramp * ramp * (3 - 2 * ramp))            # a sparser, softer head
        t_idx = rng.choice(len(tpar), size=m, p=weight / weight.sum())
        t = tpar[t_idx]
        s = rng.uniform(-0.5, 0.5, size=m) * thick[t_idx] * 0.9
        w_head = np.clip(1.0 - t / 0.18, 0.0, 1.0)
        w_tail = np.clip((t - 0.8) / 0.2, 0.0, 1.0)
        s_norm = s / (0.45 * thick[t_idx])
        a_body = np.radians(8.0 - 22.0 * s_norm)
        a_head = np.radians(80.0 - 120.0 * t)
        a_tail = np.radians(-12.0 + 8.0 * rng.standard_normal(m))
        ang = w_head * a_head + (1 - w_head) * ((1 - w_tail) * a_body + w_tail * a_tail)
        ang += np.radians(9.0) * rng.standard_normal(m)
        d = np.cos(ang)[:, None] * tang[t_idx] + np.sin(ang)[:, None] * nrm[t_idx]
        length = detail.brow_hair_length_mm * (1.0 - 0.45 * w_head - 0.2 * w_tail) * rng.uniform(0.7, 1.15, m)
        roots = line[t_idx] + s[:, None] * nrm[t_idx] - 0.45 * length[:, None] * d
        width = np.full(m, detail.brow_hair_width_mm)
        lo, hi = line.min(0) - 8.0, line.max(0) + 8.0
        near = candidate & (pos[:, 0] > lo[0]) & (pos[:, 0] < hi[0]) & (pos[:, 1] > lo[1]) & (pos[:, 1] < hi[1])
        idx = torch.nonzero(near).squeeze(1)
        f32 = torch.float32
        cov = strand_coverage(pos[idx, :2], torch.tensor(roots, dtype=f32), torch.tensor(d, dtype=f32),
                              torch.tensor(length, dtype=f32), torch.tensor(width, dtype=f32),
                              torch.tensor(rng.normal(0.0, 0.08, m), dtype=f32), texel_mm)
        out[idx] = torch.maximum(out[idx], cov)
    return out


def _lids(lm68: np.ndarray, side: int, margins: Optional[EyelidMargins] = None) -> tuple[np.ndarray, np.ndarray]:
    """(upper lid margin [K, 2], lower lid margin [K, 2]) of one eye (side -1: landmarks 36-41),
    from the inner corner out: the mesh's margins when given (``faces.regions.eyelid_margins``),
    else the 4-point landmark chords."""
    if margins is not None:
        e = 0 if side < 0 else 1
        return margins.upper[e], margins.lower[e]
    up, low = ([39, 38, 37, 36], [39, 40, 41, 36]) if side < 0 else ([42, 43, 44, 45], [42, 47, 46, 45])
    return lm68[up, :2].astype(np.float64), lm68[low, :2].astype(np.float64)


def _resample(line: np.ndarray, n: int) -> np.ndarray:
    seg = np.linalg.norm(np.diff(line, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    q = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(q, s, line[:, 0]), np.interp(q, s, line[:, 1])], axis=1)


def lash_coverage(pos: torch.Tensor, skin_front: torch.Tensor, lm68: np.ndarray, detail: FaceDetail,
                  rng: np.random.Generator, texel_mm: float, margins: Optional[EyelidMargins] = None) -> torch.Tensor:
    """Eyelash coverage float32 [N]: a dense lash-root line along the upper lid margin, upper
    lashes pointing up and outwards (more outwards at the outer corner), a weaker lower row.
    Lashes are ~0.12 mm thick at the root (thicker and longer with mascara) and stand in 2-3
    rows, which the projected width of 0.25 mm accounts for. ``margins``: the lid margins to grow
    them from (``_lids``)."""
    out = torch.zeros(pos.shape[0])
    boost = 1.3 if detail.mascara else 1.0
    for side in (-1, 1):
        upper, lower = _lids(lm68, side, margins)
        lo, hi = upper.min(0) - np.array([3.0, 8.0]), upper.max(0) + np.array([3.0, 6.0])
        near = skin_front & (pos[:, 0] > lo[0]) & (pos[:, 0] < hi[0]) & (pos[:, 1] > lo[1]) & (pos[:, 1] < hi[1])
        idx = torch.nonzero(near).squeeze(1)
        p2 = pos[idx, :2]
        roots_all, dirs_all, len_all, op_all = [], [], [], []
        for line, count, up, scale, thick in ((upper, 140, 1.0, 1.0, 0.25), (lower, 70, -1.0, 0.45, 0.15)):
            dense = _resample(line, 64)
            tang, nrm = _tangents(dense)
            m = int(count * detail.lash_density)
            k = rng.integers(3, 61, size=m)
            frac = k / 63.0                                                   # 0 inner .. 1 outer
            tilt = np.radians(10.0 + 40.0 * frac + 8.0 * rng.standard_normal(m))
            outward = np.array([float(side), 0.0])
            d = np.cos(tilt)[:, None] * nrm[k] * up + np.sin(tilt)[:, None] * outward
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            taper = np.sin(np.pi * np.clip(frac * 1.05, 0.05, 1.0)) ** 0.5
            length = detail.lash_length_mm * scale * boost * (0.5 + 0.5 * taper) * rng.uniform(0.75, 1.1, m)
            roots_all.append(dense[k] + 0.15 * up * nrm[k])
            dirs_all.append(d)
            len_all.append(length)
            op_all.append(np.full(m, thick * boost))
        f32 = torch.float32
        cov = strand_coverage(p2, torch.tensor(np.concatenate(roots_all), dtype=f32),
                              torch.tensor(np.concatenate(dirs_all), dtype=f32),
                              torch.tensor(np.concatenate(len_all), dtype=f32),
                              torch.tensor(np.concatenate(op_all), dtype=f32),
                              torch.tensor(rng.normal(-0.1, 0.05, sum(len(r) for r in roots_all)), dtype=f32),
                              texel_mm)
        # the lash-root line: dark along the whole upper margin, ~0.8 mm
        root_line = line_darkening(p2, [(upper, max(0.7, 0.5 * texel_mm), 1.0)], max(0.2, texel_mm / 3)).clamp(0, 1)
        cov = 1.0 - (1.0 - cov) * (1.0 - 0.85 * detail.lash_density * root_line)
        out[idx] = torch.maximum(out[idx], cov)
    return out


def lid_band(pos: torch.Tensor, lm68: np.ndarray, below_mm: float, above_mm: float,
             outer_wing_mm: float = 0.0, margins: Optional[EyelidMargins] = None) -> torch.Tensor:
    """Weight float32 [N] of the band from ``below_mm`` under to ``above_mm`` over the upper lid
    margins (x within the eye; ``outer_wing_mm`` extends it beyond the outer corner, rising)."""
    out = torch.zeros(pos.shape[0])
    for side in (-1, 1):
        upper, _ = _lids(lm68, side, margins)
        xs = upper[:, 0] if side > 0 else upper[::-1, 0]
        ys = upper[:, 1] if side > 0 else upper[::-1, 1]
        x = pos[:, 0].numpy().astype(np.float64)
        y_margin = np.interp(x, xs, ys)
        beyond = np.clip(side * (x - upper[-1, 0]), 0.0, None)               # past the outer corner
        y_margin = y_margin + 0.5 * beyond
        h = pos[:, 1].numpy() - y_margin
        in_x = (side * (x - upper[0, 0]) > -1.0) & (beyond < max(outer_wing_mm, 0.01))
        w = ((h > -below_mm) & (h < above_mm) & in_x).astype(np.float32)
        soft = np.clip(1.0 - beyond / max(outer_wing_mm, 1e-3), 0.0, 1.0) if outer_wing_mm > 0 else 1.0
        out = torch.maximum(out, torch.from_numpy(w * soft).float())
    return out


def upper_margin_height(pos: torch.Tensor, lm68: np.ndarray, margins: Optional[EyelidMargins] = None) -> torch.Tensor:
    """Height float32 [N] of each point above the nearer eye's upper lid margin (mm; ``margins``
    as in ``_lids``)."""
    x = pos[:, 0].numpy().astype(np.float64)
    heights = []
    for side in (-1, 1):
        upper, _ = _lids(lm68, side, margins)
        order = np.argsort(upper[:, 0])
        heights.append(pos[:, 1].numpy() - np.interp(x, upper[order, 0], upper[order, 1]))
    return torch.from_numpy(np.where(x < 0, heights[0], heights[1])).float()


def iris_maps(pos: torch.Tensor, lm5: np.ndarray, detail: FaceDetail,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Iris pattern at eyeball points [N, 3]: (melanin multiplier, scattering multiplier, albedo
    multiplier), each float32 [N]. Radial fibres (stroma trabeculae: more scattering, less
    melanin), crypts (thin stroma: little scattering), the collarette (pigment ring and its
    bright zig-zag edge), the dark pupillary ruff and limbal ring."""
    mel = torch.ones(pos.shape[0])
    sc = torch.ones(pos.shape[0])
    alb = torch.ones(pos.shape[0])
    for e in range(2):
        apex = torch.tensor(lm5[e], dtype=torch.float32)
        rel = pos - apex
        r = rel.norm(dim=1) / IRIS_RADIUS_MM
        theta = torch.atan2(rel[:, 1], rel[:, 0] * (1.0 if e == 0 else -1.0))
        near = r < 1.25
        fib = torch.zeros(pos.shape[0])
        for _ in range(6):
            n = float(rng.integers(18, 70))
            fib += torch.cos(n * theta + float(rng.uniform(0, 2 * math.pi)) + float(rng.uniform(-3, 3)) * r)
        fib = fib / math.sqrt(3.0)
        c = detail.iris_fibre_contrast
        coll = detail.collarette_radius * (1.0 + 0.06 * torch.cos(9.0 * theta + float(rng.uniform(0, 6.3))))
        inner = torch.sigmoid((coll - r) / 0.02)
        m_e = torch.exp(-0.5 * c * fib) * (1.0 + (detail.collarette_melanin - 1.0) * inner)
        s_e = torch.exp(0.35 * c * fib) * (1.0 + 0.4 * torch.exp(-((r - coll) / 0.03) ** 2))
        for _ in range(detail.iris_crypts):
            cr, ct = float(rng.uniform(0.45, 0.85)), float(rng.uniform(-math.pi, math.pi))
            dth = torch.remainder(theta - ct + math.pi, 2 * math.pi) - math.pi
            blob = torch.exp(-((r - cr) / 0.07) ** 2 - (dth * r / 0.09) ** 2)
            s_e = s_e * (1.0 - 0.7 * blob)
        pupil = PUPIL_RADIUS_MM / IRIS_RADIUS_MM
        a_e = (1.0 - detail.limbal_ring * 0.75 * torch.sigmoid((r - 0.9) / 0.035)
               * torch.exp(-((r - 1.0).clamp(min=0) / 0.06) ** 2))
        a_e = a_e * (1.0 - 0.45 * torch.exp(-((r - pupil - 0.03) / 0.03) ** 2))
        mel = torch.where(near, m_e, mel)
        sc = torch.where(near, s_e, sc)
        alb = torch.where(near, a_e, alb)
    return mel, sc, alb


def sclera_maps(pos: torch.Tensor, lm68: np.ndarray, lm5: np.ndarray, detail: FaceDetail,
                rng: np.random.Generator, texel_mm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(vessel/redness coverage, albedo multiplier) float32 [N] on the sclera: thin vessels from
    the eye corners towards the limbus, redder and darker (recessed, shadowed) corners."""
    vessel = torch.zeros(pos.shape[0])
    shade = torch.ones(pos.shape[0])
    p2 = pos[:, :2]
    for side in (-1, 1):
        inner, outer = (lm68[39, :2], lm68[36, :2]) if side < 0 else (lm68[42, :2], lm68[45, :2])
        centre = lm5[0 if side < 0 else 1, :2]
        roots, dirs, lens = [], [], []
        for _ in range(detail.sclera_vessels):
            corner = inner if rng.random() < 0.5 else outer
            start = corner + rng.normal(0.0, [0.8, 1.2])
            to = centre - start
            ang = math.atan2(to[1], to[0]) + rng.normal(0.0, 0.35)
            for _seg in range(3):                                                 # a wiggly vessel
                d = np.array([math.cos(ang), math.sin(ang)])
                length = rng.uniform(1.5, 3.0)
                roots.append(start.copy())
                dirs.append(d)
                lens.append(length)
                start = start + length * d
                ang += rng.normal(0.0, 0.4)
        f32 = torch.float32
        m = len(roots)
        near = (p2 - torch.tensor(centre, dtype=f32)).norm(dim=1) < 16.0
        idx = torch.nonzero(near).squeeze(1)
        cov = strand_coverage(p2[idx], torch.tensor(np.array(roots), dtype=f32),
                              torch.tensor(np.array(dirs), dtype=f32), torch.tensor(lens, dtype=f32),
                              torch.full((m,), 0.12), torch.zeros(m), texel_mm)
        vessel[idx] = torch.maximum(vessel[idx], cov)
        for corner, amount in ((inner, 0.3), (outer, 0.22)):
            w = torch.exp(-((p2 - torch.tensor(corner, dtype=f32)).norm(dim=1) / 3.5) ** 2)
            shade = shade * (1.0 - amount * w)
            vessel = torch.maximum(vessel, 0.35 * w)
    return vessel, shade


def wrinkle_darkening(pos: torch.Tensor, skin_front: torch.Tensor, lm68: np.ndarray, detail: FaceDetail,
                      rng: np.random.Generator, texel_mm: float) -> torch.Tensor:
    """Cavity darkening float32 [N] in [0, 0.6] of wrinkles and folds (multiply the albedo by
    1 - value): forehead lines, glabellar lines, crow's feet, under-eye lines and marionette lines
    by age (``detail.wrinkles``), and nasolabial folds at every adult age, deeper with age."""
    lines: list[tuple[np.ndarray, float, float]] = []                  # (polyline [K, 2], width, depth)
    w = detail.wrinkles
    brow_y = float(lm68[[19, 24], 1].mean())
    eye_y = float(lm68[36:48, 1].mean())
    if w > 0.02:
        for i in range(int(2 + rng.integers(0, 3))):
            y0 = eye_y + 30.0 + 8.0 * i + rng.normal(0, 1.5)
            xs = np.linspace(-28.0 - 6 * rng.random(), 28.0 + 6 * rng.random(), 16)
            ys = y0 + 1.5 * np.sin(xs / 11.0 + rng.uniform(0, 6.3)) + 0.004 * xs ** 2 * (brow_y > 0)
            lines.append((np.stack([xs, ys], 1), 0.55, 0.22 * w * rng.uniform(0.5, 1.0)))
        for side in (-1, 1):
            x0 = side * rng.uniform(3.0, 6.0)
            lines.append((np.array([[x0, eye_y + 10.0], [x0 + side * 1.0, eye_y + 22.0]]), 0.5,
                          0.25 * max(0.0, w - 0.25)))
            corner = lm68[36 if side < 0 else 45, :2]
            for ang in (-28.0, 0.0, 26.0):
                a = math.radians(ang + rng.normal(0, 6))
                start = corner + np.array([side * 3.0, 0.0])
                end = start + rng.uniform(7.0, 12.0) * np.array([side * math.cos(a), math.sin(a)])
                lines.append((np.stack([start, end]), 0.5, 0.22 * w))
            inner, outer = lm68[39 if side < 0 else 42, :2], lm68[36 if side < 0 else 45, :2]
            lines.append((np.array([inner + [side * 1.0, -5.0], (inner + outer) / 2 + [0, -8.0],
                                    outer + [side * 3.0, -7.0]]), 0.8, 0.16 * w))
            mouth = lm68[48 if side < 0 else 54, :2]
            lines.append((np.array([mouth + [side * 2.0, -2.0], mouth + [side * 4.0, -14.0]]), 0.9,
                          0.2 * max(0.0, w - 0.4)))
    for side in (-1, 1):
        ala = lm68[31 if side < 0 else 35, :2]
        mouth = lm68[48 if side < 0 else 54, :2]
        fold = np.array([ala + [side * 3.0, 1.0], (ala + mouth) / 2 + [side * 9.0, 0.0], mouth + [side * 5.0, -6.0]])
        lines.append((_resample(fold, 8), 1.6, 0.06 + 0.22 * w))
    idx = torch.nonzero(skin_front & (pos[:, 1] > -100.0) & (pos[:, 1] < 75.0)).squeeze(1)
    # lines narrower than a texel are widened to it (same integral: a shallower, wider line)
    lines = [(ln, max(wd, 0.5 * texel_mm), dp * wd / max(wd, 0.5 * texel_mm)) for ln, wd, dp in lines]
    dark = line_darkening(pos[idx, :2], lines, max(0.25, texel_mm / 2.0))
    out = torch.zeros(pos.shape[0])
    out[idx] = dark.clamp(0.0, 0.6)
    return out


def skin_modulation(pos: torch.Tensor, lm68: np.ndarray, detail: FaceDetail,
                    rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(melanin multiplier, blood multiplier) float32 [N]: dark circles under the eyes
    (periorbital melanin and venous blood) and blemishes (small red papules)."""
    mel = torch.ones(pos.shape[0])
    blood = torch.ones(pos.shape[0])
    front = torch.nonzero(pos[:, 2] > 0).squeeze(1)
    full_pos, pos = pos, pos[front]
    mel_f, blood_f = mel[front], blood[front]
    h = upper_margin_height(pos, lm68)
    for side in (-1, 1):
        lower = lm68[[39, 40, 41, 36] if side < 0 else [42, 47, 46, 45], :2]
        cx = float(lower[:, 0].mean())
        band = (torch.exp(-((pos[:, 0] - cx) / 11.0) ** 2) * torch.exp(-((pos[:, 1] - float(lower[:, 1].min()) + 5.0)
                                                                        / 4.0) ** 2))
        band = band * (h < -3.0).float()
        mel_f = mel_f * (1.0 + 1.5 * detail.under_eye * band)
        blood_f = blood_f * (1.0 + 0.8 * detail.under_eye * band)
    for _ in range(detail.n_blemishes):
        c = torch.tensor([rng.uniform(-45, 45), rng.uniform(-85, 45)], dtype=torch.float32)
        d2 = ((pos[:, :2] - c) ** 2).sum(1)
        blood_f = blood_f * (1.0 + 2.5 * torch.exp(-d2 / rng.uniform(1.0, 2.5) ** 2))
    mel[front], blood[front] = mel_f, blood_f
    del full_pos
    return mel, blood
