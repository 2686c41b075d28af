"""Reading an insightface ``.bin`` never runs code: hostile pickles are refused by name, before any
call, and genuine files in every shape insightface wrote them still load."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from nirvis.evaluate.benchmarks import vis_bin
from nirvis.evaluate.benchmarks.base import ProtocolError
from nirvis.evaluate.fixtures import write_vis_bin


class _TouchMarker:
    """Unpickling this calls os.system (a real payload: it would create the marker file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Eval:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


def _genuine(tmp_path):
    path = tmp_path / "lfw.bin"
    write_vis_bin(path, pairs=10)
    with open(path, "rb") as f:
        return pickle.load(f)                 # our own fixture: trusted


@pytest.mark.parametrize("where", ["top", "in_images", "in_issame"])
@pytest.mark.parametrize("payload", [_TouchMarker, _Eval])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, where, payload):
    bins, issame = _genuine(tmp_path)
    marker = tmp_path / "pwned"
    evil = payload(marker)
    obj = {"top": evil, "in_images": (list(bins[:-1]) + [evil], issame),
           "in_issame": (bins, list(issame[:-1]) + [evil])}[where]
    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(ProtocolError, match=r"evil\.bin.*refusing global"):
        vis_bin.load_bin(path)
    assert not marker.exists()


def test_numpy_object_arrays_are_refused(tmp_path):
    bins, issame = _genuine(tmp_path)
    path = tmp_path / "objects.bin"
    path.write_bytes(pickle.dumps((bins, np.array(list(issame), dtype=object)), protocol=2))
    with pytest.raises(ProtocolError, match=r"objects\.bin.*dtype"):
        vis_bin.load_bin(path)


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("same_as", ["list", "numpy_bool_array", "numpy_bool_scalars"])
def test_genuine_layouts_load(tmp_path, protocol, same_as):
    bins, issame = _genuine(tmp_path)
    same = {"list": [bool(v) for v in issame], "numpy_bool_array": np.array(issame, dtype=bool),
            "numpy_bool_scalars": [np.bool_(v) for v in issame]}[same_as]
    path = tmp_path / "lfw2.bin"
    path.write_bytes(pickle.dumps((bins, same), protocol=protocol))
    images, got, dropped = vis_bin.load_bin(path)
    assert images.shape[0] == 2 * len(issame) and dropped == []
    np.testing.assert_array_equal(got, np.asarray(issame, bool))
    # the bool dtype itself is untouched by the array's __setstate__
    assert np.dtype(bool) == np.dtype("b1") and np.array([True]).dtype.itemsize == 1


def test_wrong_structure_names_the_field(tmp_path):
    bins, issame = _genuine(tmp_path)
    cases = {"pair": ([b"x"],), "images": (b"not a list", issame), "issame": (bins, [0.5] * len(issame))}
    for name, obj in cases.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(pickle.dumps(obj, protocol=4))
        with pytest.raises(ProtocolError, match=rf"{name}\.bin: not an insightface .bin.*{name}"):
            vis_bin.load_bin(path)


def test_a_huge_declared_array_is_not_allocated(tmp_path):
    bins, issame = _genuine(tmp_path)
    genuine = pickle.dumps((bins, np.array(issame, dtype=bool)), protocol=2)
    # the _reconstruct call's shape argument (0,) -> (10**13,): would ask for 10 TB if honoured
    hostile = genuine.replace(b"K\x00\x85", b"\x8a\x06\x00\xa0rN\x18\t\x85", 1)
    assert hostile != genuine
    path = tmp_path / "huge.bin"
    path.write_bytes(hostile)
    images, same, _ = vis_bin.load_bin(path)        # the state's own shape and data decide
    np.testing.assert_array_equal(same, np.asarray(issame, bool))


def test_a_one_channel_model_evaluates_on_the_colour_pairs(tmp_path):
    """LightCNN-style grey models get the .bin's colour crops as luma (they used to be refused)."""
    import torch

    from nirvis.evaluate.run import evaluate_benchmark

    write_vis_bin(tmp_path / "lfw.bin", pairs=10)
    seen = []

    def model_fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[1:]))
        return torch.nn.functional.avg_pool2d(x, 8).flatten(1)

    model_fn.in_channels = 1
    report = evaluate_benchmark("lfw", tmp_path, model_fn, aligned=True)
    assert set(seen) == {(1, 112, 112)}
    assert 0.0 <= report["summary"]["accuracy"]["mean"] <= 1.0 and report["folds"][0]["n_pairs"] == 10
