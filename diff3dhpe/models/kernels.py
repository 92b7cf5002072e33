"""Attention kernels behind ``Attention.mix_values`` (METHOD.md §5), and the token layouts they need.

``Attention`` writes the maths out; this module holds what makes it fast. Two kernels compute the
same per-head A·V, or (A − I)·V with pde, A = softmax(Q·Kᵀ/√d) (tests: within 1e-5 of each other
and of an explicit softmax with an identity matrix):

- ``"sdpa"``: ``F.scaled_dot_product_attention`` (flash / memory-efficient on CUDA: the (N, N)
  matrix is never stored); ``Attention.mix_values`` then subtracts V itself.
- ``"bmm"``: ``bmm_attention``, two batched GEMMs with a hand-written backward. The second GEMM
  computes A·V − V in one call (``beta = −1``), rounded once: in bf16, or once its contraction over
  the N tokens is split in blocks, that is not bitwise ``bmm(A, V) − V``, so the −V stays fused here.
  It stores the (G·H, N, N) matrix for backward, and on CPU it is faster than torch's CPU flash
  kernel at these head sizes (README "Performance").
- ``"auto"`` (default): ``bmm`` for CPU tensors, ``sdpa`` elsewhere (``resolve``).

Token layout: attention runs along one ``axis`` of a (..., dim) token tensor and every other leading
axis indexes an independent group of N tokens, e.g. MixSTE's (B, F, J, D) stream with axis -2 (the
J joints of each frame) or -3 (the F frames of each joint). The kernels gather the groups into the
(G, H, N, d) layout of the batched GEMMs themselves, in the copy the projection's output needs
anyway, so a model never reorders its token stream between spatial and temporal blocks.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

BACKENDS = ("auto", "sdpa", "bmm")


def check_backend(backend: str) -> str:
    """Return ``backend`` if it is one of ``BACKENDS``; ValueError naming the choices otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"Attention backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def resolve(backend: str, x: torch.Tensor) -> str:
    """The kernel ``backend`` runs for tokens ``x``: ``auto`` is ``bmm`` on CPU, ``sdpa`` elsewhere."""
    if backend != "auto":
        return backend
    return "bmm" if x.device.type == "cpu" else "sdpa"


class _Grouping(NamedTuple):
    """Where the tokens of one attention call lie in a (*lead, channels) tensor."""

    tokens: int  # N, the length of the attention axis
    groups: tuple[int, ...]  # sizes of the other leading axes, in order (G = their product)
    gather: tuple[int, ...]  # permutes (*lead, 3, H, d) to (3, *groups, H, N, d)
    scatter: tuple[int, ...]  # permutes (*groups, H, N, d) back to (*lead, H, d)


def _grouping(shape: torch.Size, axis: int) -> _Grouping:
    """Token axis and group axes of a (*lead, channels) tensor; ValueError if ``axis`` is the channels."""
    lead = len(shape) - 1
    axis = axis % len(shape)
    if axis == lead:
        raise ValueError(f"Attention: axis {axis} is the channel axis of x {tuple(shape)}, not tokens")
    groups = [i for i in range(lead) if i != axis]
    three, heads, dim = lead, lead + 1, lead + 2  # axes of (*lead, 3, H, d) after the token axes
    gather = (three, *groups, heads, axis, dim)
    g = len(groups)  # in (*groups, H, N, d): H is axis g, N axis g + 1, d axis g + 2
    scatter = (*(g + 1 if i == axis else (i if i < axis else i - 1) for i in range(lead)), g, g + 2)
    return _Grouping(shape[axis], tuple(shape[i] for i in groups), gather, scatter)


def split_heads(qkv: torch.Tensor, heads: int, axis: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of shape (G, H, N, d) from a (..., 3·H·d) projection whose rows are [q | k | v].

    The G groups are the leading axes other than ``axis`` (N tokens), in order. Views where those
    axes merge (all groups before the token axis, e.g. the joints of each frame), else one copy.
    """
    g = _grouping(qkv.shape, axis)
    d = qkv.shape[-1] // (3 * heads)
    gathered = qkv.view(*qkv.shape[:-1], 3, heads, d).permute(g.gather)
    q, k, v = gathered.reshape(3, -1, heads, g.tokens, d).unbind(0)
    return q, k, v


def merge_heads(out: torch.Tensor, shape: torch.Size, axis: int) -> torch.Tensor:
    """(G, H, N, d) per group back to the token order of x of ``shape`` (..., dim): (..., H, d), a view."""
    g = _grouping(shape, axis)
    return out.view(*g.groups, *out.shape[-3:]).permute(g.scatter)


def bmm_attention(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, heads: int, axis: int, pde: bool
) -> torch.Tensor:
    """Per head A·V, or with ``pde`` (A − I)·V, A = softmax(Q·Kᵀ/√d): the "bmm" kernel.

    x: (..., dim) tokens, attention along ``axis`` (see ``split_heads``); weight (3·H·d, dim) and bias
    (3·H·d,) or None: the qkv projection, rows [q | k | v]. Returns (..., H, d) in x's token order,
    contiguous. Raises ValueError if ``axis`` is the channel axis. METHOD.md §5.
    """
    g = _grouping(x.shape, axis)
    d = weight.shape[0] // (3 * heads)
    scale = d**-0.5  # 1/√d, SDPA's default
    # bias-free projection: the gather into the batched-GEMM layout adds the bias on the way
    qkv = F.linear(x, weight).view(*x.shape[:-1], 3, heads, d)
    out = _BmmAttention.apply(qkv, bias, g.gather, g.tokens, scale, pde)  # (G·H, N, d)
    return out.view(*g.groups, heads, g.tokens, d).permute(g.scatter).contiguous()


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
        out = torch.baddbmm(v, attn, v, beta=-1.0) if pde else torch.bmm(attn, v)  # A·V − V, one rounding
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
        # gradient is then a sum over contiguous rows, cheaper than reducing the gathered layout.
        grad = grad.view(ctx.gathered_shape).permute(inverse)
        grad_tokens = torch.empty(grad.shape, dtype=grad.dtype, device=grad.device)
        grad_tokens.copy_(grad)
        grad_bias = None
        if ctx.bias_dtype is not None:  # summed over every token: (3·H·d,)
            rows = grad_tokens.view(-1, grad_tokens.shape[-3:].numel())
            grad_bias = rows.sum(dim=0).to(ctx.bias_dtype)
        return grad_tokens, grad_bias, None, None, None, None
