"""tools/realism_contact_sheet.py: tile layout of the renders-next-to-real-faces sheet."""

from __future__ import annotations

import numpy as np
import pytest

from tool_helpers import load_tool


@pytest.fixture(scope="module")
def sheet_tool():
    return load_tool("realism_contact_sheet")


def test_contact_sheet_places_rgb_and_grey_tiles_and_leaves_gaps_white(sheet_tool):
    rgb = np.zeros((112, 112, 3), np.uint8)
    rgb[..., 0] = 200
    grey = np.full((112, 112), 7, np.uint8)
    sheet = sheet_tool.contact_sheet([[rgb, rgb], [grey]], columns=2)
    assert sheet.shape == (2 * 116 + 4, 2 * 116 + 4, 3) and sheet.dtype == np.uint8
    assert (sheet[4:116, 120:232] == [200, 0, 0]).all()          # row 0, column 1
    assert (sheet[120:232, 4:116] == 7).all()                     # grey tile repeated to RGB
    assert (sheet[120:232, 120:232] == 255).all() and (sheet[:4] == 255).all()   # missing tile, border
    with pytest.raises(ValueError, match=r"tile \(0, 0\)"):
        sheet_tool.contact_sheet([[np.zeros((64, 64, 3), np.uint8)]], columns=1)
    with pytest.raises(ValueError, match="more than 1 columns"):
        sheet_tool.contact_sheet([[grey, grey]], columns=1)
