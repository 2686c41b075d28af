"""Helpers of the trainer tests (imported by the test modules; pytest puts this folder on sys.path)."""

from __future__ import annotations

from pathlib import Path

from nirvis.train.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(**overrides):
    """configs/train/tiny.yaml shrunk further: 3 ids x (2 VIS + 2 NIR), 6 steps, 1/8-width MobileFaceNet."""
    base = {"data.identities_per_batch": 3, "data.vis_per_identity": 2, "data.nir_per_identity": 2,
            "data.prefetch": 1, "run.progress": False, "optim.max_steps": 6, "run.checkpoint_every": 3,
            "model.width": 0.125, "model.embedding_size": 32}
    base.update(overrides)
    return load_config(ROOT / "configs" / "train" / "tiny.yaml", base)
