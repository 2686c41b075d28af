"""``check_output_apart``: an output is never an input, its parent or a folder inside it."""

from __future__ import annotations

import os

import pytest

from nirvis.atomic import check_output_apart
from nirvis.errors import OutputOverlapsInputError


def test_outputs_apart_from_the_inputs_pass(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data2").mkdir()
    assert check_output_apart(tmp_path / "out", [tmp_path / "data", tmp_path / "data2"]) == tmp_path / "out"
    assert check_output_apart(tmp_path / "data_export", [tmp_path / "data"]).name == "data_export"


@pytest.mark.parametrize("out, message", [("data", "is the input"), (".", "contains the input"),
                                          ("data/sub", "lies inside the input"),
                                          ("data/../data", "is the input")])
def test_overlapping_outputs_are_refused(tmp_path, out, message):
    (tmp_path / "data").mkdir()
    with pytest.raises(OutputOverlapsInputError, match=f"^--run .*: {message}"):
        check_output_apart(tmp_path / out, [tmp_path / "data"], "--run")


def test_a_symlink_to_the_input_is_the_input(tmp_path):
    (tmp_path / "data").mkdir()
    os.symlink(tmp_path / "data", tmp_path / "alias")
    with pytest.raises(OutputOverlapsInputError, match="is the input"):
        check_output_apart(tmp_path / "alias", [tmp_path / "data"])
