"""Command line: ``nirvis train`` and ``nirvis export-model`` (wired by ``register(subparsers)``).

    nirvis train --config configs/train/lightcnn_idmmd.yaml --data out/train --out runs/a
    nirvis train --data out/train --out runs/a --resume            # continue (config from the run)
    nirvis export-model runs/a --format onnx --out a.onnx

User errors are raised (``NirvisError`` subclasses) and reported by ``nirvis.errors.run_command``:
one line ``nirvis train: error: ...`` on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

from nirvis.errors import run_command


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train a cross-spectral face embedding (CosFace + ID-MMD)",
                              description="Train on rendered shard directories (and real lists from the config).")
    p.add_argument("--config", help="training YAML (default: the built-in reference recipe; with --resume: the run's)")
    p.add_argument("--data", required=True, help="rendered data set directories, comma-separated; a render-dataset "
                   "config (.yaml) instead of a directory is rendered on the fly inside the trainer")
    p.add_argument("--out", required=True, help="run directory (logs, checkpoints, config.yaml)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--steps", type=int, help="stop after N steps in total (optim.max_steps)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="run.device")
    p.add_argument("--pretrained", help="backbone weights to start from (model.pretrained)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field, e.g. --set optim.lr=0.01 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    e = subparsers.add_parser("export-model", help="export a trained backbone as ONNX or TorchScript")
    e.add_argument("run_dir", help="run directory (its latest checkpoint), step directory or model.safetensors")
    e.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    e.add_argument("--out", required=True, help="output file")
    e.set_defaults(func=cmd_export)


def cmd_train(args: argparse.Namespace) -> int:
    from nirvis.train.config import TrainConfigError, load_config, parse_override
    from nirvis.train.loop import train

    overrides: dict[str, Any] = dict(parse_override(s) for s in args.set)
    if args.steps is not None:
        if args.steps < 1:
            raise TrainConfigError(f"--steps must be >= 1, got {args.steps}")
        overrides["optim.max_steps"] = args.steps
    if args.device:
        overrides["run.device"] = args.device
    if args.pretrained:
        overrides["model.pretrained"] = args.pretrained
    if args.quiet:
        overrides["run.progress"] = False
    config = args.config
    if config is None and args.resume and (Path(args.out) / "config.yaml").is_file():
        config = Path(args.out) / "config.yaml"
    cfg = load_config(config, overrides)
    data = [d for d in args.data.split(",") if d]
    summary = train(cfg, data, args.out, resume=args.resume)
    last = summary["last"]
    where = (f"checkpoint {summary['checkpoint']}" if summary["checkpoint"] else
             f"rank {summary['rank']} of {summary['world_size']} (rank 0 writes the checkpoint)")
    if last:
        print(f"trained {summary['steps']} steps ({summary['images_per_s']:.1f} images/s): ce {last['ce']:.4f}, "
              f"idmmd {last['idmmd']:.5f}; {where}")
    else:
        print(f"nothing to train (already at step {summary['steps']}); {where}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from nirvis.train.export import export_model

    info = export_model(args.run_dir, args.format, args.out)
    print(json.dumps(info))
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Stand-alone driver (``python -m nirvis.train.cli``) until the main CLI wires ``register``."""
    parser = argparse.ArgumentParser(prog="nirvis")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
