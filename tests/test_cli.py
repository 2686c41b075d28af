"""The nirvis command line, run as a user would (in-process through main())."""

from __future__ import annotations

import json

import pytest

from nirvis.cli import main


def test_identities_writes_assets_index_and_preview(tmp_path, capsys):
    out, preview = tmp_path / "ids", tmp_path / "grid.png"
    assert main(["identities", "--count", "3", "--seed", "1", "--out", str(out), "--preview", str(preview),
                 "--resolution", "128", "--quiet"]) == 0
    index = json.loads((out / "identities.json").read_text())
    assert [e["label"] for e in index["identities"]] == [0, 1, 2]
    assert all((out / e["dir"] / "asset.json").is_file() for e in index["identities"])
    assert preview.stat().st_size > 1000
    assert "wrote 3 face assets" in capsys.readouterr().out
    # nothing else lies next to the output (no temporary directories left behind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png", "ids"]


def test_identities_is_deterministic_and_refuses_to_overwrite(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["identities", "--count", "2", "--seed", "7", "--out", str(out), "--resolution", "128",
                     "--quiet"]) == 0
    for label in ("0000000", "0000001"):
        for f in ("mesh.obj", "asset.json", "diffuse_vis.png"):
            assert (a / label / f).read_bytes() == (b / label / f).read_bytes()
    assert main(["identities", "--count", "2", "--seed", "7", "--out", str(a), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["identities", "--count", "1", "--seed", "8", "--out", str(a), "--resolution", "128",
                 "--force", "--quiet"]) == 0
    assert json.loads((a / "identities.json").read_text())["count"] == 1


@pytest.mark.parametrize("args, message", [
    (["--count", "0"], "--count must lie in [1, 10000000]"),
    (["--count", "10000001"], "--count must lie in [1, 10000000]"),
    (["--count", "2", "--seed", "-3"], "--seed must be >= 0"),
    (["--count", "2", "--resolution", "300"], "--resolution must be one of"),
])
def test_identities_bad_arguments(tmp_path, capsys, args, message):
    out = tmp_path / "x"
    assert main(["identities", *args, "--out", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_import_face_bad_input_exits_nonzero_without_output(tmp_path, capsys):
    out = tmp_path / "asset"
    (tmp_path / "m.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "d.png").write_bytes(b"not an image")
    assert main(["import-face", str(tmp_path / "m.obj"), "--diffuse", str(tmp_path / "d.png"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "m.obj" in err and "no UV" in err
    assert not out.exists()


def test_identities_after_a_killed_run_leaves_no_partial_directory(tmp_path, capsys):
    out = tmp_path / "ids"
    stale = tmp_path / ".ids.k3j9x2.partial"              # what `kill -9` during a run leaves
    (stale / "0000000").mkdir(parents=True)
    assert main(["identities", "--count", "1", "--out", str(out), "--resolution", "128", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids"]
