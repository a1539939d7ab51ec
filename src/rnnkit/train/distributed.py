"""Data parallelism across processes started by ``torchrun`` (gloo on CPU, nccl on GPU).

Each process takes a contiguous block of the B streams (batch rows); DDP averages the
gradients, which equals the gradient of the global mean loss because every process has
the same number of tokens. Metrics, checkpoints and the run folder belong to rank 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rnnkit.errors import ConfigError


@dataclass
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    def rows(self, batch_size: int) -> slice:
        """This process's batch rows; the global batch must split evenly."""
        if batch_size % self.size:
            raise ConfigError(f"--batch-size {batch_size} must be divisible by the number "
                              f"of processes ({self.size})")
        per = batch_size // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    def mean(self, value: float) -> float:
        """Average a Python number over processes (identity in a single process)."""
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t) / self.size

    def max_int(self, value: int) -> int:
        """The largest of every process's ``value`` (used to stop together)."""
        if not self.active:
            return value
        t = torch.tensor([value])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t)

    def gather_rows(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        """Concatenate every process's batch rows of ``t`` along ``dim`` (for saving)."""
        if not self.active:
            return t
        parts = [torch.empty_like(t) for _ in range(self.size)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts, dim=dim)


def init_from_env(device: torch.device) -> World:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def shutdown(world: World, *, finished: bool) -> None:
    """Leave the process group. After a finished run every process first waits for the
    others (rank 0 is still writing the report): a process that tears gloo down while its
    peer's connections are live can abort in C++ ("terminate called without an active
    exception"). After a failure nobody waits, since the peer may never arrive."""
    if not (world.active and dist.is_initialized()):
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()
