"""Fixtures of the shards tests: a tiny rendered data set (3 identities x 2 pairs, 3 shards),
rendered once per session (helpers live in shards_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shards_helpers import TINY_YAML, cli


@pytest.fixture(scope="session")
def tiny_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text(TINY_YAML)
    return path


@pytest.fixture(scope="session")
def reference(tmp_path_factory, tiny_yaml) -> Path:
    """The tiny data set rendered in-process with one worker (read-only for the tests)."""
    out = tmp_path_factory.mktemp("ref") / "ds"
    assert cli(["render-dataset", "--config", tiny_yaml, "--out", out, "--quiet"]) == 0
    return out
