"""``export`` never publishes a corrupted, truncated or padded data set, and ``verify`` checks the
shards the readers read (``DIR/shards``), not wherever the manifest points."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from shards_helpers import cli, copy_dataset

pytestmark = pytest.mark.slow  # needs the rendered fixture


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


def _empty_shard(path):
    with tarfile.open(path, "w"):
        pass


def _extra_shard(path):
    shutil.copy(path, path.parent / "shard-000099.tar")


@pytest.mark.parametrize("damage", [_flip_byte, _empty_shard, _extra_shard])
@pytest.mark.parametrize("fmt", ["folders", "insightface-rec"])
def test_export_refuses_a_data_set_that_does_not_verify(reference, tmp_path, capsys, damage, fmt):
    data = copy_dataset(reference, tmp_path / "d")
    damage(data / "shards" / "shard-000001.tar")
    out = tmp_path / "out"
    assert cli(["export", data, "--format", fmt, "--out", out]) == 2
    err = capsys.readouterr().err
    assert "does not verify" in err and "shard-0000" in err and "nirvis verify" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_verify_checks_the_shards_the_readers_read(reference, tmp_path, capsys):
    data = copy_dataset(reference, tmp_path / "d")
    clean = copy_dataset(reference, tmp_path / "clean")
    _flip_byte(data / "shards" / "shard-000001.tar")
    manifest = json.loads((data / "manifest.json").read_text())
    # point the corrupted entry at a clean copy elsewhere, absolute and through ".."
    manifest["shards"][1]["name"] = str(clean / "shards" / "shard-000001.tar")
    manifest["shards"][2]["name"] = "../clean/shards/shard-000002.tar"
    (data / "manifest.json").write_text(json.dumps(manifest))
    assert cli(["verify", data]) == 1
    err = capsys.readouterr().err
    assert "shard entry" in err and "shards are read from" in err and "../clean" in err
    assert cli(["export", data, "--format", "folders", "--out", tmp_path / "out"]) == 2


@pytest.mark.parametrize("config, message", [
    ({"identities": 1e9, "shard_size": 1}, "lists 3 shards, the config plans 2000000000"),
    ({"identities": 1e300}, "the config plans"),
    ({"identities": float("inf")}, "malformed manifest"),
    ({"shard_size": 0}, "malformed manifest"),
])
def test_verify_memory_follows_the_listed_shards_not_the_manifest_numbers(reference, tmp_path, capsys,
                                                                           config, message):
    import resource

    data = copy_dataset(reference, tmp_path / "d")
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["config"].update(config)
    (data / "manifest.json").write_text(json.dumps(manifest))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert cli(["verify", data]) == 1
    assert message in capsys.readouterr().err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000     # kB: no plan list built


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_export_never_replaces_or_writes_into_its_input(reference, tmp_path, capsys, where):
    data = copy_dataset(reference, tmp_path / "d")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    out = {"same": data, "parent": tmp_path, "inside": data / "export"}[where]
    assert cli(["export", data, "--format", "folders", "--out", out, "--force"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and ("is the input" in err or "contains the input" in err or "lies inside" in err)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert cli(["verify", data]) == 0


def test_a_manifest_that_is_not_utf8_json_is_named(tmp_path):
    from nirvis.shards.reader import ManifestError, read_manifest

    (tmp_path / "manifest.json").write_bytes(b'\xff{"a": 1}')
    with pytest.raises(ManifestError, match=r"manifest\.json: not UTF-8 text"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ManifestError, match=r"manifest\.json: expected a JSON object"):
        read_manifest(tmp_path)


def test_export_force_replaces_its_own_export_but_never_a_users_directory(reference, tmp_path, capsys):
    out = tmp_path / "exp"
    assert cli(["export", reference, "--format", "folders", "--out", out]) == 0
    assert cli(["export", reference, "--format", "insightface-rec", "--out", out, "--force"]) == 0
    assert (out / "train.rec").is_file() and not (out / "all_list.txt").exists()   # replaced: it was ours
    (out / "my_notes.txt").write_text("the user's")
    assert cli(["export", reference, "--format", "folders", "--out", out, "--force"]) == 2
    assert "nirvis did not write: my_notes.txt" in capsys.readouterr().err
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "photos" / "a.jpg").write_bytes(b"jpg")
    assert cli(["export", reference, "--format", "folders", "--out", home, "--force"]) == 2
    assert "has no valid .nirvis-output.json" in capsys.readouterr().err
    assert (home / "photos" / "a.jpg").read_bytes() == b"jpg" and (out / "my_notes.txt").exists()
