"""The procedural head model: data loading, MakeHuman weighting, sampling prior, landmarks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nirvis.faces import (Expression, IdentityParams, build_head, build_heads, identity_seed, load_head_model,
                          sample_expression, sample_identity)
from nirvis.faces.head_model import age_to_makehuman, macro_weights

# iBUG 300-W mirror pairs (0-based): each landmark and its left/right counterpart
MIRROR_68 = ([(k, 16 - k) for k in range(17)] + [(17 + k, 26 - k) for k in range(10)]
             + [(27, 27), (28, 28), (29, 29), (30, 30), (31, 35), (32, 34), (33, 33)]
             + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
             + [(48, 54), (49, 53), (50, 52), (51, 51), (55, 59), (56, 58), (57, 57)]
             + [(60, 64), (61, 63), (62, 62), (65, 67), (66, 66)])


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def test_asset_contents_and_provenance(model):
    t = model.template
    assert t.vertices.shape[1] == 3 and len(t.faces) > 5000
    assert set(np.unique(t.face_parts)) == {0, 1, 2, 3, 4}  # skin, cavities, eyeballs, teeth
    assert model.provenance["wheel_sha256"] == "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"
    assert "CC0" in model.provenance["licence"]
    groups = {m.group for m in model.modifiers}
    assert {"head", "forehead", "eyebrows", "eyes", "nose", "mouth", "cheek", "chin", "ears", "asym"} <= groups
    assert sum(n.startswith("local/") for n in model.target_names) > 280
    assert sum(n.startswith("asym/") for n in model.target_names) > 30
    assert len(model.expression_names) == 51 and "jawOpen" in model.expression_names
    # the head is ~15-20 cm wide and ~22-26 cm from chin to crown at the template
    extent = t.vertices.max(0) - t.vertices.min(0)
    assert 140 < extent[0] < 200 and 200 < extent[1] < 330


def test_macro_weights_follow_makehuman_anchors():
    young = macro_weights(IdentityParams(gender=1.0, age_years=25.0, race=(0.0, 1.0, 0.0)))
    assert young["macro/asian-male-young"] == pytest.approx(1.0)
    assert sum(young.values()) == pytest.approx(2.0)  # race-gender-age set + universal set, each sums to 1
    assert age_to_makehuman(25.0) == pytest.approx(0.5)
    assert age_to_makehuman(90.0) == pytest.approx(1.0)
    assert age_to_makehuman(11.0) == pytest.approx(0.1875)
    mix = macro_weights(IdentityParams(gender=0.3, age_years=57.5, race=(0.2, 0.3, 0.5), muscle=0.8, weight=0.1))
    race_set = sum(v for k, v in mix.items() if not k.startswith("macro/universal"))
    universal = sum(v for k, v in mix.items() if k.startswith("macro/universal"))
    assert race_set == pytest.approx(1.0) and universal == pytest.approx(1.0)
    assert mix["macro/caucasian-female-old"] == pytest.approx(0.5 * 0.7 * 0.5)


def test_single_modifier_applies_its_sparse_target_exactly(model):
    neutral = IdentityParams()
    name = "nose-scale-horiz-decr-incr"
    pos = next(m for m in model.modifiers if m.name == name).pos
    a = build_head(neutral).vertices
    b = build_head(dataclasses.replace(neutral, modifiers={name: 1.0})).vertices
    delta = model.offsets[model.target_names.index(pos)].reshape(-1, 3)
    moved = np.linalg.norm(delta, axis=1) > 0
    # re-centring on the eyeballs is unaffected by a nose target, so the offset appears verbatim
    np.testing.assert_allclose(b - a, delta, atol=1e-4)
    assert 0 < moved.sum() < 0.2 * len(delta)  # sparse: only nose vertices move
    assert np.abs((b - a)[moved, 0]).max() > 2.0  # by millimetres


def test_sampling_is_deterministic_and_varied(model):
    a, b = sample_identity(123), sample_identity(123)
    assert a == b
    assert np.array_equal(build_head(a).vertices, build_head(b).vertices)
    assert sample_identity(124) != a
    ids = [sample_identity(identity_seed(5, k)) for k in range(200)]
    genders = np.array([i.gender for i in ids])
    ages = np.array([i.age_years for i in ids])
    assert 0.3 < (genders > 0.5).mean() < 0.7
    assert ages.min() >= 18 and ages.max() <= 75 and ages.std() > 10
    dominant = np.argmax([i.race for i in ids], axis=1)
    assert all((dominant == r).mean() > 0.15 for r in range(3))


def test_identity_seed_is_stable_per_label():
    assert identity_seed(0, 7) == identity_seed(0, 7)
    assert len({identity_seed(0, k) for k in range(1000)}) == 1000
    assert identity_seed(1, 7) != identity_seed(0, 7)


def test_thousand_identities_are_distinct(model):
    ids = [sample_identity(identity_seed(0, k)) for k in range(1000)]
    v = build_heads(ids)[:, model.face_region].reshape(1000, -1).astype(np.float64)
    n_v = model.face_region.sum()
    sq = (v ** 2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * v @ v.T, 0.0) / n_v
    rms = np.sqrt(d2[np.triu_indices(1000, 1)])
    assert rms.min() > 1.0, f"closest pair only {rms.min():.2f} mm RMS apart"
    assert np.median(rms) > 3.0


def test_heads_are_centred_on_the_eyes(model):
    heads = build_heads([sample_identity(k) for k in range(20)])
    eyeballs = np.unique(model.template.faces[model.template.part_mask("eyeball")])
    np.testing.assert_allclose(heads[:, eyeballs].mean(axis=1), 0.0, atol=1e-3)


def test_landmarks_are_anatomically_ordered_and_symmetric(model):
    lm = model.template.vertices[model.landmark_vertices["68"]]
    assert len(lm) == 68
    for a, b in MIRROR_68:
        assert abs(lm[a, 0] + lm[b, 0]) < 1.0, (a, b)
        assert abs(lm[a, 1] - lm[b, 1]) < 1.0, (a, b)
    # subject's right (landmarks 0-7, 17-21, 36-41, 48) lies at -x
    assert (lm[[0, 3, 7, 17, 21, 36, 39, 48], 0] < 0).all()
    # top to bottom: brows > eyes > nose tip > mouth > chin
    assert lm[17:27, 1].min() > lm[36:48, 1].max()
    assert lm[36:48, 1].min() > lm[30, 1] > lm[51, 1] > lm[57, 1] > lm[8, 1]
    assert lm[30, 2] == lm[27:36, 2].max()  # the nose tip protrudes most
    # the outer lip contour (vermilion border) lies outside the inner one: upper 49-53 above
    # 61-63, lower 55-59 below 65-67 (a border point on the inner line made a fanged lip mask)
    assert lm[49:54, 1].min() > lm[61:64, 1].max() + 2.0
    assert lm[55:60, 1].max() < lm[65:68, 1].min() - 2.0
    five = model.template.vertices[model.landmark_vertices["5"]]
    assert 25 < five[1, 0] < 40 and five[0, 0] == pytest.approx(-five[1, 0], abs=0.5)
    assert five[2].tolist() == lm[30].tolist() and five[3].tolist() == lm[48].tolist()
    # interocular distance of an adult: ~55-70 mm between pupils
    assert 55 < np.linalg.norm(five[0] - five[1]) < 72
    # the jaw contour 0-16 runs down one side to the chin and up the other, evenly spaced, every
    # point below the mouth corners' level from 4 on (a point on the lower lip broke it once)
    jaw = lm[:17, :2]
    assert (np.diff(jaw[:9, 1]) < 0).all() and (np.diff(jaw[8:, 1]) > 0).all()
    assert (lm[4:13, 1] < lm[[48, 54], 1].min() - 10.0).all()
    step = np.linalg.norm(np.diff(jaw, axis=0), axis=1)
    assert step.max() < 1.8 * np.median(step)


def test_landmarks_follow_the_deformation(model):
    ident = sample_identity(3)
    head = build_head(ident, Expression({"jawOpen": 1.0}))
    lm_open = model.landmarks["68"].positions(head.vertices, head.faces)
    closed = build_head(ident)
    lm_closed = model.landmarks["68"].positions(closed.vertices, closed.faces)
    assert lm_open[57, 1] < lm_closed[57, 1] - 5.0      # lower lip drops with the jaw
    assert abs(lm_open[27, 1] - lm_closed[27, 1]) < 1.0  # the nose bridge does not


def test_expressions_sample_and_validate(model):
    e = sample_expression(4, intensity=0.6)
    assert e == sample_expression(4, intensity=0.6)
    assert 0 < len(e.weights) and all(0 <= w <= 1 for w in e.weights.values())
    assert set(e.weights) <= set(model.expression_names)


def test_expressions_are_archetypes_mostly_smiles_and_talk(model):
    """Every sampled expression is one FACS-style archetype whose units all exist in the model
    (both sides of mirrored units, nearly symmetric); smiles and talking dominate, as in photos."""
    from nirvis.faces.head_model import EXPRESSION_ARCHETYPES

    names = set(model.expression_names)
    units = {k: {b + s for b in u for s in ("", "Left", "Right") if b + s in names}
             for k, (_, u) in EXPRESSION_ARCHETYPES.items()}
    assert all(len(u) >= len(EXPRESSION_ARCHETYPES[k][1]) for k, u in units.items())
    kinds = []
    for seed in range(300):
        w = sample_expression(seed, intensity=0.7, model=model).weights
        kind = [k for k, u in units.items() if set(w) == u]
        assert len(kind) == 1, w
        kinds.append(kind[0])
        for b in ("mouthSmile", "eyeBlink", "browDown"):
            if b + "Left" in w:
                assert abs(w[b + "Left"] - w[b + "Right"]) < 0.2
    share = {k: kinds.count(k) / len(kinds) for k in units}
    assert share["smile"] + share["open_smile"] + share["talk"] > 0.5 and share["half_blink"] < 0.12
    with pytest.raises(ValueError, match="jawOpen"):
        Expression({"jawOpen": 1.5})
    with pytest.raises(ValueError, match="unknown face unit"):
        model.target_weights(IdentityParams(), Expression({"frown": 0.5}))


def test_identity_params_validate_and_round_trip():
    ident = sample_identity(9)
    assert IdentityParams.from_dict(ident.to_dict()) == ident
    with pytest.raises(ValueError, match="age_years"):
        IdentityParams(age_years=10.0)
    with pytest.raises(ValueError, match="race"):
        IdentityParams(race=(0.5, 0.6, 0.0))
    with pytest.raises(ValueError, match="gender"):
        IdentityParams(gender=1.5)
    with pytest.raises(ValueError, match="unknown modifier"):
        load_head_model().target_weights(IdentityParams(modifiers={"nose-size": 0.5}))
    with pytest.raises(ValueError, match="seed"):
        sample_identity(-1)


def test_committed_asset_matches_its_recorded_provenance():
    import hashlib
    import importlib.resources
    import json

    from nirvis.faces.head_model import ASSET_DIR, HEAD_MODEL_FILE

    prov = json.loads((ASSET_DIR / "PROVENANCE.json").read_text())
    digest = hashlib.sha256((ASSET_DIR / HEAD_MODEL_FILE).read_bytes()).hexdigest()
    assert prov["file_sha256"] == digest, "head model asset changed without rebuilding PROVENANCE.json"
    licences = importlib.resources.files("nirvis") / "assets" / "LICENSES.md"
    assert prov["wheel_sha256"] in licences.read_text()


def test_every_runtime_asset_is_declared_package_data():
    """Files under src/nirvis/assets ship in the wheel only when pyproject's package-data names them."""
    import fnmatch
    import importlib.resources
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")
    repo = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["nirvis"]
    root = Path(str(importlib.resources.files("nirvis")))
    files = [p.relative_to(root).as_posix() for p in (root / "assets").rglob("*") if p.is_file()]
    assert "assets/head_model/mpfb2_head.npz" in files and "assets/LICENSES.md" in files
    undeclared = [f for f in files if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert not undeclared, f"add these to [tool.setuptools.package-data] in pyproject.toml: {undeclared}"


def test_nirvis_assets_overrides_the_package_data(tmp_path):
    """NIRVIS_ASSETS=DIR reads DIR/head_model/ (a copy loads; a missing file is named in the error)."""
    import importlib.resources
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    src = importlib.resources.files("nirvis") / "assets" / "head_model"
    shutil.copytree(Path(str(src)), tmp_path / "copy" / "head_model")
    (tmp_path / "empty").mkdir()
    code = ("from nirvis.faces import load_head_model\n"
            "from nirvis.faces.errors import FaceDataError\n"
            "try:\n    print('loaded', load_head_model().path)\n"
            "except FaceDataError as e:\n    print('error', e)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for name, expect in (("copy", "loaded "), ("empty", "error ")):
        env["NIRVIS_ASSETS"] = str(tmp_path / name)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
        assert out.startswith(expect + str(tmp_path / name / "head_model" / "mpfb2_head.npz")), out


def test_heads_do_not_depend_on_the_hosts_thread_count():
    """A threaded BLAS sums in an order set by its thread count: the same seed must still give the
    same vertices on a host with other cores (or OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set)."""
    import hashlib
    import os
    import subprocess
    import sys

    code = ("import hashlib; from nirvis.faces import Expression, build_heads, sample_identity\n"
            "ids = [sample_identity(k) for k in range(3)]\n"
            "v = build_heads(ids, [None, Expression({'jawOpen': 0.5}), None])\n"
            "print(hashlib.sha256(v.tobytes()).hexdigest())")
    digests = set()
    for n in ("1", "2", "3"):
        env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert hashlib.sha256(b"").hexdigest() not in digests
