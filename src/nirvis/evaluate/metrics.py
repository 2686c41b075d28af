"""Identification and verification metrics over a score matrix.

All functions take ``scores`` of shape [P probes, G gallery] (higher = more similar) and the
labels of the probes (length P) and of the gallery (length G). A *genuine* pair is a
(probe, gallery) pair with the same label, an *impostor* pair one with different labels; every
probe is compared with every gallery entry (the reference NIR-VIS protocol).

The ROC is the exact empirical one (as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``):
one point per distinct score threshold, scores >= threshold accepted, tied scores entering
together (so a tie between a genuine and an impostor score makes a diagonal ROC segment, and
the AUC counts such ties as 1/2, as ``roc_auc_score`` does). The reference's VR rule
(``vr_at_far(..., rule="nearest")``) works on that ROC thinned as scikit-learn's default
``drop_intermediate=True`` thins it (``roc_curve(..., drop_intermediate=True)``).

Reference parity (insightface ``recognition/idmmd``, ``evaluate/eval_ops.py``): with
``rank1(..., ties="reference")`` and ``vr_at_far(..., rule="nearest")`` the values equal the
reference's on the same score matrix, ties included (tested on random matrices).
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, NamedTuple, Sequence

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


RANK1_TIES = ("first", "reference")


def rank1(scores, probe_labels, gallery_labels, ties: str = "first") -> float:
    """Share of probes whose best-scoring gallery entry has the probe's label (closed set).

    ``scores``: [P, G] (any real dtype; float32 from ``features.cosine_scores``).
    Ties for the best score (``ties``):
        ``"first"``: the lowest gallery index among the tied ones counts (``np.argmax``); the same
            on every machine.
        ``"reference"``: the reference's ``np.argsort(-scores)[:, 0]`` on the scores as given (their
            own dtype if float or signed int), numpy's default (unstable) sort: the tied entry that
            sort leaves first counts, which may change with the numpy version and the CPU's SIMD
            sort kernels. Without ties both rules agree.
    Raises ValueError if a probe's label is absent from the gallery (not a closed-set problem; the
    reference would count such a probe as a miss).
    """
    if ties not in RANK1_TIES:
        raise ValueError(f"unknown Rank-1 tie rule {ties!r}; choose from {RANK1_TIES}")
    s, same = _as_inputs(scores, probe_labels, gallery_labels)
    absent = ~same.any(axis=1)
    if absent.any():
        bad = np.asarray(probe_labels)[absent]
        raise ValueError(f"rank1: {int(absent.sum())} probe(s) have labels absent from the gallery "
                         f"(closed-set identification needs every probe identity enrolled), e.g. {list(bad[:5])}")
    if ties == "reference":
        given = np.asarray(scores)  # signed int / float: sorted as given; other kinds as float64
        best = np.argsort(-(given if given.dtype.kind in "fi" else s))[:, 0]
    else:
        best = np.argmax(s, axis=1)
    return float(np.mean(same[np.arange(len(best)), best]))


def genuine_impostor(scores, probe_labels, gallery_labels) -> tuple[np.ndarray, np.ndarray]:
    """(genuine scores, impostor scores), both 1-D float64."""
    s, same = _as_inputs(scores, probe_labels, gallery_labels)
    return s[same], s[~same]


class RocCounts(NamedTuple):
    """Accepted pairs at each distinct score threshold, thresholds decreasing (scores >= threshold
    accepted), without the (0, 0) start: what ``sklearn.metrics.confusion_matrix_at_thresholds``
    returns. ``fps`` / ``tps``: float64 [T] whole numbers (impostor / genuine pairs accepted),
    ``thresholds``: float64 [T]; ``fps[-1]`` = impostor pairs, ``tps[-1]`` = genuine pairs."""

    fps: np.ndarray
    tps: np.ndarray
    thresholds: np.ndarray


def roc_counts(genuine: np.ndarray, impostor: np.ndarray) -> RocCounts:
    """:class:`RocCounts` of genuine vs impostor scores. Raises ValueError without genuine or
    impostor scores."""
    genuine = np.asarray(genuine, dtype=np.float64).ravel()
    impostor = np.asarray(impostor, dtype=np.float64).ravel()
    if genuine.size == 0:
        raise ValueError("ROC undefined: there are no genuine pairs (no probe shares a label with a gallery entry)")
    if impostor.size == 0:
        raise ValueError("ROC undefined: there are no impostor pairs (every pair has the same label; "
                         "a verification rate at a false accept rate needs at least two identities)")
    values = np.concatenate([genuine, impostor])
    is_gen = np.concatenate([np.ones(genuine.size, np.float64), np.zeros(impostor.size, np.float64)])
    order = np.argsort(-values, kind="stable")
    values, is_gen = values[order], is_gen[order]
    last = np.r_[np.flatnonzero(np.diff(values) != 0), values.size - 1]  # last index of each distinct value
    tps = np.cumsum(is_gen)[last]
    fps = 1.0 + last - tps
    return RocCounts(fps, tps, values[last])


def roc_from_counts(counts: RocCounts, drop_intermediate: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) float64, thresholds decreasing, starting at (0, 0) with threshold +inf.

    ``drop_intermediate=False``: the exact ROC, one point per distinct score.
    ``drop_intermediate=True``: thinned exactly as ``sklearn.metrics.roc_curve``'s default does
    (scikit-learn 1.9.1 checked): of the distinct-threshold points, the first, the last and every
    point where the second difference of ``fps`` or of ``tps`` is non-zero are kept (an interior
    point goes only when both its steps in fps and in tps equal the previous ones), then (0, 0)
    is put first. FPR = fps / impostor pairs, TPR = tps / genuine pairs, as sklearn divides."""
    fps, tps, thr = counts
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2) != 0, np.diff(tps, 2) != 0), True]
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return fps / fps[-1], tps / tps[-1], np.r_[np.inf, thr]


def roc_from_scores(genuine: np.ndarray, impostor: np.ndarray, drop_intermediate: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC of genuine vs impostor scores: (fpr, tpr, thresholds), see :func:`roc_from_counts`.
    Raises ValueError without genuine or impostor scores."""
    return roc_from_counts(roc_counts(genuine, impostor), drop_intermediate)


def roc_curve(scores, probe_labels, gallery_labels, drop_intermediate: bool = False
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC over all genuine and impostor pairs of a score matrix: (fpr, tpr, thresholds).

    Equal to ``sklearn.metrics.roc_curve(y, s, drop_intermediate=...)`` on the flattened pairs;
    the default here is the exact ROC (``drop_intermediate=False``: one point per distinct score,
    ties entering together; first point (0, 0) at +inf).
    """
    return roc_from_scores(*genuine_impostor(scores, probe_labels, gallery_labels), drop_intermediate)


def _nearest_index(fpr: np.ndarray, far: float) -> int:
    """The reference's choice on its ROC: the point with the smallest ``|fpr - far|``; among equally
    near points the last one (``min(zip(d, range(n)))`` over the reversed curve picks the lowest
    index there), i.e. the highest threshold index = the highest TPR."""
    d = np.abs(fpr - far)
    return len(d) - 1 - int(np.argmin(d[::-1]))


def _vr(exact: tuple[np.ndarray, np.ndarray], thinned: tuple[np.ndarray, np.ndarray], far: float,
        rule: str) -> float:
    if rule == "nearest":
        rf, rt = thinned
        return float(rt[_nearest_index(rf, far)])
    if rule == "interpolated":
        fpr, tpr = exact
        i = int(np.searchsorted(fpr, far, side="right")) - 1  # last point with fpr <= far
        if fpr[i] == far or i == len(fpr) - 1:
            return float(tpr[i])
        f0, f1, t0, t1 = fpr[i], fpr[i + 1], tpr[i], tpr[i + 1]
        return float(t0 + (t1 - t0) * (far - f0) / (f1 - f0))
    raise ValueError(f"unknown VR rule {rule!r}; choose from {VR_RULES}")


def vr_from_counts(counts: RocCounts, fars: Sequence[float] = DEFAULT_FARS,
                   rules: Sequence[str] = ("interpolated",)) -> dict[str, dict[float, float]]:
    """``{rule: {far: VR}}`` from precomputed :class:`RocCounts` (see :func:`vr_at_far`)."""
    for rule in rules:
        if rule not in VR_RULES:
            raise ValueError(f"unknown VR rule {rule!r}; choose from {VR_RULES}")
    for far in fars:
        if not 0.0 <= float(far) <= 1.0:
            raise ValueError(f"FAR must lie in [0, 1], got {far}")
    exact = roc_from_counts(counts)[:2]
    thinned = roc_from_counts(counts, drop_intermediate=True)[:2] if "nearest" in rules else exact
    return {rule: {float(f): _vr(exact, thinned, float(f), rule) for f in fars} for rule in rules}


def vr_at_far(scores, probe_labels, gallery_labels, fars: Sequence[float] = DEFAULT_FARS,
              rule: str = "interpolated") -> dict[float, float]:
    """Verification rate (TAR = TPR) at each false accept rate in ``fars``.

    Rules:
        ``"nearest"``: the reference's (``evaluate/eval_ops.py``): on the ROC that
            ``sklearn.metrics.roc_curve`` returns with its defaults (the exact ROC thinned by
            ``drop_intermediate=True``, see :func:`roc_from_counts`), the TPR of the point whose FPR
            is closest to the FAR, without interpolation; among equally close points the one with
            the highest TPR (the reference takes ``min(zip(|fpr - far|, index))`` over the reversed
            curve). FPR and TPR are the same float64 values sklearn computes, so ties tie the same
            way. Its value depends on that thinning (older scikit-learn releases thinned
            differently) and, when the closest point has FPR > FAR, it reports a TPR at a higher
            false accept rate than asked (e.g. 1.0 at FAR 1e-4 for perfectly separated scores).
        ``"interpolated"``: TPR at exactly FPR = FAR by linear interpolation between the two
            consecutive ROC points around it (at a FAR hit exactly, the highest TPR reached at that
            FPR). This is the operating point of a randomised threshold and never reports a TPR
            at a FPR above the FAR.

    With fewer than 1/FAR impostor pairs the FAR is below the ROC's resolution; the value is still
    defined (by either rule) but rests on few or no impostor scores: ``far_resolution`` tells.
    """
    if rule not in VR_RULES:
        raise ValueError(f"unknown VR rule {rule!r}; choose from {VR_RULES}")
    counts = roc_counts(*genuine_impostor(scores, probe_labels, gallery_labels))
    return vr_from_counts(counts, fars, (rule,))[rule]


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
