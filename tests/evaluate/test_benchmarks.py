"""Every loader end to end on fixture files in the native layout; counts against the fixture."""

import os
import shutil

import numpy as np
import pytest

from nirvis.evaluate import fixtures as F
from nirvis.evaluate.benchmarks import ProtocolError, buaa, casia, lamp_hq, load_protocol, oulu, synthetic, vis_bin


def _check(fold, gallery, probes):
    assert len(fold.gallery) == gallery and len(fold.probe) == probes
    assert fold.gallery.modality == "VIS" and fold.probe.modality == "NIR"
    assert set(fold.probe.labels) <= set(fold.gallery.labels)


def test_casia_view2_and_dev(casia_ds):
    root, exp = casia_ds
    proto = load_protocol("casia", root)
    assert [f.name for f in proto.folds] == [str(k) for k in range(1, 11)]
    for f in proto.folds:
        _check(f, exp[f.name]["gallery"], exp[f.name]["probes"])
        assert sorted(set(f.gallery.labels)) == sorted(exp[f.name]["subjects"])
        assert len(set(f.gallery.labels)) == len(f.gallery)  # one VIS image per subject
        assert all(os.path.isfile(x) for x in f.gallery.paths + f.probe.paths)  # backslashes mapped
    assert proto.expected["1"] == {"gallery": 358, "probes": 6208}
    dev = casia_mod_load(root, "dev")
    assert [f.name for f in dev.folds] == ["dev"]
    _check(dev.folds[0], exp["dev"]["gallery"], exp["dev"]["probes"])
    assert [f.name for f in casia_mod_load(root, "1,3").folds] == ["1", "3"]
    with pytest.raises(ValueError, match="unknown fold"):
        casia_mod_load(root, "11")


def casia_mod_load(root, folds):
    return casia.load(root, folds=folds)


def test_missing_files_one_error_or_recorded(casia_ds, tmp_path):
    src, exp = casia_ds
    root = tmp_path / "c"
    shutil.copytree(src, root)
    gone = sorted((root / "s1" / "NIR").rglob("*.bmp"))[:2] + sorted((root / "s2" / "VIS").rglob("*.jpg"))[:1]
    for g in gone:
        g.unlink()
    with pytest.raises(ProtocolError, match=r"3 of \d+ image\(s\) listed by the protocol are missing") as e:
        casia.load(root)
    assert str(gone[0]) in str(e.value) or any(str(g) in str(e.value) for g in gone)
    proto = casia.load(root, allow_missing=True)
    assert sorted(proto.missing) == sorted(str(g) for g in gone)
    assert all(str(g) not in f.probe.paths + f.gallery.paths for f in proto.folds for g in gone)
    with pytest.raises(ProtocolError, match="not found"):
        casia.load(tmp_path / "nowhere")


def test_lamp_hq_keeps_first_row(lamp_ds):
    root, exp = lamp_ds
    proto = lamp_hq.load(root)
    assert len(proto.folds) == 10
    for f in proto.folds:
        _check(f, exp[f.name]["gallery"], exp[f.name]["probes"])
        assert f.gallery.labels[0] == exp[f.name]["first_gallery_label"]  # no skipped header line
    assert lamp_hq.load(root, folds=[2]).folds[0].name == "2"


def test_oulu_protocols_apart(oulu_ds):
    root, exp = oulu_ds
    subj = exp["subjects"]
    z = oulu_load(root, "zeroshot", subj)
    _check(z.folds[0], len(subj) * exp["per_subject"], len(subj) * exp["per_subject"])
    ft = oulu_load(root, "finetune", subj[2:])
    _check(ft.folds[0], 2 * exp["per_subject"], 2 * exp["per_subject"])
    assert (z.name, ft.name) == ("zeroshot", "finetune")
    assert z.expected["zeroshot"] == {"gallery": 1920, "probes": 1920}
    assert ft.expected["finetune"] == {"gallery": 960, "probes": 960}
    # modality from the VL/NI folders, strong illumination only
    assert all("/VL/Strong/" in p for p in z.folds[0].gallery.paths)
    assert all("/NI/Strong/" in p for p in z.folds[0].probe.paths)
    assert len(set(z.folds[0].gallery.paths) & set(z.folds[0].probe.paths)) == 0
    with pytest.raises(ProtocolError, match="default split needs 40"):
        oulu.load(root, protocol="finetune")
    with pytest.raises(ValueError, match="protocol"):
        oulu.load(root, protocol="other")


def oulu_load(root, protocol, subjects):
    return oulu.load(root, protocol=protocol, subjects=subjects)


def test_oulu_frame_choice():
    files = [f"{i}" for i in range(20)]
    assert oulu.pick_frames(files, 8) == ["0", "3", "5", "8", "11", "14", "16", "19"]
    assert oulu.pick_frames(files[:5], 8) == files[:5]


def test_buaa_folders_and_lists(buaa_ds, tmp_path):
    root, exp = buaa_ds
    proto = load_protocol("buaa", root)
    _check(proto.folds[0], exp["gallery"], exp["probes"])
    assert list(proto.folds[0].gallery.labels) == exp["subjects"]  # natural order: 51.. after 1..50
    assert all(p.endswith("/1.bmp") for p in proto.folds[0].gallery.paths)
    root2 = tmp_path / "b2"
    e2 = F.write_buaa(root2, lists=True, train_subjects=2)
    p2 = buaa.load(root2)
    _check(p2.folds[0], e2["gallery"], e2["probes"])
    assert "lists" in p2.notes
    assert proto.expected["test"] == {"gallery": 100, "probes": 1284}


def test_synthetic_held_out(synthetic_ds):
    root, exp = synthetic_ds
    proto = synthetic_load(root, None)
    _check(proto.folds[0], exp["gallery"], exp["probes"])
    held = synthetic_load(root, [1, 3])
    f = held.folds[0]
    _check(f, 2, 2 * 2)  # 3 pairs per label: the gallery's own pair is not a probe
    assert set(f.gallery.labels) == {"1", "3"} and all(r.endswith("_0000::vis") for r in f.gallery.paths)
    assert not any(r.endswith("_0000::nir") for r in f.probe.paths)
    _check(synthetic.load(root, held_out=[1, 3], include_gallery_pair=True).folds[0], 2, 2 * 3)
    img = held.read_image(f.gallery.paths[0])
    assert img.shape == (112, 112, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, F.subject_image(1, 0, "VIS", seed=3))
    assert held.read_image(f.probe.paths[0]).shape == (112, 112)
    with pytest.raises(ProtocolError, match="held-out label"):
        synthetic_load(root, [1, 99])
    assert synthetic.load(root, held_out=[1, 99], allow_missing=True).missing == ["label 99"]


def synthetic_load(root, held):
    return synthetic.load(root, held_out=held)


def test_vis_bin_roundtrip_and_corrupt(tmp_path):
    e = F.write_vis_bin(tmp_path / "lfw.bin", pairs=20)
    imgs, same, dropped = vis_bin.load_bin(tmp_path / "lfw.bin")
    assert imgs.shape == (40, 112, 112, 3) and same.sum() == e["same"] and dropped == []
    F.write_vis_bin(tmp_path / "bad.bin", pairs=20, corrupt=[3])
    with pytest.raises(ProtocolError, match="1 undecodable"):
        vis_bin.load_bin(tmp_path / "bad.bin")
    imgs, same, dropped = vis_bin.load_bin(tmp_path / "bad.bin", allow_missing=True)
    assert dropped == [1] and imgs.shape[0] == 38 and len(same) == 19
    with pytest.raises(ProtocolError, match="not found"):
        vis_bin.load_bin(tmp_path / "none.bin")


def test_verification_accuracy_folds():
    rng = np.random.default_rng(0)
    same = np.arange(100) % 2 == 0
    sims = np.where(same, 0.8, 0.2) + rng.normal(0, 0.01, 100)
    r = vis_bin.verification_accuracy(sims, same)
    assert r["accuracy"] == 1.0 and len(r["thresholds"]) == 10 and all(0.2 < t < 0.8 for t in r["thresholds"])
    sims[0] = 0.0  # one same pair below every threshold
    assert vis_bin.verification_accuracy(sims, same)["accuracy"] == pytest.approx(0.99)
