"""evaluate_benchmark end to end on the fixtures, the report files, and the CLI."""

import json
import shutil
import types

import numpy as np
import pytest
from PIL import Image

from nirvis.evaluate import cli as ecli
from nirvis.evaluate import fixtures as F
from nirvis.evaluate import metrics as M
from nirvis.evaluate.benchmarks import ProtocolError
from nirvis.evaluate.features import RandomProjection
from nirvis.evaluate.run import evaluate_benchmark


def test_casia_end_to_end_report_and_scores(casia_ds, model_fn, tmp_path):
    root, exp = casia_ds
    out = tmp_path / "rep"
    r = evaluate_benchmark("casia", root, model_fn, folds="1,2", save_scores=True, out_dir=out)
    assert [f["fold"] for f in r["folds"]] == ["1", "2"]
    assert r["summary"]["rank1"]["mean"] == 1.0 and r["summary"]["rank1"]["n"] == 2
    for f in r["folds"]:
        assert (f["n_gallery"], f["n_probes"]) == (exp[f["fold"]]["gallery"], exp[f["fold"]]["probes"])
        assert f["n_genuine"] == f["n_probes"] and f["n_impostor"] == f["n_probes"] * (f["n_gallery"] - 1)
        # stored metrics equal metrics recomputed from the saved score matrix
        z = np.load(out / f["scores_file"])
        s, pl, gl = z["scores"], z["probe_labels"], z["gallery_labels"]
        assert f["rank1"] == M.rank1(s, pl, gl)
        assert f["vr@0.01"] == M.vr_at_far(s, pl, gl, fars=(0.01,))[0.01]
        assert f["vr_nearest@0.001"] == M.vr_at_far(s, pl, gl, fars=(0.001,), rule="nearest")[0.001]
        assert f["auc"] == pytest.approx(M.auc(s, pl, gl))
    assert set(r["report_files"]) == {"report.json", "report.md", "roc.png", "det.png"}
    doc = json.loads((out / "report.json").read_text())
    assert doc["vr_rule"] == "interpolated" and doc["summary"]["rank1"]["mean"] == 1.0
    md = (out / "report.md").read_text()
    assert "VR rule: **interpolated**" in md and "DVG" in md and "| 1 | 4 | 12 |" in md and "6208" in md
    for png in ("roc.png", "det.png"):
        assert Image.open(out / png).size[0] > 100


def test_weak_model_metrics_consistent(casia_ds, tmp_path):
    root, _ = casia_ds
    weak = RandomProjection(dim=2, pool=2, seed=5)  # a poor extractor: imperfect scores
    r = evaluate_benchmark("casia", root, weak, folds=[3], vr_rule="nearest", save_scores=True, out_dir=tmp_path)
    f = r["folds"][0]
    z = np.load(tmp_path / f["scores_file"])
    assert f["rank1"] == M.rank1(z["scores"], z["probe_labels"], z["gallery_labels"], ties="reference")
    assert f["vr@0.01"] == f["vr_nearest@0.01"]
    assert r["rank1_ties"] == "reference"
    md = (tmp_path / "report.md").read_text()
    assert "VR rule: **nearest**" in md and "np.argsort(-scores)[:, 0]" in md


@pytest.mark.parametrize("name", ["lamp_hq", "oulu", "buaa", "synthetic"])
def test_other_benchmarks_end_to_end(name, lamp_ds, oulu_ds, buaa_ds, synthetic_ds, model_fn, tmp_path):
    root, exp = {"lamp_hq": lamp_ds, "oulu": oulu_ds, "buaa": buaa_ds, "synthetic": synthetic_ds}[name]
    kw = {"subjects": exp["subjects"], "protocol": "zeroshot"} if name == "oulu" else {}
    folds = "1,2" if name == "lamp_hq" else "all"
    r = evaluate_benchmark(name, root, model_fn, folds=folds, out_dir=tmp_path / "o", **kw)
    assert r["summary"]["rank1"]["mean"] >= 0.9
    assert (tmp_path / "o" / "report.md").is_file()
    c = r["counts"][0]
    if name == "oulu":
        assert c["gallery"] == c["probes"] == 4 * exp["per_subject"]
        assert "zero-shot" in (tmp_path / "o" / "report.md").read_text()
    elif name == "lamp_hq":
        assert len(r["folds"]) == 2 and c["gallery"] == exp["1"]["gallery"]
        assert "VR@FAR=0.01%" in (tmp_path / "o" / "report.md").read_text()
    else:
        assert (c["gallery"], c["probes"]) == (exp["gallery"], exp["probes"])


def test_vis_bin_benchmark(tmp_path, model_fn):
    F.write_vis_bin(tmp_path / "data" / "lfw.bin", pairs=40)
    r = evaluate_benchmark("lfw", tmp_path / "data", model_fn, out_dir=tmp_path / "o", save_scores=True)
    assert r["summary"]["accuracy"]["mean"] >= 0.9 and r["summary"]["accuracy"]["n"] == 10
    assert "Accuracy" in (tmp_path / "o" / "report.md").read_text()
    assert (tmp_path / "o" / "scores_lfw.npz").is_file()


def test_unreadable_and_unaligned_images(casia_ds, model_fn, tmp_path):
    src, _ = casia_ds
    root = tmp_path / "c"
    shutil.copytree(src, root)
    bad = sorted((root / "s1" / "NIR").rglob("*.bmp"))[0]
    bad.write_bytes(b"junk")
    with pytest.raises(ProtocolError, match="unreadable"):
        evaluate_benchmark("casia", root, model_fn, folds="1")
    r = evaluate_benchmark("casia", root, model_fn, folds="1", allow_missing=True, out_dir=tmp_path / "o")
    assert r["unreadable"] == [str(bad)]
    assert "unreadable" in (tmp_path / "o" / "report.md").read_text()
    big = sorted((root / "s2" / "VIS").rglob("*.jpg"))[0]
    Image.new("RGB", (250, 250)).save(big)
    with pytest.raises(ProtocolError, match="not 112x112 aligned.*--align"):
        evaluate_benchmark("casia", root, model_fn, folds="all", allow_missing=True)


def test_protocol_argument_checks(casia_ds, model_fn):
    with pytest.raises(ValueError, match="oulu only"):
        evaluate_benchmark("casia", casia_ds[0], model_fn, protocol="zeroshot")
    with pytest.raises(ValueError, match="unknown benchmark"):
        evaluate_benchmark("nope", casia_ds[0], model_fn)


def test_cli_without_checkpoint_loader(monkeypatch, casia_ds, tmp_path, capsys):
    monkeypatch.setitem(__import__("sys").modules, "nirvis.train.checkpoint", types.ModuleType("stub"))
    rc = ecli.main(["eval", "casia", "--root", str(casia_ds[0]), "--checkpoint", "x.pt", "--out", str(tmp_path)])
    assert rc == 2
    assert "load_embedding_model is not available" in capsys.readouterr().err


def test_cli_runs_with_a_loader(monkeypatch, casia_ds, tmp_path, capsys):
    stub = types.ModuleType("stub")
    stub.load_embedding_model = lambda path, device="cpu": RandomProjection()
    monkeypatch.setitem(__import__("sys").modules, "nirvis.train.checkpoint", stub)
    out = tmp_path / "o"
    rc = ecli.main(["eval", "casia", "--root", str(casia_ds[0]), "--checkpoint", "x.pt", "--folds", "1,2",
                    "--save-scores", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "rank1 100.00" in capsys.readouterr().out
    assert (out / "report.json").is_file() and (out / "scores_casia_2.npz").is_file()
    rc = ecli.main(["eval", "buaa", "--root", str(tmp_path / "missing"), "--checkpoint", "x.pt", "--out", str(out)])
    assert rc == 2 and "BUAA" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["casia", "lamp_hq", "oulu", "buaa"])
def test_layouts_with_rendered_faces(name, tmp_path, model_fn):
    """Each native layout written with faces rendered by nirvis (known identities) loads with the
    documented counts and evaluates end to end; the stored images are those renders."""
    import cv2

    root = tmp_path / name
    if name == "casia":
        exp = F.write_casia(root, subjects=4, test_subjects=3, vis_per_subject=1, nir_per_subject=2, images="faces")
        counts = {"gallery": exp["1"]["gallery"], "probes": exp["1"]["probes"]}
        nir_file, subject, index = root / "s1" / "NIR" / "10001" / "002.bmp", 0, 1
    elif name == "lamp_hq":
        exp = F.write_lamp_hq(root, subjects=4, test_subjects=3, folds=2, nir_per_subject=2, images="faces")
        counts = {"gallery": exp["1"]["gallery"], "probes": exp["1"]["probes"]}
        nir_file, subject, index = None, 0, 0
    elif name == "oulu":
        exp = F.write_oulu(root, subjects=3, frames=2, images="faces")
        counts = None
        nir_file, subject, index = None, 0, 0
    else:
        exp = F.write_buaa(root, test_subjects=3, nir_per_subject=2, images="faces")
        counts = {"gallery": exp["gallery"], "probes": exp["probes"]}
        nir_file, subject, index = root / "NIR" / "51" / "2.bmp", 0, 1
    kw = {"subjects": exp["subjects"], "protocol": "zeroshot"} if name == "oulu" else {}
    r = evaluate_benchmark(name, root, model_fn, folds="1" if name in ("casia", "lamp_hq") else "all", **kw)
    c = r["counts"][0]
    if counts:
        assert (c["gallery"], c["probes"]) == (counts["gallery"], counts["probes"])
    else:
        assert c["gallery"] == c["probes"] == 3 * exp["per_subject"]
    assert 0.0 <= r["summary"]["rank1"]["mean"] <= 1.0
    if nir_file is not None:
        stored = cv2.imread(str(nir_file), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(stored, F.face_image(subject, index, "NIR"))


def test_cli_eval_fixture_and_subjects(monkeypatch, tmp_path, capsys):
    stub = types.ModuleType("stub")
    stub.load_embedding_model = lambda path, device="cpu": RandomProjection()
    monkeypatch.setitem(__import__("sys").modules, "nirvis.train.checkpoint", stub)
    root = tmp_path / "oulu"
    assert ecli.main(["eval-fixture", "oulu", "--images", "pattern", "--out", str(root)]) == 0
    hint = capsys.readouterr().out
    assert "--subjects P001,P002,P003,P004" in hint and json.loads((root / "fixture.json").read_text())["counts"]
    assert ecli.main(["eval-fixture", "oulu", "--images", "pattern", "--out", str(root)]) == 2  # exists
    assert "--force" in capsys.readouterr().err
    (tmp_path / "subjects.txt").write_text("P001\nP002\n\nP003\n")
    rc = ecli.main(["eval", "oulu", "--root", str(root), "--checkpoint", "x.pt", "--protocol", "zeroshot",
                    "--subjects", f"@{tmp_path / 'subjects.txt'}", "--out", str(tmp_path / "o")])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "o" / "report.json").read_text())
    assert doc["counts"][0]["gallery_subjects"] == 3
    assert "eval-fixture" in doc["notes"] and "not the real benchmark" in (tmp_path / "o" / "report.md").read_text()
    rc = ecli.main(["eval", "casia", "--root", str(root), "--checkpoint", "x.pt", "--subjects", "a",
                    "--out", str(tmp_path / "o")])
    assert rc == 2 and "--subjects applies to oulu and buaa" in capsys.readouterr().err


def test_cli_benchmark_spellings_and_bin_set(monkeypatch, lamp_ds, tmp_path, capsys):
    """The issue's names (lamp-hq, vis-bin) work on the command line, as do the module names."""
    stub = types.ModuleType("stub")
    stub.load_embedding_model = lambda path, device="cpu": RandomProjection()
    monkeypatch.setitem(__import__("sys").modules, "nirvis.train.checkpoint", stub)
    for name in ("lamp-hq", "lamp_hq"):
        rc = ecli.main(["eval", name, "--root", str(lamp_ds[0]), "--checkpoint", "x.pt", "--folds", "1",
                        "--out", str(tmp_path / name)])
        assert rc == 0, capsys.readouterr().err
    F.write_vis_bin(tmp_path / "bins" / "cfp_fp.bin", pairs=20)
    rc = ecli.main(["eval", "vis-bin", "--bin-set", "cfp_fp", "--root", str(tmp_path / "bins"), "--checkpoint", "x.pt",
                    "--out", str(tmp_path / "vb")])
    assert rc == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "vb" / "report.json").read_text())["benchmark"] == "cfp_fp"
    rc = ecli.main(["eval", "casia", "--bin-set", "lfw", "--root", str(tmp_path), "--checkpoint", "x.pt",
                    "--out", str(tmp_path / "x")])
    assert rc == 2 and "--bin-set applies to vis-bin" in capsys.readouterr().err


def test_cli_evaluates_a_reference_checkpoint_file(casia_ds, tmp_path, capsys):
    """`nirvis eval --checkpoint X.pth.tar` with a fine-tuned reference checkpoint (DataParallel
    keys, CosFace class weights): the head is ignored with a note, the scores are those of the
    network it holds; a mismatching file exits 2 naming the key and shapes."""
    import torch

    from nirvis.train.backbones.lightcnn import LightCNN29

    torch.manual_seed(3)
    net = LightCNN29(width=0.125).eval()
    sd = {f"module.{k}": v for k, v in net.state_dict().items()}
    sd["module.weight"] = torch.randn(10, 256)
    torch.save({"epoch": 4, "state_dict": sd}, tmp_path / "casia_final.pth.tar")
    out = tmp_path / "o"
    rc = ecli.main(["eval", "casia", "--root", str(casia_ds[0]), "--checkpoint", str(tmp_path / "casia_final.pth.tar"),
                    "--folds", "1", "--vr-rule", "nearest", "--save-scores", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "note:" in err and "ignored the classifier weight [10, 256]" in err
    doc = json.loads((out / "report.json").read_text())
    assert doc["model"]["backbone"] == "lightcnn29" and doc["model"]["kwargs"]["width"] == 0.125
    assert doc["model"]["epoch"] == 4 and doc["rank1_ties"] == "reference" and doc["channels"] == 1
    assert "Model: `" in (out / "report.md").read_text()

    def direct(x):  # the same network, called directly
        with torch.no_grad():
            return net(x)

    direct.in_channels = 1
    r = evaluate_benchmark("casia", casia_ds[0], direct, folds="1", save_scores=True, out_dir=tmp_path / "d")
    np.testing.assert_allclose(np.load(out / "scores_casia_1.npz")["scores"],
                               np.load(tmp_path / "d" / "scores_casia_1.npz")["scores"], atol=1e-6)
    assert r["folds"][0]["vr_nearest@0.01"] == doc["folds"][0]["vr@0.01"]

    sd["module.fc.filter.weight"] = torch.zeros(512, 99)
    torch.save({"epoch": 4, "state_dict": sd}, tmp_path / "bad.pth.tar")
    rc = ecli.main(["eval", "casia", "--root", str(casia_ds[0]), "--checkpoint", str(tmp_path / "bad.pth.tar"),
                    "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "'fc.filter.weight' has shape [512, 99] in the checkpoint but [512, 784]" in err
