"""Shape prior v4: per-identity landmark offsets and the smooth field that carries the surface."""

import dataclasses
import json

import numpy as np
import pytest

from nirvis.faces import IdentityParams, build_heads, load_head_model, sample_identity
from nirvis.faces.local_shape import INNER_LIP_FROM_OUTER, MIRROR_68, REGION_SD_MM, TRUNCATE_SD, sample_landmark_offsets


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def test_offsets_are_seeded_mirror_symmetric_up_to_the_asymmetric_part():
    a, b = sample_landmark_offsets(7), sample_landmark_offsets(7)
    assert np.array_equal(a, b) and not np.array_equal(a, sample_landmark_offsets(8))
    sym = sample_landmark_offsets(7, asymmetry=0.0)
    mirrored = sym[list(MIRROR_68)] * np.array([-1.0, 1.0, 1.0])
    assert np.allclose(sym, mirrored, atol=0.006)                    # rounding to 0.01 mm only
    assert np.abs(sym[[27, 28, 29, 30, 33, 51, 57], 0]).max() == 0.0  # midline points keep x
    for inner, outer in INNER_LIP_FROM_OUTER.items():                # the lips move as a whole
        assert np.array_equal(a[inner], a[outer])
    assert np.abs(a - sym).max() > 0.05                              # the asymmetric part is there


def test_offsets_follow_their_region_spreads():
    draws = np.stack([sample_landmark_offsets(s, asymmetry=0.0) for s in range(400)])
    for name, (index, sd) in REGION_SD_MM.items():
        got = draws[:, list(index)].reshape(-1, 3).std(axis=0)
        # clipped normal (TRUNCATE_SD = 2 keeps ~88 % of the sd); the midline zeroes x of some points
        assert np.all(got <= np.array(sd) + 1e-9), (name, got, sd)
        assert np.all(got[1:] >= 0.8 * np.array(sd[1:])), (name, got, sd)
        assert np.abs(draws[:, list(index)]).max() <= TRUNCATE_SD * max(sd) * 1.01 + 0.02


def test_field_moves_landmarks_not_the_scalp_and_keeps_the_eyeballs_rigid(model):
    ident = sample_identity(5, model)
    plain = dataclasses.replace(ident, landmark_offsets_mm=())
    with_local, without = build_heads([ident, plain], model=model)
    delta = with_local - without
    lm = model.landmark_vertices["68"]
    moved = np.linalg.norm(delta[lm[17:]], axis=1)                   # brows, nose, eyes, lips
    assert moved.mean() > 0.8
    v = model.template.vertices
    far = v[:, 1] > v[lm[19], 1] + 60.0                              # crown of the head: only the
    assert np.abs(delta[far] - delta[far].mean(axis=0)).max() < 0.05  # re-centring shift moves it
    faces = model.template.faces
    eyes = np.unique(faces[model.template.part_mask("eyeball")])
    for side in (eyes[v[eyes, 0] < 0], eyes[v[eyes, 0] > 0]):       # each eyeball translates as a whole
        assert np.abs(delta[side] - delta[side].mean(axis=0)).max() < 1e-4
    assert np.abs(delta[eyes].mean(axis=0)).max() < 1e-4            # re-centred on the eyes


def test_offsets_are_logged_and_round_trip_exactly(model):
    ident = sample_identity(11, model)
    assert len(ident.landmark_offsets_mm) == 68 and ident.shape["version"] == 4.0
    back = IdentityParams.from_dict(json.loads(json.dumps(ident.to_dict())))
    assert back == ident
    assert np.array_equal(build_heads([back], model=model), build_heads([ident], model=model))
    old = {k: v for k, v in ident.to_dict().items() if k != "landmark_offsets_mm"}   # written before v4
    assert IdentityParams.from_dict(old).landmark_offsets_mm == ()


def test_bad_offsets_are_rejected():
    with pytest.raises(ValueError, match="landmark_offsets_mm"):
        IdentityParams(landmark_offsets_mm=((0.0, 0.0, 0.0),) * 5)
    with pytest.raises(ValueError, match="landmark_offsets_mm"):
        IdentityParams(landmark_offsets_mm=((0.0, 0.0, 50.0),) * 68)
    with pytest.raises(ValueError, match="landmark_offsets_mm"):
        IdentityParams(landmark_offsets_mm=((0.0, float("nan"), 0.0),) * 68)
    with pytest.raises(ValueError, match="landmark_offsets_mm"):                    # a ragged row
        IdentityParams(landmark_offsets_mm=((0.0, 0.0),) + ((0.0, 0.0, 0.0),) * 67)
