"""The embedded identity source: procedural heads as FaceAssets, no data needed.

``procedural_asset`` builds the head mesh, landmarks and provenance; the skin comes from the
caller's maps. Rendered identities get their biophysical VIS/NIR maps from
``nirvis.reflectance.maps.procedural_face_asset`` (``nirvis.render.prepared_face.
procedural_identity_asset`` for identity ``label`` of a data set): the default maps here are a
flat grey placeholder that would give every identity the same skin.
"""

from __future__ import annotations

from typing import Optional

from nirvis.faces.asset import FaceAsset, ReflectanceMaps
from nirvis.faces.head_model import Expression, IdentityParams, build_head, load_head_model
from nirvis.faces.regions import face_regions


def procedural_asset(identity: IdentityParams, expression: Optional[Expression] = None,
                     maps: Optional[ReflectanceMaps] = None, resolution: int = 512) -> FaceAsset:
    """The FaceAsset of a procedural identity.

    Args:
        identity: head model weights (e.g. from ``sample_identity(seed)``).
        expression: optional face-unit weights.
        maps: reflectance maps in the head model's UV layout; default: a placeholder of flat grey
            albedo (0.5 linear), specular albedo 0.04, roughness 0.5, with the region masks of
            ``face_regions`` attached (geometry tests and benchmarks; not for rendering identities,
            see the module docstring).
        resolution: map size when ``maps`` is None.

    Returns:
        FaceAsset with the 68- and 5-point landmark sets and metadata recording the identity,
        the expression and the head model provenance.
    """
    model = load_head_model()
    mesh = build_head(identity, expression, model)
    if maps is None:
        flat = ReflectanceMaps.flat(resolution)
        maps = ReflectanceMaps(flat.diffuse_vis, flat.specular_vis, flat.roughness,
                               regions=dict(face_regions(resolution)))
    meta = {
        "source": "procedural",
        "identity": identity.to_dict(),
        "expression": (expression or Expression.neutral()).to_dict(),
        "head_model": {k: model.provenance[k] for k in ("source", "wheel_sha256", "licence")},
    }
    return FaceAsset(mesh=mesh, maps=maps, landmarks=dict(model.landmarks), metadata=meta)
