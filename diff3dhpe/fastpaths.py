"""Switchable fast paths; each one computes what the plain path computes (tests state the tolerance).

- ``configure_cpu``: ``set_threads`` (one intra-op thread per usable core, one inter-op thread) and
  ``retain_freed_memory`` (freed activations stay mapped, so the next step does not page-fault them in).
- ``autocast(precision, device)``: ``train.precision: fp32 | bf16`` as an autocast context.
- ``adamw(params, lr, weight_decay)``: the fused AdamW kernel.
- ``compile_model(model, enabled)``: ``train.compile`` via ``torch.compile``.
- ``set_attention_backend(model, backend, spatial_only)``: attention kernel, SDPA or two batched GEMMs
  (CPU default); ``evaluate.spatial_attention`` switches the spatial blocks' kernel.
- ``set_grad_checkpointing(model, enabled)``: ``train.grad_checkpointing`` (recompute blocks in backward).
- ``LowPrecisionInference(model)``: a bf16 copy of the whole model for sampling (weights and the
  residual stream in bf16, where autocast keeps LayerNorms and the stream in fp32).
- ``GraphedSampler``: ``Diffusion.reverse`` (the one sampler loop, free of host syncs) captured in a
  CUDA graph for fixed shapes and replayed (``evaluate.cuda_graphs``); on CPU it runs that loop eagerly.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import sys
from collections.abc import Iterator

import torch
from torch import nn

from diff3dhpe.diffusion import PREDICTS, Diffusion
from diff3dhpe.errors import ConfigError, ShapeError

PRECISIONS = ("fp32", "bf16", "fp16")


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def set_threads(threads: int | None = None) -> int:
    """Intra-op threads = usable cores (or ``threads``); one inter-op thread. Returns the count.

    More threads than cores only adds contention in MKL / oneDNN GEMMs, which is all this model does.
    """
    threads = available_cores() if threads is None else int(threads)
    if threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # only settable before the first parallel region
        torch.set_num_interop_threads(1)
    return threads


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def retain_freed_memory() -> bool:
    """Keep memory that torch frees inside this process instead of returning it to the OS (glibc only).

    By default glibc serves every large block (activations of MB size) with a fresh ``mmap`` and
    unmaps it on free, so each training step page-faults and zero-fills all its activations again
    (README "Performance" has the measured cost). With mmap off and no heap
    trimming, freed blocks are reused while still mapped; the price is that the resident set stays
    at the step's peak. Returns False (and changes nothing) where mallopt is unavailable.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # e.g. musl has no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1


def configure_cpu(threads: int | None = None) -> int:
    """CPU run settings: ``set_threads(threads)`` and ``retain_freed_memory()``. Returns the thread count."""
    retain_freed_memory()
    return set_threads(threads)


def autocast(precision: str = "fp32", device: torch.device | str = "cpu"):
    """Autocast context for ``precision``: fp32 is a no-op; bf16 works on CPU and CUDA; fp16 CUDA only.

    Parameters and the optimiser stay fp32 (mixed precision); only matmuls and attention run in bf16.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device_type = torch.device(device).type
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device_type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device_type, dtype=dtype)


def adamw(params, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the fused single-pass kernel (CPU and CUDA): one read/write of each parameter, grad and
    moment per step instead of about eight passes (README "Performance" has the timings).
    """
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)


def compile_model(model: nn.Module, enabled: bool = True, mode: str | None = None) -> nn.Module:
    """``torch.compile(model)`` when enabled, else the model itself. The compiled wrapper shares parameters.

    State dicts of the wrapper carry an ``_orig_mod.`` prefix: save ``model._orig_mod`` (or the
    original module) rather than the wrapper. ``dynamic=False``: clip shapes are fixed per run.
    """
    if not enabled:
        return model
    return torch.compile(model, mode=mode, dynamic=False)


def set_grad_checkpointing(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Recompute each transformer block in backward instead of storing its activations.

    Gradients are identical (the RNG state for stochastic depth is replayed); memory for activations
    drops from O(blocks) to O(1) blocks at about 1/3 more compute. Works on MixSTE and PoseFormer.
    """
    if not hasattr(model, "grad_checkpointing"):
        raise ConfigError(f"{type(model).__name__} has no grad_checkpointing switch (MixSTE, PoseFormer do)")
    model.grad_checkpointing = bool(enabled)
    return model


def set_attention_backend(
    model: nn.Module, backend: str = "auto", *, spatial_only: bool = False
) -> nn.Module:
    """Set the attention layers' kernel: ``auto`` (bmm on CPU, SDPA elsewhere), ``sdpa`` or ``bmm``.

    All layers, or with ``spatial_only`` those of the spatial blocks (N = J = 17 tokens), where two
    batched GEMMs beat SDPA once compiled on CUDA (README "Performance"). Both kernels compute the
    same numbers (tests: within 1e-5); see ``diff3dhpe.models.kernels``. ConfigError for an unknown
    backend or a model without (spatial) attention layers.
    """
    from diff3dhpe.models import Attention
    from diff3dhpe.models.kernels import BACKENDS

    if backend not in BACKENDS:
        raise ConfigError(f"attention backend must be one of {BACKENDS}, got {backend!r}")
    scopes = [model]
    if spatial_only:  # modules() walks through LowPrecisionInference and torch.compile wrappers
        scopes = [m.spatial_blocks for m in model.modules() if hasattr(m, "spatial_blocks")]
        if not scopes:
            raise ConfigError(
                f"{type(model).__name__} has no spatial attention blocks to switch (MixSTE, PoseFormer do)"
            )
    layers = [m for scope in scopes for m in scope.modules() if isinstance(m, Attention)]
    if not layers:
        raise ConfigError(f"{type(model).__name__} has no Attention layers to switch")
    for layer in layers:
        layer.backend = backend
    return model


def set_input_checks(model: nn.Module, enabled: bool) -> list[bool]:
    """Switch the models' data-dependent input checks (NaN / negative-t scans); returns the previous flags.

    Off where a scan would break a traced graph (torch.compile) or a CUDA-graph capture (host sync);
    callers then check the inputs once themselves.
    """
    modules = [m for m in model.modules() if hasattr(m, "check_inputs")]
    previous = [m.check_inputs for m in modules]
    for m in modules:
        m.check_inputs = enabled
    return previous


@contextlib.contextmanager
def unchecked_inputs(model: nn.Module) -> Iterator[nn.Module]:
    """``set_input_checks(model, False)`` for the duration of the block."""
    modules = [m for m in model.modules() if hasattr(m, "check_inputs")]
    previous = set_input_checks(model, False)
    try:
        yield model
    finally:
        for m, flag in zip(modules, previous):
            m.check_inputs = flag


class LowPrecisionInference(nn.Module):
    """A ``dtype`` (bf16) copy of ``model`` for sampling: weights, activations and residual stream.

    Under autocast the LayerNorms and the residual stream stay fp32, and at D = 512 a block moves about
    as many bytes through memory as it does FLOPs through the tensor cores, so halving those bytes is
    what speeds sampling up (README "Performance"). Inputs are cast on the way in and the prediction
    back to fp32 on the way out, so the reverse loop's DDIM arithmetic stays fp32. The copy is frozen:
    rebuild it after the weights change. Inference only (``requires_grad`` off).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        from diff3dhpe.models.time_embedding import SinusoidalEmbedding

        self.dtype = dtype
        self.model = copy.deepcopy(model).to(dtype).eval().requires_grad_(False)
        for module in self.model.modules():
            if isinstance(module, SinusoidalEmbedding):  # computes fp32 angles from integer t
                module.register_forward_hook(lambda _module, _args, out: out.to(dtype))

    def train(self, mode: bool = True) -> LowPrecisionInference:
        if mode:
            raise ConfigError("LowPrecisionInference is for sampling only; train the fp32 model")
        return super().train(False)

    def forward(self, x2d: torch.Tensor, y_t: torch.Tensor | None = None, t: torch.Tensor | None = None):
        y_t = None if y_t is None else y_t.to(self.dtype)
        return self.model(x2d.to(self.dtype), y_t, t).float()


class GraphedSampler:
    """``Diffusion.reverse`` for fixed (B, F, J) shapes; replayed from a CUDA graph on CUDA.

    ``sampler(x2d, noise)`` with x2d (B, F, J, 2) and noise (B, F', J, 3) returns the same (B, F', J, 3)
    as ``diffusion.sample(model, x2d, steps, noise=noise)`` (``sample_eps`` for ``predicts="eps"``).
    On CUDA the library loop is captured once, as it is (after a warm-up on a side stream), and each
    call copies the inputs into static buffers and replays the graph: one launch for all S steps
    instead of S × (kernels per forward). On CPU, or with ``enabled=False``, it runs
    ``Diffusion.reverse`` eagerly. Inputs are checked here, outside the loop (shapes, NaN / inf:
    ShapeError); a bad step count or ``predicts`` raises ConfigError at construction.
    """

    def __init__(
        self, diffusion: Diffusion, model: nn.Module, x2d_shape: tuple[int, ...], steps: int,
        pose_frames: int | None = None, predicts: str = "x0", device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32, enabled: bool = True,
    ):
        if len(x2d_shape) != 4 or x2d_shape[-1] != 2:
            raise ShapeError(f"GraphedSampler: x2d_shape must be (B, F, J, 2), got {tuple(x2d_shape)}")
        if predicts not in PREDICTS:
            raise ConfigError(f"GraphedSampler: predicts must be one of {PREDICTS}, got {predicts!r}")
        self.diffusion, self.model, self.steps, self.predicts = diffusion, model, steps, predicts
        batch, frames, joints, _ = x2d_shape
        self.x2d_shape = tuple(x2d_shape)
        self.noise_shape = (batch, pose_frames or frames, joints, 3)
        self.device = torch.device(device)
        self.graph = None
        diffusion.timesteps(steps)  # validate S now, not at the first call
        if enabled and self.device.type == "cuda":
            self._capture(dtype)

    def _capture(self, dtype: torch.dtype) -> None:
        self.static_x2d = torch.zeros(self.x2d_shape, device=self.device, dtype=dtype)
        self.static_noise = torch.zeros(self.noise_shape, device=self.device, dtype=dtype)
        run = lambda: self.diffusion.reverse(  # noqa: E731
            self.model, self.static_x2d, self.static_noise, self.steps, self.predicts
        )
        with torch.no_grad(), unchecked_inputs(self.model):
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up: lazy init, cuBLAS workspaces, autotuning
                    run()
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.static_out = run()

    def __call__(self, x2d: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if tuple(x2d.shape) != self.x2d_shape or tuple(noise.shape) != self.noise_shape:
            raise ShapeError(
                f"GraphedSampler was built for x2d {self.x2d_shape} and noise {self.noise_shape}; got "
                f"{tuple(x2d.shape)} and {tuple(noise.shape)} (build one sampler per batch shape)"
            )
        if not (torch.isfinite(x2d).all() and torch.isfinite(noise).all()):
            raise ShapeError("GraphedSampler: x2d or noise contains NaN or inf")
        if self.graph is None:
            return self.diffusion.reverse(self.model, x2d, noise, self.steps, self.predicts)
        self.static_x2d.copy_(x2d)
        self.static_noise.copy_(noise)
        self.graph.replay()
        return self.static_out.clone()
