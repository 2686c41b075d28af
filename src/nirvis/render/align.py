"""Five-point similarity alignment to the 112 x 112 ArcFace crop.

Convention:
    Pixel coordinates ``(x, y)`` = (column, row), row 0 at the TOP, in the renderer's convention:
    pixel (column i, row j) has its centre at ``(i + 0.5, j + 0.5)`` (see
    ``nirvis.render.camera.clip_to_pixels``). OpenCV (and the insightface code that defines the
    ArcFace template, which warps with ``cv2.warpAffine``) puts pixel centres at INTEGER
    coordinates: ``p_cv2 = p_ours - 0.5``.

    Affine matrices ``M`` ``[B, 2, 3]`` in this module map renderer-convention source pixels to
    renderer-convention output pixels: ``q = M[:, :, :2] @ p + M[:, :, 2]``. ``to_cv2_affine``
    / ``from_cv2_affine`` convert to and from OpenCV's convention; ``cv2.warpAffine(img,
    to_cv2_affine(M)[i].numpy(), (112, 112))`` gives the same crop as ``warp_to_template``.

    The half-pixel shift is handled once, in the template: ``align_to_arcface`` fits the
    landmarks to ``ARCFACE_TEMPLATE_112 + 0.5``. A landmark that the fit maps exactly onto the
    template therefore lies at the template position in the cv2 sense in the aligned crop (an
    intensity-weighted centroid over pixel INDICES lands on ``ARCFACE_TEMPLATE_112``), which is
    exactly what insightface's ``norm_crop`` produces from cv2-convention landmarks.

Landmark order (ArcFace / insightface, as in ``nirvis.faces`` 5-point sets): subject's right eye
(IMAGE LEFT), subject's left eye (image right), nose tip, subject's right mouth corner (image
left), subject's left mouth corner (image right).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from nirvis.crop import ARCFACE_TEMPLATE_112, CROP_SIZE, arcface_template_px
from nirvis.render._linalg import batched_matvec
import torch.nn.functional as F

from nirvis.render.camera import _check_float, _check_resolution
from nirvis.shapes import check_shape

__all__ = ["ARCFACE_TEMPLATE_112", "ARCFACE_SIZE", "arcface_template", "estimate_similarity",
           "transform_points", "invert_affine", "to_cv2_affine", "from_cv2_affine", "warp_to_template",
           "align_to_arcface"]

#: ``(H, W)`` of the ArcFace crop (``nirvis.crop.CROP_SIZE`` squared; the template
#: ``ARCFACE_TEMPLATE_112`` is re-exported from ``nirvis.crop``).
ARCFACE_SIZE = (CROP_SIZE, CROP_SIZE)


def arcface_template(device: Any = None, dtype: torch.dtype = torch.float32, size: int = CROP_SIZE) -> torch.Tensor:
    """The ArcFace template in the renderer's pixel convention.

    Args:
        device: device of the result (default CPU).
        dtype: floating dtype of the result.
        size: crop side; other sizes than 112 scale the template (``crop.arcface_template_px``).

    Returns:
        ``[5, 2]`` ``ARCFACE_TEMPLATE_112 + 0.5`` (x, y) pixels (times ``size / 112``).

    Convention:
        Renderer pixels (centres at ``i + 0.5``); ``ARCFACE_TEMPLATE_112`` itself is in OpenCV's
        convention (centres at integers).

    Example:
        >>> from nirvis.render.align import arcface_template
        >>> [round(v, 4) for v in arcface_template()[0].tolist()]
        [38.7946, 52.1963]
    """
    if size == CROP_SIZE:  # the exact 112 values (bytes of 112 crops unchanged)
        return torch.tensor(ARCFACE_TEMPLATE_112, dtype=torch.float64).add(0.5).to(device=device, dtype=dtype)
    return torch.tensor(arcface_template_px(size), dtype=torch.float64).to(device=device, dtype=dtype)


def estimate_similarity(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Least-squares 2D similarity (rotation, uniform scale, translation; no reflection) per batch
    element, mapping ``src`` onto ``dst``.

    Args:
        src: ``[B, N, 2]`` float points (N >= 2, not all equal).
        dst: ``[N, 2]`` (shared) or ``[B, N, 2]`` float target points.

    Returns:
        ``[B, 2, 3]`` ``M = [[a, -b, tx], [b, a, ty]]`` minimising
        ``sum_n |M[:, :2] @ src_n + M[:, 2] - dst_n|^2``; dtype/device of ``src``. This is Umeyama's
        (1991) solution specialised to 2D, in closed form (``a = sum(s . d) / sum|s|^2``,
        ``b = sum(s x d) / sum|s|^2`` on centred points), so it is differentiable everywhere
        (no SVD) and needs no reflection fix-up.

    Convention:
        Column vectors: ``q = M[:, :, :2] @ p + M[:, :, 2]``; any pixel convention, as long as
        ``src`` and ``dst`` share it.

    Example:
        >>> import torch
        >>> from nirvis.render.align import estimate_similarity
        >>> src = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
        >>> (estimate_similarity(src, 2 * src[0] + 3) + 0.0).tolist()   # + 0.0 turns -0.0 into 0.0
        [[[2.0, 0.0, 3.0], [0.0, 2.0, 3.0]]]
    """
    sizes = check_shape(src, ["B", "N", 2], "src", kind=torch.Tensor)
    _check_float(src, "src")
    if sizes["N"] < 2:
        raise ValueError(f"src: need at least 2 points, got shape {list(src.shape)}")
    if isinstance(dst, torch.Tensor) and dst.ndim == 2:
        check_shape(dst, ["N", 2], "dst", sizes, kind=torch.Tensor)
        dst = dst[None].expand(src.shape[0], -1, -1)
    else:
        check_shape(dst, ["B", "N", 2], "dst", sizes, kind=torch.Tensor)
    _check_float(dst, "dst")
    dst = dst.to(device=src.device, dtype=src.dtype)
    mu_s = src.mean(dim=1, keepdim=True)
    mu_d = dst.mean(dim=1, keepdim=True)
    s = src - mu_s
    d = dst - mu_d
    var = (s * s).sum(dim=(1, 2))
    if bool((var <= torch.finfo(src.dtype).tiny).any()):
        raise ValueError("src: the points of some batch element all coincide; the similarity is undefined")
    a = (s * d).sum(dim=(1, 2)) / var
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(dim=1) / var
    rot = torch.stack([torch.stack([a, -b], dim=-1), torch.stack([b, a], dim=-1)], dim=-2)   # [B, 2, 2]
    t = mu_d[:, 0] - batched_matvec(rot, mu_s)[:, 0]
    return torch.cat([rot, t[..., None]], dim=-1)


def _check_affine(m: Any, name: str, sizes: dict | None = None) -> dict:
    sizes = check_shape(m, ["B", 2, 3], name, sizes, kind=torch.Tensor)
    _check_float(m, name)
    return sizes


def transform_points(points: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """Apply 2D affine transforms to points.

    Args:
        points: ``[B, N, 2]`` float points (x, y).
        M: ``[B, 2, 3]`` float affine matrices.

    Returns:
        ``[B, N, 2]`` ``M[:, :, :2] @ p + M[:, :, 2]`` per point, dtype/device of ``M``.

    Convention:
        Points and ``M`` must share a pixel convention (the renderer's, for matrices from this
        module).

    Example:
        >>> import torch
        >>> from nirvis.render.align import transform_points
        >>> M = torch.tensor([[[0.0, -1.0, 10.0], [1.0, 0.0, 0.0]]])
        >>> transform_points(torch.tensor([[[1.0, 0.0]]]), M).tolist()
        [[[10.0, 1.0]]]
    """
    sizes = _check_affine(M, "M")
    check_shape(points, ["B", "N", 2], "points", sizes, kind=torch.Tensor)
    _check_float(points, "points")
    p = points.to(device=M.device, dtype=M.dtype)
    return batched_matvec(M[:, :, :2], p) + M[:, None, :, 2]


def invert_affine(M: torch.Tensor) -> torch.Tensor:
    """Inverse of 2D affine transforms.

    Args:
        M: ``[B, 2, 3]`` float invertible affine matrices.

    Returns:
        ``[B, 2, 3]`` inverses, same dtype/device, differentiable.

    Example:
        >>> import torch
        >>> from nirvis.render.align import invert_affine
        >>> (invert_affine(torch.tensor([[[2.0, 0.0, 4.0], [0.0, 2.0, 0.0]]])) + 0.0).tolist()
        [[[0.5, 0.0, -2.0], [0.0, 0.5, 0.0]]]
    """
    _check_affine(M, "M")
    a = M[:, :, :2]
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    if bool((det.abs() <= torch.finfo(M.dtype).tiny).any()):
        raise ValueError("M: some matrices are singular (zero determinant)")
    inv = torch.stack([torch.stack([a[:, 1, 1], -a[:, 0, 1]], -1),
                       torch.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], -2) / det[:, None, None]
    t = -batched_matvec(inv, M[:, None, :, 2]).transpose(1, 2)
    return torch.cat([inv, t], dim=-1)


def to_cv2_affine(M: torch.Tensor) -> torch.Tensor:
    """Convert affine matrices from the renderer's pixel convention to OpenCV's.

    Args:
        M: ``[B, 2, 3]`` float matrices, renderer convention on both sides.

    Returns:
        ``[B, 2, 3]`` ``M_cv2`` with ``M_cv2(p - 0.5) = M(p) - 0.5``, i.e. ``A`` unchanged and
        ``t_cv2 = t + 0.5 * (A @ [1, 1] - [1, 1])``; usable with ``cv2.warpAffine``.

    Convention:
        Renderer pixels have centres at ``i + 0.5``, OpenCV's at ``i``.

    Example:
        >>> import torch
        >>> from nirvis.render.align import to_cv2_affine
        >>> to_cv2_affine(torch.tensor([[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]])).tolist()
        [[[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]]]
    """
    _check_affine(M, "M")
    a = M[:, :, :2]
    return torch.cat([a, M[:, :, 2:] + 0.5 * (a.sum(dim=2, keepdim=True) - 1.0)], dim=-1)


def from_cv2_affine(M_cv2: torch.Tensor) -> torch.Tensor:
    """Convert affine matrices from OpenCV's pixel convention to the renderer's (inverse of
    ``to_cv2_affine``).

    Args:
        M_cv2: ``[B, 2, 3]`` float matrices in OpenCV's convention (pixel centres at integers).

    Returns:
        ``[B, 2, 3]`` matrices in the renderer's convention (pixel centres at ``i + 0.5``).

    Example:
        >>> import torch
        >>> from nirvis.render.align import from_cv2_affine
        >>> from_cv2_affine(torch.tensor([[[2.0, 0.0, 0.5], [0.0, 2.0, 0.5]]])).tolist()
        [[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]]
    """
    _check_affine(M_cv2, "M_cv2")
    a = M_cv2[:, :, :2]
    return torch.cat([a, M_cv2[:, :, 2:] - 0.5 * (a.sum(dim=2, keepdim=True) - 1.0)], dim=-1)


def warp_to_template(images: torch.Tensor, M: torch.Tensor, size: Sequence[int] = ARCFACE_SIZE,
                     mode: str = "bilinear") -> torch.Tensor:
    """Warp images with affine transforms, bilinear (or ``mode="nearest"``: for labels), zeros
    outside the source.

    Args:
        images: ``[B, H, W, C]`` float images.
        M: ``[B, 2, 3]`` float matrices mapping source pixels to output pixels (e.g. from
            ``estimate_similarity``), renderer convention.
        size: ``(H_out, W_out)`` of the output.

    Returns:
        ``[B, H_out, W_out, C]``, dtype/device of ``images``; output pixel centre ``q`` takes the
        bilinear sample of the source at ``M^-1 q``. Differentiable in ``images`` and ``M``.
        Equals ``cv2.warpAffine(image, to_cv2_affine(M), (W_out, H_out))`` (INTER_LINEAR,
        BORDER_CONSTANT 0) up to OpenCV's 1/32-pixel quantisation of sample positions.

    Convention:
        Renderer pixels on both sides (centres at ``i + 0.5``), so a point ``p`` of the source
        appears at ``transform_points(p, M)`` in the output. Implemented with
        ``torch.nn.functional.grid_sample(align_corners=False)``, whose normalised coordinate
        ``u = 2 x / W - 1`` is exactly this convention.

    Example:
        >>> import torch
        >>> from nirvis.render.align import warp_to_template
        >>> img = torch.rand(1, 8, 8, 1)
        >>> M = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> torch.allclose(warp_to_template(img, M, size=(8, 8)), img, atol=1e-6)
        True
    """
    sizes = check_shape(images, ["B", "H", "W", "C"], "images", kind=torch.Tensor)
    _check_float(images, "images")
    _check_affine(M, "M", sizes)
    h_out, w_out = _check_resolution(size, "size")
    _, h, w, _ = images.shape
    m_inv = invert_affine(M.to(device=images.device, dtype=images.dtype))
    ys = torch.arange(h_out, device=images.device, dtype=images.dtype) + 0.5
    xs = torch.arange(w_out, device=images.device, dtype=images.dtype) + 0.5
    q = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(1, -1, 2)      # [1, Ho*Wo, 2]
    p = batched_matvec(m_inv[:, :, :2], q) + m_inv[:, None, :, 2]                          # [B, Ho*Wo, 2]
    scale = torch.tensor([2.0 / w, 2.0 / h], device=images.device, dtype=images.dtype)
    grid = (p * scale - 1.0).reshape(-1, h_out, w_out, 2)
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode: expected 'bilinear' or 'nearest', got {mode!r}")
    out = F.grid_sample(images.permute(0, 3, 1, 2), grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out.permute(0, 2, 3, 1)


def align_to_arcface(images: torch.Tensor, landmarks5: torch.Tensor,
                     size: int = CROP_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Similarity-align faces to the 112 x 112 ArcFace crop (or a ``size`` x ``size`` crop with
    the template scaled, ``crop.arcface_template_px``) from 5 landmarks.

    Args:
        images: ``[B, H, W, C]`` float images.
        landmarks5: ``[B, 5, 2]`` float landmarks in pixels of ``images`` (renderer convention), in
            ArcFace order: right eye, left eye, nose tip, right mouth corner, left mouth corner
            (subject's right = image left).

    Returns:
        ``(aligned, M)``: ``aligned`` ``[B, 112, 112, C]`` (dtype/device of ``images``) and ``M``
        ``[B, 2, 3]`` (renderer convention on both sides; ``transform_points(landmarks5, M)``
        gives the landmarks in the crop). Differentiable in ``images`` and ``landmarks5``.

    Convention:
        ``M = estimate_similarity(landmarks5, ARCFACE_TEMPLATE_112 + 0.5)``: the +0.5 moves the
        template from OpenCV's pixel convention to the renderer's, so the result matches
        insightface's ``norm_crop`` on the same image with cv2-convention landmarks
        (``landmarks5 - 0.5``).

    Example:
        >>> import torch
        >>> from nirvis.render.align import align_to_arcface, arcface_template
        >>> lm = (arcface_template() * 2.0)[None]          # a face twice the template size
        >>> aligned, M = align_to_arcface(torch.rand(1, 224, 224, 3), lm)
        >>> aligned.shape, [round(v, 4) + 0.0 for v in M[0, 0].tolist()]
        (torch.Size([1, 112, 112, 3]), [0.5, 0.0, 0.0])
    """
    sizes = check_shape(images, ["B", "H", "W", "C"], "images", kind=torch.Tensor)
    _check_float(images, "images")
    check_shape(landmarks5, ["B", 5, 2], "landmarks5", sizes, kind=torch.Tensor)
    _check_float(landmarks5, "landmarks5")
    lm = landmarks5.to(device=images.device, dtype=images.dtype)
    M = estimate_similarity(lm, arcface_template(images.device, images.dtype, size))
    return warp_to_template(images, M, (size, size)), M
