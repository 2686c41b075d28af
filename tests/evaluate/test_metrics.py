"""Metrics against scikit-learn on random and edge-case score matrices."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc

from nirvis.evaluate import metrics as M


def _flat(scores, pl, gl):
    same = np.asarray(pl)[:, None] == np.asarray(gl)[None, :]
    return same.ravel().astype(int), np.asarray(scores, float).ravel()


def _cases():
    rng = np.random.default_rng(0)
    gl = np.arange(7)
    pl = rng.integers(0, 7, 40)
    out = []
    s = rng.normal(size=(40, 7)) + 2.0 * (pl[:, None] == gl[None, :])
    out.append(("random", s, pl, gl))
    out.append(("ties", np.round(s), pl, gl))  # heavy ties between genuine and impostor scores
    out.append(("all_equal", np.zeros((40, 7)), pl, gl))
    out.append(("perfect", (pl[:, None] == gl[None, :]).astype(float) + rng.uniform(0, 0.1, (40, 7)), pl, gl))
    out.append(("inverted", -(pl[:, None] == gl[None, :]).astype(float), pl, gl))
    out.append(("single_probe", rng.normal(size=(1, 7)), np.array([3]), gl))
    out.append(("string_labels", rng.normal(size=(5, 3)), np.array(list("abcab")), np.array(list("abc"))))
    return out


@pytest.mark.parametrize("name,s,pl,gl", _cases(), ids=[c[0] for c in _cases()])
def test_roc_and_auc_match_sklearn(name, s, pl, gl):
    y, flat = _flat(s, pl, gl)
    fpr, tpr, thr = M.roc_curve(s, pl, gl)
    sfpr, stpr, sthr = sk_roc(y, flat, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sfpr)
    np.testing.assert_allclose(tpr, stpr)
    np.testing.assert_allclose(thr[1:], sthr[1:])
    assert np.isinf(thr[0])
    assert M.auc(s, pl, gl) == pytest.approx(roc_auc_score(y, flat), abs=1e-12)


def _reference_nearest(y, flat, far):
    """The reference's rule restated: sklearn's default ROC, reversed, min over (|fpr - far|, index)."""
    fpr, tpr, _ = sk_roc(y, flat)
    fpr, tpr = np.flipud(fpr), np.flipud(tpr)
    return tpr[min(zip(abs(fpr - far), range(len(fpr))))[1]]


@pytest.mark.parametrize("name,s,pl,gl", _cases(), ids=[c[0] for c in _cases()])
def test_nearest_rule_is_the_reference_rule(name, s, pl, gl):
    y, flat = _flat(s, pl, gl)
    if y.min() == y.max():
        return  # one class only: no ROC
    got = M.vr_at_far(s, pl, gl, fars=(0.5, 0.1, 1e-2, 1e-3), rule="nearest")
    for far, v in got.items():
        assert v == _reference_nearest(y, flat, far)


@pytest.mark.parametrize("name,s,pl,gl", _cases(), ids=[c[0] for c in _cases()])
def test_thinned_roc_is_sklearns_default(name, s, pl, gl):
    y, flat = _flat(s, pl, gl)
    fpr, tpr, thr = M.roc_curve(s, pl, gl, drop_intermediate=True)
    sfpr, stpr, sthr = sk_roc(y, flat)
    # the same float64 values, not merely close: equally near points must tie the same way
    np.testing.assert_array_equal(fpr, sfpr)
    np.testing.assert_array_equal(tpr, stpr)
    np.testing.assert_array_equal(thr, sthr)


def test_thinning_keeps_a_point_where_only_the_fps_step_changes():
    # counts (fps, tps) at the distinct thresholds: (0,1) (1,2) (3,3) (5,4): tps steps 1,1,1 but
    # fps steps 1,2,2; sklearn keeps (1,2) (fps corner), drops (3,3) (both steps equal)
    gen = np.array([10.0, 9.0, 8.0, 7.0])
    imp = np.array([9.0, 8.0, 8.0, 7.0, 7.0])
    c = M.roc_counts(gen, imp)
    np.testing.assert_array_equal(c.fps, [0, 1, 3, 5])
    np.testing.assert_array_equal(c.tps, [1, 2, 3, 4])
    fpr, tpr, _ = M.roc_from_counts(c, drop_intermediate=True)
    np.testing.assert_array_equal(fpr * 5, [0, 0, 1, 5])
    np.testing.assert_array_equal(tpr * 4, [0, 1, 2, 4])


def test_nearest_ties_take_the_highest_tpr():
    # perfectly separated: the points (0, 0), (0, 1/2) and (0, 1) are equally near any small FAR;
    # the reference takes the last of them (TPR 1), not the first (TPR 0)
    s = np.array([[0.9, 0.1, 0.2], [0.8, 0.3, 0.4]])
    pl, gl = np.array([0, 0]), np.array([0, 1, 2])
    assert M.vr_at_far(s, pl, gl, fars=(1e-3, 1e-4), rule="nearest") == {1e-3: 1.0, 1e-4: 1.0}
    # equally near points on both sides of the FAR: FPR .25 and .75 around .5 (4 impostors)
    s = np.array([[0.9, 0.8, 0.6, 0.4, 0.1]])
    pl, gl = np.array([0]), np.array([0, 1, 2, 3, 4])
    # exact ROC (0,0) (0,1) (.25,1) (.5,1) (.75,1) (1,1); thinned (0,0) (0,1) (1,1): FAR .5 is
    # equally near FPR 0 and 1 -> the highest TPR
    assert M.vr_at_far(s, pl, gl, fars=(0.5,), rule="nearest") == {0.5: 1.0}
    s = np.array([[0.5, 0.9, 0.6, 0.4, 0.1]])  # genuine between impostors
    assert M.vr_at_far(s, pl, gl, fars=(0.5,), rule="nearest")[0.5] == _reference_nearest(
        *_flat(s, pl, gl), 0.5)


def test_interpolated_rule_exact_values():
    # 2 genuine (0.9, 0.5), 4 impostor (0.8, 0.6, 0.4, 0.1): ROC points
    # (0,0) (0,.5) (.25,.5) (.5,.5) (.5,1) (.75,1) (1,1)
    s = np.array([[0.9, 0.8, 0.6], [0.5, 0.4, 0.1]])
    pl, gl = np.array([0, 1]), np.array([0, 2, 3])
    s = np.array([[0.9, 0.8, 0.6], [0.4, 0.5, 0.1]])
    pl, gl = np.array([0, 2]), np.array([0, 2, 3])
    fpr, tpr, _ = M.roc_curve(s, pl, gl)
    np.testing.assert_allclose(fpr, [0, 0, .25, .5, .5, .75, 1])
    np.testing.assert_allclose(tpr, [0, .5, .5, .5, 1, 1, 1])
    vi = M.vr_at_far(s, pl, gl, fars=(0.0, 0.25, 0.4, 0.5, 0.6), rule="interpolated")
    assert vi == {0.0: 0.5, 0.25: 0.5, 0.4: 0.5, 0.5: 1.0, 0.6: 1.0}
    # nearest: sklearn's thinned ROC is (0,0) (0,.5) (.5,.5) (.5,1) (1,1); at FAR .5 and .4 the
    # points (.5,.5) and (.5,1) are equally near: the reference takes the higher TPR
    vn = M.vr_at_far(s, pl, gl, fars=(0.5, 0.4), rule="nearest")
    assert vn == {0.5: 1.0, 0.4: 1.0}


def test_interpolated_with_tie_segment():
    # genuine and impostor tied at 0.5: one diagonal segment from (0, 0) to (1, 1) with 1 gen / 1 imp
    s = np.array([[0.5, 0.5]])
    fpr, tpr, _ = M.roc_curve(s, [0], [0, 1])
    np.testing.assert_allclose(fpr, [0, 1])
    np.testing.assert_allclose(tpr, [0, 1])
    assert M.vr_at_far(s, [0], [0, 1], fars=(0.25,))[0.25] == pytest.approx(0.25)
    assert M.auc(s, [0], [0, 1]) == 0.5
    assert M.eer(s, [0], [0, 1]) == pytest.approx(0.5)


def test_interpolated_matches_np_interp_on_random_roc():
    rng = np.random.default_rng(1)
    gl = np.arange(20)
    pl = rng.integers(0, 20, 300)
    s = rng.normal(size=(300, 20)) + 1.5 * (pl[:, None] == gl[None, :])
    fpr, tpr, _ = M.roc_curve(s, pl, gl)
    # continuous scores: the ROC is a staircase, so the interpolated TPR at a FAR is the TPR of the
    # strictest threshold whose FPR does not exceed the FAR
    gen, imp = M.genuine_impostor(s, pl, gl)
    for far in (1e-2, 1e-3, 0.05, 0.3):
        expect = max(t for f, t in zip(fpr, tpr) if f <= far)
        assert M.vr_at_far(s, pl, gl, fars=(far,))[far] == pytest.approx(expect)
        thr = np.sort(imp)[::-1][int(np.floor(far * imp.size))]  # accepting > thr gives FPR <= far
        assert expect == pytest.approx(np.mean(gen > thr))


def test_eer_random_against_brute_force():
    rng = np.random.default_rng(2)
    gl = np.arange(10)
    pl = rng.integers(0, 10, 200)
    s = rng.normal(size=(200, 10)) + 1.0 * (pl[:, None] == gl[None, :])
    gen, imp = M.genuine_impostor(s, pl, gl)
    e = M.eer(s, pl, gl)
    t = np.linspace(s.min(), s.max(), 20001)
    far = np.array([(imp >= x).mean() for x in t[::20]])
    frr = np.array([(gen < x).mean() for x in t[::20]])
    assert e == pytest.approx(far[np.argmin(np.abs(far - frr))], abs=0.02)


def test_rank1():
    s = np.array([[0.9, 0.1, 0.2], [0.3, 0.2, 0.8], [0.5, 0.5, 0.1]])
    assert M.rank1(s, [0, 1, 1], [0, 1, 2]) == pytest.approx(1 / 3)  # 2nd wrong; 3rd tie -> first (0) wrong
    assert M.rank1(s[:1], [0], [0, 1, 2]) == 1.0
    with pytest.raises(ValueError, match="tie rule"):
        M.rank1(s, [0, 1, 1], [0, 1, 2], ties="last")


def test_rank1_reference_ties_are_numpy_default_argsort():
    # many tied best scores in long rows (numpy's default sort is not stable there); the
    # "reference" rule is whatever np.argsort(-s)[:, 0] picks on the scores as given
    rng = np.random.default_rng(3)
    gl = np.arange(64)
    pl = rng.integers(0, 64, 200)
    for dtype in (np.float32, np.float64, np.int64):
        s = rng.integers(0, 3, (200, 64)).astype(dtype)
        top = np.argsort(-s)[:, 0]
        expect = np.mean(pl == gl[top])
        assert M.rank1(s, pl, gl, ties="reference") == expect
        assert M.rank1(s, pl, gl, ties="first") == np.mean(pl == gl[np.argmax(s, axis=1)])


def test_errors_are_clear():
    s = np.zeros((2, 2))
    with pytest.raises(ValueError, match="no impostor pairs"):
        M.vr_at_far(s, [0, 0], [0, 0])
    with pytest.raises(ValueError, match="no genuine pairs"):
        M.roc_curve(s, [0, 1], [2, 3])
    with pytest.raises(ValueError, match="absent from the gallery"):
        M.rank1(s, [0, 5], [0, 1])
    with pytest.raises(ValueError, match="length"):
        M.rank1(s, [0], [0, 1])
    with pytest.raises(ValueError, match="non-finite"):
        M.auc(np.array([[np.nan, 1.0]]), [0], [0, 1])
    with pytest.raises(ValueError, match="rule"):
        M.vr_at_far(np.array([[1.0, 0.0]]), [0], [0, 1], rule="closest")
    with pytest.raises(ValueError, match="empty"):
        M.rank1(np.zeros((0, 3)), [], [0, 1, 2])


def test_summarize_folds():
    s = M.summarize_folds([{"rank1": 0.9, "eer": 0.1, "fold": "1"}, {"rank1": 0.8, "eer": 0.3, "fold": "2"}])
    assert s["rank1"] == {"mean": pytest.approx(0.85), "std": pytest.approx(0.05), "n": 2}
    assert "fold" not in s
    assert M.summarize_folds([{"a": 1.0}, {"a": 3.0}], ddof=1)["a"]["std"] == pytest.approx(np.sqrt(2))
    assert M.format_mean_std(s["rank1"]) == "85.00 ± 5.00"
    with pytest.raises(ValueError):
        M.summarize_folds([])


def test_far_below_resolution_rules_differ():
    # 1 genuine pair tied with the best of 4 impostors: one ROC segment from (0, 0) to (.25, 1);
    # FAR .2 lies inside it
    s = np.array([[0.9, 0.9, 0.3, 0.2, 0.1]])
    pl, gl = np.array([0]), np.array([0, 1, 2, 3, 4])
    # interpolated: 4/5 of the way from (0, 0) to (.25, 1)
    assert M.vr_at_far(s, pl, gl, fars=(0.2,))[0.2] == pytest.approx(0.8)
    # nearest (the reference): the point (.25, 1), at a false accept rate above the one asked
    assert M.vr_at_far(s, pl, gl, fars=(0.2,), rule="nearest")[0.2] == 1.0
