"""DistributedDataParallel through torchrun: gloo on CPUs, nccl on GPUs; one process per core or GPU.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; without them (a plain `python recipe.py`) training is one process.
Only rank 0 validates, logs and writes checkpoints; every rank draws its own batches and corruptions.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init(device: torch.device) -> tuple[torch.device, int, int]:
    """(device, rank, world size), joining the process group when torchrun started this process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return device, 0, 1
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    return device, dist.get_rank(), dist.get_world_size()


def is_first_process() -> bool:
    """Rank 0, or the only process: the one that writes what all of them made (before or after init)."""
    return int(os.environ.get("RANK", "0")) == 0


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model as DDP sees it: its backward averages the gradients across processes."""
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def max_over_ranks(value: float) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()


def finish():
    dist.barrier()
    dist.destroy_process_group()
