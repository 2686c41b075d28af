"""Raw benchmark images -> 112 x 112 ArcFace crops: detect the face, take 5 landmarks, warp.

    >>> from nirvis.evaluate.align import Aligner                                # doctest: +SKIP
    >>> aligner = Aligner(cache_dir="~/.cache/nirvis/aligned/casia")              # doctest: +SKIP
    >>> crop, record = aligner.align(image, key="s2/NIR/10153/001.bmp", modality="NIR")  # doctest: +SKIP
    >>> record.method              # "detected", "enhanced", "padded" or "fallback"  # doctest: +SKIP

(needs a raw image; ``tests/evaluate/test_raw_alignment.py`` runs this on rendered raw frames)

Landmarks come from MediaPipe's face mesh (``mediapipe==0.10.14``, which ships its face detector
and 468-point mesh models; see ``MediaPipeFivePoints``): the two iris centres, the nose tip
(mesh point 1) and the mouth corners (61, 291), in the insightface order (subject's right eye =
image left first). The crop is the least-squares similarity that maps them onto the ArcFace
template (``nirvis.render.align``, the same fit as insightface's ``norm_crop``), warped
bilinearly with a black border.

Detection policy, tried in order until one finds a face (``AlignmentRecord.method``):

1. ``detected``: the image as read (grey images are replicated to 3 channels).
2. ``enhanced``: grey, contrast-limited histogram equalisation (CLAHE, clip 2, 8 x 8 tiles);
   rescues dark or low-contrast NIR frames.
3. ``padded``: the enhanced image with a 25 % black border on every side, upscaled so its
   short side is at least 256 px; rescues faces that fill or leave the frame and small crops.
4. ``eyes``: the data set's own eye positions, where it ships them (CASIA ``.pos`` files): the
   two-point similarity that puts the eyes on the template's eyes.
5. No face found: the ``fallback`` policy decides, and every such image is listed in the
   report (never silently dropped):

   - ``center`` (default): the central square of the image (side = the short side) is resized
     to 112 x 112, i.e. the face is assumed to be centred and to fill the frame, as in the
     benchmarks' face-centred captures;
   - ``drop``: the image is left out of the evaluation;
   - ``error``: the evaluation stops with the list of such images.

Crops are cached by the decoded image's pixels (SHA-1 of shape and bytes), the detector's name
and version and ``ALIGN_VERSION``: ``<cache_dir>/<key>.png`` holds the crop, ``<key>.json`` the
landmarks and the method. A cache never serves a crop for changed pixels or another detector.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from nirvis.atomic import atomic_write_bytes, staged_dir
from nirvis.crop import CROP_SIZE
from nirvis.errors import NirvisError
from nirvis.shapes import check_shape

#: Bumped whenever the crops for the same pixels and detector would change.
ALIGN_VERSION = 1
FALLBACKS = ("center", "drop", "error")
#: Detection attempts in order (see the module docstring), then the data set's eye positions.
ATTEMPTS = ("detected", "enhanced", "padded")
METHODS = ATTEMPTS + ("eyes", "fallback")
_MIN_DETECT_SIDE = 256


class AlignmentError(NirvisError, RuntimeError):
    """Raw images cannot be aligned: no detector, or faces missed under ``fallback="error"``."""


@dataclass(frozen=True)
class AlignmentRecord:
    """How one image was aligned.

    Attributes:
        key: the image's path or protocol reference.
        modality: "VIS" or "NIR".
        method: "detected", "enhanced", "padded" (a face was found on that attempt), "eyes"
            (none was found; the data set's eye positions were used) or "fallback" (none was
            found and no eye positions exist; see ``fallback``).
        points: five (x, y) landmarks (two for "eyes") in the source image, pixel centres at
            integers (OpenCV convention); None for fallbacks.
        fallback: the policy applied when no face was found ("center", "drop", "error"), else "".
        cached: the crop came from the cache.
    """

    key: str
    modality: str
    method: str
    points: Optional[tuple[tuple[float, float], ...]]
    fallback: str = ""
    cached: bool = False


# ------------------------------------------------------------------------------------ detector

class MediaPipeFivePoints:
    """Five ArcFace landmarks from MediaPipe's face mesh (static images, one face, iris refinement).

    Call with a uint8 ``[H, W, 3]`` RGB image; returns float64 ``[5, 2]`` (x, y) in OpenCV pixel
    convention (pixel centres at integers), or None when no face is found. MediaPipe itself
    normalises coordinates by the image size; ``x * W - 0.5`` converts them.

    Mesh indices: right iris centre 468 (image left), left iris centre 473, nose tip 1, mouth
    corners 61 (subject's right) and 291.
    """

    name = "mediapipe-facemesh"
    INDICES = (468, 473, 1, 61, 291)

    def __init__(self, min_detection_confidence: float = 0.5):
        from nirvis.reconstruct.landmarks import DetectorUnavailableError, import_mediapipe

        try:
            mp, _, face_mesh = import_mediapipe("aligning raw images")
        except DetectorUnavailableError as exc:
            raise AlignmentError(str(exc)) from None
        self.version = getattr(mp, "__version__", "unknown")
        self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                        min_detection_confidence=min_detection_confidence)

    def __call__(self, rgb: np.ndarray) -> Optional[np.ndarray]:
        check_shape(rgb, ["H", "W", 3], "MediaPipeFivePoints image", kind=np.ndarray)
        if rgb.dtype != np.uint8:
            raise ValueError(f"MediaPipeFivePoints image: expected uint8, got {rgb.dtype}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = self._mesh.process(np.ascontiguousarray(rgb))
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        h, w = rgb.shape[:2]
        return np.array([[lm[i].x * w - 0.5, lm[i].y * h - 0.5] for i in self.INDICES], np.float64)


_DETECTOR: Optional[MediaPipeFivePoints] = None


def default_detector() -> MediaPipeFivePoints:
    """The process-wide MediaPipe detector (created on first use)."""
    global _DETECTOR
    if _DETECTOR is None:
        _DETECTOR = MediaPipeFivePoints()
    return _DETECTOR


# ------------------------------------------------------------------------------------ geometry

def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image


def _enhanced(image: np.ndarray) -> np.ndarray:
    import cv2

    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)


def _padded(image: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """(padded and upscaled image, scale, pad x, pad y): source p -> (p + pad) * scale."""
    import cv2

    h, w = image.shape[:2]
    py, px = int(round(0.25 * h)), int(round(0.25 * w))
    out = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=0)
    scale = max(1.0, _MIN_DETECT_SIDE / min(out.shape[:2]))
    if scale > 1.0:
        out = cv2.resize(out, (int(round(out.shape[1] * scale)), int(round(out.shape[0] * scale))),
                         interpolation=cv2.INTER_LINEAR)
    return out, scale, px, py


def detect_five_points(image: np.ndarray, detector: Callable[[np.ndarray], Optional[np.ndarray]]
                       ) -> tuple[Optional[np.ndarray], str]:
    """Five landmarks of the face in ``image`` following the detection policy.

    Args:
        image: uint8 ``[H, W]`` grey or ``[H, W, 3]`` RGB.
        detector: RGB uint8 ``[H, W, 3]`` -> float ``[5, 2]`` OpenCV-convention points or None.

    Returns:
        (float64 ``[5, 2]`` points in ``image``'s OpenCV pixel coordinates, or None; the
        attempt that found them: "detected", "enhanced", "padded", or "" when none did).
    """
    pts = detector(_rgb(image))
    if pts is not None:
        return pts, "detected"
    enhanced = _enhanced(image)
    pts = detector(_rgb(enhanced))
    if pts is not None:
        return pts, "enhanced"
    padded, scale, px, py = _padded(enhanced)
    pts = detector(_rgb(padded))
    if pts is not None:
        # OpenCV convention: resize maps centre c to (c + 0.5) * s - 0.5
        pts = (pts + 0.5) / scale - 0.5 - np.array([px, py], np.float64)
        return pts, "padded"
    return None, ""


def arcface_affine(points: np.ndarray) -> np.ndarray:
    """float64 ``[2, 3]`` OpenCV affine that warps an image to the 112 x 112 ArcFace crop.

    Args:
        points: ``[5, 2]`` landmarks in OpenCV pixel convention, insightface order; or ``[2, 2]``
            eye centres (the similarity then puts them exactly on the template's eyes).
    """
    import torch

    from nirvis.render.align import arcface_template, estimate_similarity, to_cv2_affine

    pts = np.asarray(points, np.float64)
    if pts.shape not in ((5, 2), (2, 2)):
        raise ValueError(f"arcface_affine: expected [5, 2] landmarks or [2, 2] eyes, got {pts.shape}")
    src = torch.as_tensor(pts + 0.5)[None]  # renderer convention
    m = estimate_similarity(src, arcface_template(dtype=torch.float64)[: len(pts)])
    return to_cv2_affine(m)[0].numpy()


def alignment_error_px(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance (112-crop pixels) between where the true landmarks ``truth`` [5, 2] land in
    the crop made from ``points`` [5, 2] and in the crop made from ``truth`` itself: the
    alignment error a recognition model sees (OpenCV pixel convention for both)."""
    a, b = arcface_affine(points), arcface_affine(truth)
    return float(np.linalg.norm((truth @ a[:, :2].T + a[:, 2]) - (truth @ b[:, :2].T + b[:, 2]), axis=1).mean())


def center_affine(height: int, width: int) -> np.ndarray:
    """float64 ``[2, 3]`` OpenCV affine that maps the central square of an ``height x width``
    image onto the 112 x 112 crop (pixel edges onto edges)."""
    side = min(height, width)
    s = CROP_SIZE / side
    x0, y0 = (width - side) / 2.0, (height - side) / 2.0
    # renderer convention q = (p - o) * s; OpenCV: q_cv = (p_cv + 0.5 - o) * s - 0.5
    return np.array([[s, 0.0, (0.5 - x0) * s - 0.5], [0.0, s, (0.5 - y0) * s - 0.5]], np.float64)


def warp_crop(image: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """uint8 ``[112, 112(, 3)]`` crop of ``image`` under an OpenCV ``[2, 3]`` affine (bilinear,
    black border, as insightface's ``norm_crop``)."""
    import cv2

    return cv2.warpAffine(image, np.asarray(affine, np.float64), (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


# ------------------------------------------------------------------------------------ aligner

def default_cache_dir(benchmark: str, root) -> Path:
    """``$XDG_CACHE_HOME/nirvis/aligned/<benchmark>-<hash of the root path>`` (``~/.cache`` by default)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return base / "nirvis" / "aligned" / f"{benchmark}-{tag}"


def _pixels_key(image: np.ndarray, detector_id: str) -> str:
    h = hashlib.sha1()
    h.update(f"{detector_id}|v{ALIGN_VERSION}|{image.dtype}|{image.shape}|".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


class Aligner:
    """Aligns raw images to 112 x 112 ArcFace crops with a crop cache and a record per image.

    Args:
        cache_dir: where crops are cached (None: no cache).
        fallback: "center", "drop" or "error" for images where no face is found.
        detector: RGB uint8 [H, W, 3] -> [5, 2] points or None, with ``name`` and ``version``
            attributes (default: ``MediaPipeFivePoints``, created on first use).
    """

    def __init__(self, cache_dir=None, fallback: str = "center", detector=None):
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.fallback = fallback
        self._detector = detector
        self.records: dict[str, AlignmentRecord] = {}
        #: a few (record, crop) pairs per modality, detected and fallback, for the contact sheet
        self.examples: list[tuple[AlignmentRecord, np.ndarray]] = []
        self.max_examples = 8

    @property
    def detector(self):
        if self._detector is None:
            self._detector = default_detector()
        return self._detector

    @functools.cached_property
    def detector_id(self) -> str:
        """``<name>-<version>`` of the detector (part of every cache key)."""
        d = self.detector
        return f"{getattr(d, 'name', type(d).__name__)}-{getattr(d, 'version', '0')}"

    def align(self, image: np.ndarray, key: str, modality: str,
              eyes: Optional[Callable[[], Optional[np.ndarray]]] = None
              ) -> tuple[Optional[np.ndarray], AlignmentRecord]:
        """The crop of one image (None when dropped) and how it was made.

        Args:
            image: uint8 ``[H, W]`` grey or ``[H, W, 3]`` RGB, as read.
            key: the image's path (for records and messages).
            modality: "VIS" or "NIR".
            eyes: called only when no face is detected: the data set's eye positions (float
                ``[2, 2]`` (x, y), OpenCV convention) or None.

        Returns:
            (uint8 ``[112, 112]`` or ``[112, 112, 3]`` crop with ``image``'s channels, or None
            when no face was found and the fallback is "drop"; the AlignmentRecord).
        """
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"{key}: expected a uint8 [H, W] or [H, W, 3] image, got {image.dtype} {image.shape}")
        ck = _pixels_key(image, self.detector_id) if self.cache_dir is not None else None
        hit = self._cache_get(ck, image) if ck else None
        if hit is not None:
            points, method, crop = hit
        else:
            points, method = detect_five_points(image, self.detector)
            crop = warp_crop(image, arcface_affine(points)) if points is not None else None
            if ck:
                self._cache_put(ck, image, points, method, crop)
        given = eyes() if points is None and eyes is not None else None
        if given is not None:
            given = given[np.argsort(given[:, 0])]  # image-left eye first, whichever file convention
            crop = warp_crop(image, arcface_affine(given))
            rec = AlignmentRecord(key, modality, "eyes", tuple(map(tuple, np.round(given, 3).tolist())),
                                  cached=hit is not None)
        elif points is not None:
            rec = AlignmentRecord(key, modality, method, tuple(map(tuple, np.round(points, 3).tolist())),
                                  cached=hit is not None)
        else:
            rec = AlignmentRecord(key, modality, "fallback", None, fallback=self.fallback, cached=hit is not None)
            crop = warp_crop(image, center_affine(*image.shape[:2])) if self.fallback == "center" else None
        self.records[key] = rec
        if crop is not None:
            self._keep_example(rec, crop)
        return crop, rec

    def _keep_example(self, rec: AlignmentRecord, crop: np.ndarray) -> None:
        group = (rec.modality, rec.method == "fallback")
        if sum(1 for e in self.examples if (e[0].modality, e[0].method == "fallback") == group) < self.max_examples:
            self.examples.append((rec, crop))

    # the cache holds, per image, the landmarks and method (json) and the crop (png); the
    # crop is re-made from the landmarks when its file is missing or unreadable
    def _cache_get(self, ck: str, image: np.ndarray):
        import cv2

        d = self.cache_dir / ck[:2]
        try:
            meta = json.loads((d / f"{ck}.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("shape") != list(image.shape) or meta.get("align_version") != ALIGN_VERSION:
            return None
        if meta.get("points") is None:
            return None, "", None
        pts = np.array(meta["points"], np.float64)
        crop = cv2.imread(str(d / f"{ck}.png"), cv2.IMREAD_UNCHANGED)
        want = (CROP_SIZE, CROP_SIZE) + image.shape[2:]
        if crop is None or crop.shape != want:
            crop = warp_crop(image, arcface_affine(pts))
        elif crop.ndim == 3:
            crop = np.ascontiguousarray(crop[..., ::-1])
        return pts, meta.get("method", ""), crop

    def _cache_put(self, ck: str, image: np.ndarray, points: Optional[np.ndarray], method: str,
                   crop: Optional[np.ndarray]) -> None:
        import cv2

        d = self.cache_dir / ck[:2]
        d.mkdir(parents=True, exist_ok=True)
        if crop is not None:
            ok, buf = cv2.imencode(".png", crop[..., ::-1] if crop.ndim == 3 else crop)
            if ok:
                atomic_write_bytes(d / f"{ck}.png", buf.tobytes(), fsync=False)
        meta = {"points": None if points is None else points.tolist(), "method": method,
                "shape": list(image.shape), "align_version": ALIGN_VERSION}
        atomic_write_bytes(d / f"{ck}.json", json.dumps(meta).encode(), fsync=False)

    def summary(self, keys: Optional[Sequence[str]] = None, show: int = 20) -> dict:
        """Counts per modality and method, and the images where no face was found."""
        recs = [self.records[k] for k in (keys if keys is not None else self.records) if k in self.records]
        out: dict = {"fallback_policy": self.fallback, "detector": self.detector_id,
                     "align_version": ALIGN_VERSION, "cache_dir": str(self.cache_dir) if self.cache_dir else None,
                     "images": len(recs), "cached": sum(r.cached for r in recs), "by_modality": {}}
        for mod in sorted({r.modality for r in recs}):
            rs = [r for r in recs if r.modality == mod]
            counts = {m: sum(r.method == m for r in rs) for m in METHODS}
            missed = sorted(r.key for r in rs if r.method == "fallback")
            out["by_modality"][mod] = {"images": len(rs), **counts, "no_face": missed[:show],
                                       "no_face_total": len(missed)}
        return out

    def write_landmarks(self, path) -> None:
        """A TSV of every record: key, modality, method, fallback, x1 y1 ... x5 y5 (nan where absent)."""
        rows = ["key\tmodality\tmethod\tfallback\t" + "\t".join(f"{a}{i}" for i in range(1, 6) for a in "xy")]
        for r in sorted(self.records.values(), key=lambda r: r.key):
            vals = [v for p in (r.points or ()) for v in p]
            pts = "\t".join([f"{v:.3f}" for v in vals] + ["nan"] * (10 - len(vals)))
            rows.append(f"{r.key}\t{r.modality}\t{r.method}\t{r.fallback}\t{pts}")
        atomic_write_bytes(Path(path), ("\n".join(rows) + "\n").encode())



# ------------------------------------------------------------------------------------ a whole tree

def align_tree(src, out, fallback: str = "center", cache_dir=None, detector=None, progress: bool = True,
               examples: bool = True) -> dict:
    """Align every image under ``src`` into ``out`` with the same relative paths (``.png``, lossless).

    For fine-tuning on real benchmark lists (``nirvis train`` reads 112x112 crops) and for
    evaluating with ``--aligned --image-root OUT --image-ext .png``. Images are grouped as
    "colour" or "grey" (three channels that differ, or one channel) in the summary; nothing is
    inferred from path names. ``out`` appears only when complete (written under a temporary
    name, then renamed); it must not exist yet. Writes ``out/alignment.tsv``,
    ``out/alignment.json`` (the summary) and ``out/alignment_examples.png``.

    Returns:
        The summary (``Aligner.summary``) plus ``written`` (crops written) and ``unreadable``.
    """
    import cv2

    from nirvis.evaluate.benchmarks.base import IMAGE_EXTS, read_image_file

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise AlignmentError(f"{src}: not a directory")
    if out.exists():
        raise AlignmentError(f"{out}: exists; choose a new output directory")
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise AlignmentError(f"{src}: no images ({', '.join(IMAGE_EXTS)})")
    aligner = Aligner(cache_dir=cache_dir, fallback=fallback, detector=detector)
    _ = aligner.detector  # fail before any work if it cannot load
    written, unreadable, no_face = 0, [], []
    with staged_dir(out) as tmp:
        it = files
        if progress:
            from tqdm import tqdm

            it = tqdm(files, desc=f"align {src.name}", unit="img")
        for p in it:
            rel = p.relative_to(src)
            img = read_image_file(str(p))
            if img is None:
                unreadable.append(str(rel))
                continue
            colour = img.ndim == 3 and not (np.array_equal(img[..., 0], img[..., 1])
                                            and np.array_equal(img[..., 1], img[..., 2]))
            crop, rec = aligner.align(img, str(rel), "colour" if colour else "grey")
            if rec.method == "fallback":
                no_face.append(str(rel))
                if fallback == "error":
                    raise AlignmentError(f"{p}: no face found (--fallback center|drop aligns the rest and lists it)")
            if crop is None:
                continue
            dst = (tmp / rel).with_suffix(".png")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(dst), crop[..., ::-1] if crop.ndim == 3 else crop):
                raise OSError(f"could not write {dst}")
            written += 1
        summary = aligner.summary(show=50)
        summary.update({"source": str(src), "written": written, "unreadable": unreadable})
        aligner.write_landmarks(tmp / "alignment.tsv")
        (tmp / "alignment.json").write_text(json.dumps(summary, indent=1) + "\n")
        if examples and aligner.examples:
            from nirvis.evaluate.report import write_alignment_sheet

            write_alignment_sheet(aligner, tmp)
    return summary
