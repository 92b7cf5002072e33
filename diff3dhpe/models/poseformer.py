"""PoseFormer seq2frame backbone (METHOD.md §4b) and its Diff3DHPE-P denoiser.

Two stages run one after the other: a spatial transformer over the J joint tokens of each
frame (width ``dim``), then a temporal transformer over F frame tokens of width J·dim. A learned
weighted mean over frames (Conv1d(F -> 1, kernel 1)) and a linear head give the centre-frame pose.

Diff3DHPE-P: the noisy pose exists for the centre frame only, (B, 1, J, 3); it is repeated over the
F frames and concatenated after the 2D input (C_in = 5). The timestep embedding (sinusoid of width
J·dim, MLP to 2·J·dim) is projected by every block to that block's own width.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ShapeError
from .attention import Block, drop_path_rates
from .mixste import check_pose_input, check_timesteps
from .time_embedding import time_mlp


class PoseFormer(nn.Module):
    """(B, F, J, 2) 2D [+ noisy (B, 1, J, 3) centre pose and t for the denoiser] -> (B, 1, J, 3)."""

    def __init__(
        self,
        frames: int,
        *,
        denoiser: bool,
        num_joints: int = 17,
        dim: int = 32,
        depth: int = 4,
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
        frame_dim = dim * num_joints  # temporal token = one whole frame, 17 · 32 = 544 in the paper
        in_chans = 5 if denoiser else 2
        if denoiser:
            self.fusion_layer = nn.Linear(in_chans, dim)
        else:
            self.Spatial_patch_to_embedding = nn.Linear(in_chans, dim)
        use_time = denoiser and time_embedding
        self.time_mlp = time_mlp(frame_dim) if use_time else None
        time_dim = 2 * frame_dim if use_time else None

        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, frames, frame_dim))
        rates = drop_path_rates(drop_path, depth)
        self.Spatial_blocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, rate, pde=pde, time_dim=time_dim) for rate in rates
        )
        self.blocks = nn.ModuleList(
            Block(frame_dim, heads, mlp_ratio, rate, pde=pde, time_dim=time_dim) for rate in rates
        )
        self.Spatial_norm = nn.LayerNorm(dim, eps=1e-6)
        self.Temporal_norm = nn.LayerNorm(frame_dim, eps=1e-6)
        self.weighted_mean = nn.Conv1d(frames, 1, kernel_size=1)  # learned weights over the F frames
        self.head = nn.Sequential(nn.LayerNorm(frame_dim), nn.Linear(frame_dim, num_joints * 3))
        # Run-time switches, not part of the state dict: see diff3dhpe.fastpaths.
        self.grad_checkpointing = False
        self.check_inputs = True

    @property
    def spatial_blocks(self) -> nn.ModuleList:
        """The blocks that attend over the J joints of a frame (``fastpaths.set_attention_backend``)."""
        return self.Spatial_blocks

    def _run_block(self, block: nn.Module, x: torch.Tensor, time_emb: torch.Tensor | None) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, time_emb, use_reentrant=False)
        return block(x, time_emb)

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
            check_pose_input(
                name, "y_t (noisy centre-frame pose)", y_t, 1, self.num_joints, 3, batch=b, finite=check
            )
            t = check_timesteps(name, t, b, values=check)
            if self.time_mlp is not None:
                time_emb = self.time_mlp(t)  # (B, 2·J·dim)
            tokens = self.fusion_layer(torch.cat([x2d, y_t.expand(-1, self.frames, -1, -1)], dim=-1))
        else:
            if y_t is not None or t is not None:
                raise ShapeError(f"{name}: the regression model is called as model(x2d); got y_t / t as well")
            tokens = self.Spatial_patch_to_embedding(x2d)  # (B, F, J, dim)

        x = rearrange(tokens, "b f j c -> (b f) j c") + self.Spatial_pos_embed
        for block in self.Spatial_blocks:
            x = self._run_block(block, x, time_emb)
        x = self.Spatial_norm(x)
        x = rearrange(x, "(b f) j c -> b f (j c)", b=b) + self.Temporal_pos_embed  # (B, F, J·dim)
        for block in self.blocks:
            x = self._run_block(block, x, time_emb)
        x = self.weighted_mean(self.Temporal_norm(x))  # (B, 1, J·dim)
        return rearrange(self.head(x), "b 1 (j c) -> b 1 j c", c=3)  # (B, 1, J, 3)
