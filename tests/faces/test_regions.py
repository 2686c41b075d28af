"""UV-space geometry and region masks of the procedural head."""

from __future__ import annotations

import numpy as np

from nirvis.faces import load_head_model
from nirvis.faces.regions import REGION_NAMES, eyelid_margins, face_regions, template_uv_geometry


def test_uv_geometry_maps_texels_to_the_surface():
    geo = template_uv_geometry(256)
    model = load_head_model()
    assert geo.position.shape == (256, 256, 3) and geo.part.dtype == np.int8
    covered = geo.covered
    assert 0.1 < covered.mean() < 0.9
    # every covered texel lies on (or within a texel's reach of) the head: within its bounding box
    lo, hi = model.template.vertices.min(0) - 1, model.template.vertices.max(0) + 1
    p = geo.position[covered]
    assert ((p >= lo) & (p <= hi)).all()
    np.testing.assert_allclose(np.linalg.norm(geo.normal[covered], axis=-1), 1.0, atol=1e-4)


def test_regions_are_masks_in_the_right_places():
    masks = face_regions(512)
    assert set(masks) == set(REGION_NAMES)
    for name, m in masks.items():
        assert m.shape == (512, 512) and m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1, name
        assert m.sum() > 5, name
    geo = template_uv_geometry(512)
    lm = load_head_model().template.vertices[load_head_model().landmark_vertices["68"]]

    def centroid(m):
        return (geo.position * m[..., None]).sum((0, 1)) / m.sum()

    # lips sit between the mouth corners, brows above the eyes, the beard area below the nose
    c = centroid(masks["lips"])
    assert lm[48, 0] < c[0] < lm[54, 0] and lm[57, 1] - 3 < c[1] < lm[51, 1] + 3
    assert centroid(masks["brows"])[1] > lm[36:48, 1].max()
    assert centroid(masks["beard"])[1] < lm[33, 1]
    # the lips mask covers the whole lower lip: from the mouth line down to the vermilion border
    lips_at = masks["lips"][geo.covered]
    p = geo.position[geo.covered]
    lower = (np.abs(p[:, 0]) < 6) & (p[:, 1] < lm[66, 1] - 1.5) & (p[:, 1] > lm[57, 1] + 1.5) & (p[:, 2] > lm[66, 2])
    assert lower.sum() > 10 and lips_at[lower].min() > 0.5
    # scalp hair area: above the forehead and on the back of the head, not on the face
    hair_at = masks["hair"][geo.covered]
    assert hair_at[(p[:, 1] > lm[19, 1] + 80)].min() > 0.9
    assert hair_at[(p[:, 1] < lm[19, 1] + 30) & (p[:, 2] > lm[36, 2])].max() < 0.05

    # iris and pupil lie on the eyeballs, nested inside the sclera's complement
    eye = geo.part == 3
    assert masks["iris"][~eye].max() == 0 and masks["pupil"][~eye].max() == 0
    assert masks["iris"].sum() > masks["pupil"].sum() > 0
    total = masks["iris"] + masks["pupil"] + masks["sclera"]
    np.testing.assert_allclose(total[eye], 1.0, atol=1e-5)


def test_hairline_recession_and_crown():
    from nirvis.faces.regions import hairline_mask

    model = load_head_model()
    lm = model.template.vertices[model.landmark_vertices["68"]]
    v = model.template.vertices
    front = np.array([[0.0, lm[19, 1] + 60.0, 15.0]])      # mid-forehead, 60 mm above the brows
    crown = np.array([[0.0, v[:, 1].max() - 8.0, -95.0]])  # top-back of the skull
    assert hairline_mask(front, lm, front_mm=50.0)[0] > 0.95 and hairline_mask(front, lm, front_mm=70.0)[0] < 0.05
    assert hairline_mask(front, lm, front_mm=50.0, recession=1.0)[0] < 0.05
    assert hairline_mask(crown, lm)[0] > 0.95 and hairline_mask(crown, lm, crown=1.0)[0] < 0.05


def test_beard_area_fades_out_below_the_cheek_line():
    """The stubble/beard area follows a beard's cheek line and feathers its edges: full under the
    mouth corners and on the chin, nothing at cheekbone height beside the nose, and a band of partial
    values along its border (no hard-edged stubble patch)."""
    from nirvis.faces.regions import beard_area

    model = load_head_model()
    lm = model.template.vertices[model.landmark_vertices["68"]]
    chin, corner = lm[8], lm[48]
    cheekbone = np.array([lm[31, 0] - 20.0, lm[29, 1], lm[31, 2]])      # beside the nose, at mid-nose
    a = beard_area(np.stack([chin + [0, 6, 0], corner + [0, -8, 0], cheekbone]), lm)
    assert a[0] == 1.0 and a[1] > 0.9 and a[2] == 0.0
    m = face_regions(512)["beard"]
    assert ((m > 0.05) & (m < 0.95)).sum() > 0.05 * (m >= 0.95).sum()


def test_eyelid_margins_follow_the_mesh_opening_through_the_eye_landmarks():
    model = load_head_model()
    m = eyelid_margins(model)
    lm = model.template.vertices[model.landmark_vertices["68"]][:, :2]
    for e, (inner, up, outer, low) in enumerate((((39, (38, 37), 36, (40, 41))), (42, (43, 44), 45, (47, 46)))):
        upper, lower = m.upper[e], m.lower[e]
        assert len(upper) > 6 and len(lower) > 6                       # denser than the 4-point chords
        for line in (upper, lower):                                     # inner corner -> outer corner
            assert np.allclose(line[0], lm[inner]) and np.allclose(line[-1], lm[outer])
            assert np.all(np.diff(np.abs(line[:, 0])) > -0.5)          # runs outwards
        # the landmarks lie on their own path
        for k in up:
            assert np.linalg.norm(upper - lm[k], axis=1).min() < 1e-4
        for k in low:
            assert np.linalg.norm(lower - lm[k], axis=1).min() < 1e-4
        # the upper margin arches over the chord from the last upper landmark to the outer corner
        a, b = lm[up[-1]], lm[outer]
        x = 0.5 * (a[0] + b[0])
        order = np.argsort(upper[:, 0])
        y_margin = np.interp(x, upper[order, 0], upper[order, 1])
        assert y_margin - 0.5 * (a[1] + b[1]) > 1.0
        assert upper[:, 1].mean() > lower[:, 1].mean()
    # the two eyes mirror each other
    assert np.allclose(m.upper[0] * [-1, 1], m.upper[1], atol=0.05)
