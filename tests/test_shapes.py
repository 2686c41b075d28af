"""nirvis.shapes.check_shape: symbolic dimensions, one typed error naming expected vs actual, and a
switch to turn the checks off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nirvis.errors import NirvisError
from nirvis.shapes import ENV_VAR, ShapeError, check_shape


def test_binds_named_sizes_across_calls():
    sizes = check_shape(torch.zeros(2, 8, 6, 3), ["B", "H", "W", 3], "images")
    assert sizes == {"B": 2, "H": 8, "W": 6}
    assert check_shape(np.zeros((2, 5, 2)), ["B", 5, 2], "landmarks5", sizes) is sizes
    assert sizes == {"B": 2, "H": 8, "W": 6}
    assert check_shape(np.zeros((4, 4)), ["N", "N"], "square") == {"N": 4}


@pytest.mark.parametrize("x, dims, sizes, message", [
    (np.zeros((2, 68, 2)), ["B", 5, 2], {"B": 2},
     r"landmarks: expected shape \[B, 5, 2\] \(with B=2\), got \[2, 68, 2\]"),
    (np.zeros((3, 5, 2)), ["B", 5, 2], {"B": 2}, r"expected shape \[B, 5, 2\] \(with B=2\), got \[3, 5, 2\]"),
    (np.zeros((5, 2)), ["B", 5, 2], None, r"expected shape \[B, 5, 2\], got \[5, 2\]"),
    (np.zeros((4, 3)), ["N", "N"], None, r"expected shape \[N, N\], got \[4, 3\]"),
])
def test_mismatch_names_expected_and_actual(x, dims, sizes, message):
    before = dict(sizes or {})
    with pytest.raises(ShapeError, match=message) as err:
        check_shape(x, dims, "landmarks", sizes)
    e = err.value
    assert isinstance(e, ValueError) and isinstance(e, NirvisError)
    assert e.name == "landmarks" and e.expected == list(dims) and e.actual == list(x.shape)
    assert (sizes or {}) == before  # a failed check binds nothing


def test_kind_and_non_arrays():
    with pytest.raises(ShapeError, match=r"rotation: expected a Tensor of shape \[B, 3, 3\], got ndarray") as err:
        check_shape(np.zeros((1, 3, 3)), ["B", 3, 3], "rotation", kind=torch.Tensor)
    assert err.value.actual is None
    with pytest.raises(ShapeError, match=r"x: expected an array of shape \[N\], got list"):
        check_shape([1, 2], ["N"], "x")
    assert check_shape(torch.zeros(1, 3, 3), ["B", 3, 3], "r", kind=(torch.Tensor, np.ndarray)) == {"B": 1}


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "0")
    assert check_shape(np.zeros((3, 5, 2)), ["B", 5, 2], "lm", {"B": 2}) == {"B": 2}  # no raise
    assert check_shape(np.zeros((7, 4)), ["N", 2], "p") == {"N": 7}  # still binds what it can read
    assert check_shape([1], ["N"], "x", kind=torch.Tensor) == {}
    monkeypatch.setenv(ENV_VAR, "1")
    with pytest.raises(ShapeError):
        check_shape(np.zeros((7, 4)), ["N", 2], "p")


def test_render_functions_report_through_it():
    from nirvis.render.camera import model_view_projection, PerspectiveCamera
    from nirvis.render.interpolate import interpolate

    with pytest.raises(ShapeError, match=r"translation_mm: expected shape \[B, 3\] \(with B=2\), got \[3, 3\]"):
        model_view_projection(PerspectiveCamera(), torch.eye(3).repeat(2, 1, 1), torch.zeros(3, 3))
    with pytest.raises(ShapeError, match=r"rast: expected shape \[B, H, W, 4\], got \[1, 2, 2, 3\]"):
        interpolate(torch.zeros(3, 1), torch.zeros(1, 2, 2, 3), torch.tensor([[0, 1, 2]]))
