"""Helpers of the shards tests: run the commands in-process or as a subprocess, compare shards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TINY_YAML = """\
identities: 3
images_per_identity: 2
shard_size: 2
batch_size: 2
workers: 1
seed: 5
texture_resolution: 128
sample_space:
  raw_resolution: 128
"""


def cli(argv):
    """Run a shards command in-process; returns its exit code."""
    from nirvis.shards.cli import main

    return main([str(a) for a in argv])


def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "nirvis.shards.cli", *map(str, args)]


def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=full_env, timeout=timeout)


def shard_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((Path(directory) / "shards").glob("shard-*.tar"))}


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)  # tar members are 0o444, the files are ours
    return dst


