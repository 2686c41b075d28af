"""Fixtures of the evaluation tests: tiny data sets in each native layout, written once per session."""

import pytest

from nirvis.evaluate import fixtures as F
from nirvis.evaluate.features import RandomProjection


@pytest.fixture(scope="session")
def model_fn():
    return RandomProjection(dim=64, pool=16, channels=3, seed=0)


@pytest.fixture(scope="session")
def casia_ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("casia") / "NIR-VIS-2.0"
    return root, F.write_casia(root)


@pytest.fixture(scope="session")
def lamp_ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("lamp") / "LAMP-HQ"
    return root, F.write_lamp_hq(root)


@pytest.fixture(scope="session")
def oulu_ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("oulu") / "Oulu"
    return root, F.write_oulu(root)


@pytest.fixture(scope="session")
def buaa_ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("buaa") / "BUAA"
    return root, F.write_buaa(root)


@pytest.fixture(scope="session")
def synthetic_ds(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "eval_set"
    return root, F.write_synthetic(root, labels=5, pairs=3, per_shard=4)
