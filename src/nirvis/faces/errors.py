"""Errors raised for bad face data. One class so the CLI can turn them into one clear message."""

from __future__ import annotations

from nirvis.errors import NirvisError


class FaceDataError(NirvisError, ValueError):
    """A face asset, mesh or texture is missing, unreadable or invalid.

    The message always names the offending file or field and says what is wrong.
    """
