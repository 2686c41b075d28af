"""render-dataset builds the same procedural identities on every device (issue 11 B1: the GPU
path once gave every identity the same flat grey albedo)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nirvis.render.prepared_face import prepare_procedural_face, procedural_identity_asset
from nirvis.shards.config import RenderDatasetConfig
from nirvis.shards.render import _Job, _ShardRenderer, effective_config

CFG = RenderDatasetConfig(identities=2, images_per_identity=1, seed=5, texture_resolution=32)


def _renderer(device: str, tmp_path) -> _ShardRenderer:
    eff, _, asset_dirs = effective_config(CFG)
    return _ShardRenderer(_Job(config=eff, out=str(tmp_path), device=device, asset_dirs=asset_dirs, fingerprint="x"))


def _map_arrays(asset) -> dict[str, np.ndarray]:
    m = asset.maps
    return {"diffuse_vis": m.diffuse_vis, "diffuse_nir": m.diffuse_nir, "specular_vis": m.specular_vis,
            "specular_nir": m.specular_nir, "roughness": m.roughness, "vertices": asset.mesh.vertices}


@pytest.mark.parametrize("label", [0, 1])
def test_cuda_and_cpu_jobs_build_the_same_procedural_asset(tmp_path, label):
    # a "cuda" job is never asked for a device here: choosing the asset must not look at it
    cpu, seed_cpu = _renderer("cpu", tmp_path).identity_asset(label)
    gpu, seed_gpu = _renderer("cuda", tmp_path).identity_asset(label)
    ref = procedural_identity_asset(CFG.seed, label, resolution=CFG.texture_resolution, led_nm=CFG.sample_space.led_nm)
    assert seed_cpu == seed_gpu
    for name, want in _map_arrays(ref).items():
        np.testing.assert_array_equal(_map_arrays(cpu)[name], want, err_msg=name)
        np.testing.assert_array_equal(_map_arrays(gpu)[name], want, err_msg=name)
    assert gpu.metadata == cpu.metadata and gpu.metadata["reflectance"] == "procedural-biophysical"


def test_procedural_identities_get_their_own_skin(tmp_path):
    r = _renderer("cuda", tmp_path)
    skin = [r.identity_asset(label)[0].maps for label in (0, 1)]
    for maps in skin:
        assert maps.diffuse_nir is not None
        assert np.ptp(maps.diffuse_vis) > 0.05                     # not one flat grey
        assert not np.allclose(maps.diffuse_vis, 0.5)
    assert not np.allclose(skin[0].diffuse_vis, skin[1].diffuse_vis)


def test_prepared_face_of_a_cpu_job_is_prepare_procedural_face(tmp_path):
    pf, seed, _, record = _renderer("cpu", tmp_path).face(1)
    assert record["identity"]["seed"] == seed and record["sex"] in ("female", "male")
    ref = prepare_procedural_face(CFG.seed, 1, resolution=CFG.texture_resolution, led_nm=CFG.sample_space.led_nm,
                                  nir_method=CFG.nir_method, backend=effective_config(CFG)[0].backend)
    assert seed == ref.identity.seed
    for a, b in zip(pf.material.levels, ref.material.levels):
        assert torch.equal(a, b)
    assert torch.equal(pf.ao, ref.ao) and torch.equal(pf.vertices, ref.vertices)
