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

from ..variants import PAPER_SIZES, SEQ2FRAME_BACKBONES
from .attention import Block, drop_path_rates
from .embedding import add_input_layers
from .inputs import check_call


class PoseFormer(nn.Module):
    """(B, F, J, 2) 2D [+ noisy (B, 1, J, 3) centre pose and t for the denoiser] -> (B, 1, J, 3)."""

    seq2frame = "poseformer" in SEQ2FRAME_BACKBONES  # True: the centre frame of each window only

    def __init__(
        self,
        frames: int,
        *,
        denoiser: bool,
        num_joints: int = 17,
        dim: int = PAPER_SIZES["poseformer"]["dim"],
        depth: int = PAPER_SIZES["poseformer"]["depth"],
        heads: int = 8,
        mlp_ratio: float = 2.0,
        drop_path: float = 0.1,
        time_embedding: bool = True,
        pde: bool = True,
    ):
        super().__init__()
        frame_dim = dim * num_joints  # temporal token = one whole frame, 17 · 32 = 544 in the paper
        time_dim = add_input_layers(self, frames=frames, num_joints=num_joints, dim=dim,
                                    temporal_dim=frame_dim, denoiser=denoiser, time_embedding=time_embedding)
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
        """x2d: (B, F, J, 2) -> (B, 1, J, 3); a denoiser also takes y_t: (B, 1, J, 3) and t: (B,)."""
        t = check_call(self, x2d, y_t, t, pose_frames=1, pose_name="y_t (noisy centre-frame pose)")
        time_emb = None if self.time_mlp is None else self.time_mlp(t)  # (B, 2·J·dim)
        if self.denoiser:  # the centre pose repeated over the F frames, after the 2D input
            tokens = self.fusion_layer(torch.cat([x2d, y_t.expand(-1, self.frames, -1, -1)], dim=-1))
        else:
            tokens = self.Spatial_patch_to_embedding(x2d)
        x = tokens + self.Spatial_pos_embed  # (B, F, J, dim); (1, J, dim) over every frame
        for block in self.Spatial_blocks:
            x = self._run_block(block, x, time_emb)  # over the J joints of each frame
        x = rearrange(self.Spatial_norm(x), "b f j c -> b f (j c)") + self.Temporal_pos_embed  # (B, F, J·dim)
        for block in self.blocks:
            x = self._run_block(block, x, time_emb)  # over the F frames
        x = self.weighted_mean(self.Temporal_norm(x))  # (B, 1, J·dim)
        return rearrange(self.head(x), "b 1 (j c) -> b 1 j c", c=3)  # (B, 1, J, 3)
