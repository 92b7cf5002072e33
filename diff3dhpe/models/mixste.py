"""MixSTE seq2seq backbone (METHOD.md §4a): alternating spatial / temporal transformer blocks.

Attribute names follow the official state-dict keys (METHOD.md §8) so that official
checkpoints load by stripping prefixes only: ``Spatial_patch_to_embedding`` (regression, C_in = 2)
or ``fusion_layer`` (denoiser, C_in = 5), ``Spatial_pos_embed``, ``Temporal_pos_embed``,
``STEblocks.{i}``, ``TTEblocks.{i}``, ``Spatial_norm``, ``Temporal_norm``, ``head.{0,1}``, ``time_mlp.{1,3}``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..variants import PAPER_SIZES, SEQ2FRAME_BACKBONES
from .attention import Block, drop_path_rates
from .embedding import add_input_layers
from .inputs import check_call

JOINTS, FRAMES = -2, -3  # token axes of the (B, F, J, D) stream: spatial and temporal attention


class MixSTE(nn.Module):
    """Seq2seq lifter: (B, F, J, 2) 2D [+ noisy (B, F, J, 3) pose and t for the denoiser] -> (B, F, J, 3).

    The tokens stay one (B, F, J, D) tensor throughout; spatial blocks attend along its J axis,
    temporal blocks along its F axis (``Attention``'s ``axis``).
    """

    seq2frame = "mixste" in SEQ2FRAME_BACKBONES  # False: predicts every input frame

    def __init__(
        self,
        frames: int,
        *,
        denoiser: bool,
        num_joints: int = 17,
        dim: int = PAPER_SIZES["mixste"]["dim"],
        depth: int = PAPER_SIZES["mixste"]["depth"],
        heads: int = 8,
        mlp_ratio: float = 2.0,
        drop_path: float = 0.1,
        time_embedding: bool = True,
        pde: bool = True,
    ):
        super().__init__()
        time_dim = add_input_layers(self, frames=frames, num_joints=num_joints, dim=dim, temporal_dim=dim,
                                    denoiser=denoiser, time_embedding=time_embedding)

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
        """x2d: (B, F, J, 2) -> (B, F, J, 3); a denoiser also takes y_t: (B, F, J, 3) and t: (B,)."""
        t = check_call(self, x2d, y_t, t, pose_frames=self.frames)
        time_emb = None if self.time_mlp is None else self.time_mlp(t)  # (B, 2D)
        x = self.embed(x2d, y_t) + self.Spatial_pos_embed  # (B, F, J, D); (1, J, D) over every frame
        for i, (spatial, temporal) in enumerate(zip(self.STEblocks, self.TTEblocks)):
            x = self.Spatial_norm(self._run_block(spatial, x, time_emb, JOINTS))  # joints of a frame
            if i == 0:
                x = x + self.Temporal_pos_embed[:, :, None]  # (1, F, 1, D) over every joint
            x = self.Temporal_norm(self._run_block(temporal, x, time_emb, FRAMES))  # frames of a joint
        return self.head(x)  # (B, F, J, 3)
