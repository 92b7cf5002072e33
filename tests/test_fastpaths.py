"""Fast paths give the plain path's numbers (diff3dhpe.fastpaths); tolerances are in each test."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from diff3dhpe.diffusion import Diffusion
from diff3dhpe.errors import ConfigError, ShapeError
from diff3dhpe.fastpaths import (
    GraphedSampler,
    LowPrecisionInference,
    adamw,
    autocast,
    compile_model,
    set_attention_backend,
    set_grad_checkpointing,
    set_threads,
    unchecked_inputs,
)
from diff3dhpe.models import Attention, build_model


def _tiny(frames=9, drop_path=0.0, backbone="mixste", **kw):
    torch.manual_seed(0)
    dim = 16 if backbone == "mixste" else 4
    return build_model(backbone, frames=frames, objective="denoiser", dim=dim, depth=2, heads=4,
                       drop_path=drop_path, **kw)


def _inputs(batch=2, frames=9, pose_frames=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    x2d = torch.rand(batch, frames, 17, 2, generator=g) * 2 - 1
    y_t = torch.randn(batch, pose_frames or frames, 17, 3, generator=g)
    return x2d, y_t, torch.randint(0, 1000, (batch,), generator=g)


@pytest.mark.parametrize("qkv_bias", [True, False])
@pytest.mark.parametrize("pde", [True, False])
def test_sdpa_and_bmm_attention_agree_in_outputs_and_gradients(pde, qkv_bias):
    torch.manual_seed(0)
    sdpa = Attention(32, 4, pde=pde, backend="sdpa", qkv_bias=qkv_bias)
    bmm = Attention(32, 4, pde=pde, backend="bmm", qkv_bias=qkv_bias)
    bmm.load_state_dict(sdpa.state_dict())
    x = torch.randn(3, 11, 32)
    torch.testing.assert_close(sdpa(x), bmm(x), atol=1e-5, rtol=1e-5)
    sdpa(x).square().sum().backward()
    bmm(x).square().sum().backward()
    for a, b in zip(sdpa.parameters(), bmm.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4)


def test_set_attention_backend_switches_every_layer_and_keeps_outputs():
    model = _tiny().eval()
    x2d, y_t, t = _inputs()
    with torch.no_grad():
        default = model(x2d, y_t, t)
        set_attention_backend(model, "sdpa")
        assert {m.backend for m in model.modules() if isinstance(m, Attention)} == {"sdpa"}
        torch.testing.assert_close(model(x2d, y_t, t), default, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="backend must be one of"):
        set_attention_backend(model, "flash")
    with pytest.raises(ConfigError, match="no Attention layers"):
        set_attention_backend(torch.nn.Linear(2, 2), "bmm")


@pytest.mark.parametrize("backbone, spatial, temporal", [("mixste", "STEblocks", "TTEblocks"),
                                                          ("poseformer", "Spatial_blocks", "blocks")])
def test_spatial_only_switch_leaves_the_temporal_blocks_and_the_outputs(backbone, spatial, temporal):
    model = _tiny(backbone=backbone).eval()
    x2d, y_t, t = _inputs(pose_frames=1 if backbone == "poseformer" else None)
    with torch.no_grad():
        default = model(x2d, y_t, t)
        wrapped = LowPrecisionInference(model, dtype=torch.float32)  # the switch sees through wrappers
        set_attention_backend(wrapped, "sdpa", spatial_only=True)
        blocks = {name: getattr(wrapped.model, name).modules() for name in (spatial, temporal)}
        backends = {name: {m.backend for m in ms if isinstance(m, Attention)} for name, ms in blocks.items()}
        assert backends == {spatial: {"sdpa"}, temporal: {"auto"}}
        # mixed kernels (SDPA over joints, bmm over frames on CPU): 1e-5 like the all-SDPA switch
        torch.testing.assert_close(wrapped(x2d, y_t, t), default, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError, match="no spatial attention blocks"):
        set_attention_backend(Attention(8, 2), "bmm", spatial_only=True)


@pytest.mark.parametrize("backend", ["sdpa", "bmm"])
def test_pde_attention_gives_the_same_numbers_with_and_without_autograd_and_keeps_gradients(backend):
    attn = Attention(16, 2, pde=True, backend=backend)
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        sampled = attn.mix_values(x)
    trained = attn.mix_values(x)  # out - v must not overwrite out: SDPA's backward reads its output
    trained.sum().backward()
    torch.testing.assert_close(sampled, trained.detach(), atol=0, rtol=0)
    assert attn.qkv.weight.grad is not None


def test_bf16_autocast_stays_within_bound_of_fp32():
    model = _tiny().eval()
    x2d, y_t, t = _inputs()
    with torch.no_grad():
        reference = model(x2d, y_t, t)
        with autocast("bf16", "cpu"):
            low = model(x2d, y_t, t)
    assert low.dtype == torch.bfloat16  # the matmuls really ran in bf16
    # bf16 keeps 8 mantissa bits (relative step 2^-8 ≈ 0.4%); bound: 3% of the output's range
    error = (low.float() - reference).abs().max() / reference.abs().max()
    assert 0 < error < 0.03


def test_fp32_autocast_is_a_no_op_and_bad_precisions_are_refused():
    model = _tiny().eval()
    x2d, y_t, t = _inputs()
    with torch.no_grad(), autocast("fp32"):
        assert torch.equal(model(x2d, y_t, t), model(x2d, y_t, t))
    with pytest.raises(ConfigError, match="one of"):
        autocast("int8")
    with pytest.raises(ConfigError, match="CUDA"):
        autocast("fp16", "cpu")


@pytest.mark.parametrize("backbone", ["mixste", "poseformer"])
def test_gradient_checkpointing_gives_identical_gradients(backbone):
    frames = 9 if backbone == "mixste" else 5
    pose_frames = frames if backbone == "mixste" else 1
    x2d, y_t, t = _inputs(frames=frames, pose_frames=pose_frames)
    grads = []
    for enabled in (False, True):
        model = set_grad_checkpointing(_tiny(frames, drop_path=0.3, backbone=backbone).train(), enabled)
        torch.manual_seed(5)  # same stochastic-depth draws in both runs
        model(x2d, y_t, t).square().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], atol=1e-6, rtol=1e-6, msg=name)


def test_grad_checkpointing_needs_a_model_with_the_switch():
    with pytest.raises(ConfigError, match="grad_checkpointing"):
        set_grad_checkpointing(torch.nn.Linear(2, 2))


@pytest.mark.slow
def test_compiled_model_matches_eager():
    model = _tiny().eval()
    x2d, y_t, t = _inputs()
    compiled = compile_model(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x2d, y_t, t), model(x2d, y_t, t), atol=1e-5, rtol=1e-5)


def test_compile_disabled_returns_the_model_itself():
    model = _tiny()
    assert compile_model(model, enabled=False) is model


@pytest.mark.parametrize("compat, predicts", [("paper", "x0"), ("release", "x0"), ("paper", "eps")])
def test_graphed_sampler_on_cpu_equals_the_library_sampler_bitwise(compat, predicts):
    model = _tiny().eval()
    diffusion = Diffusion(compat=compat)
    x2d, noise, _ = _inputs()
    ours = GraphedSampler(diffusion, model, tuple(x2d.shape), steps=5, predicts=predicts)(x2d, noise)
    library = (diffusion.sample if predicts == "x0" else diffusion.sample_eps)(model, x2d, 5, noise=noise)
    assert torch.equal(ours, library)


def test_graphed_sampler_matches_sample_and_checks_its_inputs():
    model = _tiny().eval()
    diffusion = Diffusion()
    x2d, noise, _ = _inputs()
    sampler = GraphedSampler(diffusion, model, tuple(x2d.shape), steps=3)
    assert torch.equal(sampler(x2d, noise), diffusion.sample(model, x2d, 3, noise=noise))
    with pytest.raises(ShapeError, match="built for"):
        sampler(x2d[:1], noise[:1])
    bad = noise.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ShapeError, match="NaN"):
        sampler(x2d, bad)
    with pytest.raises(ConfigError):
        GraphedSampler(diffusion, model, tuple(x2d.shape), steps=0)
    with pytest.raises(ConfigError, match="predicts"):
        GraphedSampler(diffusion, model, tuple(x2d.shape), steps=3, predicts="v")


def test_unchecked_inputs_switches_off_only_the_value_scans_and_restores_them():
    model = _tiny().eval()
    x2d, y_t, t = _inputs()
    y_t[0, 0, 0, 0] = float("nan")
    with torch.no_grad():
        with unchecked_inputs(model):
            model(x2d, y_t, t)  # no NaN scan inside (capture cannot sync)
            with pytest.raises(ShapeError, match="shape"):
                model(x2d[:, :3], y_t, t)  # shapes are still checked
        assert model.check_inputs
        with pytest.raises(ShapeError, match="NaN"):
            model(x2d, y_t, t)


def test_set_threads_sets_torch_intra_op_threads():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert set_threads() >= 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError):
        set_threads(0)


def test_retain_freed_memory_stops_page_faults_on_reallocation():
    # in a child process: mallopt settings are process-wide and must not leak into other tests
    code = (
        "import resource, torch\n"
        "from diff3dhpe.fastpaths import retain_freed_memory\n"
        "def faults():\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(5):\n"
        "        torch.ones(16 * 2**20)  # 64 MiB, allocated, touched, freed\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before\n"
        "plain = faults()\n"
        "assert retain_freed_memory()\n"
        "faults(); faults()  # warm-up: aligned requests fit the freed blocks once a few have merged\n"
        "print(plain, faults())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    plain, retained = map(int, result.stdout.split())
    pages = 5 * 64 * 2**20 // 4096
    assert plain > pages // 2  # each 64 MiB block was mapped and zero-filled afresh (4 KiB pages)
    assert retained < pages // 20  # reused while still mapped


def test_fused_adamw_follows_the_plain_adamw_update():
    torch.manual_seed(0)
    plain_params = [torch.randn(7, 5, requires_grad=True), torch.randn(5, requires_grad=True)]
    fused_params = [p.detach().clone().requires_grad_() for p in plain_params]
    plain = torch.optim.AdamW(plain_params, lr=1e-2, weight_decay=0.1, foreach=False)
    fused = adamw(fused_params, lr=1e-2, weight_decay=0.1)
    assert fused.defaults["fused"] is True
    start = [p.detach().clone() for p in plain_params]
    for _ in range(5):
        grads = [torch.randn_like(p) for p in plain_params]
        for params in (plain_params, fused_params):
            for p, g in zip(params, grads):
                p.grad = g.clone()
        plain.step()
        fused.step()
    for a, b, a0 in zip(plain_params, fused_params, start):
        assert (a - a0).abs().max() > 1e-2  # five steps of lr 1e-2 moved the parameters
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_mixste_bmm_and_sdpa_kernels_agree_with_drop_path_and_gradients():
    # each kernel groups the (B, F, J, D) tokens per axis its own way. Same masks, same numbers.
    models = {}
    for backend in ("bmm", "sdpa"):
        models[backend] = set_attention_backend(_tiny(drop_path=0.5), backend).train()
    x2d, y_t, t = _inputs()
    outputs = {}
    for backend, model in models.items():
        torch.manual_seed(3)  # the stochastic-depth draws
        outputs[backend] = model(x2d, y_t, t)
        outputs[backend].square().sum().backward()
    torch.testing.assert_close(outputs["bmm"], outputs["sdpa"], atol=1e-5, rtol=1e-5)
    for (name, a), b in zip(models["bmm"].named_parameters(), models["sdpa"].parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5, rtol=1e-4, msg=name)
    torch.manual_seed(4)  # other draws give another output: the masks really were applied
    assert not torch.allclose(models["bmm"](x2d, y_t, t), outputs["bmm"], atol=1e-3)


@pytest.mark.parametrize("backbone", ["mixste", "poseformer"])
def test_low_precision_inference_is_a_bf16_copy_within_bound_of_fp32(backbone):
    frames = 9 if backbone == "mixste" else 5
    model = _tiny(frames, backbone=backbone).eval()
    x2d, y_t, t = _inputs(frames=frames, pose_frames=frames if backbone == "mixste" else 1)
    fast = LowPrecisionInference(model)
    assert {p.dtype for p in fast.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the original is untouched
    assert all(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        reference, low = model(x2d, y_t, t), fast(x2d, y_t, t)
    assert low.dtype == torch.float32  # the DDIM arithmetic downstream stays fp32
    # every activation in bf16 (8 mantissa bits) through the blocks: bound 3% of the output's norm
    error = ((low - reference).norm() / reference.norm()).item()
    assert 0 < error < 0.03
    with torch.no_grad():
        sampled = Diffusion().sample(fast, x2d, 3, noise=y_t)
    assert sampled.dtype == torch.float32 and torch.isfinite(sampled).all()
    with pytest.raises(ConfigError, match="sampling only"):
        fast.train()


def test_bmm_attention_backward_runs_under_bf16_autocast_and_follows_sdpa():
    """An fp32 loss over bf16 attention sends an fp32 gradient into the bf16 saved tensors (crashed once)."""
    torch.manual_seed(0)
    bmm = Attention(64, 4, pde=True, backend="bmm")
    sdpa = Attention(64, 4, pde=True, backend="sdpa")
    sdpa.load_state_dict(bmm.state_dict())
    x = torch.randn(3, 17, 64)
    for layer in (bmm, sdpa):
        with autocast("bf16", "cpu"):
            out = layer(x)
        assert out.dtype == torch.bfloat16
        out.float().square().mean().backward()
    for (name, a), b in zip(bmm.named_parameters(), sdpa.parameters()):
        if name != "qkv.bias":  # only its query third is nonzero with (A − I)V; checked in fp32 above
            assert ((a.grad - b.grad).norm() / b.grad.norm()).item() < 0.03, name
