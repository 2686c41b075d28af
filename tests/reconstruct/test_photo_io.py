"""Photo reading reports bad files instead of raising, and keeps orientation and focal length."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nirvis.reconstruct.photo_io import MAX_SIDE, list_photos, read_photo


def _colour_image(w: int = 64, h: int = 48) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 4 % 256, y * 5 % 256, (x + y) * 3 % 256], -1).astype(np.uint8)
    return Image.fromarray(rgb)


def test_reads_colour_photo_with_exif_orientation_and_focal(tmp_path):
    img = _colour_image(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6                      # rotate 90 deg clockwise for display
    exif.get_ifd(0x8769)[0xA405] = 28     # FocalLengthIn35mmFilm
    path = tmp_path / "p.jpg"
    img.save(path, exif=exif, quality=95)
    photo = read_photo(path)
    assert photo.status == "ok", photo.reason
    assert photo.rgb.shape == (64, 48, 3)            # orientation applied: portrait
    assert photo.focal_35mm == 28.0
    assert len(photo.sha256) == 64


@pytest.mark.parametrize("case", ["text", "truncated", "empty"])
def test_unreadable_files_are_reported(tmp_path, case):
    path = tmp_path / "bad.jpg"
    if case == "text":
        path.write_text("not an image\n")
    elif case == "truncated":
        buf = io.BytesIO()
        _colour_image(256, 256).save(buf, format="JPEG")
        path.write_bytes(buf.getvalue()[:300])
    else:
        path.write_bytes(b"")
    photo = read_photo(path)
    assert photo.status == "unreadable" and photo.rgb is None
    assert photo.reason


def test_greyscale_inputs_are_reported(tmp_path):
    grey = np.asarray(_colour_image().convert("L"))
    Image.fromarray(grey).save(tmp_path / "l.png")
    Image.fromarray(np.repeat(grey[..., None], 3, -1)).save(tmp_path / "rgb_grey.png")
    for name in ("l.png", "rgb_grey.png"):
        photo = read_photo(tmp_path / name)
        assert photo.status == "greyscale", (name, photo.status)


def test_large_photos_are_reduced(tmp_path):
    _colour_image(MAX_SIDE * 2, 100).save(tmp_path / "wide.png")
    photo = read_photo(tmp_path / "wide.png")
    assert photo.status == "ok" and max(photo.rgb.shape[:2]) == MAX_SIDE and photo.scale == 0.5


def test_list_photos_orders_and_groups(tmp_path):
    for rel in ("b/2.jpg", "b/1.png", "a/x.jpg", "loose.jpg", "notes.txt"):
        p = tmp_path / "in" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    flat = list_photos([str(tmp_path / "in")])
    assert [n for n, _ in flat] == ["x", "1", "2", "loose"]
    grouped = list_photos([str(tmp_path / "in")], group_by_folder=True)
    assert [(n, len(f)) for n, f in grouped] == [("loose", 1), ("a", 1), ("b", 2)]
    with pytest.raises(FileNotFoundError):
        list_photos([str(tmp_path / "missing")])
