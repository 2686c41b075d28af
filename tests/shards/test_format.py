"""Shard plan, deterministic encoding and the RecordIO codec (no rendering)."""

from __future__ import annotations

import io
import struct
import tarfile

import numpy as np
import pytest

from nirvis.shards.export import (RECORDIO_MAGIC, encode_recordio, pack_record, read_record_at, unpack_record)
from nirvis.shards.format import (ShardWriter, decode_png, encode_png, iter_tar_samples, plan_shards, sample_key)


@pytest.mark.parametrize("n, k, s", [(3, 2, 2), (5, 3, 4), (1, 1, 1), (7, 5, 100)])
def test_plan_covers_samples_in_label_index_order(n, k, s):
    plans = plan_shards(n, k, s)
    keys = [key for p in plans for key in p.keys()]
    assert keys == [sample_key(label, i) for label in range(n) for i in range(k)]
    assert all(p.count == s for p in plans[:-1]) and 1 <= plans[-1].count <= s
    assert [p.name for p in plans] == [f"shard-{j:06d}.tar" for j in range(len(plans))]


def test_png_encoding_is_deterministic_and_lossless():
    rng = np.random.default_rng(0)
    vis = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    nir = rng.integers(0, 256, (112, 112), dtype=np.uint8)
    assert encode_png(vis) == encode_png(vis.copy())
    assert np.array_equal(decode_png(encode_png(vis), 3), vis)
    back = decode_png(encode_png(nir), 1)
    assert back.shape == (112, 112) and back.dtype == np.uint8 and np.array_equal(back, nir)
    with pytest.raises(ValueError, match="channel"):
        decode_png(encode_png(nir), 3)


def test_tar_members_have_fixed_metadata_and_group_by_key():
    def build() -> bytes:
        buf = io.BytesIO()
        w = ShardWriter(buf)
        w.add_sample("0000000_0000", b"v", b"n", {"b": 1, "a": 2})
        w.add_sample("0000000_0001", b"v2", b"n2", {"a": 1})
        w.close()
        return buf.getvalue()

    data = build()
    assert data == build()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) == (0, 0, 0, "", "", 0o444)
    samples = list(iter_tar_samples(io.BytesIO(data)))
    assert [k for k, _ in samples] == ["0000000_0000", "0000000_0001"]
    assert samples[0][1] == {"vis.png": b"v", "nir.png": b"n", "json": b'{"a":2,"b":1}'}


@pytest.mark.parametrize("payload", [b"", b"abc", b"abcd" * 3, struct.pack("<I", RECORDIO_MAGIC) * 2 + b"xy",
                                     b"1234" + struct.pack("<I", RECORDIO_MAGIC) + b"tail!"])
def test_recordio_framing_round_trip(payload):
    framed = encode_recordio(payload)
    assert len(framed) % 4 == 0 and framed[:4] == struct.pack("<I", RECORDIO_MAGIC)
    f = io.BytesIO(framed + encode_recordio(b"next"))
    assert read_record_at(f, 0) == payload
    assert f.tell() == len(framed)  # positioned at the next record
    assert read_record_at(f, len(framed)) == b"next"


def test_irheader_pack_unpack():
    h, body = unpack_record(pack_record(7.0, b"PNG", 3, 1))
    assert (h.flag, h.label, h.id, h.id2, body) == (0, 7.0, 3, 1, b"PNG")
    h, body = unpack_record(pack_record((5.0, 9.0), b"", 0))
    assert (h.flag, h.label, body) == (2, (5.0, 9.0), b"")
    assert len(pack_record(1.0, b"", 0)) == struct.calcsize("<IfQQ") == 24
