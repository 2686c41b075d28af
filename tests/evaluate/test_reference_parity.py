"""Rank-1 and VR@FAR (``nearest``) against the reference's rule (insightface recognition/idmmd,
``evaluate/eval_ops.py``), restated here, on 100 random score matrices up to 1000 x 100: continuous,
float32, rounded to 2 decimals, small integers, constant, and perfectly separated scores."""

import numpy as np
from sklearn.metrics import roc_curve as sk_roc

from nirvis.evaluate import metrics as M
from nirvis.evaluate.run import fold_metrics

FARS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
KINDS = ("normal", "float32", "round2", "integer", "separated", "constant")


def reference_metrics(scores, probe_labels, gallery_labels, fars):
    """The reference's computation restated: labels [P, G] from np.equal.outer, the top match
    np.argsort(-s)[:, 0], sklearn's default ROC of the flattened pairs, reversed, and per FAR the
    TPR at min over (|fpr - far|, index)."""
    labels = np.equal.outer(gallery_labels, probe_labels).astype(np.float32).T
    top = np.argsort(-scores)
    top1 = sum(labels[i, top[i, 0]] == 1 for i in range(scores.shape[0])) / scores.shape[0]
    fpr, tpr, _ = sk_roc(labels.flatten(), scores.flatten())
    fpr, tpr = np.flipud(fpr), np.flipud(tpr)
    return top1, [tpr[min(zip(abs(fpr - far), range(len(fpr))))[1]] for far in fars]


def random_case(rng, kind):
    p = int(rng.integers(1, 1001))
    g = int(rng.integers(2, 101))
    n_ids = int(rng.integers(2, g + 1)) if rng.random() < 0.3 else g  # some galleries repeat identities
    gl = np.r_[np.arange(n_ids), rng.integers(0, n_ids, g - n_ids)]
    rng.shuffle(gl)
    pl = rng.choice(gl, p)
    same = pl[:, None] == gl[None, :]
    s = rng.normal(size=(p, g)) + rng.uniform(0, 3) * same
    if kind == "float32":
        s = s.astype(np.float32)
    elif kind == "round2":
        s = np.round(s / 4, 2)
    elif kind == "integer":
        s = rng.integers(0, 4, (p, g)) + same * rng.integers(0, 2, (p, g))
    elif kind == "separated":
        s = np.round(rng.uniform(0, 1, (p, g)), int(rng.integers(1, 4))) + 2.0 * same
    elif kind == "constant":
        s = np.zeros((p, g), np.float32)
    return s, pl, gl


def test_rank1_and_nearest_vr_equal_the_reference_on_random_matrices():
    rng = np.random.default_rng(20240611)
    diffs = {"rank1": 0, "vr": 0, "fold_metrics": 0}
    kinds = [KINDS[i % len(KINDS)] for i in range(100)]
    for kind in kinds:
        s, pl, gl = random_case(rng, kind)
        if (pl[:, None] != gl[None, :]).all() or (pl[:, None] == gl[None, :]).all():
            continue  # not reachable with >= 2 identities and probes drawn from the gallery
        top1, vrs = reference_metrics(s, pl, gl, FARS)
        ours = M.vr_at_far(s, pl, gl, fars=FARS, rule="nearest")
        diffs["rank1"] += M.rank1(s, pl, gl, ties="reference") != top1
        diffs["vr"] += sum(ours[f] != v for f, v in zip(FARS, vrs))
        fm = fold_metrics(s, pl, gl, fars=FARS, vr_rule="nearest")  # what `nirvis eval --vr-rule nearest` runs
        diffs["fold_metrics"] += (fm["rank1"] != top1) + sum(fm[f"vr@{f:g}"] != v for f, v in zip(FARS, vrs))
    assert diffs == {"rank1": 0, "vr": 0, "fold_metrics": 0}


def test_cases_cover_ties_and_separation():
    # the random cases do exercise what the reference's tie rules decide
    rng = np.random.default_rng(20240611)
    tied_best = separated = 0
    for i in range(100):
        s, pl, gl = random_case(rng, KINDS[i % len(KINDS)])
        best = s.max(axis=1, keepdims=True)
        tied_best += bool(((s == best).sum(axis=1) > 1).any())
        same = pl[:, None] == gl[None, :]
        separated += bool(s[same].min() > s[~same].max()) if (~same).any() else 0
    assert tied_best >= 40 and separated >= 15
