"""Evaluate a feature extractor on a benchmark: protocol -> images -> features -> scores -> metrics.

    >>> import tempfile
    >>> from nirvis.evaluate.features import RandomProjection
    >>> from nirvis.evaluate.fixtures import write_casia
    >>> from nirvis.evaluate.run import evaluate_benchmark
    >>> root = tempfile.mkdtemp()
    >>> _ = write_casia(root)                       # a tiny CASIA NIR-VIS 2.0 layout, separable patterns
    >>> res = evaluate_benchmark("casia", root, RandomProjection(), folds="1")
    >>> res["summary"]["rank1"]["mean"], res["summary"]["rank1"]["n"]
    (1.0, 1)

Images are pre-aligned 112x112 crops (``aligned=True``, the reference's input), or raw images
that ``nirvis.evaluate.align.Aligner`` detects, aligns and caches first (``aligned=False``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from nirvis.atomic import atomic_write
from nirvis.crop import CROP_SIZE
from nirvis.evaluate import metrics as M
from nirvis.evaluate.benchmarks import canonical, load_protocol
from nirvis.evaluate.align import Aligner, AlignmentError, default_cache_dir
from nirvis.evaluate.benchmarks.base import ImageList, Protocol, ProtocolError
from nirvis.evaluate.features import cosine_scores, embed, to_grey

ROC_POINTS = 2000


def _metric_key(far: float, rule: Optional[str] = None) -> str:
    return f"vr{'_' + rule if rule else ''}@{far:g}"


def _normalise_image(img: np.ndarray, grey: bool) -> np.ndarray:
    if grey:
        return to_grey(img[None])[0] if img.ndim == 3 else img
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img


def load_images(protocol: Protocol, lst: ImageList, grey: bool, allow_missing: bool,
                aligner: Optional[Aligner] = None) -> tuple[np.ndarray, ImageList, list[str]]:
    """(uint8 images, the list without unreadable or dropped images, unreadable paths).

    Without ``aligner`` every image must be a 112x112 crop; with one, raw images are aligned
    (images where no face is found follow its fallback policy and are in its records)."""
    imgs, keep, bad, wrong, no_face = [], [], [], [], []
    todo = lst.paths
    if aligner is not None and len(todo) > 50:
        from tqdm import tqdm

        todo = tqdm(todo, desc=f"align {protocol.benchmark} {lst.modality}", unit="img", leave=False)
    for p in todo:
        a = protocol.read_image(p)
        if a is None:
            bad.append(p)
            keep.append(False)
            continue
        if aligner is not None:
            eyes = (lambda p=p: protocol.eyes(p)) if protocol.eyes is not None else None
            a, rec = aligner.align(a, p, lst.modality, eyes=eyes)
            if rec.method == "fallback":
                no_face.append(p)
            if a is None:
                keep.append(False)
                continue
        elif a.shape[:2] != (CROP_SIZE, CROP_SIZE):
            wrong.append(f"{p} ({a.shape[1]}x{a.shape[0]})")
            keep.append(False)
            continue
        imgs.append(_normalise_image(a, grey))
        keep.append(True)
    if wrong:
        raise ProtocolError(f"{protocol.benchmark}: {len(wrong)} image(s) are not {CROP_SIZE}x{CROP_SIZE} aligned "
                            f"crops, e.g. {wrong[:3]} (pass aligned=False / --align to detect and align raw images)")
    if no_face and aligner is not None and aligner.fallback == "error":
        raise AlignmentError(f"{protocol.benchmark}: no face found in {len(no_face)} {lst.modality} image(s), e.g. "
                             f"{no_face[:5]} (--align-fallback center|drop evaluates them anyway and lists them)")
    if bad and not allow_missing:
        raise ProtocolError(f"{protocol.benchmark}: {len(bad)} of {len(lst)} {lst.modality} image(s) unreadable, "
                            f"e.g. {bad[:5]} (use allow_missing=True to evaluate what can be read)")
    if not imgs:
        raise ProtocolError(f"{protocol.benchmark}: no readable {lst.modality} images")
    return np.stack(imgs), lst.subset(keep), bad


def _downsample_roc(fpr: np.ndarray, tpr: np.ndarray, n: int = ROC_POINTS) -> dict[str, list[float]]:
    if len(fpr) <= n:
        idx = np.arange(len(fpr))
    else:  # keep points evenly spaced in log-FPR and in TPR, plus both ends
        lf = np.log10(np.maximum(fpr, 1e-9))
        idx = np.unique(np.r_[0, len(fpr) - 1, np.searchsorted(lf, np.linspace(lf[1], 0, n // 2)).clip(0, len(fpr) - 1),
                              np.searchsorted(tpr, np.linspace(0, 1, n // 2)).clip(0, len(fpr) - 1)])
    return {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist()}


def rank1_ties(vr_rule: str) -> str:
    """The Rank-1 tie rule that goes with a VR rule: the reference's ``np.argsort(-s)[:, 0]``
    (``"reference"``) with its ``"nearest"`` VR rule, else the first gallery entry (``"first"``,
    machine-independent); see ``metrics.rank1``."""
    return "reference" if vr_rule == "nearest" else "first"


def fold_metrics(scores: np.ndarray, probe_labels: Sequence, gallery_labels: Sequence,
                 fars: Sequence[float] = M.DEFAULT_FARS, vr_rule: str = "interpolated") -> dict[str, Any]:
    """Metrics of one fold's score matrix [P probes, G gallery] (see ``metrics``): rank1 (tie rule
    :func:`rank1_ties` of ``vr_rule``), VR@FAR under both rules (``vr_<rule>@F``; ``vr@F`` = the
    ``vr_rule`` one), EER, AUC, pair counts, and a down-sampled exact ROC."""
    gen, imp = M.genuine_impostor(scores, probe_labels, gallery_labels)
    counts = M.roc_counts(gen, imp)
    fpr, tpr, _ = M.roc_from_counts(counts)
    out: dict[str, Any] = {"rank1": M.rank1(scores, probe_labels, gallery_labels, ties=rank1_ties(vr_rule))}
    for rule, vrs in M.vr_from_counts(counts, fars, M.VR_RULES).items():
        for far, v in vrs.items():
            out[_metric_key(far, rule)] = v
            if rule == vr_rule:
                out[_metric_key(far)] = v
    out["eer"] = M.eer_from_roc(fpr, tpr)
    out["auc"] = float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))
    out.update({"n_gallery": int(scores.shape[1]), "n_probes": int(scores.shape[0]), "n_genuine": int(gen.size),
                "n_impostor": int(imp.size), "far_resolution": 1.0 / imp.size})
    out["roc"] = _downsample_roc(fpr, tpr)
    return out


def _features(protocol: Protocol, lst: ImageList, cache: dict, model_fn, opts: dict, allow_missing: bool,
              aligner: Optional[Aligner]) -> tuple[np.ndarray, ImageList, list[str]]:
    todo = [p for p in dict.fromkeys(lst.paths) if p not in cache]
    bad: list[str] = []
    chunk = 2048
    for s in range(0, len(todo), chunk):
        part = ImageList(tuple(todo[s:s + chunk]), tuple([""] * len(todo[s:s + chunk])), lst.modality)
        try:
            imgs, ok, b = load_images(protocol, part, opts["grey"], allow_missing, aligner)
        except ProtocolError as exc:
            if "no readable" in str(exc) and allow_missing:
                bad += list(part.paths)
                continue
            raise
        bad += b
        feats = embed(imgs, model_fn, **opts)
        cache.update(zip(ok.paths, feats))
    keep = [p in cache for p in lst.paths]
    kept = lst.subset(keep)
    if not len(kept):
        raise ProtocolError(f"{protocol.benchmark}: no readable {lst.modality} images")
    return np.stack([cache[p] for p in kept.paths]), kept, bad


def evaluate_protocol(protocol: Protocol, model_fn: Callable, *, aligner: Optional[Aligner] = None,
                      allow_missing: bool = False, save_scores: bool = False, out_dir=None, batch_size: int = 64,
                      flip: bool = True, channels: Optional[int] = None, grey: bool = True, device=None,
                      fars: Sequence[float] = M.DEFAULT_FARS, vr_rule: str = "interpolated") -> dict[str, Any]:
    """Metrics of ``model_fn`` on every fold of ``protocol`` (``aligner``: align raw images first)."""
    if vr_rule not in M.VR_RULES:
        raise ValueError(f"vr_rule must be one of {M.VR_RULES}, got {vr_rule!r}")
    channels = channels or int(getattr(model_fn, "in_channels", 3))
    opts = {"batch_size": batch_size, "flip": flip, "channels": channels, "grey": grey, "device": device}
    cache: dict[str, np.ndarray] = {}
    folds, unreadable = [], []
    for fold in protocol.folds:
        gf, gl, b1 = _features(protocol, fold.gallery, cache, model_fn, opts, allow_missing, aligner)
        pf, pl, b2 = _features(protocol, fold.probe, cache, model_fn, opts, allow_missing, aligner)
        unreadable += b1 + b2
        scores = cosine_scores(pf, gf)
        m = fold_metrics(scores, pl.labels, gl.labels, fars, vr_rule)
        m["fold"] = fold.name
        if save_scores:
            if out_dir is None:
                raise ValueError("save_scores needs out_dir")
            path = Path(out_dir) / f"scores_{protocol.benchmark}_{fold.name}.npz"
            arrays = {"scores": scores.astype(np.float32), "probe_labels": np.array(pl.labels),
                      "gallery_labels": np.array(gl.labels), "probe_paths": np.array(pl.paths),
                      "gallery_paths": np.array(gl.paths)}
            atomic_write(path, functools.partial(np.savez_compressed, **arrays))
            m["scores_file"] = path.name
        folds.append(m)
    scalar = [{k: v for k, v in f.items() if isinstance(v, float) and not k.startswith("n_")
               and k != "far_resolution"} for f in folds]
    out = {"benchmark": protocol.benchmark, "protocol": protocol.name, "root": protocol.root, "kind": "nir_vis",
           "vr_rule": vr_rule, "rank1_ties": rank1_ties(vr_rule), "fars": [float(f) for f in fars], "flip": flip,
           "channels": channels, "grey": grey,
           "folds": folds, "summary": M.summarize_folds(scalar), "counts": protocol.counts(),
           "expected": protocol.expected, "missing": list(protocol.missing), "unreadable": sorted(set(unreadable)),
           "notes": protocol.notes, "aligned_input": aligner is None}
    if aligner is not None:
        out["alignment"] = aligner.summary()
        if out_dir is not None:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            aligner.write_landmarks(Path(out_dir) / "alignment.tsv")
    return out


def _is_eval_fixture(root: Path) -> bool:
    """``root`` was written by ``nirvis eval-fixture`` (its fixture.json names a benchmark)."""
    import json

    try:
        return "benchmark" in json.loads((root / "fixture.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


def evaluate_benchmark(name: str, root, model_fn: Callable, folds="all", protocol: Optional[str] = None,
                       aligned: bool = True, align_fallback: str = "center", align_cache="default",
                       aligner: Optional[Aligner] = None, allow_missing: bool = False, save_scores: bool = False,
                       out_dir=None, batch_size: int = 64, flip: bool = True, channels: Optional[int] = None,
                       grey: Optional[bool] = None, device=None, fars: Sequence[float] = M.DEFAULT_FARS,
                       vr_rule: str = "interpolated", **loader_kwargs) -> dict[str, Any]:
    """Evaluate ``model_fn`` (float [B, C, 112, 112] in [0, 1] -> features [B, D]) on a benchmark.

    Args:
        name: casia, lamp_hq, oulu, buaa, synthetic, or lfw / cfp_fp / agedb_30 (``.bin`` sets).
        root: the data set's root in its native layout (see each loader's docstring).
        folds: "all", "1,2", [1, 2] or "dev" (CASIA).
        protocol: Oulu: "finetune" (default) or "zeroshot".
        aligned: images are 112x112 aligned crops; False: detect, align and cache raw images first
            (``nirvis.evaluate.align``; needs mediapipe).
        align_fallback: with ``aligned=False``, what happens to images where no face is found:
            "center" (central square resized), "drop" or "error"; they are listed in the report.
        align_cache: crop cache directory, "default" (``align.default_cache_dir``) or None (no cache).
        aligner: a ready Aligner (overrides align_fallback / align_cache).
        allow_missing: evaluate what exists and record missing/unreadable files instead of failing.
        save_scores: write each fold's score matrix to ``out_dir/scores_<benchmark>_<fold>.npz``.
        out_dir: when given, ``write_report`` writes report.json / report.md / roc.png / det.png there.
        grey: convert images to grey (default True for NIR-VIS, False for the VIS .bin sets).
        vr_rule: "interpolated" or "nearest" (see ``metrics.vr_at_far``); both are always stored.
            "nearest" (the reference's rule) also takes Rank-1 ties as the reference does
            (``np.argsort(-s)[:, 0]``), "interpolated" the first tied gallery entry.
        loader_kwargs: passed to the loader (image_root, image_ext, subjects, held_out, ...).
    """
    n = canonical(name)
    if n == "vis_bin":
        from nirvis.evaluate.benchmarks.vis_bin import bin_path, evaluate_bin

        if not aligned:
            raise ValueError("the .bin verification sets hold aligned 112x112 crops already: use --aligned")
        set_name = name.lower().replace("-", "_")
        set_name = loader_kwargs.get("set", "lfw") if set_name == "vis_bin" else set_name
        set_name = {"agedb": "agedb_30"}.get(set_name, set_name)
        ch = channels or int(getattr(model_fn, "in_channels", 3))
        # A 1-channel model (LightCNN) sees the colour pairs as luma, as in every other benchmark.
        r = evaluate_bin(bin_path(root, set_name), model_fn, batch_size=batch_size, flip=flip, channels=ch,
                         grey=bool(grey) if grey is not None else ch == 1, allow_missing=allow_missing, device=device)
        fold = {"fold": set_name, "accuracy": r["accuracy"], "accuracy_std_10fold": r["accuracy_std"],
                "fold_accuracies": r["fold_accuracies"], "thresholds": r["thresholds"], "n_pairs": r["pairs"]}
        results = {"benchmark": set_name, "protocol": "10fold_pairs", "root": str(root), "kind": "vis_bin",
                   "flip": flip, "folds": [fold],
                   "summary": {"accuracy": {"mean": r["accuracy"], "std": r["accuracy_std"], "n": 10}},
                   "missing": [f"pair {i}" for i in r["dropped_pairs"]], "unreadable": [], "notes": ""}
        if save_scores:
            if out_dir is None:
                raise ValueError("save_scores needs out_dir")
            atomic_write(Path(out_dir) / f"scores_{set_name}.npz",
                         functools.partial(np.savez_compressed, sims=r["sims"], issame=r["issame"]))
    else:
        if not aligned and n == "synthetic":
            raise ValueError("the synthetic benchmark's shards hold aligned 112x112 crops already: use --aligned")
        if not aligned and aligner is None:
            cache = default_cache_dir(n, root) if align_cache == "default" else align_cache
            aligner = Aligner(cache_dir=cache, fallback=align_fallback)
        if aligner is not None:
            _ = aligner.detector  # fail now, before any work, if the detector cannot load
        kwargs = dict(loader_kwargs)
        if protocol is not None:
            if n != "oulu":
                raise ValueError(f"--protocol applies to oulu only (finetune|zeroshot), not {name}")
            kwargs["protocol"] = protocol
        proto = load_protocol(n, root, folds=folds, allow_missing=allow_missing, **kwargs)
        results = evaluate_protocol(proto, model_fn, aligner=aligner, allow_missing=allow_missing,
                                    save_scores=save_scores, out_dir=out_dir, batch_size=batch_size, flip=flip,
                                    channels=channels, grey=True if grey is None else grey, device=device,
                                    fars=fars, vr_rule=vr_rule)
    if getattr(model_fn, "info", None):
        results["model"] = dict(model_fn.info)
    if n != "vis_bin" and _is_eval_fixture(Path(root)):
        results["notes"] = ((results.get("notes") or "") + "; " if results.get("notes") else "") + (
            f"{root} is a `nirvis eval-fixture` data set of rendered faces, not the real benchmark: the "
            "documented counts and published numbers do not apply to it")
    if out_dir is not None:
        from nirvis.evaluate.report import write_report

        results["report_files"] = write_report(results, out_dir)
        if aligner is not None and aligner.examples:
            from nirvis.evaluate.report import write_alignment_sheet

            results["report_files"].append(write_alignment_sheet(aligner, out_dir))
    return results
