"""Photometric refinement keeps the landmark fit's quality and moves the shape towards the truth
on a rendered identity (renders of our own heads: the truth is known)."""

from __future__ import annotations

import pytest

pytest.importorskip("mediapipe")

from nirvis.reconstruct.batch import ReconstructConfig  # noqa: E402
from nirvis.reconstruct.bench import bench_reconstruct  # noqa: E402


def test_refinement_does_not_degrade_shape_or_landmarks():
    base = bench_reconstruct(count=2, lightings=1, resolution=384, texture_resolution=256, progress=False,
                             config=ReconstructConfig(texture_resolution=256))
    ref = bench_reconstruct(count=2, lightings=1, resolution=384, texture_resolution=256, progress=False,
                            config=ReconstructConfig(texture_resolution=256, refine=True))
    assert ref["failed_photos"] == 0 and "refine" in ref["seconds_per_photo"]
    assert "refine" not in base["seconds_per_photo"]
    assert ref["shape_error_median_mm"]["mean"] < base["shape_error_median_mm"]["mean"] + 0.1
    assert ref["shape_error_median_mm"]["mean"] < ref["shape_error_median_mm_of_the_mean_head"]["mean"] + 0.3
