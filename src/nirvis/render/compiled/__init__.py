"""Compiled CPU kernels (numba) of the renderer's per-pixel stages: the ``cpu`` backend's fast path.

Each kernel is a plain loop over the covered pixels of a batch that does, in float32 and in the
same order, the operations of the torch function it stands in for (named in its docstring): one
pass over the data instead of a chain of whole-tensor operations, images in parallel on numba's
threads. The torch functions stay the reference, the path for every other backend, and the only
one that carries gradients; parity tests compare each kernel with its reference.

``use_compiled(backend, *tensors)`` decides: the backend is ``cpu``, numba is installed, and
every tensor is on the CPU without ``requires_grad``. The exceptions are ``quantise``
(``sensor.to_uint8``) and ``pixels`` (pixel-list scatter / gather): they give the torch
functions' values exactly, so they run on every backend for CPU tensors.
Callers import a kernel module only on that branch, so nothing imports numba (~0.3 s) unless
it runs; its kernels are cached on disk (``cache=True``) after their first compilation.
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import torch


@functools.lru_cache(maxsize=None)
def cpu_available() -> bool:
    """True when numba is installed (the ``cpu`` backend and the compiled kernels can run); the
    kernel modules (``raster.cpu``, ``compiled.*``) import it, and are imported only when used."""
    return importlib.util.find_spec("numba") is not None


def as_array(t: torch.Tensor, dtype) -> np.ndarray:
    """A kernel argument: ``t``'s values as a C-contiguous numpy array of ``dtype`` (no copy when
    ``t`` is already one)."""
    return np.ascontiguousarray(t.detach().cpu().numpy().astype(dtype, copy=False))


def use_compiled(backend: str, *tensors: torch.Tensor) -> bool:
    """Whether a stage should run its compiled kernel (see the module docstring)."""
    if backend != "cpu" or not cpu_available():
        return False
    return not any(t.requires_grad or t.device.type != "cpu" for t in tensors)
