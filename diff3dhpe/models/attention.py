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


class _BmmAttention(torch.autograd.Function):
    """softmax(scale·Q·Kᵀ)·V [− V] per head from the bias-free qkv projection, with a hand-written
    backward. Tests check it against autograd (gradcheck) and against SDPA.

    Forward gathers Q, K, V into one contiguous (3, G·H, N, d) buffer for the batched GEMMs and adds
    the qkv bias in that same pass (``addmm`` would first write the broadcast bias over the whole
    projection, one more pass). Backward writes dQ, dK, dV straight into one such buffer, where
    autograd would build them apart and then stack them, and folds −dO and the two contributions
    to dV into one ``baddbmm``.
    """

    @staticmethod
    def forward(ctx, qkv_tokens, bias, order, n: int, scale: float, pde: bool) -> torch.Tensor:
        # qkv_tokens: (*lead, 3, H, d); permuted by ``order`` it is (3, *groups, H, N, d)
        gathered = qkv_tokens.permute(order)
        ctx.bias_dtype = None if bias is None else bias.dtype  # the parameter's, before autocast casts
        if bias is not None:
            bias = bias.view(3, *([1] * (gathered.ndim - 4)), gathered.shape[-3], 1, gathered.shape[-1])
            bias = bias.to(gathered.dtype)
        if torch.compiler.is_compiling():  # inductor fuses the add and the relayout by itself
            buffer = (gathered if bias is None else gathered + bias).contiguous()
        else:  # eager: out= makes the add write straight into the contiguous layout
            buffer = torch.empty(gathered.shape, dtype=gathered.dtype, device=gathered.device)
            if bias is None:
                buffer.copy_(gathered)
            else:
                torch.add(gathered, bias, out=buffer)
        qkv = buffer.view(3, -1, n, gathered.shape[-1])
        q, k, v = qkv.unbind(0)
        empty = qkv.new_empty(())
        attn = torch.baddbmm(empty, q, k.transpose(1, 2), beta=0.0, alpha=scale).softmax(dim=-1)
        attn = attn.to(qkv.dtype)  # CUDA autocast runs softmax in fp32; the next GEMM casts it back anyway
        out = torch.baddbmm(v, attn, v, beta=-1.0) if pde else torch.bmm(attn, v)  # −V for free
        ctx.save_for_backward(qkv, attn)
        ctx.scale, ctx.pde, ctx.order, ctx.gathered_shape = scale, pde, order, gathered.shape
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        qkv, attn = ctx.saved_tensors
        q, k, v = qkv.unbind(0)
        grad_out = grad_out.to(qkv.dtype).contiguous()  # under autocast the incoming grad may be fp32
        grad = torch.empty(qkv.shape, dtype=qkv.dtype, device=qkv.device)  # contiguous, like qkv
        empty = qkv.new_empty(())
        attn_t = attn.transpose(1, 2)
        if ctx.pde:  # d(P·V − V)/dV = Pᵀ·dO − dO
            torch.baddbmm(grad_out, attn_t, grad_out, beta=-1.0, out=grad[2])
        else:
            torch.bmm(attn_t, grad_out, out=grad[2])
        grad_attn = torch.bmm(grad_out, v.transpose(1, 2))
        grad_logits = torch._softmax_backward_data(grad_attn, attn, -1, attn.dtype)
        torch.baddbmm(empty, grad_logits, k, beta=0.0, alpha=ctx.scale, out=grad[0])
        torch.baddbmm(empty, grad_logits.transpose(1, 2), q, beta=0.0, alpha=ctx.scale, out=grad[1])
        inverse = [0] * len(ctx.order)
        for position, axis in enumerate(ctx.order):
            inverse[axis] = position
        # Back to the token layout (*lead, 3, H, d) here, not in the projection's backward: the bias
        # gradient is then a sum over contiguous rows, 4-5x faster than reducing the gathered layout.
        grad = grad.view(ctx.gathered_shape).permute(inverse)
        grad_tokens = torch.empty(grad.shape, dtype=grad.dtype, device=grad.device)
        grad_tokens.copy_(grad)
        grad_bias = None
        if ctx.bias_dtype is not None:  # summed over every token: (3·H·d,)
            rows = grad_tokens.view(-1, grad_tokens.shape[-3:].numel())
            grad_bias = rows.sum(dim=0).to(ctx.bias_dtype)
        return grad_tokens, grad_bias, None, None, None, None


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

    def resolved_backend(self, x: torch.Tensor) -> str:
        """The kernel this layer uses for ``x``: ``auto`` becomes bmm on CPU, sdpa elsewhere."""
        if self._backend != "auto":
            return self._backend
        return "bmm" if x.device.type == "cpu" else "sdpa"

    def mix_values(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head A·V (or (A − I)·V with pde), before the output projection: (B, N, dim) -> (B, H, N, d)."""
        return self._heads_out(x).transpose(1, 2)

    def _heads_out(self, x: torch.Tensor, axis: int = -2) -> torch.Tensor:
        """Per-head output laid out as (..., N, ..., H, d), so merging heads for the projection is a view.

        x: (..., dim) tokens; attention runs along ``axis`` (N tokens) and every other leading axis
        indexes an independent group, e.g. (B, F, J, dim) with axis -2 (joints of each frame) or -3
        (frames of each joint), so callers need not reorder tokens between axes.
        """
        lead = x.shape[:-1]
        axis = axis % x.ndim  # counted on x, whose last axis is the channels
        if axis == x.ndim - 1:
            raise ValueError(f"Attention: axis {axis} is the channel axis of x {tuple(x.shape)}, not tokens")
        n, h, d = lead[axis], self.heads, self.head_dim
        groups = [i for i in range(len(lead)) if i != axis]
        three, heads, dim = len(lead), len(lead) + 1, len(lead) + 2  # axes of qkv after the token axes
        to_gathered = (three, *groups, heads, axis, dim)  # (*lead, 3, H, d) -> (3, *groups, H, N, d)
        # gathered (*groups, H, N, d) -> the input's token order with (H, d) last
        ng = len(groups)
        order = [ng + 1 if i == axis else (i if i < axis else i - 1) for i in range(len(lead))] + [ng, ng + 2]
        group_shape = [lead[i] for i in groups]
        if self.resolved_backend(x) == "bmm":
            # bias-free projection: the gather into the batched-GEMM layout adds the bias on the way
            qkv = F.linear(x, self.qkv.weight).view(*lead, 3, h, d)
            out = _BmmAttention.apply(qkv, self.qkv.bias, to_gathered, n, self.scale, self.pde)
            return out.view(*group_shape, h, n, d).permute(order).contiguous()
        gathered = self.qkv(x).view(*lead, 3, h, d).permute(to_gathered)
        q, k, v = gathered.reshape(3, -1, h, n, d).unbind(0)  # (G, H, N, d): views for (B·G, N, dim) input
        out = F.scaled_dot_product_attention(q, k, v)  # default scale 1/sqrt(d)
        if self.pde:
            # In place when no graph needs A·V (SDPA's backward reads its own output): one
            # (B, H, N, d) allocation less per block when sampling.
            out = out - v if torch.is_grad_enabled() and out.requires_grad else out.sub_(v)
        return out.view(*group_shape, h, n, d).permute(order)

    def forward(self, x: torch.Tensor, axis: int = -2) -> torch.Tensor:
        """x: (..., dim) tokens, attention along ``axis`` (see ``_heads_out``); same shape out."""
        return self.proj(self._heads_out(x, axis).flatten(-2))

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
        """x: (B·G, N, dim) tokens of B clips, G groups each (frames or joints), or (B, F, J, dim) with
        attention along ``axis`` (-2: the joints of each frame, -3: the frames of each joint);
        time_emb: (B, time_dim).
        """
        if self.time_mlp is not None:
            if time_emb is None:
                raise ValueError("Block is time-conditioned: pass time_emb of shape (B, time_dim)")
            shift = self.time_mlp(time_emb)[:, None, None, :]  # (B, 1, 1, dim)
            if x.ndim == 4:
                x = x + shift
            else:
                # rows are ordered (b g), b outermost, matching the caller's '(b f) j d' / '(b j) f d'
                # rearranges; broadcasting over a (B, G, N, dim) view adds it without repeating it G times
                x = (x.unflatten(0, (time_emb.shape[0], -1)) + shift).flatten(0, 1)
        x = self.drop_path.residual(x, self.attn(self.norm1(x), axis), axis)
        x = self.drop_path.residual(x, self.mlp(self.norm2(x)), axis)
        return x
