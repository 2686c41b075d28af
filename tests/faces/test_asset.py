"""FaceAsset format: exact round trips, OBJ reading, external import, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from nirvis.colour import decode_srgb
from nirvis.faces import (FaceAsset, FaceDataError, ReflectanceMaps, load_asset, read_image, read_obj, sample_identity,
                          save_asset)
from nirvis.faces.importer import import_reconstruction
from nirvis.faces.procedural import procedural_asset

# a unit quad split in two, plus a third triangle: small, UV-mapped, written by the tests
QUAD_OBJ = """# test mesh
v 0 0 0
v 0.1 0 0
v 0.1 0.1 0
v 0 0.1 0.05
vt 0 0
vt 1 0
vt 1 1
vt 0 1
g skin
f 1/1 2/2 3/3 4/4
g eyeball
f -4/-4 -2/-2 -1/-1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def write_png(path: Path, img: np.ndarray) -> Path:
    if img.ndim == 3:
        img = img[..., ::-1]
    assert cv2.imwrite(str(path), np.ascontiguousarray(img))
    return path


@pytest.fixture(scope="module")
def asset() -> FaceAsset:
    base = procedural_asset(sample_identity(11), resolution=128)
    rng = np.random.default_rng(0)
    maps = ReflectanceMaps(
        diffuse_vis=rng.random((128, 128, 3)), specular_vis=rng.random((128, 128)), roughness=rng.random((128, 128)),
        normal=rng.normal(size=(128, 128, 3)).clip(-1, 1), diffuse_nir=rng.random((128, 128)),
        specular_nir=rng.random((128, 128)), regions=dict(base.maps.regions))
    return base.replace(maps=maps)


def test_save_load_round_trips_exactly(tmp_path, asset):
    out = save_asset(asset, tmp_path / "a")
    back = load_asset(out)
    for name in ("vertices", "faces", "uvs", "uv_faces", "face_parts"):
        assert np.array_equal(getattr(asset.mesh, name), getattr(back.mesh, name)), name
    for name in ("diffuse_vis", "specular_vis", "roughness", "normal", "diffuse_nir", "specular_nir"):
        assert np.array_equal(getattr(asset.maps, name), getattr(back.maps, name)), name
    assert asset.maps.regions.keys() == back.maps.regions.keys()
    assert all(np.array_equal(asset.maps.regions[k], back.maps.regions[k]) for k in asset.maps.regions)
    for k in asset.landmarks:
        assert np.array_equal(asset.landmark_positions(k), back.landmark_positions(k))
    assert back.metadata == asset.metadata
    # and a second save writes the same bytes
    out2 = save_asset(back, tmp_path / "b")
    for f in sorted(p.name for p in out.iterdir()):
        assert (out / f).read_bytes() == (out2 / f).read_bytes(), f


def test_save_refuses_to_overwrite_and_leaves_no_temp(tmp_path, asset):
    save_asset(asset, tmp_path / "a")
    with pytest.raises(FileExistsError):
        save_asset(asset, tmp_path / "a")
    save_asset(asset, tmp_path / "a", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_obj_reader_triangulates_groups_and_negative_indices(tmp_path):
    mesh, _ = read_obj(write(tmp_path / "m.obj", QUAD_OBJ))
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3]]
    assert mesh.face_parts.tolist() == [0, 0, 3]
    assert mesh.vertices.dtype == np.float32 and mesh.uvs.shape == (4, 2)


@pytest.mark.parametrize("text, message", [
    (QUAD_OBJ.replace("vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n", "").replace("/-4", "").replace("/-2", "").replace("/-1", "")
     .replace("/1", "").replace("/2", "").replace("/3", "").replace("/4", ""), "no UV"),
    (QUAD_OBJ.replace("v 0.1 0 0", "v nan 0 0"), "NaN or infinite"),
    (QUAD_OBJ.replace("v 0.1 0 0", "v 1e40 0 0"), "NaN or infinite"),
    (QUAD_OBJ.replace("f 1/1 2/2 3/3 4/4", "f 1/1 2/2 9/3"), "indices must lie in"),
    (QUAD_OBJ.replace("f 1/1 2/2 3/3 4/4", "f 1/1 2/2 3/7"), "UV indices must lie in"),
    (QUAD_OBJ.replace("v 0.1 0.1 0", "v 0.1 zero 0"), ":4: malformed 'v' line"),
    ("# nothing\n", "no faces"),
])
def test_obj_reader_rejects_bad_meshes_clearly(tmp_path, text, message):
    path = write(tmp_path / "bad.obj", text)
    with pytest.raises(FaceDataError, match=message) as err:
        read_obj(path)
    assert "bad.obj" in str(err.value)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(FaceDataError, match="nope.obj: mesh file not found"):
        read_obj(tmp_path / "nope.obj")
    with pytest.raises(FaceDataError, match="gone.png: image file not found"):
        read_image(tmp_path / "gone.png", 3)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(FaceDataError, match="junk.png: unreadable image"):
        read_image(junk, 3)
    with pytest.raises(FaceDataError, match="asset.json: not found"):
        load_asset(tmp_path)


def test_load_rejects_bad_asset_json(tmp_path, asset):
    out = save_asset(asset, tmp_path / "a")
    doc = json.loads((out / "asset.json").read_text())
    (out / "asset.json").write_text(json.dumps({**doc, "format": "something-else"}))
    with pytest.raises(FaceDataError, match="field 'format'"):
        load_asset(out)
    (out / "asset.json").write_text(json.dumps({**doc, "maps": {"specular_vis": "specular_vis.png"}}))
    with pytest.raises(FaceDataError, match="lacks required map 'diffuse_vis'"):
        load_asset(out)
    (out / "asset.json").write_text(json.dumps(doc))
    (out / "roughness.png").unlink()
    with pytest.raises(FaceDataError, match="roughness.png: image file not found"):
        load_asset(out)


def test_maps_validate_shapes_and_values():
    with pytest.raises(FaceDataError, match="roughness: expected shape"):
        ReflectanceMaps(np.zeros((8, 8, 3)), np.zeros((8, 8)), np.zeros((4, 4)))
    with pytest.raises(FaceDataError, match="specular_vis: contains NaN"):
        ReflectanceMaps(np.zeros((8, 8, 3)), np.full((8, 8), np.nan), np.zeros((8, 8)))


def _reconstruction(tmp_path: Path):
    """An AvatarMe-style delivery: OBJ in metres with UVs, 8-bit sRGB diffuse, specular, normal."""
    obj = write(tmp_path / "head.obj", QUAD_OBJ)
    diffuse = np.zeros((32, 32, 3), np.uint8)
    diffuse[..., 0], diffuse[..., 1], diffuse[..., 2] = 200, 150, 100
    write_png(tmp_path / "diffuse.png", diffuse)
    write_png(tmp_path / "spec.png", np.full((16, 16), 60, np.uint8))
    normal = np.zeros((32, 32, 3), np.uint8)
    normal[...] = (128, 128, 255)
    write_png(tmp_path / "normal.png", normal)
    return obj


def test_import_reconstruction(tmp_path):
    obj = _reconstruction(tmp_path)
    (tmp_path / "lm.json").write_text(json.dumps({"5": [[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0], [0, 0.1, 0.05],
                                                         [0.05, 0.0, 0.0]]}))
    asset = import_reconstruction(obj, tmp_path / "diffuse.png", specular_path=tmp_path / "spec.png",
                                  normal_path=tmp_path / "normal.png", landmarks_path=tmp_path / "lm.json")
    assert asset.metadata["units"] == "m" and asset.metadata["units_guessed"]
    assert asset.mesh.vertices.max() == pytest.approx(100.0)  # 0.1 m -> 100 mm
    expected = decode_srgb(np.array([200, 150, 100]) / 255.0)
    np.testing.assert_allclose(asset.maps.diffuse_vis[5, 5], expected, atol=1e-4)
    assert asset.maps.resolution == (32, 32)  # specular resampled to the diffuse size
    np.testing.assert_allclose(asset.maps.specular_vis, 60 / 255, atol=1e-3)
    np.testing.assert_allclose(asset.maps.normal[..., 2], 1.0, atol=1e-3)
    np.testing.assert_allclose(asset.landmark_positions("5")[2], [100, 100, 0], atol=1e-4)
    # round trip through the asset format
    back = load_asset(save_asset(asset, tmp_path / "asset"))
    assert np.array_equal(back.maps.diffuse_vis, asset.maps.diffuse_vis)


def test_import_errors_name_the_file(tmp_path):
    obj = _reconstruction(tmp_path)
    with pytest.raises(FaceDataError, match="missing.png: image file not found"):
        import_reconstruction(obj, tmp_path / "missing.png")
    (tmp_path / "lm.json").write_text(json.dumps({"5": [[0, 0, 0]]}))
    with pytest.raises(FaceDataError, match="lm.json: field '5' must be a list of 5"):
        import_reconstruction(obj, tmp_path / "diffuse.png", landmarks_path=tmp_path / "lm.json")
    with pytest.raises(FaceDataError, match="units"):
        import_reconstruction(obj, tmp_path / "diffuse.png", units="furlong")


def test_import_refuses_a_one_pixel_texture_and_a_zero_resolution(tmp_path):
    obj = _reconstruction(tmp_path)
    write_png(tmp_path / "dot.png", np.full((1, 1, 3), 128, np.uint8))
    with pytest.raises(FaceDataError, match=r"dot\.png: a 1x1 texture; textures must be at least 16x16"):
        import_reconstruction(obj, tmp_path / "dot.png")
    with pytest.raises(FaceDataError, match=r"dot\.png: a 1x1 texture"):
        import_reconstruction(obj, tmp_path / "diffuse.png", roughness_path=tmp_path / "dot.png")
    for bad in (0, -4, 100000):
        with pytest.raises(FaceDataError, match=r"resolution: must lie in \[16, 8192\]"):
            import_reconstruction(obj, tmp_path / "diffuse.png", resolution=bad)
