"""verify, preview, export (RecordIO + folders) and the streaming reader, on the tiny data set."""

from __future__ import annotations


import numpy as np
import pytest

from nirvis.shards.export import read_indexed_recordio
from nirvis.shards.reader import count_pairs, iter_identity_groups, iter_pairs
from shards_helpers import cli, copy_dataset

pytestmark = pytest.mark.slow  # needs the rendered fixture


def _pairs(reference):
    return list(iter_pairs(reference, decode=False))


def test_verify_accepts_the_reference(reference, capsys):
    assert cli(["verify", reference]) == 0
    assert "3 shards, 6 pairs" in capsys.readouterr().out


def test_verify_names_a_corrupted_shard(reference, tmp_path, capsys):
    out = copy_dataset(reference, tmp_path / "c")
    shard = out / "shards" / "shard-000002.tar"
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0x01
    shard.write_bytes(bytes(data))
    assert cli(["verify", out]) == 1
    err = capsys.readouterr().err
    assert "shard-000002.tar" in err and "sha256" in err and "FAILED" in err
    assert "shard-000000.tar" not in err


def test_verify_without_manifest_is_a_user_error(reference, tmp_path, capsys):
    out = copy_dataset(reference, tmp_path / "c")
    (out / "manifest.json").unlink()
    assert cli(["verify", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nirvis verify: error:") and "manifest.json" in err


def test_reader_counts_shapes_and_metadata(reference):
    samples = list(iter_pairs(reference))
    assert len(samples) == 6 == count_pairs(reference)
    assert [s.key for s in samples] == [f"{lab:07d}_{i:04d}" for lab in range(3) for i in range(2)]
    for s in samples:
        assert s.vis.shape == (112, 112, 3) and s.vis.dtype == np.uint8
        assert s.nir.shape == (112, 112) and s.nir.dtype == np.uint8
        m = s.meta
        assert (m["label"], m["index"]) == (s.label, s.index)
        assert np.array(m["landmarks"]["vis"]["5"]).shape == (5, 2)
        assert np.array(m["landmarks"]["nir"]["68"]).shape == (68, 2)
        assert m["pairing"] == "shared" and m["renderer"]["version"]
        assert m["renderer"]["backend"] in ("cpu", "gl", "torch")
        assert isinstance(m["accessories"], dict) and m["params"]["seed"] == m["pair_seed"]
        assert set(m["pose"]["vis"]) >= {"yaw_deg", "pitch_deg", "roll_deg"} and m["identity_seed"] is not None
    assert len(list(iter_pairs(reference, rank=1, world_size=2))) == 2  # shard 1 only


def test_sample_json_records_the_identity(reference):
    """Every sample carries its label's identity (sex, age, ancestry, hair, facial hair, ...), the
    same for all pairs of a label and equal to what the procedural source sampled."""
    from nirvis.faces import identity_seed, sample_identity
    from nirvis.render.prepared_face import procedural_identity_asset

    by_label = {}
    for s in iter_pairs(reference, decode=False):
        rec = s.meta["identity"]
        by_label.setdefault(s.label, rec)
        assert rec == by_label[s.label]
    for label, rec in by_label.items():
        ident = sample_identity(identity_seed(5, label))
        assert rec["sex"] == ("male" if ident.gender > 0.5 else "female")
        assert rec["identity"]["age_years"] == round(ident.age_years, 4)
        assert rec["identity"]["race"] == [round(r, 4) for r in ident.race]
        assert "modifiers" not in rec["identity"] and "adiposity" in rec["identity"]["shape"]
        app = rec["appearance"]
        source = procedural_identity_asset(5, label, resolution=16).metadata["appearance"]
        assert app["hair"]["style"] == source["hair"]["style"]
        assert app["facial_hair"] == {k: round(v, 4) if isinstance(v, float) else v
                                      for k, v in source["facial_hair"].items()}
        assert app["melanin"] == round(source["melanin"], 4) and "detail" in app


def test_reader_shuffle_is_deterministic_by_seed(reference):
    def order(seed, epoch=0):
        return [s.key for s in iter_pairs(reference, shuffle_buffer_size=3, seed=seed, epoch=epoch, decode=False)]

    base = [s.key for s in _pairs(reference)]
    assert order(1) == order(1) and sorted(order(1)) == base
    assert any(order(seed) != order(1) for seed in range(2, 8))
    assert any(order(seed) != base for seed in range(1, 8))
    with pytest.raises(ValueError, match="seed"):
        list(iter_pairs(reference, shuffle_buffer_size=2))


def test_identity_groups(reference):
    groups = list(iter_identity_groups(reference, 2, decode=False))
    assert [[s.key for s in g] for g in groups] == [[f"{lab:07d}_0000", f"{lab:07d}_0001"] for lab in range(3)]
    singles = list(iter_identity_groups(reference, 1, shuffle_buffer_size=4, seed=3, decode=False))
    assert sorted(s.key for g in singles for s in g) == [s.key for s in _pairs(reference)]
    assert list(iter_identity_groups(reference, 3, decode=False)) == []
    short = list(iter_identity_groups(reference, 3, decode=False, drop_last=False))
    assert [len(g) for g in short] == [2, 2, 2] and all(len({s.label for s in g}) == 1 for g in short)


def test_identity_groups_join_identities_across_shards(reference, tmp_path):
    # shards of 3 samples split identity 1 across shards 0 and 1
    from nirvis.shards.format import ShardWriter

    src = _pairs(reference)
    d = tmp_path / "odd" / "shards"
    d.mkdir(parents=True)
    for j in range(2):
        with open(d / f"shard-{j:06d}.tar", "wb") as f:
            w = ShardWriter(f)
            for s in src[3 * j:3 * j + 3]:
                w.add_sample(s.key, s.vis, s.nir, s.meta)
            w.close()
    for seed in (None, 0, 1):
        kw = {} if seed is None else {"shuffle_buffer_size": 2, "seed": seed}
        groups = list(iter_identity_groups(tmp_path / "odd", 2, decode=False, **kw))
        assert sorted(tuple(sorted(s.key for s in g)) for g in groups) == [
            (f"{lab:07d}_0000", f"{lab:07d}_0001") for lab in range(3)]


def test_export_insightface_rec_round_trip(reference, tmp_path, capsys):
    out = tmp_path / "rec"
    assert cli(["export", reference, "--format", "insightface-rec", "--out", out]) == 0
    assert (out / "property").read_text().strip() == "3,112,112"
    records = list(read_indexed_recordio(out / "train.rec", out / "train.idx"))
    assert [k for k, _, _ in records] == list(range(len(records)))
    head = records[0][1]
    n = 12
    assert head.flag == 2 and head.label == (n + 1.0, n + 1.0 + 3)
    pairs = _pairs(reference)
    expected = [(float(s.label), s.vis if m == 0 else s.nir, m) for s in pairs for m in (0, 1)]
    images = records[1:n + 1]
    assert [(h.label, body, h.id2) for _, h, body in images] == expected
    assert all(h.flag == 0 and h.id == k for k, h, _ in images)
    ranges = [h.label for _, h, _ in records[n + 1:]]
    assert ranges == [(1.0, 5.0), (5.0, 9.0), (9.0, 13.0)]
    assert cli(["export", reference, "--format", "insightface-rec", "--out", out]) == 2
    assert "already exists" in capsys.readouterr().err


def test_export_folders(reference, tmp_path):
    out = tmp_path / "folders"
    assert cli(["export", reference, "--format", "folders", "--out", out]) == 0
    pairs = _pairs(reference)
    vis_lines = (out / "vis_list.txt").read_text().splitlines()
    nir_lines = (out / "nir_list.txt").read_text().splitlines()
    all_lines = (out / "all_list.txt").read_text().splitlines()
    assert len(vis_lines) == len(nir_lines) == 6 and len(all_lines) == 12
    for s, vl, nl in zip(pairs, vis_lines, nir_lines):
        vp, vlab = vl.split()
        np_, nlab = nl.split()
        assert vp == f"{s.label:07d}/{s.key}_vis.png" and np_.endswith("_nir.png") and int(vlab) == int(nlab) == s.label
        assert (out / vp).read_bytes() == s.vis and (out / np_).read_bytes() == s.nir
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]


def test_preview(reference, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "grid.png"
    assert cli(["preview", reference, "--out", out, "--count", "5"]) == 0
    img = Image.open(out)
    assert img.size[0] > 4 * 2 * 112 and img.size[1] > 2 * 112
    assert "first 5 pairs" in capsys.readouterr().out


def test_pair_dataset_for_dataloader(reference):
    import torch

    from nirvis.shards.reader import PairDataset

    ds = PairDataset(reference, shuffle_buffer_size=4, seed=0, transform=lambda s: (s.label, s.nir.shape))
    got = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0))
    assert sorted(label for label, _ in got) == [0, 0, 1, 1, 2, 2]
    assert all(tuple(shape) == (112, 112) for _, shape in got)
    ds.set_epoch(1)
    assert len(list(ds)) == 6
