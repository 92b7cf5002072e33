"""Diffusion timestep conditioning (METHOD.md §4a): sinusoidal embedding of t, then an MLP to 2·D."""

from __future__ import annotations

import math

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """Integer t (B,) -> (B, dim): [sin(t·f_i) | cos(t·f_i)], f_i = exp(−i·ln(10000)/(dim/2 − 1))."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2 != 0 or dim < 4:
            raise ValueError(f"SinusoidalEmbedding: dim must be even and >= 4, got {dim}")
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device) * (-math.log(10000.0) / (half - 1)))
        angles = t.float()[:, None] * freqs[None, :]  # (B, half)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


def time_mlp(dim: int) -> nn.Sequential:
    """Sinusoid(dim) -> Linear(dim, 2·dim) -> GELU -> Linear(2·dim, 2·dim); state keys time_mlp.1 / .3."""
    return nn.Sequential(
        SinusoidalEmbedding(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, 2 * dim)
    )
