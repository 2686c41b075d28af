"""Raw-image alignment: the MediaPipe 5-point detector on rendered faces (VIS and NIR, known
landmarks) and on a real photo, the detection policy, fallbacks, the crop cache, and
``evaluate_benchmark(aligned=False)`` / ``nirvis eval --align`` end to end on raw frames."""

import shutil
import types

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from nirvis.evaluate import align as AL  # noqa: E402
from nirvis.evaluate import cli as ecli  # noqa: E402
from nirvis.evaluate import fixtures as F  # noqa: E402
from nirvis.evaluate.features import RandomProjection  # noqa: E402
from nirvis.evaluate.run import evaluate_benchmark  # noqa: E402
from nirvis.render.align import ARCFACE_TEMPLATE_112  # noqa: E402


class CountingDetector:
    """The real detector, counting its calls and optionally refusing the first ``refuse`` calls."""

    def __init__(self, refuse: int = 0):
        self.inner = AL.default_detector()
        self.name, self.version = self.inner.name, self.inner.version
        self.calls, self.refuse = 0, refuse

    def __call__(self, rgb):
        self.calls += 1
        return None if self.calls <= self.refuse else self.inner(rgb)


@pytest.fixture(scope="module")
def raw_frames():
    return {(s, m): F.raw_face_image(s, 0, m, seed=1) for s in range(6) for m in ("VIS", "NIR")}


def test_detector_aligns_rendered_faces_in_both_spectra(raw_frames):
    det = AL.default_detector()
    for modality in ("VIS", "NIR"):
        errors, missed = [], 0
        for s in range(6):
            img, truth = raw_frames[(s, modality)]
            pts, how = AL.detect_five_points(img, det)
            if pts is None:
                missed += 1
                continue
            assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0], "insightface order: subject's right = image left"
            errors.append(AL.alignment_error_px(pts, truth))
        assert missed <= 1, f"{modality}: {missed} of 6 rendered faces missed"
        assert np.mean(errors) < 3.0, f"{modality}: mean alignment error {np.mean(errors):.2f} px in the 112 crop"


def test_real_photo_rgb_grey_and_dark():
    data = pytest.importorskip("skimage.data")
    import cv2

    img = data.astronaut()  # a real photograph, 512 x 512
    det = AL.default_detector()
    pts, how = AL.detect_five_points(img, det)
    assert how == "detected"
    # her eyes lie near (203, 101) and (246, 103), the mouth corners near (201, 139) and (245, 140)
    assert np.abs(pts[[0, 1, 3, 4]] - [[203, 101], [246, 103], [201, 139], [245, 140]]).max() < 6
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)  # what a NIR camera delivers: one channel
    pg, _ = AL.detect_five_points(grey, det)
    assert AL.alignment_error_px(pg, pts) < 1.5
    dark = (grey * 0.15).astype(np.uint8)  # an under-exposed NIR frame
    pd, how_dark = AL.detect_five_points(dark, det)
    assert pd is not None and AL.alignment_error_px(pd, pts) < 2.5, how_dark


def test_padded_attempt_maps_points_back(raw_frames):
    img, truth = raw_frames[(3, "VIS")]
    pts, how = AL.detect_five_points(img, CountingDetector(refuse=2))  # only the padded attempt answers
    assert how == "padded"
    # the padded copy is a different input to the mesh model (landmarks move by a few pixels),
    # but mapped back its eyes must land on the true eyes
    assert np.abs(pts[:2] - truth[:2]).max() < 3.0
    assert AL.alignment_error_px(pts, truth) < 4.0


def test_fallback_policies_and_center_crop(tmp_path):
    blank = np.zeros((120, 200), np.uint8)
    blank[:, 40:160] = 255  # the central square is white, the sides black
    aligner = AL.Aligner(fallback="center", detector=CountingDetector())
    crop, rec = aligner.align(blank, "blank.bmp", "NIR")
    assert rec.method == "fallback" and rec.fallback == "center" and rec.points is None
    assert crop.shape == (112, 112) and crop[1:-1, 1:-1].min() == 255  # exactly the central square
    assert aligner.summary()["by_modality"]["NIR"]["no_face"] == ["blank.bmp"]
    crop, rec = AL.Aligner(fallback="drop", detector=CountingDetector()).align(blank, "b", "NIR")
    assert crop is None and rec.fallback == "drop"
    with pytest.raises(ValueError, match="fallback"):
        AL.Aligner(fallback="skip")


def test_cache_serves_same_crop_without_detecting(raw_frames, tmp_path):
    img, _ = raw_frames[(1, "NIR")]
    det = CountingDetector()
    first, r1 = AL.Aligner(cache_dir=tmp_path, detector=det).align(img, "a.bmp", "NIR")
    calls = det.calls
    again, r2 = AL.Aligner(cache_dir=tmp_path, detector=det).align(img, "a.bmp", "NIR")
    assert det.calls == calls and r2.cached and not r1.cached
    assert np.array_equal(first, again) and r1.points == r2.points
    changed = img.copy()
    changed[0, 0] ^= 1  # other pixels: the cache must not answer
    AL.Aligner(cache_dir=tmp_path, detector=det).align(changed, "a.bmp", "NIR")
    assert det.calls > calls


@pytest.fixture(scope="module")
def raw_casia(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw_casia") / "NIR-VIS-2.0"
    return root, F.write_casia(root, subjects=4, test_subjects=4, vis_per_subject=1, nir_per_subject=2,
                               images="raw_faces")


def test_casia_raw_frames_end_to_end(raw_casia, tmp_path):
    src, exp = raw_casia
    root = tmp_path / "casia"
    shutil.copytree(src, root)
    model = RandomProjection(dim=64, pool=16, channels=3, seed=0)
    from nirvis.evaluate.benchmarks import ProtocolError

    with pytest.raises(ProtocolError, match="--align"):
        evaluate_benchmark("casia", root, model, folds="1")
    blank = sorted((root / "s2" / "NIR").rglob("*.bmp"))[0]
    import cv2

    cv2.imwrite(str(blank), np.full((240, 320), 40, np.uint8))  # a frame with no face in it
    out = tmp_path / "out"
    r = evaluate_benchmark("casia", root, model, folds="1", aligned=False, align_cache=tmp_path / "cache",
                           out_dir=out)
    al = r["alignment"]
    n_images = exp["1"]["gallery"] + exp["1"]["probes"]
    assert al["images"] == n_images and al["cached"] == 0
    assert al["by_modality"]["NIR"]["no_face"] == [str(blank)]  # reported, not dropped
    assert r["folds"][0]["n_probes"] == exp["1"]["probes"]
    found = sum(c["detected"] + c["enhanced"] + c["padded"] for c in al["by_modality"].values())
    assert found >= n_images - 2
    md = (out / "report.md").read_text()
    assert "Alignment of raw images" in md and str(blank) in md
    assert len((out / "alignment.tsv").read_text().splitlines()) == n_images + 1
    assert (out / "alignment_examples.png").stat().st_size > 0

    r2 = evaluate_benchmark("casia", root, model, folds="1", aligned=False, align_cache=tmp_path / "cache")
    assert r2["alignment"]["cached"] == n_images
    assert r2["folds"][0]["rank1"] == r["folds"][0]["rank1"]

    r3 = evaluate_benchmark("casia", root, model, folds="1", aligned=False, align_cache=None, align_fallback="drop")
    assert r3["folds"][0]["n_probes"] == exp["1"]["probes"] - 1
    from nirvis.evaluate.align import AlignmentError

    with pytest.raises(AlignmentError, match=str(blank.name)):
        evaluate_benchmark("casia", root, model, folds="1", aligned=False, align_cache=None, align_fallback="error")


def test_cli_align(raw_casia, tmp_path, monkeypatch, capsys):
    stub = types.ModuleType("stub")
    stub.load_embedding_model = lambda path, device="cpu": RandomProjection()
    monkeypatch.setitem(__import__("sys").modules, "nirvis.train.checkpoint", stub)
    out = tmp_path / "o"
    rc = ecli.main(["eval", "casia", "--root", str(raw_casia[0]), "--checkpoint", "x.pt", "--folds", "2", "--align",
                    "--align-cache", str(tmp_path / "cache"), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert (out / "alignment.tsv").is_file()
    rc = ecli.main(["eval", "casia", "--root", str(raw_casia[0]), "--checkpoint", "x.pt", "--folds", "2",
                    "--out", str(out)])
    assert rc == 2 and "--align" in capsys.readouterr().err
    rc = ecli.main(["eval", "synthetic", "--root", str(tmp_path), "--checkpoint", "x.pt", "--align", "--out", str(out)])
    assert rc == 2 and "aligned 112x112 crops already" in capsys.readouterr().err


def test_warp_puts_landmarks_on_the_template():
    """Landmarks that are an exact similarity of the template land on it in the crop, in
    OpenCV's pixel convention (checked with the centroid of a blob drawn at each landmark)."""
    tpl = np.array(ARCFACE_TEMPLATE_112)
    ang, scale, shift = np.deg2rad(17.0), 2.3, np.array([61.0, 48.0])
    rot = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    pts = tpl @ rot.T + shift
    m = AL.arcface_affine(pts)
    assert np.abs(pts @ m[:, :2].T + m[:, 2] - tpl).max() < 1e-6
    yy, xx = np.mgrid[0:400, 0:400]
    for k, (x, y) in enumerate(pts):
        img = (255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 4.0 ** 2))).astype(np.uint8)
        crop = AL.warp_crop(img, m).astype(np.float64)
        cy, cx = np.mgrid[0:112, 0:112]
        centroid = np.array([(crop * cx).sum(), (crop * cy).sum()]) / crop.sum()
        assert np.abs(centroid - tpl[k]).max() < 0.15, (k, centroid, tpl[k])


def test_casia_eye_positions_rescue_missed_faces(tmp_path):
    """Where no face is detected, CASIA's own .pos eye positions align the image (2-point fit)."""
    root = tmp_path / "casia"
    F.write_casia(root, subjects=2, test_subjects=2, vis_per_subject=1, nir_per_subject=1, images="raw_faces",
                  eye_positions=True)
    blind = AL.Aligner(detector=CountingDetector(refuse=10 ** 6))  # a detector that never finds a face
    r = evaluate_benchmark("casia", root, RandomProjection(dim=64, pool=16, channels=3, seed=0), folds="1",
                           aligner=blind)
    counts = r["alignment"]["by_modality"]
    assert counts["NIR"]["eyes"] == 2 and counts["VIS"]["eyes"] == 2 and counts["NIR"]["no_face_total"] == 0
    img, truth = F.raw_face_image(0, 0, "NIR")
    crop, rec = blind.align(img, "x", "NIR", eyes=lambda: truth[1::-1].copy())  # file order does not matter
    assert rec.method == "eyes"
    m = AL.arcface_affine(np.array(rec.points))
    q = truth[:2] @ m[:, :2].T + m[:, 2]
    assert np.abs(q - np.array(ARCFACE_TEMPLATE_112)[:2]).max() < 0.01  # exactly on the template's eyes
    from nirvis.evaluate.benchmarks.casia import read_pos_file

    bad = tmp_path / "bad.pos"
    bad.write_text("12 abc\n")
    assert read_pos_file(bad) is None and read_pos_file(tmp_path / "none.pos") is None


def test_align_tree_then_evaluate_aligned(raw_casia, tmp_path, monkeypatch, capsys):
    """`nirvis align` turns a raw tree into crops with the same relative paths; evaluating those
    with --aligned --image-root/--image-ext gives the same results as --align on the raw tree."""
    src, _ = raw_casia
    out = tmp_path / "aligned"
    assert ecli.main(["align", str(src), "--out", str(out), "--no-align-cache", "--quiet"]) == 0
    assert "crops ->" in capsys.readouterr().out
    crop = out / "s1" / "NIR" / "10001" / "001.png"
    import cv2

    assert cv2.imread(str(crop), cv2.IMREAD_UNCHANGED).shape == (112, 112)
    assert cv2.imread(str(out / "s1" / "VIS" / "10001" / "001.png"), cv2.IMREAD_UNCHANGED).shape == (112, 112, 3)
    assert (out / "alignment.tsv").is_file() and (out / "alignment_examples.png").is_file()
    assert ecli.main(["align", str(src), "--out", str(out), "--quiet"]) == 2  # never overwrites
    model = RandomProjection(dim=64, pool=16, channels=3, seed=0)
    raw = evaluate_benchmark("casia", src, model, folds="1", aligned=False, align_cache=None)
    pre = evaluate_benchmark("casia", src, model, folds="1", image_root=out, image_ext=".png")
    assert pre["folds"][0]["rank1"] == raw["folds"][0]["rank1"]
    assert pre["folds"][0]["auc"] == pytest.approx(raw["folds"][0]["auc"])
