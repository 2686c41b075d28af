"""``export_model``: a trained backbone as ONNX or TorchScript.

The exported graph maps float ``[N, C, 112, 112]`` input in model scale ((pixel / 255 - mean) /
std, C = model.in_channels; grey models take luma) to the raw embedding ``[N, D]``; L2-normalise
it before comparing faces (with the flipped image as well: normalise both embeddings, add them,
normalise the sum, as ``nirvis eval`` does). The input
format is written next to the file as ``FILE.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import torch

from nirvis.atomic import atomic_write_bytes, atomic_write_json
from nirvis.crop import CROP_SIZE
from nirvis.errors import NirvisError
from nirvis.train.checkpoint import load_trained, saved_bytes

FORMATS = ("onnx", "torchscript")


class ModelExportError(NirvisError, ValueError):
    """A user-facing export error."""


def export_model(run_dir: Union[str, os.PathLike], format: str = "onnx", out: Union[str, os.PathLike, None] = None,
                 check: bool = True) -> dict[str, Any]:
    """Export the latest checkpoint of ``run_dir`` (or a step dir / model.safetensors).

    Returns {"out", "format", "input_shape", "embedding_size", "max_abs_diff" (onnxruntime vs torch,
    when onnxruntime is importable and ``check``)}."""
    if format not in FORMATS:
        raise ModelExportError(f"unknown format {format!r} (onnx or torchscript)")
    backbone, _, cfg = load_trained(run_dir)
    backbone.eval()
    out = Path(out) if out is not None else Path(run_dir) / ("model.onnx" if format == "onnx" else "model.pt")
    x = torch.rand(2, cfg.model.in_channels, CROP_SIZE, CROP_SIZE)
    with torch.no_grad():
        ref = backbone(x)
    info: dict[str, Any] = {"out": str(out), "format": format,
                            "input_shape": ["N", cfg.model.in_channels, CROP_SIZE, CROP_SIZE],
                            "embedding_size": int(ref.shape[1]), "input_mean": cfg.data.mean,
                            "input_std": cfg.data.std, "backbone": cfg.model.backbone}
    if format == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(backbone, x)
        atomic_write_bytes(out, saved_bytes(lambda f: torch.jit.save(traced, f)))
        with torch.no_grad():
            info["max_abs_diff"] = float((torch.jit.load(str(out))(x) - ref).abs().max())
        info["max_rel_diff"] = info["max_abs_diff"] / max(float(ref.abs().max()), 1e-12)
    else:
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise ModelExportError("ONNX export needs the 'onnx' package (pip install onnx)") from None
        atomic_write_bytes(out, saved_bytes(lambda f: torch.onnx.export(
            backbone, (x,), f, input_names=["input"], output_names=["embedding"],
            dynamic_axes={"input": {0: "N"}, "embedding": {0: "N"}}, opset_version=17, dynamo=False)))
        if check:
            try:
                import onnxruntime as ort
            except ImportError:
                ort = None
            if ort is not None:
                sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
                got = sess.run(None, {"input": x.numpy()})[0]
                info["max_abs_diff"] = float(abs(got - ref.numpy()).max())
                info["max_rel_diff"] = info["max_abs_diff"] / max(float(ref.abs().max()), 1e-12)
    atomic_write_json(Path(str(out) + ".json"), info, indent=2, sort_keys=False)
    return info

