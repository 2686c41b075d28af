"""Tiny data sets in each benchmark's native layout, for tests and smoke runs.

Images are synthetic with known identities: each subject has a smooth random pattern; a VIS
image is a tinted RGB version, a NIR image a grey version with another tone curve, each image
with its own small noise and shift (or, in ``write_synthetic(render=True)``, faces rendered by
``nirvis.render.pair``). Every layout writer takes ``images``: ``pattern`` (default), ``faces``
(aligned crops of procedural identities rendered by nirvis) or ``raw_faces`` (raw, unaligned
camera-like frames of rendered faces, for ``--align``; see ``IMAGE_STYLES``). Every writer
returns a dict of the counts the loader must find.
"""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from nirvis.crop import CROP_SIZE


def subject_image(subject: int, index: int, modality: str, seed: int = 0) -> np.ndarray:
    """uint8 [112, 112, 3] (VIS) or [112, 112] (NIR) image of ``subject``."""
    import cv2

    base_rng = np.random.default_rng([seed, subject, 7])
    base = cv2.resize(base_rng.uniform(0, 1, (6, 6)).astype(np.float32), (CROP_SIZE, CROP_SIZE),
                      interpolation=cv2.INTER_CUBIC)
    base = (base - base.min()) / max(float(base.max() - base.min()), 1e-6)
    rng = np.random.default_rng([seed, subject, index, 0 if modality == "VIS" else 1])
    dx, dy = rng.integers(-2, 3, 2)
    base = np.roll(base, (int(dy), int(dx)), axis=(0, 1))
    noise = rng.normal(0, 0.03, base.shape).astype(np.float32)
    if modality == "VIS":
        tint = np.array([1.0, 0.85, 0.7], np.float32)
        img = (40 + 170 * (base + noise))[..., None] * tint
    else:
        img = 50 + 150 * np.clip(base + noise, 0, 1) ** 0.8
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


RAW_FRAME = (240, 320)  # (H, W) of raw fixture frames: the benchmarks' 4:3 captures, scaled down
#: How a fixture's images are made: ``pattern`` (per-subject smooth patterns, instant and
#: perfectly separable: for wiring and metric tests), ``faces`` (112x112 aligned crops of
#: procedural identities rendered by nirvis), ``raw_faces`` (raw 320x240 frames of rendered faces,
#: unaligned, for ``--align``).
IMAGE_STYLES = ("pattern", "faces", "raw_faces")
#: Rendered images per subject and modality; fixture image ``index`` reuses render ``index % FACE_POOL``.
FACE_POOL = 4


@functools.lru_cache(maxsize=16)
def _prepared_face(seed: int, subject: int):
    from nirvis.render.pair import prepare_procedural_face

    return prepare_procedural_face(seed, subject, resolution=128)


@functools.lru_cache(maxsize=256)
def _rendered(seed: int, subject: int, index: int, modality: str, raw_size: int, align: bool):
    from nirvis.render.pair import SampleSpace, pair_seed, render_pair, sample_params

    params = sample_params(SampleSpace(raw_resolution=raw_size),
                           pair_seed(seed, subject, 2 * index + (modality == "NIR")))
    out = render_pair(_prepared_face(seed, subject), params, align=align)
    img = (out.vis if modality == "VIS" else out.nir)[0].numpy()
    pts = (out.vis_landmarks5 if modality == "VIS" else out.nir_landmarks5)[0].numpy().astype(np.float64) - 0.5
    img.setflags(write=False)
    return img, pts


def face_image(subject: int, index: int, modality: str, seed: int = 0) -> np.ndarray:
    """uint8 [112, 112, 3] (VIS) or [112, 112] (NIR) aligned crop of procedural identity
    ``subject`` rendered by nirvis (render ``index % FACE_POOL`` of that subject and modality)."""
    from nirvis.render.pair import SampleSpace

    return _rendered(seed, subject, index % FACE_POOL, modality, SampleSpace().raw_resolution, True)[0].copy()


def raw_face_image(subject: int, index: int, modality: str, seed: int = 0,
                   frame: tuple[int, int] = RAW_FRAME) -> tuple[np.ndarray, np.ndarray]:
    """A raw, unaligned camera-like frame of procedural identity ``subject`` and its true landmarks.

    The face is rendered at ``frame``'s height (random pose, lighting, sensor of the default
    SampleSpace), then widened to ``frame`` by mirroring the render's borders, with a random
    horizontal offset, so the face is off centre and the crop must be found.

    Returns:
        (uint8 [H, W, 3] RGB for VIS or [H, W] for NIR; float64 [5, 2] landmarks in OpenCV
        pixel convention (pixel centres at integers), insightface order).
    """
    import cv2

    h, w = frame
    img, pts = _rendered(seed, subject, index, modality, h, False)
    left = int(np.random.default_rng([seed, subject, index, 11]).integers(0, w - h + 1))
    img = cv2.copyMakeBorder(img, 0, 0, left, w - h - left, cv2.BORDER_REFLECT_101)
    return img, pts + np.array([left, 0.0])


def _image(subject: int, index: int, modality: str, images: str) -> np.ndarray:
    if images == "faces":
        return face_image(subject, index, modality)
    if images == "raw_faces":
        return raw_face_image(subject, index, modality)[0]
    if images == "pattern":
        return subject_image(subject, index, modality)
    raise ValueError(f"images must be one of {IMAGE_STYLES}, got {images!r}")


def _write(path: Path, img: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), img[..., ::-1] if img.ndim == 3 else img)
    if not ok:
        raise OSError(f"could not write {path}")


def _lines(path: Path, rows: Sequence[str], crlf: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n" if crlf else "\n").join(rows).encode("utf-8") + b"\n")


def write_casia(root, subjects: int = 6, test_subjects: int = 4, vis_per_subject: int = 2,
                nir_per_subject: int = 3, images: str = "pattern", eye_positions: bool = False) -> dict:
    """CASIA NIR-VIS 2.0 layout: ``s{1,2}/VIS|NIR/<id>/<nnn>.jpg|bmp`` + ``protocols/`` lists of
    View 2 folds 1..10 and dev (backslash entries, CRLF). Fold k tests ``test_subjects``
    subjects starting at subject k-1 (cyclically); dev starts at subject 0. ``eye_positions``
    (``raw_faces`` only): also the data set's ``annotations/<session>/<modality>/<id>/<nnn>.pos``
    files with the true eye centres (``re_x re_y le_x le_y``, subject's right eye first)."""
    if eye_positions and images != "raw_faces":
        raise ValueError("write_casia: eye_positions needs images='raw_faces' (the only frames with known eyes)")
    root = Path(root)
    ids = [10001 + s for s in range(subjects)]
    vis, nir = {}, {}
    for s, sid in enumerate(ids):
        sess = f"s{1 + s % 2}"
        vis[sid] = [f"{sess}\\VIS\\{sid}\\{i + 1:03d}.jpg" for i in range(vis_per_subject)]
        nir[sid] = [f"{sess}\\NIR\\{sid}\\{i + 1:03d}.bmp" for i in range(nir_per_subject)]
        for mod, entries in (("VIS", vis[sid]), ("NIR", nir[sid])):
            for i, e in enumerate(entries):
                rel = e.replace("\\", "/")
                _write(root / rel, _image(s, i, mod, images))
                if eye_positions:
                    eyes = raw_face_image(s, i, mod)[1][:2]
                    _lines(root / "annotations" / Path(rel).with_suffix(".pos"),
                           [" ".join(f"{v:.2f}" for v in eyes.ravel())])
    expected = {}
    for k in [str(i) for i in range(1, 11)] + ["dev"]:
        start = 0 if k == "dev" else int(k) - 1
        test = [ids[(start + j) % subjects] for j in range(test_subjects)]
        _lines(root / "protocols" / f"vis_gallery_{k}.txt", [vis[t][0] for t in test], crlf=True)
        _lines(root / "protocols" / f"nir_probe_{k}.txt", [e for t in test for e in nir[t]], crlf=True)
        expected[k] = {"gallery": test_subjects, "probes": test_subjects * nir_per_subject,
                       "subjects": [str(t) for t in test]}
    return expected


def write_lamp_hq(root, subjects: int = 5, test_subjects: int = 3, folds: int = 10, nir_per_subject: int = 3,
                  images: str = "pattern") -> dict:
    """LAMP-HQ layout: ``VIS/VIS_FP0001_1_a.jpg``, ``NIR/NIR_FP0001_1_DOWN_a.jpg`` and
    ``protocols/vis_gallery_K.txt`` / ``nir_probe_K.txt`` with "path label" lines (no header)."""
    root = Path(root)
    poses = ["DOWN", "LEFT", "RIGHT", "UP", "FRONT"]
    names = [f"FP{s + 1:04d}" for s in range(subjects)]
    vis, nir = {}, {}
    for s, n in enumerate(names):
        vis[n] = f"VIS/VIS_{n}_1_a.jpg"
        _write(root / vis[n], _image(s, 0, "VIS", images))
        nir[n] = [f"NIR/NIR_{n}_1_{poses[i % len(poses)]}_{'abc'[i // len(poses)]}.jpg" for i in range(nir_per_subject)]
        for i, e in enumerate(nir[n]):
            _write(root / e, _image(s, i, "NIR", images))
    expected = {}
    for k in range(1, folds + 1):
        test = [names[(k - 1 + j) % subjects] for j in range(test_subjects)]
        _lines(root / "protocols" / f"vis_gallery_{k}.txt", [f"{vis[t]} {t}" for t in test])
        _lines(root / "protocols" / f"nir_probe_{k}.txt", [f"{e} {t}" for t in test for e in nir[t]])
        expected[str(k)] = {"gallery": test_subjects, "probes": test_subjects * nir_per_subject,
                            "first_gallery_label": test[0]}
    return expected


OULU_EXPRESSIONS = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise")


def write_oulu(root, subjects: int = 4, frames: int = 9, illuminations: Sequence[str] = ("Strong", "Weak"),
               images: str = "pattern") -> dict:
    """Oulu-CASIA NIR-VIS layout: ``VL|NI/<Illumination>/P00k/<Expression>/<nnn>.jpeg``."""
    root = Path(root)
    names = [f"P{s + 1:03d}" for s in range(subjects)]
    for li, ill in enumerate(illuminations):
        for top, mod in (("VL", "VIS"), ("NI", "NIR")):
            for s, n in enumerate(names):
                for ei, e in enumerate(OULU_EXPRESSIONS):
                    for f in range(frames):
                        _write(root / top / ill / n / e / f"{f:03d}.jpeg",
                               _image(s, 1000 * li + 100 * ei + f, mod, images))
    return {"subjects": names, "per_subject": 6 * min(8, frames)}


def write_buaa(root, test_subjects: int = 4, train_subjects: int = 50, vis_per_subject: int = 2,
               nir_per_subject: int = 3, lists: bool = False, images: str = "pattern") -> dict:
    """BUAA-VisNir layout ``VIS/<n>/<k>.bmp`` + ``NIR/<n>/<k>.bmp`` (subjects 1..; the first
    ``train_subjects`` are empty training folders), or with ``lists`` also
    ``protocols/vis_gallery.txt`` / ``nir_probe.txt``."""
    root = Path(root)
    for s in range(1, train_subjects + 1):
        (root / "VIS" / str(s)).mkdir(parents=True, exist_ok=True)
        (root / "NIR" / str(s)).mkdir(parents=True, exist_ok=True)
    test = [str(train_subjects + 1 + j) for j in range(test_subjects)]
    g_rows, p_rows = [], []
    for j, t in enumerate(test):
        for i in range(vis_per_subject):
            _write(root / "VIS" / t / f"{i + 1}.bmp", _image(j, i, "VIS", images))
        g_rows.append(f"VIS/{t}/1.bmp {t}")
        for i in range(nir_per_subject):
            _write(root / "NIR" / t / f"{i + 1}.bmp", _image(j, i, "NIR", images))
            p_rows.append(f"NIR/{t}/{i + 1}.bmp {t}")
    if lists:
        _lines(root / "protocols" / "vis_gallery.txt", g_rows)
        _lines(root / "protocols" / "nir_probe.txt", p_rows)
    return {"gallery": test_subjects, "probes": test_subjects * nir_per_subject, "subjects": test}


def write_synthetic(root, labels: int = 4, pairs: int = 3, per_shard: int = 5, render: bool = False,
                    seed: int = 3) -> dict:
    """A render-dataset-like output: ``ROOT/shards/shard-NNNNNN.tar`` with ``<label>_<index>``
    samples (vis.png RGB, nir.png grey, json). ``render=True`` renders procedural faces
    (about 0.3 s per identity + 0.1 s per pair on CPU) instead of synthetic patterns."""
    import json

    from nirvis.shards.format import ShardWriter, encode_png, sample_key, shard_name

    root = Path(root)
    (root / "shards").mkdir(parents=True, exist_ok=True)
    samples = []
    for label in range(labels):
        if render:
            from nirvis.render.pair import SampleSpace, pair_seed, prepare_procedural_face, render_pair, sample_params

            face = prepare_procedural_face(seed, label, resolution=128, backend="torch")
            for i in range(pairs):
                out = render_pair(face, sample_params(SampleSpace(), pair_seed(seed, label, i)), backend="torch")
                samples.append((label, i, out.vis[0].cpu().numpy(), out.nir[0].cpu().numpy()))
        else:
            for i in range(pairs):
                samples.append((label, i, subject_image(label, i, "VIS", seed), subject_image(label, i, "NIR", seed)))
    n_shards = 0
    for s in range(0, len(samples), per_shard):
        with open(root / "shards" / shard_name(n_shards), "wb") as f:
            w = ShardWriter(f)
            for label, i, v, n in samples[s:s + per_shard]:
                w.add_sample(sample_key(label, i), encode_png(v), encode_png(n), {"label": label, "index": i})
            w.close()
        n_shards += 1
    (root / "fixture.json").write_text(json.dumps({"labels": labels, "pairs": pairs}))
    return {"labels": labels, "gallery": labels, "probes": labels * (pairs - 1), "shards": n_shards}


def write_vis_bin(path, pairs: int = 40, seed: int = 0, corrupt: Optional[Sequence[int]] = None) -> dict:
    """An insightface ``.bin`` pair set: pickle of (list of JPEG bytes, list of issame), pairs
    alternating same / different identity. ``corrupt``: image indices replaced by junk bytes."""
    import cv2

    bins, issame = [], []
    for p in range(pairs):
        same = p % 2 == 0
        a, b = 2 * p, (2 * p if same else 2 * p + 1)
        for s, i in ((a, 0), (b, 1)):
            ok, buf = cv2.imencode(".jpg", subject_image(s, i, "VIS", seed)[..., ::-1])
            bins.append(buf.tobytes())
        issame.append(same)
    for c in corrupt or ():
        bins[c] = b"not an image"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump((bins, issame), f, protocol=4)
    return {"pairs": pairs, "same": int(sum(issame))}
