"""render-dataset --encoding png|jpeg|webp: member names, deterministic bytes, decoding within the
stated tolerance of the lossless (PNG) pixels, and every reader, verify, the index files and the
exporters on each encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nirvis.shards.format import decode_png, encode_image
from nirvis.shards.reader import iter_pairs
from shards_helpers import cli, shard_bytes

#: Stated tolerance of the lossy encodings at the default quality 95, against the lossless pixels
#: of the same pairs (measured: the tiny data set mean 1.0-1.2, max 10-11 levels; the default
#: config, 64 pairs, mean 1.1, max 23-27; README).
MEAN_TOL, MAX_TOL = 2.0, 32


def _face_like(seed=0):
    """A smooth RGB image with some texture (like a face crop, unlike noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:112, 0:112] / 112.0
    base = np.stack([0.6 + 0.3 * x, 0.45 + 0.2 * y, 0.35 + 0.1 * x * y], -1)
    img = base + 0.004 * rng.standard_normal(base.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.mark.parametrize("encoding", ["png", "jpeg", "webp"])
def test_encoding_is_deterministic_and_decodes_within_tolerance(encoding):
    vis = _face_like()
    nir = vis[..., 1].copy()
    for img, channels in ((vis, 3), (nir, 1)):
        data = encode_image(img, encoding, quality=95)
        assert data == encode_image(img.copy(), encoding, quality=95)
        back = decode_png(data, channels)
        assert back.shape == img.shape and back.dtype == np.uint8
        err = np.abs(back.astype(int) - img.astype(int))
        if encoding == "png":
            assert err.max() == 0
        else:
            assert err.mean() <= MEAN_TOL and err.max() <= MAX_TOL
    magic = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}[encoding]
    assert encode_image(vis, encoding).startswith(magic)


def test_lower_quality_gives_fewer_bytes_and_bad_values_are_refused(tmp_path, capsys):
    vis = _face_like()
    for enc in ("jpeg", "webp"):
        assert len(encode_image(vis, enc, quality=50)) < len(encode_image(vis, enc, quality=95))
    with pytest.raises(ValueError, match="quality"):
        encode_image(vis, "jpeg", quality=0)
    for args, message in ((["--encoding", "gif"], "'encoding'"), (["--quality", "101"], "'quality'")):
        out = tmp_path / "o"
        assert cli(["render-dataset", "--out", out, "--identities", "1", "--quiet", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and args[0] in err
        assert not out.exists()


@pytest.fixture(scope="module", params=["jpeg", "webp"])
def encoded(request, tmp_path_factory, tiny_yaml):
    out = tmp_path_factory.mktemp(request.param) / "ds"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--encoding", request.param, "--quiet"]) == 0
    return request.param, out


slow = pytest.mark.slow  # needs the rendered fixtures


@slow
def test_lossy_data_set_layout_manifest_and_pixels(reference, encoded, capsys):
    encoding, out = encoded
    ext = {"jpeg": "jpg", "webp": "webp"}[encoding]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sample"]["members"] == [f"vis.{ext}", f"nir.{ext}", "json"]
    assert manifest["sample"]["encoding"] == {"format": encoding, "quality": 95}
    assert manifest["format_version"] == 2
    assert manifest["config"]["encoding"] == encoding
    ref = list(iter_pairs(reference))
    got = list(iter_pairs(out))
    assert [s.key for s in got] == [s.key for s in ref]
    for a, b in zip(ref, got):
        assert b.ext == ext and b.vis.shape == (112, 112, 3) and b.nir.shape == (112, 112)
        for m in ("vis", "nir"):
            err = np.abs(getattr(a, m).astype(int) - getattr(b, m).astype(int))
            assert err.mean() <= MEAN_TOL and err.max() <= MAX_TOL, (b.key, m, err.mean(), err.max())
        assert b.meta == a.meta
    names = (out / "shards" / "shard-000000.idx").read_text().split()
    assert f"0000000_0000.vis.{ext}" in names and f"nir.{ext}" in names
    assert cli(["verify", out]) == 0
    assert "every image decoded" in capsys.readouterr().out


@slow
def test_lossy_data_set_is_byte_deterministic(encoded, tiny_yaml, tmp_path):
    encoding, out = encoded
    again = tmp_path / "again"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", again, "--encoding", encoding,
                "--batch-size", "1", "--quiet"]) == 0
    assert shard_bytes(again) == shard_bytes(out)
    for rel in ("manifest.json", "wids-index.json", "shards/shard-000001.idx"):
        assert (again / rel).read_bytes() == (out / rel).read_bytes()


@slow
def test_lossy_data_set_through_wids_exports_and_preview(encoded, tmp_path, capsys):
    import wids

    encoding, out = encoded
    ext = {"jpeg": "jpg", "webp": "webp"}[encoding]
    ours = list(iter_pairs(out, decode=False))
    ds = wids.ShardListDataset(str(out / "wids-index.json"), cache_dir=str(tmp_path / "cache"), transformations=[])
    assert ds[3][f".vis.{ext}"].read() == ours[3].vis
    ds.close()
    assert cli(["export", out, "--format", "folders", "--out", tmp_path / "f"]) == 0
    assert (tmp_path / "f" / "0000001" / f"0000001_0000_nir.{ext}").read_bytes() == ours[2].nir
    assert f"0000001/0000001_0000_vis.{ext} 1" in (tmp_path / "f" / "vis_list.txt").read_text()
    assert cli(["export", out, "--format", "insightface-rec", "--out", tmp_path / "r"]) == 0
    assert cli(["preview", out, "--out", tmp_path / "p.png", "--count", "4"]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0


@slow
def test_a_member_of_another_encoding_is_reported_by_verify(encoded, tmp_path, capsys):
    """A shard whose members are not the manifest's encoding fails verify, naming the sample."""
    from nirvis.shards.format import ShardWriter, iter_tar_samples
    from shards_helpers import copy_dataset

    encoding, out = encoded
    bad = copy_dataset(out, tmp_path / "bad")
    shard = bad / "shards" / "shard-000000.tar"
    samples = list(iter_tar_samples(shard))
    with open(shard, "wb") as f:
        w = ShardWriter(f)
        for key, parts in samples:
            ext = "jpg" if encoding == "jpeg" else "webp"
            w.add_sample(key, parts[f"vis.{ext}"], parts[f"nir.{ext}"], json.loads(parts["json"]), "png")
        w.close()
    assert cli(["verify", bad]) == 1
    err = capsys.readouterr().err
    assert "shard-000000.tar" in err and "sample 0000000_0000: members" in err
