"""Sampling: everything random about a rendered NIR/VIS pair, drawn from explicit seeds.

A ``SampleSpace`` holds the ranges; ``sample_params(space, seed)`` draws one pair's
``SampleParams`` (pose, expression and camera per spectrum as ``View``s, lighting, sensors,
background, accessories) from that pair's own seed, and ``pair_seed`` derives the seed of pair
``index`` of identity ``label``. So a pair never depends on batch size, worker count or backend
scheduling. Nothing here touches tensors of a render: parameters are plain JSON-able values.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Sequence

import numpy as np
import torch

from nirvis.faces.head_model import sample_expression
from nirvis.render.accessories import GlassesParams, sample_glasses
from nirvis.render.headwear import HEADWEAR_STREAM, HeadwearParams, sample_headwear
from nirvis.render.environment import awb_gains, sample_background, sample_environment, scene_white
from nirvis.render.lights import LightingConfig, sample_nir_lighting, sample_vis_lighting
from nirvis.render.sensor import NirSensorConfig, VisSensorConfig, sample_nir_sensor, sample_vis_sensor


#: The ranges the renderer models: the pose and camera of a face seen by a camera in front of it.
POSE_LIMITS = {"yaw_deg": (-180.0, 180.0), "pitch_deg": (-90.0, 90.0), "roll_deg": (-180.0, 180.0),
               "distance_mm": (200.0, 20000.0), "face_fill": (0.05, 2.0)}


@dataclass(frozen=True)
class SampleSpace:
    """Ranges every random choice of a rendered pair is drawn from (uniform, inclusive).

    Attributes:
        yaw_deg, pitch_deg, roll_deg: head pose ranges (see ``camera.pose_rotation`` for signs).
        distance_mm: camera distance to the eye midpoint.
        face_fill: fraction of the raw image height spanned by 200 mm at the head's distance;
            the focal length follows from it (so perspective varies with distance, framing not).
        expression_probability: share of samples with a non-neutral expression.
        glasses_probability: share of samples wearing procedural eyeglasses.
        headwear_probability: share of samples wearing a beanie, cap or hair band
            (``headwear.sample_headwear``, drawn from the pair's own stream 0x4EAD).
        expression_intensity: maximum face-unit weight of a sampled expression.
        pairing: ``shared`` (VIS and NIR share geometry and camera: pixel-aligned) or
            ``independent`` (each spectrum draws its own pose, expression and camera).
        raw_resolution: size of the render before ArcFace alignment (square). The default 224 makes the
            112 crop a ~1.1-1.4x downsample of the render (160 made it a ~1:1 resampling: bilinear
            blur and aliased edges; realism report in the README: VIS detection and TARs rise).
        led_nm: NIR LED wavelength (850 or 940).
        lighting, vis_sensor, nir_sensor: nested ranges.
    """

    yaw_deg: tuple[float, float] = (-40.0, 40.0)
    pitch_deg: tuple[float, float] = (-20.0, 20.0)
    roll_deg: tuple[float, float] = (-10.0, 10.0)
    distance_mm: tuple[float, float] = (450.0, 1500.0)
    face_fill: tuple[float, float] = (0.55, 0.7)
    expression_probability: float = 0.6
    expression_intensity: float = 0.7
    glasses_probability: float = 0.2
    headwear_probability: float = 0.12
    pairing: str = "shared"
    raw_resolution: int = 224
    led_nm: int = 850
    lighting: LightingConfig = field(default_factory=LightingConfig)
    vis_sensor: VisSensorConfig = field(default_factory=VisSensorConfig)
    nir_sensor: NirSensorConfig = field(default_factory=NirSensorConfig)

    def __post_init__(self) -> None:
        for name, (low, high) in POSE_LIMITS.items():
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"SampleSpace.{name}: lower bound {lo} exceeds upper bound {hi}")
            if not (math.isfinite(lo) and math.isfinite(hi) and low <= lo and hi <= high):
                raise ValueError(f"SampleSpace.{name}: [{lo}, {hi}] leaves the modelled range [{low}, {high}]")
        if self.distance_mm[0] <= 200:
            raise ValueError(f"SampleSpace.distance_mm must stay above 200 mm, got {self.distance_mm}")
        if self.pairing not in ("shared", "independent"):
            raise ValueError(f"SampleSpace.pairing must be 'shared' or 'independent', got {self.pairing!r}")
        if self.led_nm not in (850, 940):
            raise ValueError(f"SampleSpace.led_nm must be 850 or 940, got {self.led_nm}")
        if not 64 <= self.raw_resolution <= 1024:
            raise ValueError(f"SampleSpace.raw_resolution must lie in [64, 1024], got {self.raw_resolution}")
        if not 0.0 <= self.glasses_probability <= 1.0:
            raise ValueError(f"SampleSpace.glasses_probability must lie in [0, 1], got {self.glasses_probability}")
        if not 0.0 <= self.headwear_probability <= 1.0:
            raise ValueError(f"SampleSpace.headwear_probability must lie in [0, 1], got {self.headwear_probability}")
        if not 0.0 <= self.expression_probability <= 1.0:
            raise ValueError("SampleSpace.expression_probability must lie in [0, 1], "
                             f"got {self.expression_probability}")


@dataclass(frozen=True)
class View:
    """Geometry and camera of one rendering (one spectrum of a pair).

    Attributes:
        yaw_deg, pitch_deg, roll_deg: head pose (``camera.pose_rotation``).
        distance_mm: camera distance to the eye midpoint (camera on +z, looking at the origin).
        focal_mm: 35 mm-equivalent focal length (diagonal convention).
        expression: face-unit weights by name ({} = neutral).
    """

    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    distance_mm: float
    focal_mm: float
    expression: dict[str, float]


@dataclass(frozen=True)
class SampleParams:
    """Everything random about one rendered pair; stored verbatim in the sample's JSON.

    Plain JSON-able values (the per-sample rows of the lighting and sensor draws); the renderer
    turns them into tensors. With ``pairing == "shared"`` ``nir_view`` is ``vis_view``.
    ``environment``: the HDR environment lighting the VIS scene (``environment.sample_environment``;
    ``name`` None: synthetic lighting).
    """

    seed: int
    vis_view: View
    nir_view: View
    vis_lighting: dict[str, Any]
    nir_lighting: dict[str, Any]
    vis_sensor: dict[str, Any]
    nir_sensor: dict[str, Any]
    background: dict[str, Any]
    pairing: str
    led_nm: int
    raw_resolution: int
    accessories: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict`` of the pair (a deep copy), without deep-copying immutable leaves."""
        return _plain(self)


_ATOMS = (int, float, str, bool, type(None))


def _plain(x: Any) -> Any:
    """``dataclasses.asdict``'s conversion (dataclasses to dicts, lists, tuples and dicts
    rebuilt, other leaves deep-copied), returning numbers, strings and None as they are."""
    if isinstance(x, _ATOMS):
        return x
    if is_dataclass(x) and not isinstance(x, type):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return type(x)((_plain(k), _plain(v)) for k, v in x.items())
    return asdict(x) if is_dataclass(x) else copy.deepcopy(x)


def glasses_params(params: Sequence[SampleParams]) -> list[GlassesParams]:
    """The ``GlassesParams`` of each pair (``accessories["glasses"]``; absent means no glasses).

    Example:
        >>> p = sample_params(SampleSpace(glasses_probability=1.0), seed=0)
        >>> [g.enabled for g in glasses_params([p])]
        [True]
    """
    out = []
    for p in params:
        g = dict(p.accessories.get("glasses", {"enabled": False}))
        for key in ("frame_vis_rgb",):
            if key in g:
                g[key] = tuple(g[key])
        out.append(GlassesParams(**g))
    return out


def headwear_params(params: Sequence[SampleParams]) -> list[HeadwearParams]:
    """The ``HeadwearParams`` of each pair (``accessories["headwear"]``; absent means none).

    Example:
        >>> p = sample_params(SampleSpace(headwear_probability=1.0), seed=0)
        >>> [h.enabled for h in headwear_params([p])]
        [True]
    """
    return [HeadwearParams.from_dict(p.accessories.get("headwear", {"kind": "none"})) for p in params]


def _focal_for_fill(distance_mm: float, fill: float, resolution: int) -> float:
    """35 mm-equivalent focal length (diagonal convention) that makes 200 mm at ``distance_mm``
    span ``fill`` of the image height."""
    f_px = fill * resolution * distance_mm / 200.0
    diag_px = math.hypot(resolution, resolution)
    return f_px * 43.26661530556787 / diag_px


def _uniform(rng: np.random.Generator, r: tuple[float, float]) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def sample_params(space: SampleSpace, seed: int) -> SampleParams:
    """Draw a pair's parameters from ``space``; the same (space, seed) always gives the same pair.

    Example:
        >>> space = SampleSpace(pairing="independent")
        >>> p = sample_params(space, seed=3)
        >>> p == sample_params(space, seed=3), p.vis_view == p.nir_view
        (True, False)
        >>> sorted(p.vis_lighting), sorted(p.nir_lighting)
        (['angular_radius_rad', 'colors', 'directions', 'sh'], ['ambient_sh', 'led_intensity', 'led_offset_mm'])
        >>> shared = sample_params(SampleSpace(), seed=3)
        >>> shared.vis_view is shared.nir_view    # one pose and camera serve both spectra
        True
    """
    rng = np.random.Generator(np.random.PCG64([int(seed), 0x9A12]))
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))

    def view() -> View:
        distance = _uniform(rng, space.distance_mm)
        fill = _uniform(rng, space.face_fill)
        expr: dict[str, float] = {}
        if rng.random() < space.expression_probability:
            expr = dict(sample_expression(int(rng.integers(0, 2**31)), intensity=space.expression_intensity).weights)
        return View(yaw_deg=_uniform(rng, space.yaw_deg), pitch_deg=_uniform(rng, space.pitch_deg),
                    roll_deg=_uniform(rng, space.roll_deg), distance_mm=distance,
                    focal_mm=_focal_for_fill(distance, fill, space.raw_resolution), expression=expr)

    vis_view = view()
    nir_view = view() if space.pairing == "independent" else vis_view
    glasses = sample_glasses(rng, space.glasses_probability)
    # headwear from its own stream: the draws above (and below) are those of renderer 4
    headwear = sample_headwear(np.random.Generator(np.random.PCG64([int(seed), HEADWEAR_STREAM])),
                               space.headwear_probability)
    vis_light = sample_vis_lighting(space.lighting, 1, gen)
    nir_light = sample_nir_lighting(space.lighting, 1, gen)
    vis_sensor = sample_vis_sensor(space.vis_sensor, 1, gen)
    nir_sensor = sample_nir_sensor(space.nir_sensor, 1, gen)
    torch.rand(2, 3, generator=gen), torch.rand(1, generator=gen)   # former gradient colours/angle: keeps the stream
    background = {
        "vis_noise_seed": int(torch.randint(0, 2**31 - 1, (1,), generator=gen)),
        "nir_level": float(torch.rand(1, generator=gen) * 0.06),
    }
    vis_lighting, nir_lighting, environment, vis_sensor_dict, scene_bg = _environment_draws(
        space, seed, {k: getattr(vis_light, k)[0].tolist() for k in ("sh", "directions", "colors")},
        {k: getattr(nir_light, k)[0].tolist() for k in ("led_intensity", "led_offset_mm", "ambient_sh")},
        vis_sensor.to_dict())
    return SampleParams(
        seed=int(seed), vis_view=vis_view, nir_view=nir_view, vis_lighting=vis_lighting, nir_lighting=nir_lighting,
        vis_sensor=vis_sensor_dict, nir_sensor=nir_sensor.to_dict(), background={**background, **scene_bg},
        pairing=space.pairing, led_nm=space.led_nm, raw_resolution=space.raw_resolution,
        accessories={"glasses": glasses.to_dict(), "headwear": headwear.to_dict()}, environment=environment,
    )


def _environment_draws(space: SampleSpace, seed: int, legacy_vis: dict[str, Any], legacy_nir: dict[str, Any],
                       vis_sensor: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The environment choices of a pair from their own stream (``environment.sample_environment``,
    ``environment.sample_background``): VIS/NIR lighting, environment record, the VIS sensor
    with auto white balance folded into its ``wb_gains``, the background's extra keys."""
    rng = np.random.Generator(np.random.PCG64([int(seed), 0xE7B1]))
    vis, nir, env = sample_environment(space.lighting, rng, legacy_vis, legacy_nir, space.led_nm)
    awb = awb_gains(scene_white(vis), float(rng.uniform(*space.lighting.awb_residual)))
    env["awb_gains"] = awb.tolist()
    sensor = dict(vis_sensor)
    sensor["wb_gains"] = [[float(g) * float(a) for g, a in zip(row, awb)] for row in vis_sensor["wb_gains"]]
    return vis, nir, env, sensor, sample_background(rng, env["name"] is not None)


def pair_seed(global_seed: int, label: int, index: int) -> int:
    """Seed of pair ``index`` of identity ``label`` (stable: independent of counts and workers).

    Example:
        >>> s = pair_seed(0, 1, 2)
        >>> s == pair_seed(0, 1, 2), s != pair_seed(0, 1, 3), 0 <= s < 2 ** 62
        (True, True, True)
    """
    state = np.random.SeedSequence([int(global_seed), int(label), int(index), 0x9A17]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(2))
