"""Faces: 3D heads with reflectance, from the procedural model, photos or external reconstructions.

Every identity source produces a ``FaceAsset``; later stages only see FaceAssets.
"""

from nirvis.faces.asset import FaceAsset, ReflectanceMaps, load_asset, read_image, save_asset
from nirvis.faces.errors import FaceDataError
from nirvis.faces.head_model import (
    Expression,
    HeadModel,
    IdentityParams,
    build_head,
    build_heads,
    identity_seed,
    load_head_model,
    sample_expression,
    sample_identity,
)
from nirvis.faces.mesh import PART_NAMES, HeadMesh, SurfacePoints, read_obj, write_obj

__all__ = [
    "Expression", "FaceAsset", "FaceDataError", "HeadMesh", "HeadModel", "IdentityParams", "PART_NAMES",
    "ReflectanceMaps", "SurfacePoints", "build_head", "build_heads", "identity_seed", "load_head_model",
    "load_asset", "read_image", "read_obj", "sample_expression", "sample_identity", "save_asset", "write_obj",
]
