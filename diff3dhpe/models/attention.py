"""Multi-head self-attention with the GRAND / PDE switch (METHOD.md §5) and the pre-norm ViT block.

With ``pde=True`` each head returns (A − I)·V instead of A·V, i.e. every token receives
Σ_j A_ij (v_j − v_i): one explicit Euler step of the graph diffusion ∂y/∂t = (A(y) − I)·y.
It is computed as A·V − V, so no identity matrix is ever built. Which kernel runs (SDPA, or two
batched GEMMs with the −V fused on CPU) and the token layouts they need live in ``kernels``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import kernels


class Attention(nn.Module):
    """Self-attention over one token axis of (..., dim); qkv rows are [q | k | v], each split into heads.

    Flags are keyword-only so that ``Attention(dim, heads, True)`` cannot silently mean qkv_bias.
    ``backend`` ("auto" | "sdpa" | "bmm", see ``kernels``) is a run-time switch, not in the state dict.
    """

    def __init__(
        self, dim: int, heads: int, *, qkv_bias: bool = True, pde: bool = False, backend: str = "auto"
    ):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"Attention: dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.pde = pde
        self.backend = backend
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        self._backend = kernels.check_backend(value)

    def mix_values(self, x: torch.Tensor, axis: int = -2) -> torch.Tensor:
        """Per head A·V, or (A − I)·V with ``pde``, A = softmax(Q·Kᵀ/√d): before the output projection.

        x: (..., dim) tokens; attention runs along ``axis`` (N tokens) and every other leading axis
        indexes an independent group, e.g. (B, F, J, dim) with -2 (the joints of each frame) or -3
        (the frames of each joint). Returns (..., H, d) in x's token order. ValueError if ``axis`` is
        the channel axis. METHOD.md §5.
        """
        if kernels.resolve(self.backend, x) == "bmm":  # CPU default: the same, −V fused into a GEMM
            return kernels.bmm_attention(x, self.qkv.weight, self.qkv.bias, self.heads, axis, self.pde)
        q, k, v = kernels.split_heads(self.qkv(x), self.heads, axis)  # (G, H, N, d): G groups of N
        out = F.scaled_dot_product_attention(q, k, v)  # A·V
        if self.pde:
            out = out - v  # (A − I)·V
        return kernels.merge_heads(out, x.shape, axis)

    def forward(self, x: torch.Tensor, axis: int = -2) -> torch.Tensor:
        """x: (..., dim) tokens, attention along ``axis`` (see ``mix_values``); same shape out."""
        return self.proj(self.mix_values(x, axis).flatten(-2))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, pde={self.pde}, backend={self._backend!r}"


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training; identity in eval."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = float(rate)

    def _scale(self, x: torch.Tensor, axis: int) -> torch.Tensor | None:
        """Per-sample factor 0 or 1/keep, broadcastable to x; None when nothing is dropped.

        A sample is one group of tokens: every axis but ``axis`` (the tokens) and the channels,
        e.g. (B·G, 1, 1) for (B·G, N, dim) input, (B, F, 1, 1) for (B, F, J, dim) with axis -2.
        """
        if not self.training or self.rate == 0.0:
            return None
        keep = 1.0 - self.rate
        mask_shape = list(x.shape)
        mask_shape[axis] = mask_shape[-1] = 1
        return torch.empty(mask_shape, dtype=x.dtype, device=x.device).bernoulli_(keep).div_(keep)

    def forward(self, x: torch.Tensor, axis: int = -2) -> torch.Tensor:
        scale = self._scale(x, axis)
        return x if scale is None else x * scale

    def residual(self, x: torch.Tensor, branch: torch.Tensor, axis: int = -2) -> torch.Tensor:
        """``x + self(branch)`` in one pass over memory (addcmul) instead of three (mul, div, add)."""
        scale = self._scale(branch, axis)
        return x + branch if scale is None else torch.addcmul(x, branch, scale)

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
    ):
        super().__init__()
        self.time_mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, dim)) if time_dim else None
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, qkv_bias=qkv_bias, pde=pde)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor | None = None, axis: int = -2) -> torch.Tensor:
        """x: (B, ..., dim) tokens of B clips, attention along ``axis`` (see ``Attention.mix_values``),
        e.g. (B, F, J, dim) with -2 (the joints of each frame) or -3 (the frames of each joint);
        time_emb: (B, time_dim). Same shape out.
        """
        if self.time_mlp is not None:
            if time_emb is None:
                raise ValueError("Block is time-conditioned: pass time_emb of shape (B, time_dim)")
            shift = self.time_mlp(time_emb)  # (B, dim), added to every token of its clip
            x = x + shift.view(shift.shape[0], *[1] * (x.ndim - 2), shift.shape[1])
        x = self.drop_path.residual(x, self.attn(self.norm1(x), axis), axis)
        x = self.drop_path.residual(x, self.mlp(self.norm2(x)), axis)
        return x
