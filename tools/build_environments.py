#!/usr/bin/env python3
"""Build src/nirvis/assets/environments/environments.npz from the CC0 Poly Haven HDRIs in the `bpy` wheel.

Runtime nirvis never imports bpy: this script reads the eight 1K equirectangular EXR files straight
out of the wheel archive (members bpy/5.0/datafiles/studiolights/world/*.exr, CC0, Poly Haven) and
writes compact lighting assets that are committed to the repository.

    python tools/build_environments.py [--wheel bpy-5.0.1-cp311-cp311-manylinux_2_28_x86_64.whl]
                                       [--out src/nirvis/assets/environments]

Without --wheel it runs `pip download bpy==5.0.1 --no-deps` (the cp311 manylinux wheel, 374 MB) into
a temporary directory. Every member's sha256 is checked against the values pinned below (and in
src/nirvis/assets/LICENSES.md). Reading EXR (DWAB-compressed) needs the `openexr` PyPI package: run
the script from a throw-away venv (`python -m venv /tmp/envbuild && /tmp/envbuild/bin/pip install
openexr numpy`); it is never a dependency of nirvis.

What is derived, per environment (directions in the asset's environment frame: +y up, the panorama's
centre column at -z, column u grows towards +x; see `pixel_directions`):
  * the radiance normalised so that the sphere's mean luminance is 1 / pi (a diffuse white surface
    facing a uniform version of the scene would receive irradiance 1); the scale is recorded;
  * the dominant light (sun, window, lamp): the connected region of pixels brighter than
    `LIGHT_THRESHOLD` x the mean luminance that carries the most energy above that threshold; its
    excess over the threshold becomes a directional light (direction = energy-weighted mean
    direction, RGB irradiance at normal incidence, effective solid angle (sum e)^2 / sum e^2 of the
    excess e, i.e. its angular size for soft shadows); the pixels keep the threshold level;
  * 9 real SH coefficients (bands 0-2, RGB) of the rest, projected with per-pixel solid angles
    (diffuse irradiance from them: Ramamoorthi & Hanrahan 2001, "An efficient representation for
    irradiance environment maps", SIGGRAPH);
  * the whole panorama (light included) box-downsampled to PANORAMA_SIZE, float16, for backgrounds
    and reflections;
  * a category (outdoor daylight / indoor / night) from the Poly Haven originals' descriptions,
    which decides whether the scene holds NIR ambient light (see nirvis.render.environment).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

BPY_VERSION = "5.0.1"
BPY_WHEEL_SHA256 = "79c6e421f53ea24a5961d86eefb8141798eee708682415eb4f5a952c2abdeb8b"  # the cp311 manylinux wheel
WORLD = "bpy/5.0/datafiles/studiolights/world/"
#: sha256 of each member of the wheel that is read (identical in every platform's wheel of 5.0.1).
MEMBER_SHA256 = {
    "city.exr": "9e42abcd2fa3231e5c2485ca6dd64800534d157b7194ab7fe9cc3bf5a56d0256",
    "courtyard.exr": "6690b47725965531559380121e6878373eb599655e35fefd109a4bd0911366f3",
    "forest.exr": "bdf2298244affa0f85509380fd130ac6d4dfaa3c856df065998f7f4c1a93dc0d",
    "interior.exr": "e945ff5c1ddd7a3aaf05e9fb5c3bc9cb93c5518414febd44ed2c394e013f0cbd",
    "night.exr": "17480af5547465d160f7307c92585cf30820ca563f87f066395decbad8ac32a4",
    "studio.exr": "c36c7fd390b2cdf8693360cf3662cb1d710c95fa799d9f822f42997167839b56",
    "sunrise.exr": "6a1180126e4db7d01f134c5430ea43c1b263ab1a12faf58a444d9ce9c03f3a84",
    "sunset.exr": "3bcafdda4f2d7b9759cc1d73004d34d721a274c29b1a0947be88a602dbac426b",
    "license.txt": "adb4229abf8701b512dc75bab8e08610ecefb08e2b07e9ff5cdaf1e558195ee5",
}
#: Poly Haven original of each file (from the wheel's license.txt) and its lighting category.
ORIGINALS = {
    "city": ("https://polyhaven.com/a/portland_landing_pad", "outdoor"),
    "courtyard": ("https://polyhaven.com/a/courtyard", "outdoor"),
    "forest": ("https://polyhaven.com/a/ninomaru_teien", "outdoor"),
    "interior": ("https://polyhaven.com/a/hotel_room", "indoor"),
    "night": ("https://polyhaven.com/a/moonless_golf (probably)", "night"),
    "studio": ("https://polyhaven.com/a/studio_small_01 (probably)", "indoor"),
    "sunrise": ("https://polyhaven.com/a/spruit_sunrise", "outdoor"),
    "sunset": ("https://polyhaven.com/a/venice_sunset", "outdoor"),
}
PANORAMA_SIZE = (128, 256)          # rows, columns of the stored panorama (1.4 degrees per texel)
PANORAMA_DROP_BITS = 4              # float16 mantissa bits rounded away (7 of 10 kept: <= 0.8 % error; -40 % size)
LIGHT_THRESHOLD = 8.0               # dominant-light pixels: luminance above this x the mean luminance
REC709_Y = np.array([0.2126, 0.7152, 0.0722])   # luminance of linear sRGB / Rec. 709 primaries
# real SH basis constants, order [Y00, Y1-1, Y10, Y11, Y2-2, Y2-1, Y20, Y21, Y22] (as nirvis.render.lights)
SH_Y = (0.282095, 0.488603, 0.488603, 0.488603, 1.092548, 1.092548, 0.315392, 1.092548, 0.546274)


# ------------------------------------------------------------------------------- pure functions


def pixel_directions(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions [h, w, 3] of the pixel centres of an h x w equirectangular panorama and
    their solid angles [h, 1] (sr; they sum to 4 pi).

    Row 0 is the zenith side; elevation theta = pi (0.5 - (r + 0.5) / h); azimuth
    phi = 2 pi ((c + 0.5) / w - 0.5); direction (sin phi cos theta, sin theta, -cos phi cos theta).
    """
    theta = np.pi * (0.5 - (np.arange(h) + 0.5) / h)
    phi = 2 * np.pi * ((np.arange(w) + 0.5) / w - 0.5)
    ct, st = np.cos(theta)[:, None], np.sin(theta)[:, None]
    d = np.stack([np.sin(phi)[None] * ct, np.broadcast_to(st, (h, w)), -np.cos(phi)[None] * ct], -1)
    edges = np.sin(np.pi * (0.5 - np.arange(h + 1) / h))              # sin(elevation) at the row edges
    solid = (2 * np.pi / w) * (edges[:-1] - edges[1:])
    return d, solid[:, None]


def sh9_basis(d: np.ndarray) -> np.ndarray:
    """Real SH basis bands 0-2 at unit directions [..., 3] -> [..., 9] (nirvis.render.lights.sh_basis)."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    return np.stack([np.full_like(x, SH_Y[0]), SH_Y[1] * y, SH_Y[2] * z, SH_Y[3] * x, SH_Y[4] * x * y,
                     SH_Y[5] * y * z, SH_Y[6] * (3 * z * z - 1), SH_Y[7] * x * z, SH_Y[8] * (x * x - y * y)], -1)


def sh9_project(radiance: np.ndarray) -> np.ndarray:
    """SH radiance coefficients [9, C] of an equirectangular radiance map [h, w, C]:
    L_k = sum over pixels of L * Y_k * solid angle."""
    h, w, _ = radiance.shape
    d, solid = pixel_directions(h, w)
    basis = sh9_basis(d) * solid[..., None]                            # [h, w, 9]
    return np.einsum("hwk,hwc->kc", basis, radiance.astype(np.float64))


def _components(mask: np.ndarray) -> np.ndarray:
    """4-connected component labels [h, w] (0 = background) of a bool mask, wrapping in azimuth."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    n = 0
    for r0, c0 in zip(*np.nonzero(mask)):
        if labels[r0, c0]:
            continue
        n += 1
        labels[r0, c0] = n
        stack = [(r0, c0)]
        while stack:
            r, c = stack.pop()
            for rr, cc in ((r - 1, c), (r + 1, c), (r, (c - 1) % w), (r, (c + 1) % w)):
                if 0 <= rr < h and mask[rr, cc] and not labels[rr, cc]:
                    labels[rr, cc] = n
                    stack.append((rr, cc))
    return labels


def extract_dominant_light(radiance: np.ndarray, threshold: float = LIGHT_THRESHOLD) -> dict:
    """Split an equirectangular radiance map [h, w, 3] into its dominant light and the rest.

    The light is the connected region of pixels whose luminance exceeds ``threshold`` x the mean
    luminance of the sphere that carries the most excess energy; each of its pixels gives its
    luminance above the threshold (colour kept) to the light and keeps the threshold level.

    Returns:
        dict: ``direction`` [3] unit (energy-weighted mean direction), ``rgb`` [3] irradiance at
        normal incidence from the light (sum of excess * cos * solid angle), ``solid_angle`` (sr,
        (sum e)^2 / sum e^2 of the excess e: the sun gives its disc, a window its area),
        ``residual`` [h, w, 3] the map without the light, ``pixels`` (region size). A map with no
        pixel above the threshold gives a zero light (direction +y).
    """
    h, w, _ = radiance.shape
    d, solid = pixel_directions(h, w)
    lum = radiance @ REC709_Y
    level = threshold * float((lum * solid).sum() / (4 * np.pi))
    labels = _components(lum > level)
    excess = np.clip(lum - level, 0, None)
    if labels.max() == 0:
        return {"direction": np.array([0.0, 1.0, 0.0]), "rgb": np.zeros(3), "solid_angle": 0.0,
                "residual": radiance.copy(), "pixels": 0}
    energy = np.bincount(labels.ravel(), weights=(excess * solid).ravel())
    energy[0] = 0.0
    region = labels == int(np.argmax(energy))
    e = np.where(region, excess, 0.0)
    ratio = np.where(region, e / np.maximum(lum, 1e-12), 0.0)[..., None]   # share of each pixel moved to the light
    light = radiance * ratio
    mean_dir = (e[..., None] * solid[..., None] * d).sum((0, 1))
    direction = mean_dir / np.linalg.norm(mean_dir)
    cos = np.clip(d @ direction, 0, None)[..., None]
    rgb = (light * cos * solid[..., None]).sum((0, 1))
    solid_angle = float((e * solid).sum() ** 2 / max((e * e * solid).sum(), 1e-30))
    return {"direction": direction, "rgb": rgb, "solid_angle": solid_angle, "residual": radiance - light,
            "pixels": int(region.sum())}


def box_downsample(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mean over whole blocks of an [h, w, C] map down to ``size`` (h, w divisible by it): each output
    texel's radiance is the solid-angle-blind block mean (rows of one block share a latitude band)."""
    h, w, c = img.shape
    rows, cols = size
    if h % rows or w % cols:
        raise ValueError(f"panorama {h}x{w} is not divisible into {rows}x{cols} blocks")
    return img.reshape(rows, h // rows, cols, w // cols, c).mean((1, 3))


def round_float16(x: np.ndarray, drop_bits: int = PANORAMA_DROP_BITS) -> np.ndarray:
    """float16 of ``x`` with the lowest ``drop_bits`` mantissa bits rounded away (relative error at
    most 2^(drop_bits - 11)); such values compress far better and stay exact float16 numbers."""
    q = np.asarray(x, np.float16).view(np.uint16).astype(np.uint32)
    if drop_bits:
        q = ((q + (1 << (drop_bits - 1))) >> drop_bits) << drop_bits
    return q.astype(np.uint16).view(np.float16)


def derive_environment(radiance: np.ndarray, size: tuple[int, int] = PANORAMA_SIZE,
                       threshold: float = LIGHT_THRESHOLD) -> dict:
    """Everything stored for one environment from its equirectangular radiance [h, w, 3] (float).

    Returns a dict: ``scale`` (radiance multiplier applied first: mean luminance -> 1 / pi), ``sh``
    [9, 3] float32 (the map without the light), ``light_direction`` [3], ``light_rgb`` [3],
    ``light_solid_angle`` float, ``panorama`` [size..., 3] float16 (light included).
    """
    radiance = np.asarray(radiance, np.float64)
    if radiance.ndim != 3 or radiance.shape[-1] != 3 or not np.isfinite(radiance).all() or (radiance < 0).any():
        raise ValueError(f"environment radiance: expected finite non-negative [h, w, 3], got {radiance.shape}")
    h, w, _ = radiance.shape
    _, solid = pixel_directions(h, w)
    mean_lum = float(((radiance @ REC709_Y) * solid).sum() / (4 * np.pi))
    if mean_lum <= 0:
        raise ValueError("environment radiance: the map is black")
    scale = 1.0 / (np.pi * mean_lum)
    radiance = radiance * scale
    light = extract_dominant_light(radiance, threshold)
    pano = box_downsample(radiance, size)
    if pano.max() > 65000:
        raise ValueError(f"environment radiance: {pano.max():.0f} overflows float16 after normalisation")
    return {"scale": scale, "sh": sh9_project(light["residual"]).astype(np.float32),
            "light_direction": light["direction"].astype(np.float32), "light_rgb": light["rgb"].astype(np.float32),
            "light_solid_angle": np.float32(light["solid_angle"]), "light_pixels": light["pixels"],
            "panorama": round_float16(pano)}


# ----------------------------------------------------------------------------------- reading


def read_exr(data: bytes) -> np.ndarray:
    """Linear RGB float32 [h, w, 3] of an EXR file's bytes (needs the `openexr` package)."""
    try:
        import OpenEXR
    except ImportError:
        raise SystemExit("reading EXR needs the openexr package: python -m venv /tmp/envbuild && /tmp/envbuild/bin/"
                         "pip install openexr numpy; run this script with /tmp/envbuild/bin/python") from None
    with tempfile.NamedTemporaryFile(suffix=".exr") as f:
        f.write(data)
        f.flush()
        with OpenEXR.File(f.name) as exr:
            channels = exr.channels()
            if "RGB" in channels:
                rgb = channels["RGB"].pixels
            else:
                rgb = np.stack([channels[c].pixels for c in "RGB"], -1)
    rgb = np.asarray(rgb, np.float32)
    if not np.isfinite(rgb).all():
        raise SystemExit("EXR: non-finite pixels")
    return np.clip(rgb, 0.0, None)          # lossy DWAB coding leaves tiny negatives (the source was clamped at 0)


def read_member(wheel: zipfile.ZipFile, name: str) -> bytes:
    """The bytes of world member ``name``, checked against its pinned sha256."""
    data = wheel.read(WORLD + name)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MEMBER_SHA256[name]:
        raise SystemExit(f"{WORLD + name}: sha256 {digest} differs from the pinned {MEMBER_SHA256[name]}")
    return data


def fetch_wheel(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"bpy=={BPY_VERSION}",
                    "--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64",
                    "-d", str(tmp)], check=True)
    (wheel,) = tmp.glob("bpy-*.whl")
    return wheel


def write_asset(envs: dict[str, dict], out_dir: Path, provenance: dict) -> Path:
    """Write ``environments.npz`` (+ PROVENANCE.json with its sha256) for derived environments."""
    names = sorted(envs)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "environments.npz"
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, names=np.array(names), categories=np.array([ORIGINALS.get(n, ("", "indoor"))[1] for n in names]),
        sh=np.stack([envs[n]["sh"] for n in names]),
        light_direction=np.stack([envs[n]["light_direction"] for n in names]),
        light_rgb=np.stack([envs[n]["light_rgb"] for n in names]),
        light_solid_angle=np.array([envs[n]["light_solid_angle"] for n in names], np.float32),
        panorama=np.stack([envs[n]["panorama"] for n in names]), provenance=np.array(json.dumps(provenance)))
    tmp.replace(out)
    summary = {n: {"scale": float(envs[n]["scale"]), "light_rgb": [round(float(v), 4) for v in envs[n]["light_rgb"]],
                   "light_direction": [round(float(v), 4) for v in envs[n]["light_direction"]],
                   "light_solid_angle_sr": round(float(envs[n]["light_solid_angle"]), 6),
                   "light_pixels": envs[n]["light_pixels"], "sh_l00": [round(float(v), 4) for v in envs[n]["sh"][0]]}
               for n in names}
    (out_dir / "PROVENANCE.json").write_text(json.dumps(
        {**provenance, "file": out.name, "file_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
         "environments": summary}, indent=1) + "\n")
    return out


def build(wheel_path: Path, out_dir: Path) -> Path:
    wheel = zipfile.ZipFile(wheel_path)
    licence = read_member(wheel, "license.txt").decode()
    if "CC0" not in licence:
        raise SystemExit(f"{WORLD}license.txt no longer states CC0")
    envs = {}
    for name in ORIGINALS:
        envs[name] = derive_environment(read_exr(read_member(wheel, name + ".exr")))
        e = envs[name]
        print(f"{name}: light {np.round(e['light_rgb'], 3)} from {np.round(e['light_direction'], 3)}, "
              f"{e['light_solid_angle']:.2e} sr ({e['light_pixels']} px), SH L00 {np.round(e['sh'][0], 3)}")
    provenance = {
        "source": f"bpy=={BPY_VERSION} wheel from PyPI, members {WORLD}{{{','.join(ORIGINALS)}}}.exr and license.txt",
        "wheel": wheel_path.name,
        "wheel_sha256": hashlib.sha256(wheel_path.read_bytes()).hexdigest(),
        "member_sha256": MEMBER_SHA256,
        "licence": "CC0 1.0 (license.txt: 'All HDRIs are licensed as CC0', Greg Zaal, Poly Haven)",
        "originals": {n: u for n, (u, _) in ORIGINALS.items()},
        "frame": "+y up; panorama centre column at -z; u grows towards +x (tools/build_environments.py)",
        "units": "radiance scaled so the sphere's mean luminance is 1/pi; light_rgb irradiance at normal incidence",
        "light_threshold_x_mean_luminance": LIGHT_THRESHOLD,
        "panorama_size": list(PANORAMA_SIZE),
        "panorama_float16_mantissa_bits_dropped": PANORAMA_DROP_BITS,
        "builder": "tools/build_environments.py",
    }
    out = write_asset(envs, out_dir, provenance)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")
    return out


REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, help=f"path to a bpy-{BPY_VERSION} wheel (else pip download)")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "nirvis" / "assets" / "environments",
                    help="output directory (default: the package data in src/nirvis/assets/environments)")
    args = ap.parse_args()
    if args.wheel:
        build(args.wheel, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            build(fetch_wheel(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
