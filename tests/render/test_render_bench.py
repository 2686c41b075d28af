"""``nirvis bench render``'s in-memory part: every stage is timed, and timing changes nothing."""

from __future__ import annotations

import pytest
import torch

from nirvis.render.raster import available_backends


@pytest.fixture(scope="module")
def result():
    from nirvis.render.bench import bench_render

    backend = available_backends()[0]
    return bench_render(batch=4, repeats=1, backends=(backend,), pairs_per_identity=2, peer=False)


def test_stage_split_covers_the_issue_stages(result):
    split = result["stage_ms_per_pair"]
    stages = ["prepare_face", "geometry", "raster", "shade", "sensor", "align", "encode", "write"]
    assert list(split) == stages + ["total"]
    assert all(split[k] > 0 for k in stages)
    assert split["total"] == pytest.approx(sum(split[k] for k in stages), abs=0.01)
    backend = result["stage_backend"]
    in_memory_ms = 1000.0 / result["backends"][backend]["pairs_per_s"]
    # the stages of one profiled batch add up to about the best-of timing of the same batch
    rendering = split["total"] - split["prepare_face"] - split["encode"] - split["write"]
    assert 0.5 * in_memory_ms < rendering < 3 * in_memory_ms
    assert result["backends"][backend]["raster_only_images_per_s"] > result["backends"][backend]["pairs_per_s"]


def test_profiling_restores_the_renderer_and_changes_no_byte():
    from nirvis.render import pair as pair_mod
    from nirvis.render.bench import profiled

    face = pair_mod.prepare_procedural_face(0, 0, resolution=16)
    params = [pair_mod.sample_params(pair_mod.SampleSpace(raw_resolution=64), k) for k in range(2)]
    before = pair_mod.render_batch([face, face], params)
    spectra, geometry_pass = pair_mod.SPECTRA, pair_mod.geometry_pass
    with profiled() as times:
        during = pair_mod.render_batch([face, face], params)
    assert {"geometry_pass", "vis.shade", "nir.sensor", "align_to_arcface"} <= set(times)
    assert pair_mod.SPECTRA is spectra and pair_mod.geometry_pass is geometry_pass
    assert torch.equal(before.vis, during.vis) and torch.equal(before.nir, during.nir)
