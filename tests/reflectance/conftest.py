"""Shared fixtures for the reflectance tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    """Run each test with 2 intra-op threads (the target CI machine) and restore afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(min(2, old))
    yield
    torch.set_num_threads(old)
