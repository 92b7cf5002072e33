"""MixSTE seq2seq backbone (METHOD.md §4a): alternating spatial / temporal transformer blocks.

Attribute names follow the official state-dict keys (METHOD.md §8) so that official
checkpoints load by stripping prefixes only: ``Spatial_patch_to_embedding`` (regression, C_in = 2)
or ``fusion_layer`` (denoiser, C_in = 5), ``Spatial_pos_embed``, ``Temporal_pos_embed``,
``STEblocks.{i}``, ``TTEblocks.{i}``, ``Spatial_norm``, ``Temporal_norm``, ``head.{0,1}``, ``time_mlp.{1,3}``.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ShapeError
from .attention import Block, drop_path_rates
from .time_embedding import time_mlp


def _check_finite(name: str, tensor: torch.Tensor, model: str) -> None:
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise ShapeError(f"{model}: {name} contains {bad} NaN/inf values; clean or mask the input first")


def check_pose_input(
    model: str, name: str, tensor: object, frames: int, joints: int, channels: int, batch: int | None = None,
    finite: bool = True,
) -> None:
    """Raise ShapeError unless ``tensor`` is a finite (B, frames, joints, channels) tensor.

    ``finite=False`` skips the NaN scan (a host sync, which CUDA-graph capture forbids); shapes are
    still checked.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ShapeError(
            f"{model}: {name} must be a torch.Tensor of shape (B, {frames}, {joints}, {channels}), "
            f"got {type(tensor).__name__}"
        )
    expected = f"({batch if batch is not None else 'B'}, {frames}, {joints}, {channels})"
    if tensor.ndim != 4 or tuple(tensor.shape[1:]) != (frames, joints, channels) or (
        batch is not None and tensor.shape[0] != batch
    ):
        raise ShapeError(
            f"{model}: {name} must have shape {expected} (B clips, frames, joints, channels), "
            f"got {tuple(tensor.shape)}; this model was built for frames={frames}, joints={joints}"
        )
    if tensor.shape[0] == 0:
        raise ShapeError(f"{model}: {name} is an empty batch (B = 0)")
    if not tensor.is_floating_point():
        raise ShapeError(f"{model}: {name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if finite:
        _check_finite(name, tensor, model)


def check_timesteps(model: str, t: object, batch: int, values: bool = True) -> torch.Tensor:
    """Return t as an int64 (B,) tensor; a scalar is broadcast to every clip. ``values=False``: no sync."""
    if not isinstance(t, torch.Tensor):
        raise ShapeError(
            f"{model}: t must be an integer torch.Tensor of shape ({batch},), got {type(t).__name__}"
        )
    if t.is_floating_point() or t.is_complex():
        raise ShapeError(f"{model}: t must hold integer timesteps, got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(batch)
    if tuple(t.shape) != (batch,):
        raise ShapeError(
            f"{model}: t must have shape ({batch},) (one timestep per clip), got {tuple(t.shape)}"
        )
    if values and (t < 0).any():
        raise ShapeError(f"{model}: timesteps must be >= 0, got min {int(t.min())}")
    return t.long()


class MixSTE(nn.Module):
    """Seq2seq lifter: (B, F, J, 2) 2D [+ noisy (B, F, J, 3) pose and t for the denoiser] -> (B, F, J, 3)."""

    def __init__(
        self,
        frames: int,
        *,
        denoiser: bool,
        num_joints: int = 17,
        dim: int = 512,
        depth: int = 8,
        heads: int = 8,
        mlp_ratio: float = 2.0,
        drop_path: float = 0.1,
        time_embedding: bool = True,
        pde: bool = True,
    ):
        super().__init__()
        self.frames = frames
        self.num_joints = num_joints
        self.denoiser = denoiser
        in_chans = 5 if denoiser else 2  # denoiser input order (u, v, x_t, y_t, z_t): 2D first
        if denoiser:
            self.fusion_layer = nn.Linear(in_chans, dim)
        else:
            self.Spatial_patch_to_embedding = nn.Linear(in_chans, dim)
        use_time = denoiser and time_embedding
        self.time_mlp = time_mlp(dim) if use_time else None
        time_dim = 2 * dim if use_time else None

        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, frames, dim))

        # spatial block i and temporal block i share the same stochastic depth rate
        rates = drop_path_rates(drop_path, depth)
        self.STEblocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, rate, pde=pde, time_dim=time_dim) for rate in rates
        )
        self.TTEblocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, rate, pde=pde, time_dim=time_dim) for rate in rates
        )
        # one shared norm per axis, re-applied after every block of that axis
        self.Spatial_norm = nn.LayerNorm(dim, eps=1e-6)
        self.Temporal_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 3))
        # Run-time switches, not part of the state dict: see diff3dhpe.fastpaths.
        self.grad_checkpointing = False  # recompute each block in backward (long F on small GPUs)
        self.check_inputs = True  # NaN / negative-t scans of the inputs (off inside CUDA-graph capture)

    @property
    def spatial_blocks(self) -> nn.ModuleList:
        """The blocks that attend over the J joints of a frame (``fastpaths.set_attention_backend``)."""
        return self.STEblocks

    def _run_block(
        self, block: nn.Module, x: torch.Tensor, time_emb: torch.Tensor | None, axis: int = -2
    ) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            # non-reentrant checkpoint replays the RNG, so stochastic depth drops the same paths
            return checkpoint(block, x, time_emb, axis, use_reentrant=False)
        return block(x, time_emb, axis)

    def embed(self, x2d: torch.Tensor, y_t: torch.Tensor | None) -> torch.Tensor:
        if self.denoiser:
            return self.fusion_layer(torch.cat([x2d, y_t], dim=-1))  # (B, F, J, D)
        return self.Spatial_patch_to_embedding(x2d)

    def forward(
        self, x2d: torch.Tensor, y_t: torch.Tensor | None = None, t: torch.Tensor | None = None
    ) -> torch.Tensor:
        name = type(self).__name__
        check = self.check_inputs
        check_pose_input(name, "x2d", x2d, self.frames, self.num_joints, 2, finite=check)
        b = x2d.shape[0]
        time_emb = None
        if self.denoiser:
            if y_t is None or t is None:
                raise ShapeError(f"{name}: the denoiser is called as model(x2d, y_t, t); y_t or t is missing")
            check_pose_input(name, "y_t", y_t, self.frames, self.num_joints, 3, batch=b, finite=check)
            t = check_timesteps(name, t, b, values=check)
            if self.time_mlp is not None:
                time_emb = self.time_mlp(t)  # (B, 2D)
        elif y_t is not None or t is not None:
            raise ShapeError(f"{name}: the regression model is called as model(x2d); got y_t / t as well")

        tokens = self.embed(x2d, y_t)  # (B, F, J, D)
        if self.STEblocks[0].attn.resolved_backend(tokens) == "bmm":
            return self._blocks_in_place(tokens, time_emb)
        return self._blocks_regrouped(tokens, time_emb)

    def _blocks_in_place(self, x: torch.Tensor, time_emb: torch.Tensor | None) -> torch.Tensor:
        """Tokens stay (B, F, J, D); each attention gathers its own groups (joints of a frame, frames
        of a joint) in the copy the batched-GEMM kernel makes anyway, so no axis switch copies the
        stream. Used with bmm attention (the CPU default); same numbers as ``_blocks_regrouped``.
        """
        x = x + self.Spatial_pos_embed  # (1, J, D) over every (clip, frame)
        for i, (spatial, temporal) in enumerate(zip(self.STEblocks, self.TTEblocks)):
            x = self.Spatial_norm(self._run_block(spatial, x, time_emb, axis=-2))  # joints of a frame
            if i == 0:
                x = x + self.Temporal_pos_embed[:, :, None]  # (1, F, 1, D) over every (clip, joint)
            x = self.Temporal_norm(self._run_block(temporal, x, time_emb, axis=-3))  # frames of a joint
        return self.head(x)  # (B, F, J, 3)

    def _blocks_regrouped(self, x: torch.Tensor, time_emb: torch.Tensor | None) -> torch.Tensor:
        """Tokens regrouped as (B·F, J, D) for spatial and (B·J, F, D) for temporal blocks, so that
        SDPA reads q, k, v as views (flash / memory-efficient kernels take 4-D strided input).
        """
        b = x.shape[0]
        x = rearrange(x, "b f j d -> (b f) j d") + self.Spatial_pos_embed
        for i, (spatial, temporal) in enumerate(zip(self.STEblocks, self.TTEblocks)):
            if i > 0:
                # One explicit copy per axis switch. A permuted view would be copied again by every
                # LayerNorm of the block (three times), and would make the elementwise ops strided.
                x = rearrange(x, "(b j) f d -> (b f) j d", b=b).contiguous()
            x = self.Spatial_norm(self._run_block(spatial, x, time_emb))  # over the J joints of a frame
            x = rearrange(x, "(b f) j d -> (b j) f d", b=b).contiguous()
            if i == 0:
                x = x + self.Temporal_pos_embed
            x = self.Temporal_norm(self._run_block(temporal, x, time_emb))  # over the F frames of a joint
        # head on the (B·J, F, D) tokens as they lie; only the 3-channel output is reordered
        return rearrange(self.head(x), "(b j) f c -> b f j c", b=b)  # (B, F, J, 3)
