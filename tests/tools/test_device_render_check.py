"""tools/device_render_check.py (the prepared GPU check of issue 15), exercised on the CPU: the
same pairs on two backends, their differences, the timings, one JSON report."""

from __future__ import annotations

import json

import pytest

from nirvis.render.raster import available_backends
from tool_helpers import load_tool


@pytest.mark.skipif("cpu" not in available_backends(), reason="needs the cpu backend as the reference")
def test_check_reports_parity_and_throughput(tmp_path):
    tool = load_tool("device_render_check")
    out = tmp_path / "check.json"
    assert tool.main(["--device", "cpu", "--backend", "cpu", "--pairs", "4", "--batch-sizes", "2", "--batches", "1",
                      "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["reference_backend"] == "cpu"
    # the same backend on the same device: the same bytes and landmarks
    assert report["parity"]["vis_uint8"]["max"] == 0 and report["parity"]["nir_uint8"]["max"] == 0
    assert report["parity"]["landmarks5_px_max"] == 0
    assert report["throughput"]["2"] > 0
