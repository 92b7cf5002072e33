"""Sharding and DDP keep one-process semantics (diff3dhpe.distributed)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from diff3dhpe.data.clips import ClipBatches, seq2seq_clips
from diff3dhpe.data.skeleton import H36M
from diff3dhpe.diffusion import Diffusion
from diff3dhpe.distributed import (
    ShardedBatches,
    init_distributed,
    rank_seed,
    shard_rows,
    sharded_draws,
    sharded_mean,
    teardown,
    wrap_ddp,
)
from diff3dhpe.errors import ConfigError
from diff3dhpe.models import build_model

FRAMES = 5


def _tiny_model():
    return build_model("mixste", frames=FRAMES, objective="denoiser", dim=16, depth=1, heads=4, drop_path=0.0)


def _sequences(seed=0):
    rng = np.random.default_rng(seed)
    return [
        SimpleNamespace(subject="S1", action="Walking", camera="0",
                        keypoints_2d=rng.uniform(-1, 1, (n, 17, 2)).astype(np.float32),
                        poses_3d=rng.uniform(-900, 900, (n, 17, 3)).astype(np.float32),
                        valid=np.ones(n, dtype=bool))
        for n in (23, 17, 12)
    ]


def _batches(batch_size=6):
    seqs = _sequences()
    index = seq2seq_clips([len(s.keypoints_2d) for s in seqs], FRAMES)
    return ClipBatches(seqs, index, 1000.0, batch_size, True, 3, True, H36M)


@pytest.mark.parametrize("n, world", [(10, 3), (7, 2), (4, 4), (5, 1)])
def test_shard_rows_partition_the_batch(n, world):
    slices = [shard_rows(n, r, world) for r in range(world)]
    rows = [i for s in slices for i in range(n)[s]]
    assert rows == list(range(n))
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1


def test_shard_rows_rejects_a_rank_outside_the_world():
    with pytest.raises(ConfigError, match="rank"):
        shard_rows(4, 2, 2)


def test_sharded_batches_together_are_the_global_batch():
    full = _batches()
    shards = [ShardedBatches(_batches(), r, 2) for r in range(2)]
    for epoch in (0, 1):
        full.set_epoch(epoch)
        for s in shards:
            s.set_epoch(epoch)
        assert all(len(s) == len(full) for s in shards)
        for i, batch in enumerate(full):
            parts = [s[i] for s in shards]
            for key in ("x2d", "y3d", "mask", "clip", "flip"):
                assert torch.equal(torch.cat([p[key] for p in parts]), batch[key])
            assert all(int(p["global_rows"]) == len(batch["x2d"]) for p in parts)


def test_sharded_batches_need_a_clip_per_rank():
    with pytest.raises(ConfigError, match="smaller than world_size"):
        ShardedBatches(_batches(batch_size=2), 0, 3)


def test_rank_seed_is_deterministic_and_differs_between_ranks():
    assert rank_seed(7, 0) == rank_seed(7, 0)
    assert len({rank_seed(7, r) for r in range(4)}) == 4


@pytest.mark.parametrize("masked", [False, True])
def test_one_process_sharded_loss_equals_library_x0_loss(masked):
    torch.manual_seed(0)
    model = _tiny_model()
    batch = _batches()[0]
    mask = batch["mask"].clone() if masked else None
    if masked:
        mask[0, :3] = False
    diffusion = Diffusion()
    t, noise = sharded_draws(diffusion, tuple(batch["y3d"].shape), torch.Generator().manual_seed(4))
    ours = sharded_mean(diffusion.training_error(model, batch["x2d"], batch["y3d"], "x0", t=t, noise=noise),
                        mask, world_size=1)
    library = diffusion.x0_loss(model, batch["x2d"], batch["y3d"], mask=mask,
                                generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(ours, library, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_draw_the_global_t_and_noise_and_keep_their_rows(world):
    diffusion, shape = Diffusion(), (7, FRAMES, 17, 3)
    parts = [sharded_draws(diffusion, shape, torch.Generator().manual_seed(4), rank, world)
             for rank in range(world)]
    t_one, noise_one = diffusion.draw_t_and_noise(shape, torch.Generator().manual_seed(4))
    assert torch.equal(torch.cat([t for t, _ in parts]), t_one)
    assert torch.equal(torch.cat([noise for _, noise in parts]), noise_one)


def test_sharded_mean_is_world_size_times_the_local_sum_over_the_global_count():
    err = torch.rand(3, FRAMES, 17, 3)
    mask = torch.ones(3, FRAMES, dtype=torch.bool)
    mask[0, 1:] = False
    kept = int(mask.sum()) * 17 * 3  # one process: the global count is the local one
    expected = (err * mask[..., None, None]).sum() * 2 / kept
    assert torch.equal(sharded_mean(err, mask, world_size=2), expected)
    assert torch.equal(sharded_mean(err, None, world_size=1), err.sum() / err.numel())


def _train_one_step(rank: int, world: int, port: int, out: str) -> None:
    """One SGD step of a tiny denoiser on the first global batch, as rank `rank` of `world`."""
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    info = init_distributed(device="cpu")
    torch.manual_seed(0)  # same initial weights everywhere
    model = _tiny_model()
    ddp = wrap_ddp(model, info)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    batches = ShardedBatches(_batches(batch_size=7), info.rank, info.world_size)
    batch = batches[0]
    mask = batch["mask"].clone()
    rows = shard_rows(int(batch["global_rows"]), info.rank, info.world_size)
    # frame 0 dropped on every third global clip: ranks keep unequal counts, so the loss must use global ones
    mask[:, 0] = torch.arange(rows.start, rows.stop) % 3 != 0
    diffusion = Diffusion()
    global_shape = (int(batch["global_rows"]), *batch["y3d"].shape[1:])
    t, noise = sharded_draws(diffusion, global_shape, torch.Generator().manual_seed(11), info.rank,
                             info.world_size)
    err = diffusion.training_error(ddp, batch["x2d"], batch["y3d"], "x0", t=t, noise=noise)
    loss = sharded_mean(err, mask, info.world_size)
    loss.backward()
    optimiser.step()
    if info.is_main:
        torch.save(model.state_dict(), out)
    teardown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_on_two_gloo_processes_matches_one_process(tmp_path):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    mp.spawn(_train_one_step, args=(1, _free_port(), str(one)), nprocs=1)
    mp.spawn(_train_one_step, args=(2, _free_port(), str(two)), nprocs=2)
    single, double = torch.load(one), torch.load(two)
    torch.manual_seed(0)
    initial = _tiny_model().state_dict()
    assert any(not torch.equal(single[k], initial[k]) for k in single)  # the step changed the weights
    for key in single:
        torch.testing.assert_close(double[key], single[key], atol=1e-6, rtol=0, msg=key)
