"""``nirvis import-face`` without ``--landmarks``: the 5- and 68-point landmarks are placed from
renders of the mesh, close to the truth of a head exported as OBJ, and the asset renders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")

from nirvis.cli import main  # noqa: E402
from nirvis.colour import encode_srgb  # noqa: E402
from nirvis.faces import load_asset  # noqa: E402
from nirvis.faces.mesh import HeadMesh, write_obj  # noqa: E402
from nirvis.reconstruct.place_landmarks import landmark_regressor  # noqa: E402
from nirvis.render.prepared_face import procedural_identity_asset  # noqa: E402


def _export(tmp_path, flip: bool = False):
    truth = procedural_identity_asset(5, 1, resolution=256)
    mesh = truth.mesh
    if flip:                                                # the same head facing -z
        mesh = mesh.with_vertices(mesh.vertices * np.array([-1.0, 1.0, -1.0], np.float32))
    write_obj(tmp_path / "head.obj", mesh)
    srgb = encode_srgb(np.clip(truth.maps.diffuse_vis, 0.0, 1.0))
    Image.fromarray(np.rint(srgb * 255).astype(np.uint8)).save(tmp_path / "diffuse.png")
    return truth, mesh


def _errors(asset, truth, mesh) -> dict[str, np.ndarray]:
    v = asset.mesh.vertices.astype(np.float64)
    out = {}
    for name in ("5", "68"):
        got = asset.landmarks[name].positions(v, asset.mesh.faces)
        want = truth.landmarks[name].positions(mesh.vertices.astype(np.float64), mesh.faces)
        out[name] = np.linalg.norm(got - want, axis=1)
    return out


def test_regressor_reproduces_landmarks_of_prior_heads():
    err = landmark_regressor().held_out_error_mm
    assert err["68"]["median"] < 1.0 and err["5"]["median"] < 1.0


@pytest.mark.parametrize("flip", [False, True])
def test_import_face_places_landmarks_that_render(tmp_path, capsys, flip):
    truth, mesh = _export(tmp_path, flip)
    out = tmp_path / "asset"
    code = main(["import-face", str(tmp_path / "head.obj"), "--diffuse", str(tmp_path / "diffuse.png"),
                 "--units", "mm", "--out", str(out)])
    assert code == 0
    said = capsys.readouterr().out
    assert "placed automatically" in said and ("facing -z" in said) == flip
    asset = load_asset(out)
    err = _errors(asset, truth, mesh)
    # measured (seed 5, label 1): 5-point 0.2 / 0.4 mm at the eyes, 1.3-2.5 mm nose and mouth
    assert err["5"][:2].max() < 2.0, err["5"]
    assert np.median(err["5"]) < 3.0 and np.median(err["68"]) < 3.5, (err["5"], np.median(err["68"]))
    meta = json.loads((out / "asset.json").read_text())["metadata"]["landmarks_placed"]
    assert meta["views_used"] >= 3 and meta["mediapipe_points_on_mesh"] > 400
    from nirvis.render.prepared_face import prepare_face
    from nirvis.render.pair import render_batch
    from nirvis.render.sampling import SampleSpace, sample_params

    pair = render_batch([prepare_face(asset)], [sample_params(SampleSpace(), 3)])
    assert pair.vis.shape[1:3] == (112, 112) and pair.vis.float().std() > 5


def test_a_mesh_without_a_face_is_refused_without_output(tmp_path, capsys):
    th, ph = np.meshgrid(np.linspace(0.05, np.pi - 0.05, 24), np.linspace(0, 2 * np.pi, 33), indexing="ij")
    v = (90.0 * np.stack([np.sin(th) * np.sin(ph), np.cos(th), np.sin(th) * np.cos(ph)], -1)).reshape(-1, 3)
    uv = np.stack([ph / (2 * np.pi), 1 - th / np.pi], -1).reshape(-1, 2)
    g = np.arange(24 * 33).reshape(24, 33)
    quads = np.stack([g[:-1, :-1], g[1:, :-1], g[1:, 1:], g[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.int32)
    v, uv = v.astype(np.float32), uv.astype(np.float32)
    write_obj(tmp_path / "ball.obj", HeadMesh(v, faces, uv, faces))
    Image.fromarray(np.full((64, 64, 3), 180, np.uint8)).save(tmp_path / "d.png")
    out = tmp_path / "asset"
    code = main(["import-face", str(tmp_path / "ball.obj"), "--diffuse", str(tmp_path / "d.png"), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "no face" in err and "--landmarks" in err
    assert not out.exists()
