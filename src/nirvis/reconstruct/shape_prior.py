"""A linear shape prior for fitting: the head model's procedural identity prior as a PCA basis.

The head is linear in its targets and landmark offsets (``build_heads``), but identities are sampled
through non-linear macro weightings (sex x age x ancestry blends). For fitting we approximate that
prior by a Gaussian in vertex space: ``SAMPLES`` neutral heads drawn with ``sample_identity`` (fixed
seeds, so the basis is the same on every run), their mean and leading principal components
scaled by their standard deviations, so identity coefficients ``z`` are ~ N(0, I) under the prior.
Expressions stay the model's own face units (linear, weights in [0, 1]), re-centred like heads are
(eyeball midpoint at the origin).

Building the basis takes ~3 s once per process (cached).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Optional

import numpy as np

from nirvis.faces.head_model import HeadModel, build_heads, identity_seed, load_head_model, sample_identity
from nirvis.faces.mesh import SurfacePoints

#: Number of procedural identities the basis is estimated from, and the seed they come from.
SAMPLES = 2000
PRIOR_SEED = 0x5EC0
#: Identity components kept (of at most ``SAMPLES - 1``); they explain > 99.5 % of the sampled variance
#: (> 99.9 % before the landmark offsets of shape prior v4 added ~100 mostly independent directions).
COMPONENTS = 120
#: Face units left out of fitting: gaze (``eyeLook*``) turns the eyeballs' lids in the model but
#: photos' landmarks cannot tell it from lid shape, and fitting it soaks up identity.
GAZE_UNITS = ("eyeLook",)


@dataclass(frozen=True, eq=False)
class ShapeBasis:
    """Mean head, identity components and expression units on the template topology.

    Attributes:
        mean: float64 [V, 3] mean neutral head (mm).
        identity: float64 [K, V, 3] identity components (mm per unit coefficient; coefficients ~ N(0, 1)).
        expression: float64 [E, V, 3] offsets of the face units at weight 1 (mm; weights in [0, 1]).
        expression_names: the E face-unit names (``HeadModel.expression_names`` order, without
            ``GAZE_UNITS``).
        explained: fraction of the sampled identity variance the K components keep.
    """

    mean: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    expression_names: tuple[str, ...]
    explained: float

    def vertices(self, coeffs: np.ndarray, expression: Optional[np.ndarray] = None) -> np.ndarray:
        """float64 [V, 3] head (mm) for identity ``coeffs`` [K] and expression weights [E] (None: neutral)."""
        v = self.mean + np.tensordot(np.asarray(coeffs, np.float64), self.identity, axes=1)
        if expression is not None:
            v = v + np.tensordot(np.asarray(expression, np.float64), self.expression, axes=1)
        return v

    def at_points(self, points: SurfacePoints, faces: np.ndarray) -> "ShapeBasis":
        """The basis restricted to surface points: ``mean`` [N, 3], ``identity`` [K, N, 3], ...
        (barycentric interpolation is linear, so positions stay linear in the coefficients)."""
        idx = faces[points.face_index]                     # [N, 3]
        bary = points.barycentric.astype(np.float64)       # [N, 3]

        def sel(a: np.ndarray) -> np.ndarray:
            return np.einsum("...nkc,nk->...nc", a[..., idx, :], bary)

        return ShapeBasis(sel(self.mean), sel(self.identity), sel(self.expression), self.expression_names,
                          self.explained)


def _recentred(model: HeadModel, offsets: np.ndarray) -> np.ndarray:
    """[T, V, 3] target offsets with the eyeball-midpoint shift ``build_vertices`` applies removed."""
    eyes = model._eyeball_vertices
    return offsets - offsets[:, eyes].mean(axis=1, keepdims=True)


@functools.lru_cache(maxsize=2)
def shape_basis(components: int = COMPONENTS, samples: int = SAMPLES) -> ShapeBasis:
    """The cached prior basis of the default head model (see the module docstring)."""
    model = load_head_model()
    identities = [sample_identity(identity_seed(PRIOR_SEED, k), model) for k in range(samples)]
    heads = build_heads(identities, model=model).reshape(samples, -1).astype(np.float64)   # [S, 3V]
    mean = heads.mean(axis=0)
    centred = heads - mean
    # eigen-decomposition of the S x S Gram matrix (cheaper than an SVD of S x 3V); fixed signs
    gram = centred @ centred.T
    ev, u = np.linalg.eigh(gram)
    order = np.argsort(ev)[::-1][:components]
    ev, u = np.clip(ev[order], 0.0, None), u[:, order]
    comps = (u.T @ centred) / np.sqrt(np.maximum(ev, 1e-12))[:, None]              # orthonormal rows
    sign = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
    comps *= sign[:, None]
    sd = np.sqrt(ev / (samples - 1))
    identity = (comps * sd[:, None]).reshape(len(ev), -1, 3)
    n_v = len(model.template.vertices)
    names = tuple(n for n in model.expression_names if f"expr/{n}" in model.target_names and not
                  n.startswith(GAZE_UNITS))
    expr_rows = [model.target_names.index(f"expr/{n}") for n in names]
    expression = _recentred(model, model.offsets[expr_rows].reshape(len(expr_rows), n_v, 3).astype(np.float64))
    explained = float(ev.sum() / max(np.einsum("ij,ij->", centred, centred), 1e-12))
    return ShapeBasis(mean.reshape(n_v, 3), identity, expression, names, explained)
