"""Multi-process training (DistributedDataParallel under torchrun) with one-process semantics.

The rule that keeps results equal to a single process with the full batch:
every rank builds the SAME global batch order (same seed and epoch), draws the SAME global
timesteps and noise from the same seeded generator, and keeps only its own rows. The loss of a rank
is its share of the global masked mean (sum over its rows / rows kept over all ranks), scaled by the
world size because DDP averages gradients. Then the averaged gradient is the full-batch gradient, up
to the order of float additions.

    info = init_distributed()                    # reads RANK / WORLD_SIZE / LOCAL_RANK from torchrun
    batches = ShardedBatches(clip_batches, info.rank, info.world_size)
    model = wrap_ddp(model, info)
    loss = sharded_diffusion_loss(diffusion, model, batch, generator, info.rank, info.world_size, batches)
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

from diff3dhpe.diffusion import Diffusion
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
    on every rank and shard it, as ``sharded_diffusion_loss`` does.
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


def sharded_diffusion_loss(
    diffusion: Diffusion,
    model: nn.Module,
    x2d: torch.Tensor,
    y0: torch.Tensor,
    global_rows: int,
    generator: torch.Generator,
    rank: int = 0,
    world_size: int = 1,
    mask: torch.Tensor | None = None,
    objective: str = "x0",
) -> torch.Tensor:
    """This rank's loss such that DDP's gradient average equals the one-process full-batch gradient.

    t (global_rows,) then noise (global_rows, F', J, 3) are drawn from ``generator`` exactly as
    ``Diffusion.x0_loss`` draws them for the full batch, and this rank keeps its rows. With one
    process it equals ``Diffusion.x0_loss`` / ``eps_loss`` (same draws; sum/count vs mean rounding).
    """
    if objective not in ("x0", "eps"):
        raise ConfigError(f"objective must be 'x0' or 'eps', got {objective!r}")
    rows = shard_rows(int(global_rows), rank, world_size)
    if y0.shape[0] != rows.stop - rows.start:
        raise ConfigError(
            f"sharded_diffusion_loss: rank {rank} of {world_size} should hold {rows.stop - rows.start} of "
            f"{global_rows} rows, got {y0.shape[0]}"
        )
    gen_device = generator.device
    t_all = torch.randint(0, diffusion.num_timesteps, (int(global_rows),), generator=generator,
                          device=gen_device)
    noise_all = torch.randn((int(global_rows), *y0.shape[1:]), generator=generator, device=gen_device)
    t = t_all[rows].to(y0.device)
    noise = noise_all[rows].to(device=y0.device, dtype=y0.dtype)
    y_t = diffusion.q_sample(y0, t, noise)
    pred = model(x2d, y_t, t)
    if objective == "x0":
        weight = diffusion.loss_weight(t).to(y0.dtype).reshape(-1, *([1] * (y0.ndim - 1)))
        err = weight * (pred - y0) ** 2
    else:
        err = (pred - noise) ** 2
    per_frame = err.shape[2] * err.shape[3]
    if mask is None:
        local_sum = err.sum()
        kept = torch.tensor(float(global_rows) * err.shape[1] * per_frame, device=err.device)
    else:
        mask = mask.to(err.device)
        local_sum = (err * mask[..., None, None]).sum()
        kept = global_sum(mask.sum().to(err.dtype)) * per_frame
    # world_size × (local sum / global count): DDP divides the summed gradients by world_size
    return local_sum * world_size / kept.clamp(min=1)
