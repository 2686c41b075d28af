"""``evaluate_synthetic``: cross-modal Rank-1 on rendered identities (to show training works).

Gallery: one VIS image per identity (its lowest pair index); probes: the NIR images of that
identity's other pairs. Features: n(n(f(x)) + n(f(flip(x)))), n = L2-normalise (each view normalised
first, as ``nirvis.evaluate.features.embed`` and the reference do); identification by cosine.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from nirvis.shards.reader import iter_pairs


@torch.no_grad()
def embed(backbone: nn.Module, images: list[np.ndarray], modality: str, in_channels: int, mean: float = 0.0,
          std: float = 1.0, batch_size: int = 64, device: str = "cpu") -> torch.Tensor:
    """Embeddings float32 [N, D] of uint8 images: n(n(f(x)) + n(f(flip(x)))), n = L2-normalise."""
    from nirvis.train.loop import to_tensor

    backbone.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = to_tensor(images[i:i + batch_size], modality, in_channels, mean, std).to(device)
        f = F.normalize(backbone(x).float(), dim=1) + F.normalize(backbone(torch.flip(x, dims=[3])).float(), dim=1)
        out.append(F.normalize(f.float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, 1)


def evaluate_synthetic(model: Union[str, os.PathLike, nn.Module], shard_dirs: Sequence[Union[str, os.PathLike]],
                       held_out_labels: Optional[Iterable[int]] = None, in_channels: Optional[int] = None,
                       mean: float = 0.0, std: float = 1.0, device: str = "cpu") -> dict[str, Any]:
    """Cross-modal (NIR probe -> VIS gallery) Rank-1 on the identities ``held_out_labels`` of
    ``shard_dirs`` (all identities when None).

    Args:
        model: a trainer checkpoint (run dir / step dir / model.safetensors) or a backbone module.
        in_channels, mean, std: input format for a bare module (taken from the config of a checkpoint).

    Returns: {"rank1", "identities", "probes"}.
    """
    if isinstance(model, nn.Module):
        backbone = model
        in_ch = in_channels if in_channels is not None else int(getattr(model, "in_channels", 1))
    else:
        from nirvis.train.checkpoint import load_trained

        backbone, _, cfg = load_trained(model, device)
        in_ch, mean, std = cfg.model.in_channels, cfg.data.mean, cfg.data.std
    keep = None if held_out_labels is None else set(int(x) for x in held_out_labels)
    gallery: dict[int, tuple[int, np.ndarray]] = {}
    probes: list[tuple[int, int, np.ndarray]] = []
    for s in iter_pairs([str(d) for d in shard_dirs]):
        if keep is not None and s.label not in keep:
            continue
        probes.append((s.label, s.index, s.nir))
        if s.label not in gallery or s.index < gallery[s.label][0]:
            gallery[s.label] = (s.index, s.vis)
    probes = [p for p in probes if p[1] != gallery[p[0]][0]]
    if len(gallery) < 2 or not probes:
        raise ValueError("evaluation needs >= 2 identities with >= 2 pairs each")
    g_labels = sorted(gallery)
    g = embed(backbone, [gallery[k][1] for k in g_labels], "vis", in_ch, mean, std, device=device)
    p = embed(backbone, [x[2] for x in probes], "nir", in_ch, mean, std, device=device)
    pred = torch.tensor(g_labels)[(p @ g.T).argmax(dim=1)]
    truth = torch.tensor([x[0] for x in probes])
    return {"rank1": float((pred == truth).float().mean()), "identities": len(g_labels), "probes": len(probes)}
