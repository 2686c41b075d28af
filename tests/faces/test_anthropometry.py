"""The identity prior against published facial anthropometry, and no crumpled faces."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nirvis.faces import IdentityParams, build_heads, identity_seed, load_head_model, sample_identity
from nirvis.faces.anthropometry import NORMS, measure

# Extra room above the NAW (white) range for measures that published groups widen: noses ~8-9 mm
# wider in African groups, eyes ~7 mm further apart, mouths and faces a few mm wider (Farkas et al.
# 2005; intercanthal pooled analysis 2022, see nirvis.faces.anthropometry).
ANCESTRY_ALLOWANCE_MM = {"al-al": 9.0, "en-en": 7.0, "ch-ch": 4.0, "zy-zy": 6.0, "go-go": 4.0}


@pytest.fixture(scope="module")
def sampled():
    model = load_head_model()
    ids = [sample_identity(identity_seed(11, k), model) for k in range(200)]
    return model, ids, build_heads(ids, model=model)


def _normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = v[:, faces[:, 0]], v[:, faces[:, 1]], v[:, faces[:, 2]]
    n = np.cross(b - a, c - a)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _flipped_face_triangles(model, ids) -> np.ndarray:
    """int [B]: face-region skin triangles whose normal turns > 90 deg away from the same head
    without local modifiers (MakeHuman's macro heads are smooth; a flip is a fold/self-overlap)."""
    faces = model.template.faces
    region = model.template.part_mask("skin") & model.face_region[faces].all(axis=1)
    macro = build_heads([dataclasses.replace(i, modifiers={}) for i in ids], model=model)
    full = build_heads(ids, model=model)
    dots = (_normals(macro, faces) * _normals(full, faces)).sum(-1)[:, region]
    return (dots < 0).sum(axis=1)


def test_sampled_spreads_match_published_anthropometry(sampled):
    """Within each sex, the coefficient of variation of every measure lies within a factor band of
    Farkas' single-group CV: >= 0.6x (not too uniform) and <= 2.2x (mixed ancestry widens it,
    caricatures would widen it more); face width and height correlate positively (overall size)."""
    model, ids, heads = sampled
    m = measure(heads, model)
    male = np.array([i.gender > 0.5 for i in ids])
    for name, norm in NORMS.items():
        for sel, (mean, sd) in ((male, norm.male), (~male, norm.female)):
            ratio = (m[name][sel].std() / m[name][sel].mean()) / (sd / mean)
            assert 0.6 <= ratio <= 2.2, f"{name}: sampled CV is {ratio:.2f}x the published one"
    for sel in (male, ~male):
        r = np.corrcoef(m["zy-zy"][sel], m["n-gn"][sel])[0, 1]
        # size makes them correlate; facial adiposity (``head_model.adiposity``) widens faces without
        # lengthening them (the width-to-height ratio rises with BMI), which weakens it
        assert 0.1 < r < 0.8, f"face width / height correlation {r:.2f}"


def test_sexual_dimorphism_and_ancestry_follow_published_directions(sampled):
    model, ids, heads = sampled
    m = measure(heads, model)
    male = np.array([i.gender > 0.5 for i in ids])
    # men: larger jaw, face width and height by several mm (Farkas 1994: ~9, 7, 9 mm);
    # eye spacing differs little (1.5 mm)
    assert m["go-go"][male].mean() - m["go-go"][~male].mean() > 5.0
    assert m["zy-zy"][male].mean() - m["zy-zy"][~male].mean() > 4.0
    assert m["n-gn"][male].mean() - m["n-gn"][~male].mean() > 5.0
    assert abs(m["en-en"][male].mean() - m["en-en"][~male].mean()) < 3.0
    race = np.array([i.race for i in ids])
    group = [(race[:, r] > 0.7) for r in range(3)]  # african, asian, caucasian
    nose = [m["al-al"][g].mean() for g in group]
    eyes = [m["en-en"][g].mean() for g in group]
    assert nose[0] > nose[1] + 1.5 and nose[1] > nose[2] + 1.5  # Farkas 2005: African > East Asian > white
    assert min(eyes[0], eyes[1]) > eyes[2] + 2.0               # eyes set further apart than in whites


def test_every_sampled_measure_is_plausible(sampled):
    """Every head's measures lie within the published mean +- 4 SD (after removing the template's
    definition offset, see nirvis.faces.anthropometry; the upper bound widened by the published
    ancestry range)."""
    model, ids, heads = sampled
    m = measure(heads, model)
    tmpl = measure(model.template.vertices[None], model)
    for name, norm in NORMS.items():
        offset = tmpl[name][0] - 0.5 * (norm.male[0] + norm.female[0])
        lo = norm.female[0] - 4 * norm.female[1] + offset
        hi = norm.male[0] + 4 * norm.male[1] + offset + ANCESTRY_ALLOWANCE_MM.get(name, 0.0)
        bad = np.flatnonzero((m[name] < lo) | (m[name] > hi))
        values = m[name][bad].round(1).tolist()
        assert not len(bad), f"{name}: heads {bad.tolist()} at {values} outside [{lo:.1f}, {hi:.1f}]"


def test_sampled_faces_do_not_fold_over(sampled):
    model, ids, _ = sampled
    flipped = _flipped_face_triangles(model, ids)
    assert flipped.mean() < 1.5 and flipped.max() <= 20, (flipped.mean(), flipped.max())
    # the check sees a crumple: the epicanthus target at full strength folds the inner eye corner
    crumpled = dataclasses.replace(ids[0], modifiers={**ids[0].modifiers, "l-eye-epicanthus-in-out": 1.0,
                                                      "r-eye-epicanthus-in-out": 1.0})
    assert _flipped_face_triangles(model, [crumpled])[0] > 10


def test_shape_traits_are_logged_and_old_dicts_still_read():
    ident = sample_identity(21)
    assert set(ident.shape) == {"version", "size", "canthal_tilt", "epicanthus", "asymmetry", "eye_height_asym",
                               "adiposity"}
    assert IdentityParams.from_dict(ident.to_dict()) == ident
    old = {k: v for k, v in ident.to_dict().items() if k != "shape"}  # written before prior v2
    assert IdentityParams.from_dict(old).shape == {}
    with pytest.raises(ValueError, match="shape"):
        IdentityParams(shape={"size": float("nan")})
    # the shape prior draws from its own stream: sex and age still come from the original stream 0x1D
    rng = np.random.Generator(np.random.PCG64([21, 0x1D]))
    male = rng.random() < 0.5
    gender = 0.75 + 0.25 * rng.random() if male else 0.25 * rng.random()
    assert (ident.gender, ident.age_years) == (gender, rng.uniform(18.0, 75.0))


def test_young_adults_have_adult_faces():
    """An 18-year-old's face is within a few mm of a 25-year-old's (faces grow little after 18),
    not the half-child MakeHuman's linear age slider gives (-9 mm face height)."""
    model = load_head_model()
    heads = build_heads([IdentityParams(gender=g, age_years=a) for g in (0.1, 0.9) for a in (18.0, 25.0)], model=model)
    m = measure(heads, model)
    for name in ("n-gn", "zy-zy", "go-go"):
        assert abs(m[name][0] - m[name][1]) < 3.0 and abs(m[name][2] - m[name][3]) < 3.0, name
