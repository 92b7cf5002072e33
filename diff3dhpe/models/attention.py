"""Multi-head self-attention with the GRAND / PDE switch (METHOD.md §5) and the pre-norm ViT block.

With ``pde=True`` each head returns (A − I)·V instead of A·V, i.e. every token receives
Σ_j A_ij (v_j − v_i): one explicit Euler step of the graph diffusion ∂y/∂t = (A(y) − I)·y.
It is computed as A·V − V, so no identity matrix is built and the fused
``scaled_dot_product_attention`` kernel still does the A·V part.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class Attention(nn.Module):
    """Self-attention over the token axis of (B, N, dim); qkv rows are [q | k | v], each split into heads.

    Flags are keyword-only so that ``Attention(dim, heads, True)`` cannot silently mean qkv_bias.
    """

    def __init__(self, dim: int, heads: int, *, qkv_bias: bool = True, pde: bool = False, fused: bool = True):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"Attention: dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.pde = pde
        self.fused = fused  # False: explicit softmax reference path (tests check the two agree)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def mix_values(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head A·V (or (A − I)·V with pde), before the output projection: (B, N, dim) -> (B, H, N, d)."""
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)  # default scale 1/sqrt(d)
        else:
            attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)  # (B, H, N, N)
            out = attn @ v
        if self.pde:
            # (A − I)·V without materialising I. In place when no graph needs A·V (SDPA's backward
            # reads its own output), which saves one (B, H, N, d) allocation per block when sampling.
            out = out - v if torch.is_grad_enabled() and out.requires_grad else out.sub_(v)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = rearrange(self.mix_values(x), "b h n d -> b n (h d)")
        return self.proj(out)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training; identity in eval."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = float(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per sample
        mask = torch.empty(mask_shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic depth rising linearly 0 -> rate over ``depth`` blocks (plain Python: fine on meta)."""
    return [rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm ViT block: x += DropPath(Attn(LN1 x)); x += DropPath(MLP(LN2 x)).

    With ``time_dim`` the block owns SiLU + Linear(time_dim, dim) whose output is added to every
    token at the very start of the block, before LN1 (key names ``time_mlp.1.*`` as in the release).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 2.0,
        drop_path: float = 0.0,
        pde: bool = False,
        time_dim: int | None = None,
        qkv_bias: bool = True,
        fused: bool = True,
    ):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, dim)) if time_dim else None
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias=qkv_bias, pde=pde, fused=fused)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B·G, N, dim) tokens of B clips, G groups each (frames or joints); time_emb: (B, time_dim)."""
        if self.time_mlp is not None:
            if time_emb is None:
                raise ValueError("Block is time-conditioned: pass time_emb of shape (B, time_dim)")
            # rows are ordered (b g), b outermost, matching the caller's '(b f) j d' / '(b j) f d'
            # rearranges; broadcasting over a (B, G, N, dim) view adds it without repeating it G times
            shift = self.time_mlp(time_emb)[:, None, None, :]  # (B, 1, 1, dim)
            x = (x.unflatten(0, (time_emb.shape[0], -1)) + shift).flatten(0, 1)
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x
