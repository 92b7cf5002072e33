"""Multi-process training (DistributedDataParallel under torchrun) with one-process semantics.

The rule that keeps results equal to a single process with the full batch:
every rank builds the SAME global batch order (same seed and epoch), draws the SAME global
timesteps and noise from the same seeded generator and keeps only its own rows (``sharded_draws``).
The loss of a rank is its share of the global masked mean (``sharded_mean``: sum over its rows /
elements scored over all ranks), scaled by the world size because DDP averages gradients. Then the
averaged gradient is the full-batch gradient, up to the order of float additions.

    info = init_distributed()                    # reads RANK / WORLD_SIZE / LOCAL_RANK from torchrun
    batches = ShardedBatches(clip_batches, info.rank, info.world_size)
    model = wrap_ddp(model, info)
    t, noise = sharded_draws(diffusion, (global_rows, *y0.shape[1:]), generator, info.rank, info.world_size)
    err = diffusion.training_error(model, x2d, y0, "x0", t=t, noise=noise)  # this rank's rows
    loss = sharded_mean(err, mask, info.world_size)
    ...
    teardown()
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from diff3dhpe.diffusion import Diffusion, masked_sum
from diff3dhpe.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and results; the others only compute."""
        return self.rank == 0


def init_distributed(backend: str | None = None, device: str = "auto") -> DistInfo:
    """Join the process group torchrun set up (env RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

    Without those variables this is a single process (rank 0 of 1) and no group is created.
    backend: nccl on CUDA, gloo on CPU, unless given. Each rank uses GPU ``LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("init_distributed: device cuda requested but no CUDA device is available")
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"), rank=rank, world_size=world)
    return DistInfo(rank, world, local_rank, dev)


def teardown() -> None:
    """Leave the process group (safe to call when none exists)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, info: DistInfo) -> nn.Module:
    """DistributedDataParallel around ``model`` on this rank's device; the model itself with one process."""
    model = model.to(info.device)
    if info.world_size == 1:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def rank_seed(seed: int, rank: int) -> int:
    """A seed for randomness that must differ between ranks (e.g. dropout masks), derived from (seed, rank).

    Randomness that defines the data (order, timesteps, noise) must NOT use it: draw that from ``seed``
    on every rank and shard it, as ``sharded_draws`` does.
    """
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1, dtype=np.uint32)[0])


def shard_rows(n: int, rank: int, world_size: int) -> slice:
    """This rank's contiguous rows of a global batch of n (sizes differ by at most one, rank 0 first)."""
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, {world_size}), got {rank}")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


class ShardedBatches:
    """This rank's part of every global batch of a ``ClipBatches`` (same order on every rank).

    ``len`` and ``set_epoch`` are those of the wrapped loader, so all ranks take the same number of
    steps; ``batch["global_rows"]`` is the size of the global batch the shard came from. The global
    batch size is the wrapped loader's ``batch_size`` (the per-GPU size is about that / world_size).
    """

    def __init__(self, batches, rank: int, world_size: int):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"ShardedBatches: need 0 <= rank < world_size, got {rank}, {world_size}")
        if batches.batch_size < world_size:
            raise ConfigError(
                f"ShardedBatches: global batch_size {batches.batch_size} is smaller than world_size "
                f"{world_size}; "
                f"every rank needs at least one clip"
            )
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def set_epoch(self, epoch: int) -> None:
        self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        b = self.batches
        if not 0 <= i < len(b):
            raise IndexError(f"batch {i} out of range 0..{len(b) - 1}")
        items = b._order[i * b.batch_size : (i + 1) * b.batch_size]
        mine = items[shard_rows(len(items), self.rank, self.world_size)]
        batch = b.gather(b._items_clip[mine], b._items_flip[mine])
        batch["global_rows"] = torch.tensor(len(items))
        return batch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for i in range(len(self)):
            yield self[i]


def global_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum of ``value`` over all ranks (the value itself with one process); not differentiable."""
    value = value.detach().clone()
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def sharded_draws(
    diffusion: Diffusion,
    global_shape: tuple[int, ...],
    generator: torch.Generator,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's rows of the global batch's diffusion draws: t (b,) int64 and noise (b, F', J, 3) float32.

    ``global_shape`` is the pose shape of the whole global batch (B, F', J, 3). t then noise are drawn
    for all B rows by ``Diffusion.draw_t_and_noise`` on the generator's device (the same values on
    every rank, and those a single process draws for the full batch); this rank keeps
    ``shard_rows(B, rank, world_size)``. Pass them to ``Diffusion.training_error``. Raises ConfigError
    for a rank outside the world.
    """
    rows = shard_rows(int(global_shape[0]), rank, world_size)
    t, noise = diffusion.draw_t_and_noise(tuple(global_shape), generator)
    return t[rows], noise[rows]


def sharded_mean(err: torch.Tensor, mask: torch.Tensor | None, world_size: int) -> torch.Tensor:
    """This rank's share of the global masked mean: local masked sum × world_size / global count.

    err (b, F', J, C) is the unreduced error of this rank's rows, mask (b, F') bool (None: all frames).
    The count of scored elements is summed over all ranks (``global_sum``); the factor world_size
    undoes DDP's gradient average, so the averaged gradient is that of ``masked_mean`` over the global
    batch (METHOD.md §7, masked frames score nothing). Raises ShapeError for a bad mask.
    """
    local_sum, count = masked_sum(err, mask)
    kept = global_sum(count.to(err.dtype))
    # world_size × (local sum / global count): DDP divides the summed gradients by world_size
    return local_sum * world_size / kept.clamp(min=1)
