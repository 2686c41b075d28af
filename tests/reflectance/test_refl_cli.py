"""``nirvis reflectance`` command line: good and bad inputs, atomic outputs."""

import argparse
import struct
import zlib

import imageio.v3 as iio
import numpy as np
import pytest

from nirvis.errors import run_command
from nirvis.reflectance.cli import register


def _run(argv):
    parser = argparse.ArgumentParser(prog="nirvis")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return run_command(args)


def _skin_image(h=12, w=16, dtype=np.uint8):
    rng = np.random.default_rng(0)
    base = np.array([0.78, 0.62, 0.54]) if dtype == np.uint8 else np.array([0.5, 0.33, 0.24])
    img = np.clip(base + 0.03 * rng.standard_normal((h, w, 3)), 0, 1)
    scale = 255 if dtype == np.uint8 else 65535
    return np.round(img * scale).astype(dtype)


def _write_png16_rgb(path, arr):
    """Minimal 16-bit RGB PNG encoder (imageio's Pillow plugin cannot write 16-bit RGB)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir())


def test_missing_file_fails_cleanly(tmp_path, capsys):
    out = tmp_path / "nir.png"
    rc = _run(["reflectance", "to-nir", str(tmp_path / "nope.png"), "--out", str(out)])
    assert rc != 0
    err = capsys.readouterr().err
    assert "nope.png" in err and "not found" in err
    assert _leftovers(tmp_path) == []


def test_unreadable_file_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"this is not a png")
    rc = _run(["reflectance", "to-nir", str(bad), "--out", str(tmp_path / "nir.png")])
    assert rc != 0
    assert "unreadable image" in capsys.readouterr().err
    assert _leftovers(tmp_path) == ["bad.png"]


def test_mask_of_wrong_shape_fails_cleanly(tmp_path, capsys):
    src = tmp_path / "albedo.png"
    iio.imwrite(src, _skin_image())
    mask = tmp_path / "lips.png"
    iio.imwrite(mask, np.zeros((5, 5), np.uint8))
    rc = _run(["reflectance", "to-nir", str(src), "--out", str(tmp_path / "nir.png"), "--region", f"lips={mask}"])
    assert rc != 0
    assert "mask" in capsys.readouterr().err
    assert _leftovers(tmp_path) == ["albedo.png", "lips.png"]
    rc = _run(["reflectance", "to-nir", str(src), "--out", str(tmp_path / "nir.png"), "--region", "lips"])
    assert rc != 0 and "NAME=MASK" in capsys.readouterr().err


def test_bad_option_values(tmp_path):
    src = tmp_path / "albedo.png"
    iio.imwrite(src, _skin_image())
    assert _run(["reflectance", "to-nir", str(src), "--out", str(tmp_path / "nir.jpg")]) != 0
    with pytest.raises(SystemExit):  # argparse rejects LEDs other than 850/940
        _run(["reflectance", "to-nir", str(src), "--out", str(tmp_path / "nir.png"), "--led", "700"])
    assert _leftovers(tmp_path) == ["albedo.png"]


def test_good_8bit_file_gives_same_size_8bit_output(tmp_path):
    src = tmp_path / "albedo.png"
    iio.imwrite(src, _skin_image(12, 16))
    out = tmp_path / "out" / "nir.png"
    assert _run(["reflectance", "to-nir", str(src), "--out", str(out), "--threads", "1"]) == 0
    nir = iio.imread(out)
    assert nir.shape == (12, 16) and nir.dtype == np.uint8
    # sRGB in, sRGB out: light skin ~0.55-0.6 linear NIR albedo -> ~195-205 encoded.
    assert 170 < nir.mean() < 225
    assert _leftovers(out.parent) == ["nir.png"]


def test_16bit_linear_input_with_regions_and_baselines(tmp_path):
    src = tmp_path / "albedo.png"
    img = _skin_image(10, 8, np.uint16)
    img[:3] = np.round(np.array([0.03, 0.02, 0.015]) * 65535).astype(np.uint16)  # dark brow hair
    _write_png16_rgb(src, img)
    mask = tmp_path / "brows.png"
    m = np.zeros((10, 8), np.uint8)
    m[:3] = 255
    iio.imwrite(mask, m)
    out = tmp_path / "nir.png"
    argv = ["reflectance", "to-nir", str(src), "--out", str(out), "--led", "940", "--region", f"brows={mask}"]
    assert _run(argv) == 0
    nir = iio.imread(out)
    assert nir.shape == (10, 8) and nir.dtype == np.uint16
    # Linear in, linear out: light skin (0.5, 0.33, 0.24) -> ~0.5 at 940 nm; dark brows (G 0.02)
    # become ~0.15-0.3 in the NIR: much lighter than in the VIS, still darker than skin.
    assert 0.4 < nir[5:].mean() / 65535 < 0.65
    assert 0.1 < nir[:3].mean() / 65535 < 0.35
    for method in ("red", "luma"):
        assert _run(["reflectance", "to-nir", str(src), "--out", str(out), "--method", method, "--srgb"]) == 0
        assert iio.imread(out).dtype == np.uint16


def test_plot_command(tmp_path, capsys):
    out = tmp_path / "spectra.png"
    assert _run(["reflectance", "plot", "--out", str(out)]) == 0
    img = iio.imread(out)
    assert img.ndim == 3 and img.shape[0] > 500
    assert _run(["reflectance", "plot", "--out", str(tmp_path / "spectra.svg")]) != 0
