"""A small file that declares a huge image is refused from its header, with the file and size
named, by every reader of user images (photos, textures, benchmark images, shard PNGs)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from nirvis.image_limits import DEFAULT_MAX_PIXELS, ImageTooLargeError, check_image_size


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of side x side black pixels: ~50 kB that decodes to side^2 bytes."""
    row = b"\x00" + bytes((side + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(bomb_png())
    return path


def test_the_bomb_is_small_and_declares_400_megapixels(bomb):
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: image of 400000000 pixels exceeds the limit"):
        check_image_size(bomb)
    medium = bomb_png(12000)                          # above our limit, below Pillow's own
    with pytest.raises(ImageTooLargeError, match=r"m\.png: image of 12000 x 12000 pixels \(144000000\)"):
        check_image_size(medium, "m.png")
    assert check_image_size(medium, max_pixels=144_000_000) == (12000, 12000)


def test_the_limit_follows_the_environment(bomb, monkeypatch):
    small = bomb_png(64)
    assert check_image_size(small, "small.png") == (64, 64)
    monkeypatch.setenv("NIRVIS_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(ImageTooLargeError, match="small.png: image of 64 x 64"):
        check_image_size(small, "small.png")
    monkeypatch.setenv("NIRVIS_MAX_IMAGE_PIXELS", "lots")
    with pytest.raises(Exception, match="NIRVIS_MAX_IMAGE_PIXELS: expected a positive integer"):
        check_image_size(small, "small.png")
    assert DEFAULT_MAX_PIXELS >= 50_000_000          # camera photos pass


def test_unparsable_headers_are_left_to_the_decoder():
    assert check_image_size(b"not an image") is None


def test_import_face_refuses_a_bomb_texture(bomb, tmp_path, capsys):
    from nirvis.cli import main
    from nirvis.faces.head_model import load_head_model
    from nirvis.faces.mesh import write_obj

    write_obj(tmp_path / "head.obj", load_head_model().template)
    out = tmp_path / "asset"
    assert main(["import-face", str(tmp_path / "head.obj"), "--diffuse", str(bomb), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bomb.png" in err and "400000000 pixels" in err
    assert not out.exists()


def test_reconstruct_reports_a_bomb_photo_as_unreadable(bomb):
    from nirvis.reconstruct.photo_io import read_photo

    photo = read_photo(bomb)
    assert photo.status == "unreadable" and "400000000 pixels" in photo.reason


def test_benchmark_and_shard_readers_refuse_a_bomb(bomb):
    from nirvis.evaluate.benchmarks.base import read_image_file
    from nirvis.shards.format import decode_png

    with pytest.raises(ImageTooLargeError, match="bomb.png"):
        read_image_file(str(bomb))
    with pytest.raises(ValueError, match="400000000 pixels"):
        decode_png(bomb.read_bytes(), 1)
    assert decode_png(bomb_png(16), 1).shape == (16, 16) and decode_png(bomb_png(16), 1).dtype == np.uint8
