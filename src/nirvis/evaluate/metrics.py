"""Identification and verification metrics over a score matrix.

All functions take ``scores`` of shape [P probes, G gallery] (higher = more similar) and the
labels of the probes (length P) and of the gallery (length G). A *genuine* pair is a
(probe, gallery) pair with the same label, an *impostor* pair one with different labels; every
probe is compared with every gallery entry (the reference NIR-VIS protocol).

The ROC is the exact empirical one (as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``):
one point per distinct score threshold, scores >= threshold accepted, tied scores entering
together (so a tie between a genuine and an impostor score makes a diagonal ROC segment, and
the AUC counts such ties as 1/2, as ``roc_auc_score`` does).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

DEFAULT_FARS = (1e-2, 1e-3, 1e-4)
VR_RULES = ("interpolated", "nearest")


def _as_inputs(scores, probe_labels, gallery_labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be a 2-D [probes, gallery] matrix, got shape {s.shape}")
    p = np.asarray(probe_labels)
    g = np.asarray(gallery_labels)
    if p.ndim != 1 or len(p) != s.shape[0]:
        raise ValueError(f"probe_labels must have length {s.shape[0]} (rows of scores), got shape {p.shape}")
    if g.ndim != 1 or len(g) != s.shape[1]:
        raise ValueError(f"gallery_labels must have length {s.shape[1]} (columns of scores), got shape {g.shape}")
    if s.size == 0:
        raise ValueError(f"scores is empty (shape {s.shape}): no probes or no gallery")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"scores holds {int(np.sum(~np.isfinite(s)))} non-finite value(s)")
    return s, p[:, None] == g[None, :]


def rank1(scores, probe_labels, gallery_labels) -> float:
    """Share of probes whose best-scoring gallery entry has the probe's label (closed set).

    Ties for the best score: the first gallery entry among the tied ones counts (``argmax``).
    Raises ValueError if a probe's label is absent from the gallery (not a closed-set problem).
    """
    s, same = _as_inputs(scores, probe_labels, gallery_labels)
    absent = ~same.any(axis=1)
    if absent.any():
        bad = np.asarray(probe_labels)[absent]
        raise ValueError(f"rank1: {int(absent.sum())} probe(s) have labels absent from the gallery "
                         f"(closed-set identification needs every probe identity enrolled), e.g. {list(bad[:5])}")
    best = np.argmax(s, axis=1)
    return float(np.mean(same[np.arange(len(best)), best]))


def genuine_impostor(scores, probe_labels, gallery_labels) -> tuple[np.ndarray, np.ndarray]:
    """(genuine scores, impostor scores), both 1-D."""
    s, same = _as_inputs(scores, probe_labels, gallery_labels)
    return s[same], s[~same]


def roc_from_scores(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC of genuine vs impostor scores: (fpr, tpr, thresholds), thresholds decreasing,
    starting at (0, 0) with threshold +inf. Raises ValueError without genuine or impostor scores."""
    genuine = np.asarray(genuine, dtype=np.float64).ravel()
    impostor = np.asarray(impostor, dtype=np.float64).ravel()
    if genuine.size == 0:
        raise ValueError("ROC undefined: there are no genuine pairs (no probe shares a label with a gallery entry)")
    if impostor.size == 0:
        raise ValueError("ROC undefined: there are no impostor pairs (every pair has the same label; "
                         "a verification rate at a false accept rate needs at least two identities)")
    values = np.concatenate([genuine, impostor])
    is_gen = np.concatenate([np.ones(genuine.size, bool), np.zeros(impostor.size, bool)])
    order = np.argsort(-values, kind="mergesort")
    values, is_gen = values[order], is_gen[order]
    tp = np.cumsum(is_gen)
    fp = np.cumsum(~is_gen)
    last = np.r_[np.flatnonzero(np.diff(values) != 0), values.size - 1]  # last index of each distinct value
    tpr = np.r_[0.0, tp[last] / genuine.size]
    fpr = np.r_[0.0, fp[last] / impostor.size]
    thr = np.r_[np.inf, values[last]]
    return fpr, tpr, thr


def roc_curve(scores, probe_labels, gallery_labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ROC over all genuine and impostor pairs of a score matrix: (fpr, tpr, thresholds).

    Equal to ``sklearn.metrics.roc_curve(y, s, drop_intermediate=False)`` on the flattened pairs
    (one point per distinct score, ties entering together; first point (0, 0) at +inf).
    """
    return roc_from_scores(*genuine_impostor(scores, probe_labels, gallery_labels))


def reference_roc_points(fpr: np.ndarray, tpr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact ROC thinned as ``sklearn.metrics.roc_curve``'s default ``drop_intermediate=True``
    does (scikit-learn 1.9.1 checked): of each run of thresholds with the same TPR (a horizontal
    segment) only the first and the last point are kept. The point (0, 0) stays first."""
    fpr, tpr = np.asarray(fpr), np.asarray(tpr)
    f, t = fpr[1:], tpr[1:]
    if len(f) > 2:
        keep = np.r_[True, np.logical_or(np.diff(t[:-1]) != 0, np.diff(t[1:]) != 0), True]
        f, t = f[keep], t[keep]
    return np.r_[fpr[:1], f], np.r_[tpr[:1], t]


def _vr_from_roc(fpr: np.ndarray, tpr: np.ndarray, far: float, rule: str) -> float:
    if rule == "nearest":
        # The reference: sklearn's default (thinned) ROC, the point whose FPR is closest to the FAR,
        # the first one on ties (np.argmin)
        rf, rt = reference_roc_points(fpr, tpr)
        return float(rt[int(np.argmin(np.abs(rf - far)))])
    if rule == "interpolated":
        i = int(np.searchsorted(fpr, far, side="right")) - 1  # last point with fpr <= far
        if fpr[i] == far or i == len(fpr) - 1:
            return float(tpr[i])
        f0, f1, t0, t1 = fpr[i], fpr[i + 1], tpr[i], tpr[i + 1]
        return float(t0 + (t1 - t0) * (far - f0) / (f1 - f0))
    raise ValueError(f"unknown VR rule {rule!r}; choose from {VR_RULES}")


def vr_at_far(scores, probe_labels, gallery_labels, fars: Sequence[float] = DEFAULT_FARS,
              rule: str = "interpolated") -> dict[float, float]:
    """Verification rate (TAR = TPR) at each false accept rate in ``fars``.

    Rules:
        ``"nearest"``: TPR of the ROC point whose FPR is closest to the FAR, without interpolation,
            as the reference scripts do: ``np.argmin(abs(fpr - far))`` (the first point on ties)
            over the points ``sklearn.metrics.roc_curve`` returns with its defaults (the exact ROC
            thinned by ``drop_intermediate=True``: see :func:`reference_roc_points`). Its value
            depends on that thinning (older scikit-learn releases thinned differently) and, when the
            closest point has FPR > FAR, it reports a TPR at a higher false accept rate than asked.
        ``"interpolated"``: TPR at exactly FPR = FAR by linear interpolation between the two
            consecutive ROC points around it (at a FAR hit exactly, the highest TPR reached at that
            FPR). This is the operating point of a randomised threshold and never reports a TPR
            at a FPR above the FAR.

    With fewer than 1/FAR impostor pairs the FAR is below the ROC's resolution; the value is still
    defined (by either rule) but rests on few or no impostor scores: ``far_resolution`` tells.
    """
    if rule not in VR_RULES:
        raise ValueError(f"unknown VR rule {rule!r}; choose from {VR_RULES}")
    fpr, tpr, _ = roc_curve(scores, probe_labels, gallery_labels)
    out = {}
    for far in fars:
        if not 0.0 <= float(far) <= 1.0:
            raise ValueError(f"FAR must lie in [0, 1], got {far}")
        out[float(far)] = _vr_from_roc(fpr, tpr, float(far), rule)
    return out


def vr_from_roc(fpr, tpr, fars: Sequence[float] = DEFAULT_FARS, rule: str = "interpolated") -> dict[float, float]:
    """:func:`vr_at_far` on a precomputed ROC (fpr increasing, in threshold order)."""
    fpr, tpr = np.asarray(fpr, np.float64), np.asarray(tpr, np.float64)
    return {float(f): _vr_from_roc(fpr, tpr, float(f), rule) for f in fars}


def eer_from_roc(fpr, tpr) -> float:
    """Equal error rate: the FPR where FPR = FNR (= 1 - TPR), linearly interpolated on the ROC."""
    fpr, tpr = np.asarray(fpr, np.float64), np.asarray(tpr, np.float64)
    d = (1.0 - tpr) - fpr  # decreasing along the ROC: 1 at (0, 0), -1 at (1, 1)
    j = int(np.argmax(d <= 0))  # first point where FNR <= FPR
    if j == 0:
        return float(fpr[0])
    d0, d1 = d[j - 1], d[j]
    w = d0 / (d0 - d1)
    return float(fpr[j - 1] + w * (fpr[j] - fpr[j - 1]))


def eer(scores, probe_labels, gallery_labels) -> float:
    """Equal error rate over genuine vs impostor pairs (see :func:`eer_from_roc`)."""
    fpr, tpr, _ = roc_curve(scores, probe_labels, gallery_labels)
    return eer_from_roc(fpr, tpr)


def auc(scores, probe_labels, gallery_labels) -> float:
    """Area under the exact ROC (trapezoids; genuine/impostor ties count 1/2), as ``roc_auc_score``."""
    fpr, tpr, _ = roc_curve(scores, probe_labels, gallery_labels)
    return float(np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr))


def summarize_folds(results: Iterable[Mapping[str, float]], ddof: int = 0) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each numeric key over folds:
    ``{key: {"mean": m, "std": s, "n": folds}}``. ``ddof=0`` (population std, ``np.std``'s
    default, what the NIR-VIS papers' "mean +- std" usually is); pass ``ddof=1`` for the sample std.
    Keys missing from some folds are summarised over the folds that have them."""
    results = list(results)
    if not results:
        raise ValueError("summarize_folds: no fold results")
    keys: list[str] = []
    for r in results:
        keys += [k for k, v in r.items() if k not in keys and isinstance(v, (int, float, np.floating, np.integer))
                 and not isinstance(v, bool)]
    out = {}
    for k in keys:
        vals = np.array([float(r[k]) for r in results if k in r], dtype=np.float64)
        std = float(np.std(vals, ddof=ddof)) if len(vals) > ddof else float("nan")
        out[k] = {"mean": float(np.mean(vals)), "std": std, "n": int(len(vals))}
    return out


def format_mean_std(entry: Mapping[str, float], scale: float = 100.0, digits: int = 2) -> str:
    """``"98.76 ± 0.54"`` (values scaled by ``scale``, e.g. to percent)."""
    m, s = entry["mean"] * scale, entry["std"] * scale
    return f"{m:.{digits}f} ± {s:.{digits}f}" if not math.isnan(s) else f"{m:.{digits}f}"
