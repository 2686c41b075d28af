"""Compiled CPU kernels (numba) of the renderer's per-pixel stages: the ``cpu`` backend's fast path.

Each kernel is a plain loop over the covered pixels of a batch that does, in float32 and in the
same order, the operations of the torch function it stands in for (named in its docstring): one
pass over the data instead of a chain of whole-tensor operations, images in parallel on numba's
threads. The torch functions stay the reference, the path for every other backend, and the only
one that carries gradients; parity tests compare each kernel with its reference.

``use_compiled(backend, *tensors)`` decides: the backend is ``cpu``, numba imports, and every
tensor is on the CPU without ``requires_grad``.
"""

from __future__ import annotations

import torch

from nirvis.render.raster.cpu import cpu_available


def use_compiled(backend: str, *tensors: torch.Tensor) -> bool:
    """Whether a stage should run its compiled kernel (see the module docstring)."""
    if backend != "cpu" or not cpu_available():
        return False
    return not any(t.requires_grad or t.device.type != "cpu" for t in tensors)
