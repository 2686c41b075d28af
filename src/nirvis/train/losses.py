"""ID-MMD: identity-level maximum mean discrepancy between VIS and NIR feature centroids.

Definition (the reference, NeurIPS 2022 NIR-VIS rendering paper): for the K identities present in
both modalities, c^V_k / c^N_k are the mean VIS / NIR features of identity k;
Z = [c^V_1..K ; c^N_1..K], D_ab = ||z_a - z_b||^2; s0 = mean of the off-diagonal D (no gradient)
/ 4; s_i = s0 * 2^i, i = 0..4; k(a, b) = sum_i exp(-D_ab / s_i);
L = mean(k(cV,cV)) + mean(k(cN,cN)) - mean(k(cV,cN)) - mean(k(cN,cV)) over the K x K blocks
(biased multi-kernel MMD^2 between the VIS centroid set and the NIR centroid set).
With a single common identity (K = 1) this is still defined, as in the reference: s0 = D_12 / 4,
so the value is the constant 10 - 2 sum_i exp(-4 / 2^i) ~= 6.19 while its gradient (the bandwidth
is detached) pulls the two centroids together; if the two centroids coincide (D = 0, where the
reference divides 0 by 0) the bandwidth is clamped to 1e-12 and the value is 0.

``linear`` (the reference's ``linear_mmd``): the mean over the K identities of the squared
distance between the identity's VIS and NIR centroids, each clamped below at 1e-12,
L = (1 / K) sum_k max(||c^V_k - c^N_k||^2, 1e-12).

Features are used as given: the trainer passes L2-normalised embeddings.
"""

from __future__ import annotations

import torch

N_KERNELS = 5
KERNEL_MUL = 2.0


def identity_centroids(vis_feats: torch.Tensor, nir_feats: torch.Tensor, labels_vis: torch.Tensor,
                       labels_nir: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-identity mean VIS and NIR features for the labels present in both modalities.

    Returns (cV [K, D], cN [K, D], labels [K]) with labels sorted ascending."""
    lv, ln = labels_vis.reshape(-1).long(), labels_nir.reshape(-1).long()
    if vis_feats.shape[0] != lv.shape[0] or nir_feats.shape[0] != ln.shape[0]:
        raise ValueError("features and labels differ in length")
    common = torch.unique(lv)[torch.isin(torch.unique(lv), ln)]

    def means(feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = (labels[None, :] == common[:, None]).to(feats.dtype)  # [K, N]
        return (onehot @ feats) / onehot.sum(dim=1, keepdim=True)

    return means(vis_feats, lv), means(nir_feats, ln), common


def id_mmd(vis_feats: torch.Tensor, nir_feats: torch.Tensor, labels_vis: torch.Tensor, labels_nir: torch.Tensor,
           kind: str = "rbf") -> torch.Tensor:
    """ID-MMD between VIS and NIR identity centroids (scalar tensor, differentiable).

    Args:
        vis_feats [Nv, D], nir_feats [Nn, D]: features (L2-normalised in the reference).
        labels_vis [Nv], labels_nir [Nn]: identity labels; identities missing from either
            modality are ignored.
        kind: ``rbf`` (the reference multi-kernel MMD^2) or ``linear`` (the reference's mean over
            identities of the squared VIS-NIR centroid distance); see the module docstring.

    Returns a float scalar (float32 for half-precision input); 0 when no identity is in both
    modalities.
    """
    if vis_feats.dtype in (torch.float16, torch.bfloat16):  # kernels in at least float32
        vis_feats, nir_feats = vis_feats.float(), nir_feats.float()
    cv, cn, common = identity_centroids(vis_feats, nir_feats, labels_vis, labels_nir)
    k = common.numel()
    zero = (vis_feats.sum() + nir_feats.sum()) * 0.0
    if kind not in ("rbf", "linear"):
        raise ValueError(f"unknown ID-MMD kind {kind!r} (rbf or linear)")
    if k == 0:
        return zero
    if kind == "linear":
        return ((cv - cn) ** 2).sum(dim=1).clamp_min(1e-12).mean()
    z = torch.cat([cv, cn], dim=0)
    n = z.shape[0]
    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    s0 = (d.detach().sum() / (n * n - n)) / (KERNEL_MUL ** (N_KERNELS // 2))
    s0 = s0.clamp_min(1e-12)
    kern = sum(torch.exp(-d / (s0 * KERNEL_MUL ** i)) for i in range(N_KERNELS))
    xx, yy, xy, yx = kern[:k, :k], kern[k:, k:], kern[:k, k:], kern[k:, :k]
    return xx.mean() + yy.mean() - xy.mean() - yx.mean()
