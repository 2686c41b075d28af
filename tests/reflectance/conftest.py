"""Shared fixtures for the reflectance tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Run each test with one torch thread and restore the setting afterwards.

    The test workloads are small; on 2-vCPU virtual machines two lock-step OpenMP threads
    occasionally stall for seconds when a vCPU is preempted, which made the suite's run time vary
    between 6 s and 50 s. One thread keeps it fast and reproducible.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
