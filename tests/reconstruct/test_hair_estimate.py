"""Hair from a photo: the shell's pigments follow the colour above the forehead, and a
reconstructed asset carries a hair shell the renderer draws."""

from __future__ import annotations

import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("mediapipe")

from nirvis.reconstruct.hair_estimate import estimate_hair, hair_pigments  # noqa: E402
from nirvis.reconstruct.landmarks import FaceMeshDetector  # noqa: E402
from nirvis.render.hair import STYLES, hair_albedo  # noqa: E402


@pytest.fixture(scope="module")
def astronaut():
    img = skimage_data.astronaut()
    return img, FaceMeshDetector()(img).points


def test_pigments_invert_the_fibre_albedo():
    for eu, ph in ((0.05, 0.1), (0.6, 0.02), (1.8, 0.0)):
        vis = hair_albedo(eu, ph, 850.0)[0].double().numpy()
        got = hair_albedo(*hair_pigments(vis), 850.0)[0].double().numpy()
        assert np.abs(np.log(got) - np.log(vis)).max() < 0.15, (eu, ph, got, vis)


def test_hair_colour_follows_the_photo(astronaut):
    img, pts = astronaut
    unit = np.ones(3)
    hair, report = estimate_hair(img, pts, unit)
    assert hair is not None and hair["style"] in STYLES and hair["style"] != "shaved"
    assert hair["eumelanin"] < 0.4, report                     # she is blond
    dark = img.copy()
    up = (pts[10] - pts[152]) / np.linalg.norm(pts[10] - pts[152])
    top = pts[10] + up * 0.1 * np.linalg.norm(pts[10] - pts[152])
    dark[: int(top[1])] = (40, 26, 16)                          # dark brown above the forehead
    hair_dark, _ = estimate_hair(dark, pts, unit)
    assert hair_dark["eumelanin"] > 1.0 > hair["eumelanin"]


def test_top_of_head_outside_the_photo_gives_no_hair(astronaut):
    img, pts = astronaut
    top = int(pts[10][1])
    cut = np.ascontiguousarray(img[top - 5:])
    hair, report = estimate_hair(cut, pts - [0, top - 5], np.ones(3))
    assert hair is None and "outside" in report["reason"]
