"""Attention kernels (diff3dhpe.models.kernels, METHOD.md §5): each computes what Attention writes out."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from diff3dhpe.models import Attention, kernels


def test_backend_auto_picks_bmm_on_cpu_and_unknown_names_are_refused():
    attn = Attention(16, 4)
    assert attn.backend == "auto" and kernels.resolve(attn.backend, torch.zeros(1, 2, 16)) == "bmm"
    assert kernels.resolve("auto", torch.zeros(1, 2, 16, device="meta")) == "sdpa"
    assert kernels.resolve("sdpa", torch.zeros(1, 2, 16)) == "sdpa"  # an explicit choice is kept
    with pytest.raises(ValueError, match="backend must be one of"):
        attn.backend = "flash"


@pytest.mark.parametrize("pde", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("axis", [1, 2])
def test_bmm_attention_hand_written_backward_passes_gradcheck(pde, with_bias, axis):
    # tokens (B=2, F=3, J=4) of 3 x (H=2 heads x d=3); attention over frames (axis 1) or joints (2)
    qkv = torch.randn(2, 3, 4, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(18, dtype=torch.float64, requires_grad=True) if with_bias else None
    groups = [i for i in range(3) if i != axis]
    order = (3, *groups, 4, axis, 5)
    n = qkv.shape[axis]
    inputs = (qkv, bias) if with_bias else (qkv,)

    def run(*args):
        return kernels._BmmAttention.apply(args[0], args[1] if with_bias else None, order, n, 0.7, pde)

    assert torch.autograd.gradcheck(run, inputs)


def test_bmm_fused_minus_v_is_a_times_v_minus_v():
    """The bmm kernel folds −V into its second GEMM; it computes (A − I)·V as Attention writes it."""
    torch.manual_seed(0)
    fused = Attention(32, 4, pde=True, backend="bmm")
    x = torch.randn(3, 11, 32)
    q, k, v = kernels.split_heads(fused.qkv(x), fused.heads, axis=-2)
    written_out = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v - v  # (G, H, N, d)
    torch.testing.assert_close(fused.mix_values(x), kernels.merge_heads(written_out, x.shape, -2))


@pytest.mark.parametrize("backend", ["bmm", "sdpa"])
@pytest.mark.parametrize("axis, groups", [(-2, "(b f) j d"), (-3, "(b j) f d")])
def test_attention_along_an_axis_equals_attention_on_regrouped_tokens(backend, axis, groups):
    """(B, F, J, D) with axis -2 / -3 is attention over the joints of each frame / frames of each joint."""
    torch.manual_seed(0)
    attn = Attention(16, 4, pde=True, backend=backend)
    x = torch.randn(2, 5, 7, 16, requires_grad=True)
    regrouped = rearrange(x, f"b f j d -> {groups}")
    expected = rearrange(attn(regrouped), f"{groups} -> b f j d", b=2, f=5, j=7)
    torch.testing.assert_close(attn(x, axis), expected)
    grads = torch.autograd.grad(attn(x, axis).square().sum(), x)[0], torch.autograd.grad(
        expected.square().sum(), x)[0]
    torch.testing.assert_close(*grads)


def test_split_heads_gives_views_where_the_groups_merge_and_merge_heads_inverts_it():
    qkv = torch.randn(2, 5, 7, 3 * 4 * 2)  # (B, F, J, 3·H·d), H = 4, d = 2
    for axis, shape in [(-2, (10, 4, 7, 2)), (-3, (14, 4, 5, 2))]:
        q, k, v = kernels.split_heads(qkv, heads=4, axis=axis)
        assert q.shape == k.shape == v.shape == shape
        # merge_heads puts per-group rows back in token order: v merged is the projection's v block
        merged = kernels.merge_heads(v, qkv.shape, axis)
        assert torch.equal(merged, qkv[..., 16:].unflatten(-1, (4, 2)))
    q, _, _ = kernels.split_heads(qkv, heads=4, axis=-2)
    assert q.data_ptr() == qkv.data_ptr()  # joints of each frame: (B, F) merge, so q is a view


def test_the_channel_axis_is_refused_as_token_axis():
    with pytest.raises(ValueError, match="channel axis"):
        kernels.split_heads(torch.randn(2, 5, 24), heads=4, axis=-1)
    with pytest.raises(ValueError, match="channel axis"):
        kernels.bmm_attention(torch.randn(2, 5, 8), torch.randn(24, 8), None, 4, axis=2, pde=True)
