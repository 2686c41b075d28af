"""Index files (shards.index): DALI's per-shard .idx and the wids shard index, read back with the
webdataset and wids libraries themselves; verify checks them; `nirvis index` writes them for
older data sets."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from nirvis.shards.format import ShardWriter
from nirvis.shards.index import (dali_index_path, parse_dali_index, read_member, wds2idx_lines, write_dali_index)
from nirvis.shards.reader import iter_pairs
from shards_helpers import cli, copy_dataset


def _tar(tmp_path, members):
    path = tmp_path / "shard-000000.tar"
    with open(path, "wb") as f:
        w = ShardWriter(f)
        for name, data in members:
            w.add(name, data)
        w.close()
    return path


def test_dali_index_of_a_tar_gives_each_members_data_offset_and_size(tmp_path):
    members = [("a_0.vis.png", b"v" * 700), ("a_0.nir.png", b"n" * 512), ("a_0.json", b"{}"),
               ("b_1.vis.png", b""), ("b_1.json", b"x" * 1025)]
    tar = _tar(tmp_path, members)
    lines = wds2idx_lines(tar)
    assert lines[0] == "v1.2 2"
    assert [len(x.split(" ")) for x in lines[1:]] == [12, 8]
    samples = parse_dali_index(write_dali_index(tar))
    assert [[(ext, name) for ext, _, _, name in s] for s in samples] == [
        [("vis.png", "a_0.vis.png"), ("nir.png", "a_0.nir.png"), ("json", "a_0.json")],
        [("vis.png", "b_1.vis.png"), ("json", "b_1.json")]]
    raw = tar.read_bytes()
    for (name, data), (_, offset, size, _) in zip(members, (m for s in samples for m in s)):
        assert offset % 512 == 0 and size == len(data)
        assert read_member(tar, offset, size) == data
        assert raw[offset - 512:offset - 512 + len(name)] == name.encode()  # the member's header precedes it
    assert dali_index_path(tar).name == "shard-000000.idx"
    assert dali_index_path(tar).read_bytes() == "".join(x + "\n" for x in lines).encode()


def test_dali_index_refuses_what_dali_cannot_read(tmp_path):
    with pytest.raises(ValueError, match="white space"):
        wds2idx_lines(_tar(tmp_path, [("a b.json", b"{}")]))
    bad = tmp_path / "bad.idx"
    for text, message in [("v1.1 1\njson 0 2 a.json\n", "line 1"), ("v1.2 2\njson 0 2 a.json\n", "announces 2"),
                          ("v1.2 1\njson 3 2 a.json\n", "multiple"), ("v1.2 1\njson x 2 a.json\n", "line 2")]:
        bad.write_text(text)
        with pytest.raises(ValueError, match=message) as exc:
            parse_dali_index(bad)
        assert str(bad) in str(exc.value)


slow = pytest.mark.slow  # needs the rendered fixture


@slow
def test_reference_has_index_files_recorded_in_the_manifest(reference):
    manifest = json.loads((reference / "manifest.json").read_text())
    rec = manifest["indexes"]
    assert rec["dali"]["version"] == "v1.2"
    assert [e["name"] for e in rec["dali"]["shards"]] == [f"shards/shard-{j:06d}.idx" for j in range(3)]
    assert rec["wids"]["name"] == "wids-index.json"
    wids_doc = json.loads((reference / "wids-index.json").read_text())
    assert wids_doc["__kind__"] == "wids-shard-index-v1" and wids_doc["wids_version"] == 1
    assert wids_doc["shardlist"] == [{"url": s["name"], "nsamples": s["samples"], "filesize": s["bytes"]}
                                     for s in manifest["shards"]]


@slow
def test_webdataset_library_reads_our_shards(reference):
    import webdataset as wds

    ours = list(iter_pairs(reference, decode=False))
    urls = [str(p) for p in sorted((reference / "shards").glob("shard-*.tar"))]
    theirs = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert [s["__key__"] for s in theirs] == [s.key for s in ours]
    for t, o in zip(theirs, ours):
        assert t["vis.png"] == o.vis and t["nir.png"] == o.nir
        assert json.loads(t["json"]) == o.meta


@slow
def test_wids_random_access_through_our_index(reference, tmp_path):
    import wids

    ours = list(iter_pairs(reference, decode=False))
    moved = copy_dataset(reference, tmp_path / "moved")  # relative urls: the directory can move
    ds = wids.ShardListDataset(str(moved / "wids-index.json"), cache_dir=str(tmp_path / "cache"), transformations=[])
    assert len(ds) == len(ours) == 6
    for i in (4, 0, 5, 3):
        s = ds[i]
        assert s["__key__"] == ours[i].key
        assert s[".vis.png"].read() == ours[i].vis and s[".nir.png"].read() == ours[i].nir
        assert json.loads(s[".json"].read()) == ours[i].meta
    ds.close()


@slow
def test_seek_by_key_with_the_dali_index(reference):
    ours = {s.key: s for s in iter_pairs(reference, decode=False)}
    found = {}
    for tar in sorted((reference / "shards").glob("shard-*.tar")):
        samples = parse_dali_index(dali_index_path(tar))
        with tarfile.open(tar) as tf:
            regular = [m for m in tf.getmembers() if m.isreg()]
        assert len(samples) == len(regular) // 3
        assert [(m.name, m.size) for m in regular] == [(name, size) for s in samples for _, _, size, name in s]
        for parts in samples:
            key = parts[0][3].split(".", 1)[0]
            found[key] = {ext: read_member(tar, off, size) for ext, off, size, _ in parts}
    assert sorted(found) == sorted(ours)
    key = "0000001_0001"
    assert found[key]["vis.png"] == ours[key].vis and found[key]["nir.png"] == ours[key].nir
    assert json.loads(found[key]["json"]) == ours[key].meta


@slow
@pytest.mark.parametrize("damage", ["corrupt-idx", "missing-idx", "corrupt-wids", "stale-idx"])
def test_verify_reports_a_damaged_index_by_name_and_index_repairs_it(reference, tmp_path, capsys, damage):
    out = copy_dataset(reference, tmp_path / "d")
    idx = out / "shards" / "shard-000001.idx"
    if damage == "corrupt-idx":
        idx.write_bytes(idx.read_bytes().replace(b" 512 ", b" 1024 ", 1))
        name = "shard-000001.idx"
    elif damage == "missing-idx":
        idx.unlink()
        name = "shard-000001.idx"
    elif damage == "stale-idx":  # consistent with the manifest, not with the shard
        idx.write_bytes(idx.read_bytes().replace(b" 512 ", b" 1024 ", 1))
        manifest = json.loads((out / "manifest.json").read_text())
        from nirvis.shards.index import file_record

        manifest["indexes"]["dali"]["shards"][1] = file_record(idx, out)
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        name = "shard-000001.idx"
    else:
        (out / "wids-index.json").write_text('{"wids_version": 1, "shardlist": []}\n')
        name = "wids-index.json"
    assert cli(["verify", out, "--no-decode"]) == 1
    err = capsys.readouterr().err
    assert name in err and "FAILED" in err and "nirvis index" in err
    assert cli(["index", out]) == 0
    assert name in capsys.readouterr().out
    assert cli(["verify", out]) == 0
    for rel in ("shards/shard-000001.idx", "wids-index.json"):
        assert (out / rel).read_bytes() == (reference / rel).read_bytes()


@slow
def test_index_writes_the_files_of_a_data_set_rendered_before_them(reference, tmp_path, capsys):
    out = copy_dataset(reference, tmp_path / "old")
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["indexes"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    for p in [*(out / "shards").glob("*.idx"), out / "wids-index.json"]:
        p.unlink()
    assert cli(["verify", out]) == 0
    assert "records no index files" in capsys.readouterr().out
    assert cli(["index", out]) == 0
    assert "manifest.json" in capsys.readouterr().out
    for p in [reference / "manifest.json", reference / "wids-index.json", *(reference / "shards").glob("*.idx")]:
        assert (out / p.relative_to(reference)).read_bytes() == p.read_bytes()
    assert cli(["index", out]) == 0  # again: nothing to do
    assert "wrote nothing" in capsys.readouterr().out


@slow
def test_index_refuses_a_data_set_that_does_not_verify(reference, tmp_path, capsys):
    out = copy_dataset(reference, tmp_path / "bad")
    shard = out / "shards" / "shard-000000.tar"
    data = bytearray(shard.read_bytes())
    data[2000] ^= 1
    shard.write_bytes(bytes(data))
    before = (out / "shards" / "shard-000000.idx").read_bytes()
    assert cli(["index", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nirvis index: error:") and "shard-000000.tar" in err and "does not verify" in err
    assert (out / "shards" / "shard-000000.idx").read_bytes() == before


def test_index_without_a_data_set_is_a_user_error(tmp_path, capsys):
    assert cli(["index", tmp_path / "nothing"]) == 2
    assert "nirvis index: error:" in capsys.readouterr().err


def test_in_memory_tar_and_file_give_the_same_index(tmp_path):
    buf = io.BytesIO()
    w = ShardWriter(buf)
    w.add("k.json", b"{}")
    w.close()
    (tmp_path / "x.tar").write_bytes(buf.getvalue())
    assert wds2idx_lines(tmp_path / "x.tar") == ["v1.2 1", "json 512 2 k.json"]
