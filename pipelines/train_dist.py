"""Distributed training context: one process per device, started by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them the run is a
single process. NCCL is used on CUDA and gloo on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pipelines.devices import resolve_device


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the run; rank 0 writes every file."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (identity in a single process)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        return self.all_sum([float(flag)])[0] > 0

    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun; a single-process context otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistContext(device=resolved)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), device=resolved)


def shutdown(context: DistContext) -> None:
    """Leave the process group (after the last collective)."""
    if context.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
