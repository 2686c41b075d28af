"""``nirvis reconstruct`` on real files: every failure case is reported (not raised) next to the
photos that work, the exit code says so, and reruns resume with the same bytes (also after kill -9)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("mediapipe")

from nirvis.reconstruct.batch import ReconstructConfig, ReconstructError, reconstruct_dataset  # noqa: E402
from nirvis.reconstruct.cli import main as reconstruct_main  # noqa: E402

CFG = ReconstructConfig(texture_resolution=128)


def _save(path: Path, rgb: np.ndarray) -> str:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return str(path)


def _profile_render(path: Path, yaw: float = 75.0) -> str:
    """A procedural head rendered as a raw photo, turned ``yaw`` degrees."""
    from nirvis.render.pair import render_batch
    from nirvis.render.prepared_face import prepare_face, procedural_identity_asset
    from nirvis.render.sampling import SampleSpace, sample_params

    face = prepare_face(procedural_identity_asset(3, 1, resolution=128))
    space = SampleSpace(raw_resolution=384, glasses_probability=0.0, headwear_probability=0.0,
                        expression_probability=0.0, pitch_deg=(0.0, 0.0), roll_deg=(0.0, 0.0))
    p = sample_params(space, 5)
    v = dataclasses.replace(p.vis_view, yaw_deg=yaw)
    p = dataclasses.replace(p, vis_view=v, nir_view=v)
    return _save(path, render_batch([face], [p], align=False).vis[0].numpy())


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("photos")
    astro = skimage_data.astronaut()
    _save(d / "a_astronaut.png", astro)
    face = astro[20:260, 110:350]
    group = np.full((480, 640, 3), 200, np.uint8)
    group[240:480, 400:640] = face
    group[20:200, 20:200] = cv2.resize(face, (180, 180), interpolation=cv2.INTER_AREA)
    _save(d / "b_group.png", group)
    _save(d / "c_grey.png", cv2.cvtColor(astro, cv2.COLOR_RGB2GRAY))
    _save(d / "d_tiny.png", cv2.resize(astro, (64, 64), interpolation=cv2.INTER_AREA))
    _save(d / "e_coffee.png", skimage_data.coffee())                 # a real photo without a face
    (d / "f_broken.jpg").write_bytes(b"not a JPEG at all\n")
    _profile_render(d / "g_profile.png")
    return d


def _without_timings(report: dict) -> dict:
    report = {k: v for k, v in report.items() if not k.startswith("seconds")}
    report["photos"] = [{k: v for k, v in p.items() if k != "seconds"} for p in report["photos"]]
    return report


def _tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file: assets and index byte for byte, reports without their timings
    (and summary.json, which averages them, left out)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name == "summary.json":
            continue
        data = p.read_bytes()
        if p.parent.name == "reports":
            data = json.dumps(_without_timings(json.loads(data)), sort_keys=True).encode()
        out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def test_every_failure_case_is_reported_and_the_rest_reconstructed(photos, tmp_path):
    out = tmp_path / "assets"
    code = reconstruct_main(["reconstruct", str(photos), "--out", str(out), "--resolution", "128", "--quiet"])
    assert code == 1                                                  # some photos could not be used
    index = json.loads((out / "index.json").read_text())
    status = {e["name"]: e["status"] for e in index["identities"]}
    photo_status = {e["name"]: e["photos"][0]["status"] for e in index["identities"]}
    assert photo_status == {"a_astronaut": "ok", "b_group": "ok", "c_grey": "greyscale", "d_tiny": "too_small",
                            "e_coffee": "no_face", "f_broken": "unreadable", "g_profile": "extreme_pose"}
    assert [e["label"] for e in index["identities"] if status[e["name"]] == "ok"] == [0, 1]
    assert (out / "0000000-a_astronaut" / "asset.json").is_file()
    meta = json.loads((out / "0000000-a_astronaut" / "asset.json").read_text())["metadata"]
    assert meta["source"] == "reconstruct" and meta["appearance"]["hair"]["style"] != "shaved"
    assert not (out / "0000002-c_grey").exists()
    group = json.loads((out / "reports" / "0000001-b_group.json").read_text())["photos"][0]
    assert group["n_faces"] == 2 and "several_faces" in group["flags"]
    for name in ("c_grey", "d_tiny", "e_coffee", "f_broken", "g_profile"):
        k = sorted(status).index(name)
        entry = json.loads((out / "reports" / f"{k:07d}-{name}.json").read_text())["photos"][0]
        assert entry["reason"], name
    ok = json.loads((out / "reports" / "0000000-a_astronaut.json").read_text())["photos"][0]
    assert ok["error_iod"] < 0.03 and 0.5 < ok["visible_texture_fraction"] <= 1.0
    assert {"read", "landmarks", "fit", "texture", "total"} <= set(ok["seconds"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["assets"] == 2 and summary["photo_status"]["ok"] == 2 and sum(summary["photo_status"].values()) == 7


def test_rerun_resumes_with_the_same_bytes(photos, tmp_path):
    out = tmp_path / "assets"
    files = [str(photos / "a_astronaut.png"), str(photos / "e_coffee.png")]
    first = reconstruct_dataset(files, out, CFG, progress=False)
    assert first["processed_this_run"] == 2
    before = _tree_digest(out)
    again = reconstruct_dataset(files, out, CFG, progress=False)
    assert again["processed_this_run"] == 0 and _tree_digest(out) == before
    (out / "reports" / "0000000-a_astronaut.json").unlink()          # as if killed before the report
    third = reconstruct_dataset(files, out, CFG, progress=False)
    assert third["processed_this_run"] == 1 and _tree_digest(out) == before


def test_bad_inputs_are_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReconstructError, match="no photos"):
        reconstruct_dataset([str(tmp_path / "empty")], tmp_path / "out", CFG, progress=False)
    with pytest.raises(ReconstructError, match="missing.png"):
        reconstruct_dataset([str(tmp_path / "missing.png")], tmp_path / "out", CFG, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_kill_9_then_rerun_gives_the_bytes_of_a_clean_run(photos, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    astro = cv2.imread(str(photos / "a_astronaut.png"))
    for k in range(4):                                                # four different crops: four identities
        cv2.imwrite(str(d / f"p{k}.png"), astro[k * 8:k * 8 + 440, k * 10:k * 10 + 440])
    clean = tmp_path / "clean"
    assert reconstruct_main(["reconstruct", str(d), "--out", str(clean), "--resolution", "128", "--quiet"]) == 0
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "nirvis.reconstruct.cli", "reconstruct", str(d), "--out", str(out),
           "--resolution", "128", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "reports").glob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list((out / "reports").glob("*.json"))) < 4           # killed part-way
    assert not (out / "index.json").exists()
    assert reconstruct_main(["reconstruct", str(d), "--out", str(out), "--resolution", "128", "--quiet"]) == 0
    assert _tree_digest(out) == _tree_digest(clean)


@pytest.mark.slow
def test_render_dataset_renders_the_reconstructed_identities(photos, tmp_path):
    from nirvis.cli import main as nirvis_main
    from nirvis.shards.reader import iter_pairs

    out = tmp_path / "assets"
    files = [str(photos / "a_astronaut.png"), str(photos / "e_coffee.png"), str(photos / "b_group.png")]
    reconstruct_dataset(files, out, CFG, progress=False)
    index = json.loads((out / "index.json").read_text())
    ds = tmp_path / "ds"
    assert nirvis_main(["render-dataset", "--out", str(ds), "--identity-source", str(out), "--identities", "2",
                        "--images-per-identity", "1", "--shard-size", "4", "--quiet"]) == 0
    samples = list(iter_pairs(ds))
    assert [s.label for s in samples] == [0, 1]                      # index order, failed photos left out
    assert [e["label"] for e in index["identities"] if "label" in e] == [0, 1]
    assert all(s.vis.shape == (112, 112, 3) and s.vis.std() > 5 and s.nir.std() > 2 for s in samples)
    source = json.loads((ds / "manifest.json").read_text())["identity_source"]
    assert source["kind"] == "assets" and source["path"] == str(out.resolve())


def test_an_asset_folder_inside_the_photo_folder_is_refused(tmp_path):
    from nirvis.errors import OutputOverlapsInputError
    from nirvis.reconstruct.batch import reconstruct_dataset

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"")
    with pytest.raises(OutputOverlapsInputError, match="lies inside the input"):
        reconstruct_dataset([str(photos)], photos / "assets", progress=False)
    assert not (photos / "assets").exists()
