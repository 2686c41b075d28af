"""The process's place in a ``torchrun`` launch (RANK / WORLD_SIZE / LOCAL_RANK), read in one place.

Example:
    >>> from nirvis.distributed import dist_env
    >>> env = dist_env({"RANK": "1", "WORLD_SIZE": "4"})
    >>> env.rank, env.world_size, env.local_rank, env.distributed
    (1, 4, 1, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from nirvis.errors import UsageError


@dataclass(frozen=True)
class DistEnv:
    """rank in [0, world_size); local_rank: the rank on this machine (the CUDA device index)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def dist_env(environ: Optional[Mapping[str, str]] = None) -> DistEnv:
    """RANK / WORLD_SIZE / LOCAL_RANK as set by ``torchrun`` (defaults: a single process).

    Raises:
        UsageError: a value is not an integer or RANK lies outside WORLD_SIZE.
    """
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise UsageError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers ({exc})") from None
    if world < 1 or not 0 <= rank < world:
        raise UsageError(f"RANK={rank} is outside WORLD_SIZE={world}")
    return DistEnv(rank, world, local)
