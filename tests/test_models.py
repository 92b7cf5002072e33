"""Backbones and PDE attention (METHOD.md §4, §5): one test per claim."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from einops import rearrange

from diff3dhpe.errors import ConfigError, ShapeError
from diff3dhpe.models import (
    PAPER_SIZES,
    Attention,
    Block,
    DropPath,
    SinusoidalEmbedding,
    build_model,
    time_mlp,
)

J = 17
TINY = {"dim": 16, "depth": 2, "heads": 4}
TINY_POSEFORMER = {"dim": 8, "depth": 2, "heads": 4}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny(backbone: str, objective: str, frames: int = 5, **kwargs) -> torch.nn.Module:
    sizes = TINY if backbone == "mixste" else TINY_POSEFORMER
    torch.manual_seed(0)
    return build_model(backbone, frames=frames, objective=objective, **{**sizes, **kwargs}).eval()


def inputs(model: torch.nn.Module, batch: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frames = model.config["frames"]
    x2d = torch.randn(batch, frames, J, 2, generator=g)
    y_frames = 1 if model.seq2frame else frames
    y_t = torch.randn(batch, y_frames, J, 3, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    return x2d, y_t, t


def run(model, x2d, y_t, t):
    return model(x2d) if model.objective == "regression" else model(x2d, y_t, t)


# ------------------------------------------------------------------ parameter counts (METHOD §4)


@pytest.mark.parametrize(
    "frames, objective, time_embedding, expected",
    [
        (243, "regression", True, 33_783_811),
        (243, "denoiser", True, 43_757_059),
        (81, "denoiser", True, 43_674_115),
        (27, "denoiser", False, 33_674_755),
    ],
)
def test_mixste_parameter_count_matches_paper_size(frames, objective, time_embedding, expected):
    with torch.device("meta"):  # shapes only, no memory or init cost
        model = build_model("mixste", frames=frames, objective=objective, time_embedding=time_embedding)
    assert n_params(model) == expected


def test_poseformer_parameter_count_is_about_9_60_million():
    with torch.device("meta"):
        model = build_model("poseformer", frames=81, objective="regression")
    count = n_params(model)
    print(f"PoseFormer F=81 regression: {count:,} parameters")
    assert abs(count - 9.60e6) / 9.60e6 < 0.005


# ------------------------------------------------------------------ attention and PDE (METHOD §5)


def explicit_attention(attn: Attention, x: torch.Tensor, pde: bool) -> torch.Tensor:
    """Per-head A·V or (A − I)·V from the qkv weights, with an explicit identity; (B, N, H, d) like
    ``Attention.mix_values``."""
    b, n, dim = x.shape
    h, d = attn.heads, dim // attn.heads
    qkv = x @ attn.qkv.weight.T + attn.qkv.bias  # (B, N, 3·dim), rows [q | k | v]
    q, k, v = (qkv[..., i * dim:(i + 1) * dim].reshape(b, n, h, d).transpose(1, 2) for i in range(3))
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)  # (B, H, N, N)
    if pde:
        a = a - torch.eye(n)
    return (a @ v).transpose(1, 2)


@pytest.mark.parametrize("backend", ["sdpa", "bmm"])
def test_pde_attention_maps_token_constant_values_to_zero(backend):
    torch.manual_seed(0)
    attn = Attention(16, 4, pde=True, backend=backend)
    x = torch.randn(3, 1, 16).expand(3, 7, 16)  # every token equal, so every value vector is equal
    assert torch.allclose(attn.mix_values(x), torch.zeros(3, 7, 4, 4), atol=1e-6)
    attn.pde = False  # plain attention instead reproduces the constant value
    v = explicit_attention(attn, x, pde=False)
    assert v.abs().min() > 0 and torch.allclose(attn.mix_values(x), v, atol=1e-6)


@pytest.mark.parametrize("backend", ["sdpa", "bmm"])
def test_attention_kernels_equal_explicit_softmax_reference(backend):
    torch.manual_seed(0)
    attn = Attention(32, 8, pde=False, backend=backend)
    x = torch.randn(4, 11, 32)
    expected = explicit_attention(attn, x, pde=False)
    assert torch.allclose(attn.mix_values(x), expected, atol=1e-5)
    assert torch.allclose(attn(x), attn.proj(rearrange(expected, "b n h d -> b n (h d)")), atol=1e-5)


@pytest.mark.parametrize("backend", ["sdpa", "bmm"])
def test_pde_output_equals_a_minus_identity_times_v(backend):
    torch.manual_seed(0)
    attn = Attention(32, 8, pde=True, backend=backend)
    x = torch.randn(4, 11, 32)
    expected = explicit_attention(attn, x, pde=True)
    assert torch.allclose(attn.mix_values(x), expected, atol=1e-5)
    # output projection comes after the per-head (A − I)V
    projected = attn.proj(rearrange(expected, "b n h d -> b n (h d)"))
    assert torch.allclose(attn(x), projected, atol=1e-5)


def test_drop_path_is_identity_in_eval_and_drops_whole_samples_in_training():
    x = torch.randn(64, 5, 3) + 10.0
    drop = DropPath(0.5).eval()
    assert torch.equal(drop(x), x)
    drop.train()
    torch.manual_seed(0)
    out = drop(x)
    kept = (out != 0).flatten(1).all(1)
    dropped = (out == 0).flatten(1).all(1)
    assert torch.all(kept | dropped) and kept.any() and dropped.any()
    assert torch.allclose(out[kept], x[kept] / 0.5)  # survivors are rescaled by 1 / keep


def test_block_adds_time_projection_before_first_layer_norm():
    torch.manual_seed(0)
    block = Block(16, 4, mlp_ratio=2.0, drop_path=0.0, pde=True, time_dim=6).eval()
    plain = Block(16, 4, mlp_ratio=2.0, drop_path=0.0, pde=True).eval()
    plain.load_state_dict({k: v for k, v in block.state_dict().items() if not k.startswith("time_mlp")})
    shift = torch.randn(16)
    with torch.no_grad():  # SiLU + Linear reduced to a constant shift per clip
        block.time_mlp[1].weight.zero_()
        block.time_mlp[1].bias.copy_(shift)
    x = torch.randn(2, 3, 5, 16)  # 2 clips × 3 groups of 5 tokens
    out = block(x, torch.randn(2, 6))
    assert torch.allclose(out, plain(x + shift), atol=1e-6)


def test_block_norms_use_eps_1e_6():
    block = Block(16, 4)
    assert block.norm1.eps == block.norm2.eps == 1e-6


# ------------------------------------------------------------------ time embedding


def test_sinusoidal_embedding_matches_formula():
    emb = SinusoidalEmbedding(8)(torch.tensor([0, 1, 37]))
    freqs = [math.exp(-i * math.log(10000) / 3) for i in range(4)]
    for row, t in enumerate([0, 1, 37]):
        expected = [math.sin(t * f) for f in freqs] + [math.cos(t * f) for f in freqs]  # sin half first
        assert torch.allclose(emb[row], torch.tensor(expected), atol=1e-5)


def test_time_mlp_has_official_key_names_and_widths():
    keys = {k: tuple(v.shape) for k, v in time_mlp(16).state_dict().items()}
    assert keys == {"1.weight": (32, 16), "1.bias": (32,), "3.weight": (32, 32), "3.bias": (32,)}


# ------------------------------------------------------------------ MixSTE / PoseFormer


def test_positional_embeddings_start_at_zero():
    for model in (tiny("mixste", "denoiser"), tiny("poseformer", "regression")):
        assert torch.count_nonzero(model.Spatial_pos_embed) == 0
        assert torch.count_nonzero(model.Temporal_pos_embed) == 0


@pytest.mark.parametrize("backbone", ["mixste", "poseformer"])
@pytest.mark.parametrize("objective", ["regression", "denoiser"])
@pytest.mark.parametrize("time_embedding, pde", [(True, True), (False, False), (True, False)])
def test_output_shapes(backbone, objective, time_embedding, pde):
    model = tiny(backbone, objective, frames=7, time_embedding=time_embedding, pde=pde)
    x2d, y_t, t = inputs(model, batch=3)
    with torch.no_grad():
        out = run(model, x2d, y_t, t)
    assert out.shape == ((3, 1, J, 3) if backbone == "poseformer" else (3, 7, J, 3))
    assert torch.isfinite(out).all()
    assert model.seq2frame == (backbone == "poseformer") and model.objective == objective


@pytest.mark.parametrize("backbone", ["mixste", "poseformer"])
def test_time_conditioning_changes_the_output(backbone):
    model = tiny(backbone, "denoiser")
    x2d, y_t, _ = inputs(model)
    with torch.no_grad():
        a = model(x2d, y_t, torch.tensor([10, 10]))
        b = model(x2d, y_t, torch.tensor([900, 10]))
    assert not torch.allclose(a[0], b[0], atol=1e-4)  # clip 0 saw another t
    assert torch.allclose(a[1], b[1], atol=1e-6)  # clip 1 did not: conditioning is per clip


def test_denoiser_without_time_embedding_ignores_t():
    model = tiny("mixste", "denoiser", time_embedding=False)
    assert model.time_mlp is None and model.config["time_embedding"] is False
    x2d, y_t, _ = inputs(model)
    with torch.no_grad():
        assert torch.equal(model(x2d, y_t, torch.tensor([1, 2])), model(x2d, y_t, torch.tensor([900, 3])))


@pytest.mark.parametrize("backbone", ["mixste", "poseformer"])
@pytest.mark.parametrize("objective", ["regression", "denoiser"])
def test_every_input_element_influences_the_output(backbone, objective):
    model = tiny(backbone, objective)
    x2d, y_t, t = inputs(model)
    x2d.requires_grad_(True)
    y_t.requires_grad_(True)
    run(model, x2d, y_t, t).square().sum().backward()
    assert torch.all(x2d.grad != 0)  # every frame, joint and coordinate is used
    if objective == "denoiser":
        assert torch.all(y_t.grad != 0)


def reference_mixste(model, x2d, y_t, t):
    """MixSTE forward written out with permutes: S0, Spatial_norm, T0, Temporal_norm, S1, ...

    Each block attends over the second-to-last axis: joints in (B, F, J, D), frames in (B, J, F, D).
    """
    x = model.fusion_layer(torch.cat([x2d, y_t], -1))  # (B, F, J, D)
    temb = model.time_mlp(t)
    x = x + model.Spatial_pos_embed
    for i in range(len(model.STEblocks)):
        x = model.Spatial_norm(model.STEblocks[i](x, temb))
        x = x.permute(0, 2, 1, 3).contiguous()  # (B, J, F, D)
        if i == 0:
            x = x + model.Temporal_pos_embed
        x = model.Temporal_norm(model.TTEblocks[i](x, temb))
        x = x.permute(0, 2, 1, 3).contiguous()  # (B, F, J, D)
    return model.head(x)


def test_mixste_forward_matches_written_out_block_order():
    model = tiny("mixste", "denoiser", depth=3)
    with torch.no_grad():  # non-zero positional embeddings so their placement matters
        model.Spatial_pos_embed.normal_()
        model.Temporal_pos_embed.normal_()
        x2d, y_t, t = inputs(model)
        assert torch.allclose(model(x2d, y_t, t), reference_mixste(model, x2d, y_t, t), atol=1e-5)


def test_mixste_shared_norms_heads_and_drop_path_schedule():
    model = build_model("mixste", frames=5, objective="regression", dim=16, depth=5, heads=4, drop_path=0.2)
    rates = [blk.drop_path.rate for blk in model.STEblocks]
    assert rates == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert rates == [blk.drop_path.rate for blk in model.TTEblocks]
    assert model.Spatial_norm.eps == model.Temporal_norm.eps == 1e-6
    assert isinstance(model.head[0], torch.nn.LayerNorm) and model.head[0].eps == 1e-5
    assert model.head[1].out_features == 3


def test_mixste_with_zero_positional_embeddings_is_equivariant_to_joint_and_frame_order():
    model = tiny("mixste", "denoiser")
    x2d, y_t, t = inputs(model)
    joints, frames = torch.randperm(J), torch.randperm(5)
    with torch.no_grad():
        out = model(x2d, y_t, t)
        permuted = model(x2d[:, frames][:, :, joints], y_t[:, frames][:, :, joints], t)
    assert torch.allclose(permuted, out[:, frames][:, :, joints], atol=1e-5)


def test_eval_mode_is_deterministic_and_training_mode_applies_drop_path():
    model = tiny("mixste", "regression", drop_path=0.5)
    x2d, _, _ = inputs(model)
    with torch.no_grad():
        assert torch.equal(model(x2d), model(x2d))
        model.train()
        torch.manual_seed(1)
        a = model(x2d)
        torch.manual_seed(2)
        assert not torch.allclose(a, model(x2d))


def test_poseformer_denoiser_repeats_the_centre_pose_over_frames():
    model = tiny("poseformer", "denoiser")
    x2d, y_t, t = inputs(model)
    seen = {}
    model.fusion_layer.register_forward_pre_hook(lambda mod, args: seen.update(fused=args[0]))
    with torch.no_grad():
        model(x2d, y_t, t)
    fused = seen["fused"]  # (B, F, J, 5), 2D first
    assert fused.shape == (2, 5, J, 5)
    assert torch.equal(fused[..., :2], x2d)
    assert torch.equal(fused[..., 2:], y_t.expand(-1, 5, -1, -1))


# ------------------------------------------------------------------ input and config validation


@pytest.mark.parametrize(
    "make_bad, fragment",
    [
        (lambda x, y, t: (x[:, :4], y, t), "frames=5"),
        (lambda x, y, t: (x[:, :, :16], y, t), "joints=17"),
        (lambda x, y, t: (torch.cat([x, x[..., :1]], -1), y, t), "(B, 5, 17, 2)"),
        (lambda x, y, t: (x.masked_fill(torch.rand_like(x) < 0.1, float("nan")), y, t), "NaN"),
        (lambda x, y, t: (x, y[..., :2], t), "y_t"),
        (lambda x, y, t: (x, y[:1], t), "y_t"),
        (lambda x, y, t: (x, y.masked_fill(torch.rand_like(y) < 0.1, float("nan")), t), "NaN"),
        (lambda x, y, t: (x, y, t.float()), "integer"),
        (lambda x, y, t: (x, y, t[:1]), "one timestep per clip"),
        (lambda x, y, t: (x, y, -t - 1), ">= 0"),
    ],
)
def test_bad_inputs_raise_shape_error_naming_the_problem(make_bad, fragment):
    model = tiny("mixste", "denoiser")
    with pytest.raises(ShapeError, match=re.escape(fragment)):
        model(*make_bad(*inputs(model)))


def test_regression_model_rejects_denoiser_call_and_vice_versa():
    reg, den = tiny("mixste", "regression"), tiny("poseformer", "denoiser")
    x2d, y_t, t = inputs(reg)
    with pytest.raises(ShapeError, match="model\\(x2d\\)"):
        reg(x2d, y_t, t)
    with pytest.raises(ShapeError, match="y_t or t is missing"):
        den(x2d)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"backbone": "resnet"}, "backbone"),
        ({"objective": "eps"}, "objective"),
        ({"dim": 30, "heads": 4}, "divisible by heads"),
        ({"backbone": "poseformer", "dim": 6, "heads": 4}, "divisible by heads"),
        ({"backbone": "poseformer", "frames": 8}, "odd"),
        ({"frames": 0}, "frames"),
        ({"drop_path": 1.0}, "drop_path"),
        ({"depth": 2.5}, "depth"),
        ({"pde": "yes"}, "pde"),
    ],
)
def test_invalid_build_arguments_raise_config_error(kwargs, fragment):
    args = {"backbone": "mixste", "frames": 9, "objective": "denoiser", "dim": 16, "depth": 1, "heads": 4}
    args.update(kwargs)
    with pytest.raises(ConfigError, match=fragment):
        build_model(**args)


def test_config_is_json_and_rebuilds_the_same_architecture():
    model = tiny("poseformer", "denoiser", frames=9, pde=False)
    config = json.loads(json.dumps(model.config))
    assert config["backbone"] == "poseformer" and config["pde"] is False and config["frames"] == 9
    rebuilt = build_model(**config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    regression = tiny("mixste", "regression")
    assert regression.config["time_embedding"] is False  # no timestep in regression


def test_default_sizes_follow_the_paper_per_backbone():
    with torch.device("meta"):
        mixste = build_model("mixste", frames=27, objective="regression")
        poseformer = build_model("poseformer", frames=27, objective="regression")
    assert (mixste.config["dim"], mixste.config["depth"]) == (512, 8)
    assert (poseformer.config["dim"], poseformer.config["depth"]) == (32, 4)
    assert PAPER_SIZES == {"mixste": {"dim": 512, "depth": 8}, "poseformer": {"dim": 32, "depth": 4}}
    assert poseformer.Temporal_pos_embed.shape == (1, 27, 544)


def test_attention_refuses_the_channel_axis_as_token_axis():
    attn = Attention(16, 4)
    with pytest.raises(ValueError, match="channel axis"):
        attn(torch.randn(2, 3, 5, 16), axis=-1)
    assert attn(torch.randn(2, 3, 5, 16), axis=1).shape == (2, 3, 5, 16)  # frames of each joint
