"""The realism report (dlib detector + recognizer) on a tiny rendered data set, on skimage's
astronaut, and on a data set whose identities are all the same image."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("dlib")
pytest.importorskip("skimage")

from nirvis.evaluate import realism as R  # noqa: E402

TINY_YAML = """\
identities: 2
images_per_identity: 2
shard_size: 4
batch_size: 4
workers: 1
seed: 5
texture_resolution: 128
sample_space:
  raw_resolution: 128
"""


@pytest.fixture(scope="module")
def pipeline():
    return R.FacePipeline()


@pytest.fixture(scope="module")
def astronaut_crop(pipeline):
    from skimage import data

    faces = R.real_photo_faces(data.astronaut(), pipeline)
    assert len(faces) == 1  # one face in the photo, found and aligned
    crop, full = faces[0]
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    return crop, full


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut_crop):
    """astro.png and its mirror image at the top (two people), and both in person/ (one person)."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    img = data.astronaut()
    (root / "person").mkdir()
    for d in (root, root / "person"):
        Image.fromarray(img).save(d / "astro.png")
        Image.fromarray(np.ascontiguousarray(img[:, ::-1])).save(d / "astro_flip.png")
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from nirvis.shards.cli import main

    cfg = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert main(["render-dataset", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    return out


def _write_dataset(root, vis, nir, labels, pairs, meta=None):
    from nirvis.shards.format import ShardWriter, encode_png, sample_key, shard_name

    (root / "shards").mkdir(parents=True)
    with open(root / "shards" / shard_name(0), "wb") as f:
        w = ShardWriter(f)
        for label in range(labels):
            for i in range(pairs):
                w.add_sample(sample_key(label, i), encode_png(vis), encode_png(nir),
                             {"label": label, "index": i, **(meta or {})})
        w.close()
    return root


def test_astronaut_detected_and_described(pipeline, astronaut_crop):
    crop, full = astronaut_crop
    res = pipeline.describe_crop(crop)
    assert res.detected and np.isfinite(res.score)
    assert res.descriptor.shape == (128,) and np.all(np.isfinite(res.descriptor))
    # the 112-px crop and the full-resolution photo give the same person under dlib's threshold
    assert np.linalg.norm(res.descriptor - full) < R.SAME_PERSON_THRESHOLD
    grey = pipeline.describe_crop(crop.mean(axis=2).astype(np.uint8))
    assert np.linalg.norm(grey.descriptor - res.descriptor) < R.SAME_PERSON_THRESHOLD


def test_undetected_crop_uses_template_box(pipeline):
    res = pipeline.describe_crop(np.zeros((112, 112, 3), np.uint8))
    assert not res.detected and np.isnan(res.score) and np.all(np.isfinite(res.descriptor))
    with pytest.raises(ValueError, match="112x112"):
        pipeline.describe_crop(np.zeros((100, 112, 3), np.uint8))


def test_pairwise_distances_symmetric_and_finite():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 128)), rng.normal(size=(3, 128))
    d = R.pairwise_distances(a, b)
    assert d.shape == (5, 3) and np.all(np.isfinite(d)) and np.all(d >= 0)
    np.testing.assert_allclose(d, R.pairwise_distances(b, a).T)
    np.testing.assert_allclose(d, np.linalg.norm(a[:, None] - b[None], axis=2), atol=1e-9)
    assert np.allclose(np.diag(R.pairwise_distances(a, a)), 0.0, atol=1e-6)


def test_report_on_rendered_dataset_with_real_photos(rendered, photos, tmp_path):
    from nirvis.cli import main

    out, png = tmp_path / "r.json", tmp_path / "r.png"
    assert main(["bench", "realism", str(rendered), "--real-photos", str(photos), "--out", str(out),
                 "--plot", str(png)]) == 0
    doc = json.loads(out.read_text())
    assert doc["samples"] == 4 and doc["identities"] == 2 and doc["same_person_threshold"] == 0.6
    for spectrum in ("vis", "nir"):
        det = doc["detection"][spectrum]
        assert det["all"]["crops"] == 4
        assert sum(b["crops"] for b in det["by_abs_yaw"].values()) == 4 and "unknown" not in det["by_abs_yaw"]
        assert 0.0 <= det["all"]["rate"] <= 1.0
    # VIS-VIS: C(4, 2) = 6 pairs, 2 same-identity; NIR-VIS: 4 x 4 minus the 4 own pairs, 4 same
    assert (doc["vis_vis"]["same"]["pairs"], doc["vis_vis"]["different"]["pairs"]) == (2, 4)
    assert (doc["nir_vis"]["same"]["pairs"], doc["nir_vis"]["different"]["pairs"]) == (4, 8)
    for block in ("vis_vis", "nir_vis"):
        assert set(doc[block]["tar_at_far"]) == {"0.01", "0.001"}
        assert 0.0 < doc[block]["different"]["mean"] < 2.0
    detected = doc["detection"]["vis"]["all"]["detected"]
    assert doc["detected_only"]["vis_vis"]["same"]["pairs"] + doc["detected_only"]["vis_vis"]["different"][
        "pairs"] == detected * (detected - 1) // 2
    real = doc["real"]
    assert (real["faces_found_in_photos"], real["faces"], real["people"]) == (4, 4, 3)
    assert real["detection_on_aligned_crops"]["detected"] == 4 and real["left_out_not_redetected"] == []
    assert real["same"]["pairs"] == 1 and real["different"]["pairs"] == 5
    assert real["synthetic_to_real_different_mean_ratio"] == pytest.approx(
        doc["vis_vis"]["different"]["mean"] / real["different"]["mean"], rel=1e-3)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_faces_not_found_again_in_their_crop_are_left_out():
    faces = R.Described(np.arange(12, dtype=np.float64).reshape(3, 4), np.array([0, 1, 2]),
                        np.array([True, False, True]), np.full(3, np.nan), ["a.jpg#0", "a.jpg#1", "b.jpg#0"])
    full = np.arange(12, dtype=np.float64).reshape(3, 4) + 100.0
    kept, kept_full, left_out = R.real_reference(faces, full)
    assert kept.keys == ["a.jpg#0", "b.jpg#0"] and left_out == ["a.jpg#1"]
    assert np.array_equal(kept.desc, faces.desc[[0, 2]]) and np.array_equal(kept_full, full[[0, 2]])
    assert kept.labels.tolist() == [0, 2]


def test_identical_identities_give_zero_distance(astronaut_crop, photos, tmp_path):
    crop, _ = astronaut_crop
    ds = _write_dataset(tmp_path / "same", crop, crop.mean(axis=2).astype(np.uint8), labels=3, pairs=2,
                        meta={"pose": {"vis": {"yaw_deg": 10.0}, "nir": {"yaw_deg": -40.0}}})
    doc, arrays = R.realism_report(ds, photos, progress=False)
    assert doc["vis_vis"]["different"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert doc["vis_vis"]["different"]["share_under_threshold"] == 1.0
    assert doc["real"]["different"]["mean"] > 0.05  # a photo and its mirror image are not identical
    assert doc["real"]["synthetic_to_real_different_mean_ratio"] == pytest.approx(0.0, abs=1e-4)
    assert doc["detection"]["vis"]["by_abs_yaw"]["0-15"]["rate"] == 1.0
    assert doc["detection"]["nir"]["by_abs_yaw"]["30-45"]["crops"] == 6
    assert doc["detection"]["nir"]["abs_yaw_le_30"]["crops"] == 0
    assert doc["undetected"] == {"vis": [], "nir": []}
    assert all(np.all(np.isfinite(v)) for v in arrays.values())


def test_blank_crops_are_missed_but_described(tmp_path):
    ds = _write_dataset(tmp_path / "blank", np.zeros((112, 112, 3), np.uint8), np.zeros((112, 112), np.uint8),
                        labels=2, pairs=2)
    doc, _ = R.realism_report(ds, progress=False)
    assert doc["detection"]["vis"]["all"] == {"crops": 4, "detected": 0, "rate": 0.0}
    assert doc["undetected_described_with_template_box"] == {"vis": 4, "nir": 4}
    missed = doc["undetected"]["vis"]
    assert len(missed) == 4 and len({m["key"] for m in missed}) == 4 and missed[0]["abs_yaw_deg"] is None
    assert doc["detection"]["vis"]["abs_yaw_le_30"]["crops"] == 0  # no pose in the sample JSON
    assert doc["detection"]["vis"]["by_abs_yaw"]["unknown"]["crops"] == 4
    assert doc["detection"]["vis"]["by_abs_yaw"][">=45"]["crops"] == 0
    assert doc["vis_vis"]["different"]["pairs"] == 4
    assert doc["detected_only"]["vis_vis"]["different"]["pairs"] == 0
    assert doc["detected_only"]["vis_vis"]["tar_at_far"] is None


def test_clear_errors(tmp_path, pipeline, monkeypatch):
    with pytest.raises(R.RealismError, match="no such data set"):
        R.realism_report(tmp_path / "missing", progress=False)
    empty = tmp_path / "empty"
    (empty / "shards").mkdir(parents=True)
    from nirvis.shards.format import ShardWriter, shard_name

    with open(empty / "shards" / shard_name(0), "wb") as f:
        ShardWriter(f).close()
    with pytest.raises(R.RealismError, match="no samples"):
        R.describe_dataset(empty, pipeline, progress=False)
    (tmp_path / "nophotos").mkdir()
    with pytest.raises(R.RealismError, match="holds no photos"):
        R.describe_photos(tmp_path / "nophotos", pipeline, progress=False)
    monkeypatch.setattr(R.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(R.RealismError, match=r"nirvis\[realism\]"):
        R.model_dir()
