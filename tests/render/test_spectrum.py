"""The per-spectrum table: every spectrum-specific step of render_batch comes from its Spectrum."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nirvis.render import pair
from nirvis.render.nir import NIR
from nirvis.render.prepared_face import prepare_procedural_face
from nirvis.render.sampling import SampleSpace, sample_params
from nirvis.render.vis import VIS


@pytest.fixture(scope="module")
def face():
    return prepare_procedural_face(2, 0, resolution=32)


@pytest.fixture(scope="module")
def params():
    ps = [sample_params(SampleSpace(raw_resolution=96, glasses_probability=0.5), k) for k in range(3)]
    assert any(p.accessories["glasses"]["enabled"] for p in ps)     # lenses are part of the check
    return ps


def test_render_batch_renders_the_spectra_of_the_table(face, params):
    assert pair.SPECTRA == (VIS, NIR)
    assert [s.view(params[0]) for s in pair.SPECTRA] == [params[0].vis_view, params[0].nir_view]


@pytest.mark.parametrize("member", ["shade", "background", "lens_reflection", "sensor"])
def test_changing_one_nir_member_changes_nir_images_only(face, params, member, monkeypatch):
    """The one place rule: a change to NIR's table entry reaches the NIR images and nothing else."""
    base = pair.render_batch([face] * 3, params)
    original = getattr(NIR, member)

    def brighter(*args, **kwargs):
        out = original(*args, **kwargs)
        return out.clamp(0, 1) ** 0.5 if member == "sensor" else out * 3.0 + 0.01

    monkeypatch.setattr(pair, "SPECTRA", (VIS, dataclasses.replace(NIR, **{member: brighter})))
    changed = pair.render_batch([face] * 3, params)
    assert torch.equal(changed.vis, base.vis)
    assert torch.equal(changed.vis_landmarks5, base.vis_landmarks5)
    assert torch.equal(changed.nir_landmarks5, base.nir_landmarks5)
    assert not torch.equal(changed.nir, base.nir)


def test_spectra_draw_their_own_sensor_noise(params):
    vis_gens, nir_gens = VIS.generators(params), NIR.generators(params)
    draws = [torch.rand(4, generator=g) for g in vis_gens + nir_gens]
    assert all(not torch.equal(a, b) for i, a in enumerate(draws) for b in draws[i + 1:])
    again = [torch.rand(4, generator=g) for g in VIS.generators(params)]
    assert all(torch.equal(a, b) for a, b in zip(draws[:3], again))
