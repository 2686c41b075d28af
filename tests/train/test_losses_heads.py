import math

import pytest
import torch

from nirvis.train.heads import ArcFace, CosFace, build_head
from nirvis.train.losses import id_mmd


def loop_id_mmd(vis, nir, lv, ln):
    """Straightforward loop-based reference of the ID-MMD definition."""
    common = sorted(set(lv.tolist()) & set(ln.tolist()))
    cv = [torch.stack([vis[i] for i in range(len(lv)) if lv[i] == c]).mean(0) for c in common]
    cn = [torch.stack([nir[i] for i in range(len(ln)) if ln[i] == c]).mean(0) for c in common]
    z = cv + cn
    n, k = len(z), len(common)
    d = [[float(((z[a] - z[b]) ** 2).sum()) for b in range(n)] for a in range(n)]
    s0 = sum(d[a][b] for a in range(n) for b in range(n) if a != b) / (n * (n - 1)) / 4
    kern = [[sum(math.exp(-d[a][b] / (s0 * 2 ** i)) for i in range(5)) for b in range(n)] for a in range(n)]
    blk = lambda r, c: sum(kern[a][b] for a in r for b in c) / (k * k)  # noqa: E731
    v, m = range(k), range(k, n)
    return blk(v, v) + blk(m, m) - blk(v, m) - blk(m, v)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_id_mmd_matches_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    vis = torch.nn.functional.normalize(torch.randn(12, 8, generator=g, dtype=torch.float64), dim=1)
    nir = torch.nn.functional.normalize(torch.randn(10, 8, generator=g, dtype=torch.float64), dim=1)
    lv = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 9, 9])  # label 9 has no NIR -> ignored
    ln = torch.tensor([0, 1, 1, 2, 2, 3, 3, 4, 4, 7])         # label 7 has no VIS -> ignored
    got = float(id_mmd(vis, nir, lv, ln))
    want = loop_id_mmd(vis, nir, lv, ln)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_id_mmd_zero_when_equal_and_positive_otherwise():
    g = torch.Generator().manual_seed(5)
    f = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    lab = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    assert abs(float(id_mmd(f, f.clone(), lab, lab))) < 1e-6
    other = torch.nn.functional.normalize(f + 0.5 * torch.randn(8, 16, generator=g), dim=1)
    assert float(id_mmd(f, other, lab, lab)) > 1e-4
    assert float(id_mmd(f, other, lab, lab, kind="linear")) > 0


def test_id_mmd_gradient_flows():
    g = torch.Generator().manual_seed(6)
    vis = torch.randn(6, 4, generator=g, requires_grad=True)
    nir = torch.randn(6, 4, generator=g, requires_grad=True)
    lab = torch.tensor([0, 0, 1, 1, 2, 2])
    for kind in ("rbf", "linear"):
        vis.grad = nir.grad = None
        id_mmd(vis, nir, lab, lab, kind=kind).backward()
        assert vis.grad is not None and vis.grad.abs().sum() > 0 and torch.isfinite(vis.grad).all()
        assert nir.grad.abs().sum() > 0


def reference_rule(vis, nir, labels, kind):
    """The reference's IDMMD.forward restated (insightface recognition/idmmd losses.py): VIS and NIR
    rows share one label vector; centroids per label; linear = mean of the diagonal of the
    clamped expanded squared-distance matrix; rbf = 5 Gaussian kernels, bandwidth = sum of all
    pairwise squared distances (detached) / (N^2 - N) / 2^2, times 2^i."""
    ids = sorted(set(labels.tolist()))
    cv = torch.stack([vis[labels == i].mean(0) for i in ids])
    cn = torch.stack([nir[labels == i].mean(0) for i in ids])
    if kind == "linear":
        dist = (cv ** 2).sum(1, keepdim=True) + (cn ** 2).sum(1, keepdim=True).t() - 2 * cv @ cn.t()
        return dist.clamp(min=1e-12).diag().mean()
    b = len(ids)
    total = torch.cat([cv, cn])
    d = ((total[None] - total[:, None]) ** 2).sum(2)
    bw = d.detach().sum() / (len(total) ** 2 - len(total)) / 4
    k = sum(torch.exp(-d / (bw * 2 ** i)) for i in range(5))
    return (k[:b, :b] + k[b:, b:] - k[:b, b:] - k[b:, :b]).mean()


@pytest.mark.parametrize("kind", ["rbf", "linear"])
@pytest.mark.parametrize("identities", [1, 2, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_id_mmd_matches_reference_rule_values_and_gradients(kind, identities, seed):
    g = torch.Generator().manual_seed(seed)
    per = 3
    labels = torch.arange(identities).repeat_interleave(per) * 7 + 3  # arbitrary label values
    vis = torch.nn.functional.normalize(torch.randn(len(labels), 16, generator=g), dim=1).requires_grad_()
    nir = torch.nn.functional.normalize(torch.randn(len(labels), 16, generator=g), dim=1).requires_grad_()
    ours = id_mmd(vis, nir, labels, labels, kind=kind)
    ref = reference_rule(vis, nir, labels, kind)
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), abs=1e-6)
    assert float(ours.detach()) > 0.01  # random centroids are far apart: the test could fail
    g_ours = torch.autograd.grad(ours, [vis, nir])
    g_ref = torch.autograd.grad(ref, [vis, nir])
    for a, b in zip(g_ours, g_ref):
        assert a.abs().max() > 0
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_id_mmd_one_identity_rbf_is_the_reference_constant():
    g = torch.Generator().manual_seed(3)
    vis, nir = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    lab = torch.zeros(4, dtype=torch.long)
    want = 10 - 2 * sum(math.exp(-4 / 2 ** i) for i in range(5))  # s0 = D_12 / 4 whatever the features
    assert float(id_mmd(vis, nir, lab, lab)) == pytest.approx(want, rel=1e-6)
    assert float(id_mmd(vis, vis.clone(), lab, lab)) == 0.0  # coinciding centroids: clamped bandwidth, 0


def test_id_mmd_linear_is_per_identity_not_of_the_overall_means():
    # two identities whose VIS-NIR offsets cancel in the overall means: the reference's linear
    # MMD (per identity) is 1, the squared distance of the overall means would be 0
    vis = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    nir = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    lab = torch.tensor([0, 1])
    assert float(id_mmd(vis, nir, lab, lab, kind="linear")) == pytest.approx(1.0)


def test_id_mmd_degenerate_inputs():
    f = torch.randn(2, 4, requires_grad=True)
    for kind in ("rbf", "linear"):  # no common identity
        assert float(id_mmd(f, f, torch.tensor([0, 0]), torch.tensor([1, 1]), kind=kind).detach()) == 0.0
    same = id_mmd(f, f, torch.tensor([0, 0]), torch.tensor([0, 0]), kind="linear")
    assert float(same.detach()) == pytest.approx(1e-12)
    with pytest.raises(ValueError):
        id_mmd(f, f, torch.tensor([0, 0]), torch.tensor([0, 0]), kind="nope")


@pytest.mark.parametrize("cls,m", [(CosFace, 0.4), (ArcFace, 0.5)])
def test_margin_heads(cls, m):
    torch.manual_seed(0)
    head = cls(8, 5, s=64.0, m=m)
    emb = torch.randn(4, 8, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3])
    logits = head(emb, labels)
    cos = head.cosine(emb)
    tgt = cos[torch.arange(4), labels]
    expect = tgt - m if cls is CosFace else torch.cos(torch.acos(tgt) + m)
    assert torch.allclose(logits[torch.arange(4), labels] / 64, expect, atol=1e-5)
    other = torch.ones(4, 5, dtype=torch.bool)
    other[torch.arange(4), labels] = False
    assert torch.allclose(logits[other] / 64, cos[other], atol=1e-6)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    assert emb.grad.abs().sum() > 0 and head.weight.grad.abs().sum() > 0
    assert build_head("cosface", 8, 3, 64, 0.4).weight.shape == (3, 8)
