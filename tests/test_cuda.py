"""GPU fast paths give the plain path's numbers on CUDA (skipped without a CUDA device; CI has none).

Run on a GPU machine with ``pytest tests/test_cuda.py``. Tolerances, stated per test:
fp32 kernels (flash-free efficient SDPA, graphs, compile) within 1e-4 of the plain fp32 path;
bf16 within 3% (8 mantissa bits and a 16-block residual stack). Errors are ‖out − ref‖ / ‖ref‖.
"""

from __future__ import annotations

import pytest
import torch

from diff3dhpe.diffusion import Diffusion
from diff3dhpe.fastpaths import (
    GraphedSampler,
    LowPrecisionInference,
    autocast,
    compile_model,
    set_attention_backend,
    set_grad_checkpointing,
    set_input_checks,
    unchecked_inputs,
)
from diff3dhpe.models import Attention, build_model, kernels

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _no_tf32():
    """The plain path is true fp32: TF32 matmuls would move results by ~1e-3."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def _model(frames=27, dim=64, depth=2, heads=8, drop_path=0.0):
    torch.manual_seed(0)
    return build_model("mixste", frames=frames, objective="denoiser", dim=dim, depth=depth, heads=heads,
                       drop_path=drop_path).to(CUDA)


def _inputs(batch=4, frames=27, seed=1):
    g = torch.Generator().manual_seed(seed)
    x2d = torch.rand(batch, frames, 17, 2, generator=g) * 2 - 1
    y_t = torch.randn(batch, frames, 17, 3, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    return x2d.to(CUDA), y_t.to(CUDA), t.to(CUDA)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ (a vector norm: elementwise ratios blow up where the reference is ~0)."""
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.mark.parametrize("pde", [True, False])
def test_cuda_sdpa_matches_explicit_attention_in_fp32(pde):
    """SDPA on CUDA in fp32 (the memory-efficient kernel) vs the explicit two-GEMM path: 1e-4."""
    torch.manual_seed(0)
    sdpa = Attention(512, 8, pde=pde, backend="sdpa").to(CUDA)
    bmm = Attention(512, 8, pde=pde, backend="bmm").to(CUDA)
    bmm.load_state_dict(sdpa.state_dict())
    x = torch.randn(6, 243, 512, device=CUDA)
    torch.testing.assert_close(sdpa(x), bmm(x), atol=1e-4, rtol=1e-4)
    sdpa(x).square().mean().backward()
    bmm(x).square().mean().backward()
    for (name, a), b in zip(sdpa.named_parameters(), bmm.parameters()):
        assert _relative(a.grad, b.grad) < 1e-4, name


def test_cuda_flash_attention_in_bf16_stays_within_bound_of_fp32():
    """bf16 SDPA (flash kernel: head dim 64) vs explicit fp32 attention, outputs and gradients: 3%."""
    torch.manual_seed(0)
    flash = Attention(512, 8, pde=True, backend="sdpa").to(CUDA)
    reference = Attention(512, 8, pde=True, backend="bmm").to(CUDA)
    reference.load_state_dict(flash.state_dict())
    x = torch.randn(6, 243, 512, device=CUDA)
    flash_only = torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.FLASH_ATTENTION)
    with flash_only, autocast("bf16", CUDA):
        low = flash(x)  # raises if the flash kernel cannot take these inputs
    assert low.dtype == torch.bfloat16
    high = reference(x)
    assert 0 < _relative(low, high) < 0.03
    low.float().square().mean().backward()
    high.square().mean().backward()
    for (name, a), b in zip(flash.named_parameters(), reference.parameters()):
        if name == "qkv.bias":
            # With (A − I)V neither the key bias (a softmax row ignores a constant) nor the value bias
            # (A·1 = 1) changes the output: their gradients are exactly 0, only bf16 noise is left there.
            q, k, v = a.grad.chunk(3)
            assert max(k.norm(), v.norm()) < 0.1 * q.norm()
            a, b = q, b.grad[:512]
        else:
            a, b = a.grad, b.grad
        assert _relative(a, b) < 0.03, name


def test_cuda_model_matches_cpu_model():
    model = _model().eval()
    x2d, y_t, t = _inputs()
    with torch.no_grad():
        gpu = model(x2d, y_t, t).cpu()
        cpu = model.cpu()(x2d.cpu(), y_t.cpu(), t.cpu())
    assert _relative(gpu, cpu) < 1e-4


def test_cuda_bf16_autocast_stays_within_bound_of_fp32():
    model = _model(depth=8).eval()
    x2d, y_t, t = _inputs()
    with torch.no_grad():
        reference = model(x2d, y_t, t)
        with autocast("bf16", CUDA):
            low = model(x2d, y_t, t)
    assert low.dtype == torch.bfloat16
    assert 0 < _relative(low, reference) < 0.03


def test_cuda_bf16_training_gradient_points_the_fp32_way():
    """One x0-loss gradient under bf16 autocast vs fp32: cosine similarity > 0.99 over all parameters."""
    diffusion = Diffusion()
    x2d, y0, _ = _inputs()
    y0 = y0.clamp(-1, 1)
    grads = []
    for precision in ("fp32", "bf16"):
        model = _model().train()
        with autocast(precision, CUDA):
            loss = diffusion.x0_loss(model, x2d, y0, generator=torch.Generator().manual_seed(3))
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    cosine = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0).item()
    assert cosine > 0.99


def test_cuda_compiled_model_matches_eager():
    model = _model().eval()
    x2d, y_t, t = _inputs()
    set_input_checks(model, False)
    compiled = compile_model(model)
    with torch.no_grad():
        assert _relative(compiled(x2d, y_t, t), model(x2d, y_t, t)) < 1e-4


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graph_replay_equals_the_eager_sampler(precision):
    """The captured S-step loop replays the eager kernels: equal within 1e-5 (fp32) / bitwise-near (bf16)."""
    model = _model().eval()
    diffusion = Diffusion()
    x2d, noise, _ = _inputs()
    with autocast(precision, CUDA):
        sampler = GraphedSampler(diffusion, model, tuple(x2d.shape), steps=5, device=CUDA)
        assert sampler.graph is not None
        graphed = sampler(x2d, noise)
        again = sampler(x2d.flip(0), noise.flip(0))  # static buffers really take the new inputs
        with torch.no_grad():
            eager = diffusion.sample(model, x2d, 5, noise=noise)
            eager_flipped = diffusion.sample(model, x2d.flip(0), 5, noise=noise.flip(0))
    tolerance = 1e-5 if precision == "fp32" else 1e-2
    assert _relative(graphed, eager) < tolerance
    assert _relative(again, eager_flipped) < tolerance


@pytest.mark.parametrize("predicts", ["x0", "eps"])
def test_cuda_reverse_loop_never_waits_for_the_device(predicts):
    """``Diffusion.reverse``, the loop GraphedSampler captures as it is, has no host synchronisation."""
    model = _model().eval()
    diffusion = Diffusion()
    x2d, noise, _ = _inputs()
    with unchecked_inputs(model):  # the models' NaN scans sync; callers check inputs outside the loop
        diffusion.reverse(model, x2d, noise, 5, predicts)  # first use copies ᾱ to the device
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            diffusion.reverse(model, x2d, noise, 5, predicts)
        finally:
            torch.cuda.set_sync_debug_mode("default")


def test_cuda_gradient_checkpointing_gives_the_same_gradients():
    x2d, y_t, t = _inputs()
    grads = []
    for enabled in (False, True):
        model = set_grad_checkpointing(_model(drop_path=0.2).train(), enabled)
        torch.manual_seed(5)
        model(x2d, y_t, t).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert _relative(grads[1], grads[0]) < 1e-5


def test_cuda_auto_backend_is_sdpa_and_switching_keeps_outputs():
    model = _model().eval()
    x2d, y_t, t = _inputs()
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    assert {kernels.resolve(m.backend, x2d) for m in layers} == {"sdpa"}
    with torch.no_grad():
        auto = model(x2d, y_t, t)
        set_attention_backend(model, "bmm")
        assert _relative(model(x2d, y_t, t), auto) < 1e-4


def test_cuda_low_precision_inference_stays_within_bound_and_graphs():
    """The all-bf16 sampling copy: within 3% of fp32 on a paper-depth model, captured in a CUDA graph."""
    model = _model(depth=8).eval()
    x2d, noise, t = _inputs()
    fast = LowPrecisionInference(model)
    with torch.no_grad():
        reference, low = model(x2d, noise, t), fast(x2d, noise, t)
    assert low.dtype == torch.float32 and 0 < _relative(low, reference) < 0.03
    diffusion = Diffusion()
    sampler = GraphedSampler(diffusion, fast, tuple(x2d.shape), steps=5, device=CUDA)
    with torch.no_grad():
        eager = diffusion.sample(fast, x2d, 5, noise=noise)
    assert _relative(sampler(x2d, noise), eager) < 1e-2
