"""Shape checks with symbolic dimensions: ``check_shape(x, ["B", "H", "W", 3], "images")``.

A dimension is an int (that exact size) or a name (any size, but the same size wherever the name
appears: within one call, and across calls that share the returned ``sizes``). A mismatch raises
``ShapeError`` (a ``ValueError``) naming the argument, the expected and the actual shape, e.g.
``landmarks5: expected shape [B, 5, 2] (with B=2), got [2, 68, 2]``.

Set the environment variable ``NIRVIS_CHECK_SHAPE=0`` (or ``false`` / ``off``) to skip the
checks in production loops once the inputs are trusted (like kornia's ``KORNIA_CHECK_SHAPE``):
``check_shape`` then only binds the named sizes it can read and never raises.

Example:
    >>> import numpy as np
    >>> from nirvis.shapes import check_shape
    >>> sizes = check_shape(np.zeros((2, 4, 4, 3)), ["B", "H", "W", 3], "images")
    >>> sizes
    {'B': 2, 'H': 4, 'W': 4}
    >>> check_shape(np.zeros((3, 5, 2)), ["B", 5, 2], "landmarks5", sizes)
    Traceback (most recent call last):
    ...
    nirvis.shapes.ShapeError: landmarks5: expected shape [B, 5, 2] (with B=2), got [3, 5, 2]
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence, Union

from nirvis.errors import NirvisError

__all__ = ["ShapeError", "check_shape", "shape_checks_enabled", "ENV_VAR"]

#: Environment variable that switches the checks off when set to 0 / false / off / no.
ENV_VAR = "NIRVIS_CHECK_SHAPE"

Dim = Union[int, str]


class ShapeError(NirvisError, ValueError):
    """An array or tensor has the wrong shape (or is not an array at all).

    Attributes:
        name: the argument's name.
        expected: the expected dimensions (ints and names).
        actual: the actual shape as a list, or None when ``x`` has no shape.
        bound: the named sizes known when the check failed.
    """

    def __init__(self, name: str, expected: Sequence[Dim], actual: Optional[list[int]], bound: Mapping[str, int],
                 message: str):
        super().__init__(message)
        self.name, self.expected, self.actual, self.bound = name, list(expected), actual, dict(bound)


def shape_checks_enabled() -> bool:
    """False when ``NIRVIS_CHECK_SHAPE`` is 0 / false / off / no (read at each call)."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "off", "no")


def _want(dims: Sequence[Dim]) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


def check_shape(x: Any, dims: Sequence[Dim], name: str, sizes: Optional[dict[str, int]] = None, *,
                kind: Optional[Union[type, tuple[type, ...]]] = None) -> dict[str, int]:
    """Raise ``ShapeError`` unless ``x``'s shape matches ``dims``; return the named sizes.

    Args:
        x: a numpy array, torch tensor or anything with a ``shape``.
        dims: expected dimensions: ints (exact sizes) and names (symbolic sizes).
        name: the argument's name, used in the message.
        sizes: named sizes bound by earlier checks (updated in place and returned); a name in it
            must take the same value here.
        kind: the type(s) ``x`` must be (e.g. ``torch.Tensor``); None accepts any object with a
            ``shape``.

    Returns:
        ``sizes`` (a new dict when None) with the names of ``dims`` bound to ``x``'s sizes.

    Raises:
        ShapeError: wrong type, wrong number of dimensions, a wrong size, or a name bound to two
            different sizes; the message shows the expected shape, the names already bound and
            the actual shape. Never raised when the checks are switched off (``ENV_VAR``).

    Example:
        >>> import torch
        >>> from nirvis.shapes import check_shape
        >>> check_shape(torch.zeros(2, 3, 3), ["B", 3, 3], "rotation", kind=torch.Tensor)
        {'B': 2}
        >>> check_shape([[1, 2]], ["N", 2], "points", kind=torch.Tensor)
        Traceback (most recent call last):
        ...
        nirvis.shapes.ShapeError: points: expected a Tensor of shape [N, 2], got list
    """
    sizes = {} if sizes is None else sizes
    shape = getattr(x, "shape", None)
    if not shape_checks_enabled():
        if shape is not None and len(shape) == len(dims):
            for d, s in zip(dims, shape):
                if isinstance(d, str):
                    sizes.setdefault(d, int(s))
        return sizes
    if (kind is not None and not isinstance(x, kind)) or shape is None:
        kinds = kind if isinstance(kind, tuple) else (kind,) if kind is not None else ()
        what = " or ".join(k.__name__ for k in kinds) if kinds else "an array"
        article = "" if not kinds else "an " if what[0].lower() in "aeiou" else "a "
        raise ShapeError(name, dims, None, sizes,
                         f"{name}: expected {article}{what} of shape {_want(dims)}, got {type(x).__name__}")
    actual = [int(s) for s in shape]
    ok = len(actual) == len(dims)
    bound = dict(sizes)
    if ok:
        for d, s in zip(dims, actual):
            if isinstance(d, str):
                if d in bound:
                    ok = ok and s == bound[d]
                else:
                    bound[d] = s
            else:
                ok = ok and s == d
    if not ok:
        known = {k: v for k, v in sizes.items() if k in dims}
        extra = f" (with {', '.join(f'{k}={v}' for k, v in known.items())})" if known else ""
        raise ShapeError(name, dims, actual, known, f"{name}: expected shape {_want(dims)}{extra}, got {actual}")
    sizes.update(bound)
    return sizes
