"""Argument checks shared by the reflectance modules (private).

Every check raises ``ValueError`` whose message starts with the argument name, so a caller sees
which input is wrong without reading a traceback.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_float_tensor(x: Any, name: str, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``x`` as a floating tensor. Float tensors keep dtype and device; anything else becomes
    float32 (or ``like``'s dtype/device when given). Raises ValueError for non-numeric input."""
    if isinstance(x, torch.Tensor):
        if x.dtype in _FLOAT_DTYPES:
            return x if like is None else x.to(device=like.device)
        if x.dtype == torch.bool or x.is_complex():
            raise ValueError(f"{name}: expected a real-valued tensor, got dtype {x.dtype}")
        dtype = like.dtype if like is not None else torch.float32
        return x.to(dtype)
    dtype = like.dtype if like is not None else torch.float32
    device = like.device if like is not None else None
    try:
        return torch.as_tensor(x, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name}: expected a number, array or tensor, got {type(x).__name__} ({exc})") from None


def check_finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")


def check_last_dim(x: torch.Tensor, size: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{name}: expected shape [..., {size}], got {list(x.shape)}")


def check_range(x: torch.Tensor, name: str, lo: Optional[float] = None, hi: Optional[float] = None,
                lo_open: bool = False) -> None:
    """Raise unless lo <= x <= hi (or lo < x when ``lo_open``)."""
    check_finite(x, name)
    if lo is not None:
        bad = (x <= lo) if lo_open else (x < lo)
        if bool(bad.any()):
            op = ">" if lo_open else ">="
            raise ValueError(f"{name}: values must be {op} {lo}; got min {float(x.min()):.6g}")
    if hi is not None and bool((x > hi).any()):
        raise ValueError(f"{name}: values must be <= {hi}; got max {float(x.max()):.6g}")


def check_wavelengths(wavelengths: Any, name: str = "wavelengths", lo: float = 400.0, hi: float = 1000.0,
                      like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """A 1-D float tensor of wavelengths in nm within [lo, hi]."""
    wl = as_float_tensor(wavelengths, name, like=like)
    if wl.ndim != 1 or wl.numel() < 1:
        raise ValueError(f"{name}: expected a 1-D tensor [L] of wavelengths in nm, got shape {list(wl.shape)}")
    check_finite(wl, name)
    if bool((wl < lo - 1e-6).any()) or bool((wl > hi + 1e-6).any()):
        raise ValueError(f"{name}: wavelengths must lie in [{lo:g}, {hi:g}] nm; got "
                         f"[{float(wl.min()):.6g}, {float(wl.max()):.6g}]")
    return wl


def check_led(led_nm: Any) -> float:
    """The LED centre wavelength as a float in [760, 980] nm."""
    try:
        v = float(led_nm)
    except (TypeError, ValueError):
        raise ValueError(f"led_nm: expected a number (850 or 940), got {led_nm!r}") from None
    if not (760.0 <= v <= 980.0):
        raise ValueError(f"led_nm: must lie in [760, 980] nm (typical NIR LEDs: 850 or 940), got {v:g}")
    return v


def check_albedo_map(albedo_map: Any, name: str = "albedo_map") -> torch.Tensor:
    """A float tensor [H, W, 3] or [B, H, W, 3] of linear RGB in [0, 1] (1e-4 tolerance, clamped)."""
    x = as_float_tensor(albedo_map, name)
    if x.ndim not in (3, 4) or x.shape[-1] != 3 or min(x.shape[:-1]) < 1:
        raise ValueError(f"{name}: expected shape [H, W, 3] or [B, H, W, 3], got {list(x.shape)}")
    check_finite(x, name)
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-4 or hi > 1.0 + 1e-4:
        raise ValueError(f"{name}: linear RGB values must lie in [0, 1], got [{lo:.6g}, {hi:.6g}] "
                         "(decode sRGB / normalise integer images first)")
    return x.clamp(0.0, 1.0)


class torch_threads:
    """Context manager: run the block with ``n`` torch intra-op threads (None: unchanged).

    The previous setting is restored on exit. (torch's thread count is process-wide.)
    """

    def __init__(self, n: Optional[int]) -> None:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"num_threads: expected a positive integer or None, got {n!r}")
        self.n = n
        self.old: Optional[int] = None

    def __enter__(self) -> "torch_threads":
        if self.n is not None:
            self.old = torch.get_num_threads()
            if self.n != self.old:
                torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.old is not None and torch.get_num_threads() != self.old:
            torch.set_num_threads(self.old)
