"""tools/real_face_cutouts.py: one centred cut-out per face, the realism report's faces only."""

from __future__ import annotations

import numpy as np
import pytest

from tool_helpers import load_tool

pytest.importorskip("dlib")
pytest.importorskip("skimage")


@pytest.fixture(scope="module")
def tool():
    return load_tool("real_face_cutouts")


def test_each_face_gets_one_centred_cut_out_and_folders_are_kept(tool, tmp_path):
    from PIL import Image
    from skimage import data

    from nirvis.evaluate.realism import FacePipeline

    photos, out = tmp_path / "photos", tmp_path / "out"
    (photos / "person").mkdir(parents=True)
    Image.fromarray(data.astronaut()).save(photos / "astro.png")
    Image.fromarray(data.astronaut()).save(photos / "person" / "astro.jpg")
    Image.fromarray(np.full((300, 300, 3), 128, np.uint8)).save(photos / "blank.png")   # no face
    assert tool.main([str(photos), "--out", str(out)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["astro_0.png", "person/astro_0.png"]
    cut = np.asarray(Image.open(out / "astro_0.png"))
    assert cut.shape == (512, 512, 3)
    (x0, y0, x1, y1), _ = FacePipeline().detect(cut, 0)[0]
    assert abs((x0 + x1) / 2 - 256) < 40 and abs((y0 + y1) / 2 - 256) < 40     # the face is centred
    assert 512 / 3.2 < x1 - x0 < 512 / 1.8                                       # at 2.4 x its box


def test_bad_input_is_one_clear_error_and_publishes_nothing(tool, tmp_path, capsys):
    out = tmp_path / "out"
    assert tool.main([str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope: not a directory" in capsys.readouterr().err and not out.exists()
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"not a png")
    assert tool.main([str(photos), "--out", str(out)]) == 2
    assert "a.png: cannot read the photo" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]          # no output, no temp folder
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert tool.main([str(photos), "--out", str(tmp_path / "full")]) == 2
    assert "full: exists and is not an empty folder" in capsys.readouterr().err
