"""Multi-head self-attention with the GRAND / PDE switch (METHOD.md §5) and the pre-norm ViT block.

With ``pde=True`` each head returns (A − I)·V instead of A·V, i.e. every token receives
Σ_j A_ij (v_j − v_i): one explicit Euler step of the graph diffusion ∂y/∂t = (A(y) − I)·y.
It is computed as A·V − V, so no identity matrix is ever built.

Two kernels compute the same numbers (tests: within 1e-5), chosen by ``Attention.backend``:

- ``"sdpa"``: ``F.scaled_dot_product_attention`` (flash / memory-efficient on CUDA: the attention
  matrix is never stored), then ``− V``.
- ``"bmm"``: softmax(scale·Q·Kᵀ) by one ``baddbmm`` and the values by a second one whose
  ``beta = −1`` folds in the ``− V``. It stores the (B·H, N, N) matrix for backward, but on CPU it
  is 1.2–1.9× faster than torch's CPU flash kernel for these head sizes (README "Performance").
- ``"auto"`` (default): ``bmm`` for CPU tensors, ``sdpa`` elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BACKENDS = ("auto", "sdpa", "bmm")


class Attention(nn.Module):
    """Self-attention over the token axis of (B, N, dim); qkv rows are [q | k | v], each split into heads.

    Flags are keyword-only so that ``Attention(dim, heads, True)`` cannot silently mean qkv_bias.
    ``backend`` is a run-time switch (not in the state dict); see the module docstring.
    """

    def __init__(
        self, dim: int, heads: int, *, qkv_bias: bool = True, pde: bool = False, backend: str = "auto"
    ):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"Attention: dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim**-0.5
        self.pde = pde
        self.backend = backend
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        if value not in BACKENDS:
            raise ValueError(f"Attention backend must be one of {BACKENDS}, got {value!r}")
        self._backend = value

    def _resolved_backend(self, x: torch.Tensor) -> str:
        if self._backend != "auto":
            return self._backend
        return "bmm" if x.device.type == "cpu" else "sdpa"

    def mix_values(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head A·V (or (A − I)·V with pde), before the output projection: (B, N, dim) -> (B, H, N, d)."""
        return self._heads_out(x).transpose(1, 2)

    def _heads_out(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head output laid out as (B, N, H, d), so merging heads for the projection is a view."""
        b, n, _ = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, self.head_dim)
        if self._resolved_backend(x) == "bmm":
            # one copy to (3, B·H, N, d): batched GEMMs need each head's rows contiguous
            q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, b * self.heads, n, self.head_dim).unbind(0)
            logits = torch.baddbmm(q.new_empty(()), q, k.transpose(1, 2), beta=0.0, alpha=self.scale)
            attn = logits.softmax(dim=-1)
            out = torch.baddbmm(v, attn, v, beta=-1.0) if self.pde else torch.bmm(attn, v)  # −V for free
            return out.view(b, self.heads, n, self.head_dim).transpose(1, 2).contiguous()
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, H, N, d) views
        out = F.scaled_dot_product_attention(q, k, v)  # default scale 1/sqrt(d)
        if self.pde:
            # In place when no graph needs A·V (SDPA's backward reads its own output): one
            # (B, H, N, d) allocation less per block when sampling.
            out = out - v if torch.is_grad_enabled() and out.requires_grad else out.sub_(v)
        return out.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self._heads_out(x).flatten(2))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, pde={self.pde}, backend={self._backend!r}"


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training; identity in eval."""

    def __init__(self, rate: float = 0.0):
        super().__init__()
        self.rate = float(rate)

    def _scale(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per-sample factor 0 or 1/keep, shape (B, 1, ...); None when nothing is dropped."""
        if not self.training or self.rate == 0.0:
            return None
        keep = 1.0 - self.rate
        mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per sample
        return torch.empty(mask_shape, dtype=x.dtype, device=x.device).bernoulli_(keep).div_(keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self._scale(x)
        return x if scale is None else x * scale

    def residual(self, x: torch.Tensor, branch: torch.Tensor) -> torch.Tensor:
        """``x + self(branch)`` in one pass over memory (addcmul) instead of three (mul, div, add)."""
        scale = self._scale(branch)
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

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B·G, N, dim) tokens of B clips, G groups each (frames or joints); time_emb: (B, time_dim)."""
        if self.time_mlp is not None:
            if time_emb is None:
                raise ValueError("Block is time-conditioned: pass time_emb of shape (B, time_dim)")
            # rows are ordered (b g), b outermost, matching the caller's '(b f) j d' / '(b j) f d'
            # rearranges; broadcasting over a (B, G, N, dim) view adds it without repeating it G times
            shift = self.time_mlp(time_emb)[:, None, None, :]  # (B, 1, 1, dim)
            x = (x.unflatten(0, (time_emb.shape[0], -1)) + shift).flatten(0, 1)
        x = self.drop_path.residual(x, self.attn(self.norm1(x)))
        x = self.drop_path.residual(x, self.mlp(self.norm2(x)))
        return x
