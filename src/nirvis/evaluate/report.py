"""Reports of evaluation results: report.json, report.md (with published numbers), ROC and DET plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from nirvis.atomic import atomic_write, atomic_write_bytes

# Published numbers (percent), from the methods' public READMEs (docs/reference facts).
PUBLISHED = {
    "casia": {"columns": ["rank1", "vr@0.001"],
              "rows": {"LightCNN-29": [96.7, 88.5], "DVG": [99.8, 98.8], "FSIAD": [99.9, 99.2],
                       "MAMCO": [99.9, 99.8], "PrivacyHFR": [99.4, 99.2]}},
    "lamp_hq": {"columns": ["rank1", "vr@0.001", "vr@0.0001"],
                "rows": {"LightCNN-29": [95.8, 82.4, 62.5], "DVG": [98.3, 96.4, 88.6], "FSIAD": [98.7, 97.3, 92.6],
                         "MAMCO": [99.2, 99.0, 97.0], "PrivacyHFR": [99.0, 98.7, 93.9]}},
}
RULE_TEXT = {
    "interpolated": "VR@FAR = TPR linearly interpolated on the exact ROC at FPR = FAR",
    "nearest": "VR@FAR = TPR of the point of scikit-learn's default (thinned) ROC with the FPR closest to the FAR, "
               "the highest TPR among equally close points, no interpolation (the reference's rule)",
}
RANK1_TIES_TEXT = {
    "first": "Rank-1 ties for the best score: the first tied gallery entry counts",
    "reference": "Rank-1 ties for the best score: the entry numpy's default sort puts first "
                 "(`np.argsort(-scores)[:, 0]`, the reference's; may differ across numpy versions and CPUs)",
}
LABELS = {"rank1": "Rank-1", "eer": "EER", "auc": "AUC", "accuracy": "Accuracy"}


def _label(k: str) -> str:
    if k.startswith("vr"):
        rule, far = (k[3:].split("@") if k.startswith("vr_") else ("", k.split("@")[1]))
        return f"VR@FAR={float(far) * 100:g}%" + (f" ({rule})" if rule else "")
    return LABELS.get(k, k)


def _pct(entry: dict) -> str:
    m, s = entry["mean"] * 100, entry["std"] * 100
    return f"{m:.2f}" if entry.get("n", 1) <= 1 or math.isnan(s) else f"{m:.2f} ± {s:.2f}"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def markdown(results: dict) -> str:
    b = results["benchmark"]
    lines = [f"# Evaluation: {b} ({results.get('protocol', '')})", ""]
    if results.get("kind") == "vis_bin":
        lines += ["10-fold verification accuracy (threshold chosen on 9 folds, applied to the 10th).", ""]
    else:
        rule = results.get("vr_rule", "interpolated")
        ties = results.get("rank1_ties", "first")
        lines += [f"VR rule: **{rule}** — {RULE_TEXT[rule]}. Both rules are stored in report.json. "
                  f"{RANK1_TIES_TEXT[ties]}.",
                  "Features: " + ("n(n(f(x)) + n(f(flip(x)))), n = L2-normalise" if results.get("flip")
                                  else "L2-normalise(f(x))") + ", "
                  f"{'grey' if results.get('grey') else 'RGB'} input, cosine scores, every probe vs every "
                  "gallery image.",
                  ""]
    model = results.get("model")
    if model:
        extra = [f"epoch {model['epoch']}"] if model.get("epoch") is not None else []
        extra += [f"ignored classifier {', '.join(model['ignored'])}"] if model.get("ignored") else []
        lines += [f"Model: `{model.get('checkpoint')}` ({model.get('format')}, {model.get('backbone')}"
                  + "".join(f"; {e}" for e in extra) + ").", ""]
    summ = results["summary"]
    keys = [k for k in summ if k == "rank1" or k == "accuracy" or (k.startswith("vr@"))] + \
           [k for k in ("eer", "auc") if k in summ]
    n = max(v["n"] for v in summ.values())
    lines += [f"## Results (percent, mean ± std over {n} fold{'s' if n != 1 else ''})", "",
              "| " + " | ".join(_label(k) for k in keys) + " |", "|" + "---|" * len(keys),
              "| " + " | ".join(_pct(summ[k]) for k in keys) + " |", ""]
    folds = results.get("folds", [])
    if results.get("kind") != "vis_bin" and folds:
        fk = [k for k in keys if k in folds[0]]
        lines += ["## Per fold", "", "| fold | gallery | probes | " + " | ".join(_label(k) for k in fk) + " |",
                  "|" + "---|" * (3 + len(fk))]
        for f in folds:
            lines.append(f"| {f['fold']} | {f['n_gallery']} | {f['n_probes']} | "
                         + " | ".join(f"{f[k] * 100:.2f}" for k in fk) + " |")
        lines.append("")
        low = [f"{f['fold']}: {f['n_impostor']} impostor pairs" for f in folds
               if min(results.get("fars", [1])) < f["far_resolution"]]
        if low:
            lines += ["Note: the smallest FAR is below the ROC resolution (1 / impostor pairs) in "
                      + "; ".join(low), ""]
    pub = PUBLISHED.get(b)
    if pub:
        cols = pub["columns"]
        lines += ["## Published numbers (percent; VR rule of each paper's own script)", "",
                  "| method | " + " | ".join(_label(c) for c in cols) + " |", "|---|" + "---|" * len(cols)]
        for meth, vals in pub["rows"].items():
            lines.append(f"| {meth} | " + " | ".join(f"{v:.1f}" for v in vals) + " |")
        lines.append("| **this model** | " + " | ".join(_pct(summ[c]) if c in summ else "—" for c in cols) + " |")
        lines.append("")
    if b == "oulu":
        lines += ["Oulu-CASIA: the fine-tuning (20 test subjects) and zero-shot (40 subjects) sets are different "
                  "test sets; do not compare numbers across them.", ""]
    exp = results.get("expected") or {}
    if exp and results.get("counts"):
        lines += ["## Counts (this run vs documented)", "", "| fold | gallery | probes | documented gallery | "
                  "documented probes |", "|---|---|---|---|---|"]
        for c in results["counts"]:
            e = exp.get(c["fold"], {})
            lines.append(f"| {c['fold']} | {c['gallery']} | {c['probes']} | {e.get('gallery', '—')} | "
                         f"{e.get('probes', e.get('probes_approx', '—'))} |")
        lines.append("")
    if results.get("missing") or results.get("unreadable"):
        miss, unr = results.get("missing", []), results.get("unreadable", [])
        lines += [f"**Incomplete data:** {len(miss)} missing and {len(unr)} unreadable file(s) were left out "
                  f"(allow_missing); first: {(miss + unr)[:5]}", ""]
    al = results.get("alignment")
    if al:
        lines += _alignment_lines(al)
    if results.get("notes"):
        lines += [f"Notes: {results['notes']}", ""]
    return "\n".join(lines)


FALLBACK_TEXT = {
    "center": "the central square of the image was resized to 112x112 (face assumed centred)",
    "drop": "the image was left out of the evaluation",
    "error": "the evaluation stops",
}


def _alignment_lines(al: dict) -> list[str]:
    lines = ["## Alignment of raw images", "",
             f"Detector {al['detector']} (5 points: iris centres, nose tip, mouth corners), similarity warp to the "
             f"ArcFace 112x112 template; alignment version {al['align_version']}; "
             f"{al['cached']} of {al['images']} image(s) from the cache `{al.get('cache_dir')}`.", "",
             "| modality | images | detected | after CLAHE | after padding | data set's eyes | no face |",
             "|---|---|---|---|---|---|---|"]
    for mod, c in al["by_modality"].items():
        lines.append(f"| {mod} | {c['images']} | {c['detected']} | {c['enhanced']} | {c['padded']} | "
                     f"{c.get('eyes', 0)} | {c['no_face_total']} |")
    lines.append("")
    missed = [(mod, c) for mod, c in al["by_modality"].items() if c["no_face_total"]]
    if missed:
        lines += [f"No face found (policy `{al['fallback_policy']}`: {FALLBACK_TEXT[al['fallback_policy']]}):", ""]
        for mod, c in missed:
            more = c["no_face_total"] - len(c["no_face"])
            lines.append(f"- {mod}: " + ", ".join(f"`{k}`" for k in c["no_face"])
                         + (f" and {more} more" if more else ""))
        lines.append("")
    lines += ["Landmarks of every image: `alignment.tsv`; example crops: `alignment_examples.png`.", ""]
    return lines


def write_alignment_sheet(aligner, out_dir, name: str = "alignment_examples.png") -> str:
    """A contact sheet of example crops (per modality: detected faces, then no-face fallbacks)."""
    from PIL import Image

    from nirvis.atomic import save_image
    from nirvis.faces.preview import contact_sheet

    ex = sorted(aligner.examples, key=lambda e: (e[0].modality, e[0].method == "fallback"))
    tiles = [Image.fromarray(crop) for _, crop in ex]
    labels = [f"{r.modality} {'no face' if r.method == 'fallback' else r.method}" for r, _ in ex]
    save_image(contact_sheet(tiles, columns=8, labels=labels), Path(out_dir) / name)
    return name


def _plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folds = [f for f in results.get("folds", []) if "roc" in f]
    if not folds:
        return []
    nd = NormalDist()
    files = []
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for f in folds:
        fpr, tpr = np.asarray(f["roc"]["fpr"]), np.asarray(f["roc"]["tpr"])
        m = fpr > 0
        ax.plot(fpr[m], tpr[m], lw=1, label=f"fold {f['fold']}" if len(folds) <= 10 else None)
    ax.set_xscale("log")
    ax.set_xlim(1e-5, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("False accept rate")
    ax.set_ylabel("Verification rate (TPR)")
    ax.set_title(f"ROC: {results['benchmark']}")
    ax.grid(True, which="both", alpha=0.3)
    files.append(_finish_plot(fig, ax, out / "roc.png", legend=len(folds) <= 10))

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    eps = 1e-6
    for f in folds:
        fpr, fnr = np.asarray(f["roc"]["fpr"]), 1 - np.asarray(f["roc"]["tpr"])
        x = [nd.inv_cdf(min(max(v, eps), 1 - eps)) for v in fpr]
        y = [nd.inv_cdf(min(max(v, eps), 1 - eps)) for v in fnr]
        ax.plot(x, y, lw=1, label=f"fold {f['fold']}" if len(folds) <= 10 else None)
    ticks = [1e-4, 1e-3, 1e-2, 0.1, 0.5]
    ax.set_xticks([nd.inv_cdf(t) for t in ticks], [f"{t:g}" for t in ticks], fontsize=7)
    ax.set_yticks([nd.inv_cdf(t) for t in ticks], [f"{t:g}" for t in ticks], fontsize=7)
    ax.set_xlim(nd.inv_cdf(5e-5), nd.inv_cdf(0.7))
    ax.set_ylim(nd.inv_cdf(5e-5), nd.inv_cdf(0.7))
    ax.set_xlabel("False accept rate (normal deviate scale)")
    ax.set_ylabel("False reject rate")
    ax.set_title(f"DET: {results['benchmark']}")
    ax.grid(True, alpha=0.3)
    files.append(_finish_plot(fig, ax, out / "det.png", legend=len(folds) <= 10))
    return files


def _finish_plot(fig, ax, path: Path, legend: bool) -> str:
    """Legend, layout, save through a temporary file and a rename, close; returns the file name."""
    import matplotlib.pyplot as plt

    if legend:
        ax.legend(fontsize=7)
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)
    return path.name


def write_report(results: dict, out_dir) -> list[str]:
    """Write ``report.json``, ``report.md`` and (NIR-VIS benchmarks) ``roc.png`` + ``det.png`` to
    ``out_dir``; returns the file names.

    ``report.json`` is written last (each file atomically), and an old one is removed first: a
    ``report.json`` in ``out_dir`` always belongs with the other files beside it, also after a
    run that failed half way (disk full: ``WriteError`` naming the file).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").unlink(missing_ok=True)
    doc = {k: v for k, v in results.items() if k != "report_files"}
    text = json.dumps(_jsonable(doc), indent=1, sort_keys=False, allow_nan=False)  # fails before any write
    atomic_write_bytes(out / "report.md", markdown(results).encode())
    plots = _plots(results, out)
    atomic_write_bytes(out / "report.json", (text + "\n").encode())
    return ["report.json", "report.md"] + plots
