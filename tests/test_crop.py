"""nirvis.crop owns the crop size: every stage uses CROP_SIZE, no module writes 112 itself."""

from __future__ import annotations

import inspect
import io
import pathlib
import tokenize

import nirvis
from nirvis.crop import ARCFACE_TEMPLATE_112, CROP_SIZE

SRC = pathlib.Path(nirvis.__file__).parent


def test_no_module_but_nirvis_crop_writes_the_crop_size():
    holders = set()
    for p in SRC.rglob("*.py"):
        toks = tokenize.generate_tokens(io.StringIO(p.read_text(encoding="utf-8")).readline)
        if any(t.type == tokenize.NUMBER and t.string == "112" for t in toks):
            holders.add(str(p.relative_to(SRC)))
    assert holders == {"crop.py"}


def test_every_stage_sees_the_same_crop_size():
    from nirvis.evaluate import align as ealign
    from nirvis.evaluate import features
    from nirvis.render.align import ARCFACE_SIZE
    from nirvis.render.align import ARCFACE_TEMPLATE_112 as template
    from nirvis.shards.config import RenderDatasetConfig
    from nirvis.train.backbones.lightcnn import LightCNN29

    assert ARCFACE_SIZE == (CROP_SIZE, CROP_SIZE) and template is ARCFACE_TEMPLATE_112
    assert RenderDatasetConfig().resolution == CROP_SIZE
    assert ealign.CROP_SIZE == features.IMAGE_SIZE == CROP_SIZE
    assert inspect.signature(LightCNN29).parameters["input_size"].default == CROP_SIZE
    # the template lies inside the crop, eyes above the mouth
    xs, ys = zip(*ARCFACE_TEMPLATE_112)
    assert 0 < min(xs) and max(xs) < CROP_SIZE and ys[0] < ys[3] and ys[1] < ys[4]
