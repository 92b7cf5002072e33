"""Measuring tools of the benchmarks: timing, matmul FLOP counts and the machine's GEMM roofline.

- ``best_time(fn)`` / ``interleaved_best_times(fns)``: best-of-N wall time (the machine is shared, so
  the minimum is the honest figure).
- ``peak_memory(device)`` / ``max_rss_bytes()``: peak memory of a block of work.
- ``count_flops(fn)``: matmul FLOPs of one call, counted by ``torch.utils.flop_counter.FlopCounterMode``
  (2·m·n·k per GEMM, attention included; elementwise work is not counted, as usual for MFU).
- ``gemm_gflops(...)`` / ``model_gemm_gflops(...)`` / ``model_gemm_case(...)``: measured GEMM
  throughput, the roofline the model is measured against.

The closed-form FLOP counts of the models (used by the planner too) live in ``diff3dhpe.plan``.
"""

from __future__ import annotations

import gc
import math
import resource
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count


# ---------------------------------------------------------------------- timing
def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Minimum wall time in seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls.

    CUDA work is synchronised before each clock read, so the figure is the device time too.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"best_time: repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        fn()
    best = math.inf
    for _ in range(repeats):
        _sync()
        start = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved_best_times(fns: list[Callable[[], object]], repeats: int = 3, warmup: int = 1) -> list[float]:
    """Best-of-N wall time of each function, running them round-robin.

    On a shared machine the load changes from second to second; interleaving a case with its roofline
    GEMM lets both see the same conditions, so their ratio is fair even when absolute times are not.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"interleaved_best_times: need repeats >= 1, warmup >= 0; got {repeats}, {warmup}")
    for _ in range(warmup):
        for fn in fns:
            fn()
    best = [math.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], best_time(fn, repeats=1, warmup=0))
    return best


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@contextmanager
def peak_memory(device: torch.device | str = "cpu"):
    """Yield a dict whose ``"bytes"`` is filled with the peak memory of the block on exit.

    CUDA: ``torch.cuda.max_memory_allocated`` during the block (exact tensor memory).
    CPU: growth of the process's peak resident set (``ru_maxrss``): a lower bound, since memory freed
    earlier may be reused; run cases from small to large so each one raises the high-water mark.
    """
    device = torch.device(device)
    result = {"bytes": 0, "kind": "cuda_max_allocated" if device.type == "cuda" else "cpu_maxrss_growth"}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield result
        result["bytes"] = torch.cuda.max_memory_allocated(device) - base
        return
    gc.collect()
    before = max_rss_bytes()
    yield result
    result["bytes"] = max(0, max_rss_bytes() - before)


def max_rss_bytes() -> int:
    """Peak resident set of this process in bytes (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


# ---------------------------------------------------------------------- FLOPs
def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_sdpa_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args,
                             out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# torch's counter knows the CUDA attention kernels but not the CPU flash kernel; count it the same way.
_CPU_SDPA_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_sdpa_backward_flops,
}


def count_flops(fn: Callable[[], object]) -> int:
    """Matmul FLOPs (2·m·n·k per GEMM, attention included) executed by one call of ``fn``."""
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_SDPA_FLOPS)
    with counter:
        fn()
    return int(counter.get_total_flops())


# ---------------------------------------------------------------------- roofline
def gemm_gflops(size: int = 2048, dtype: torch.dtype = torch.float32, device: str = "cpu",
                repeats: int = 5) -> float:
    """GFLOP/s of a large square matmul (the roofline the model is measured against)."""
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    seconds = best_time(lambda: a @ b, repeats=repeats, warmup=2)
    return 2 * size**3 / seconds / 1e9


def model_gemm_shapes(tokens: int, dim: int = 512, mlp_ratio: float = 2.0) -> list[tuple[int, int, int]]:
    """(m, k, n) of the four linear layers of one transformer block applied to ``tokens`` rows."""
    hidden = int(dim * mlp_ratio)
    return [(tokens, dim, 3 * dim), (tokens, dim, dim), (tokens, dim, hidden), (tokens, hidden, dim)]


def model_gemm_gflops(tokens: int, dim: int = 512, mlp_ratio: float = 2.0, device: str = "cpu",
                      repeats: int = 5) -> float:
    """GFLOP/s of one block's four GEMM shapes together (x @ Wᵀ + b, as nn.Linear runs them)."""
    run, flops = model_gemm_case(tokens, dim, mlp_ratio, device)
    return flops / best_time(run, repeats=repeats, warmup=2) / 1e9


def model_gemm_case(tokens: int, dim: int = 512, mlp_ratio: float = 2.0,
                    device: str = "cpu") -> tuple[Callable[[], None], int]:
    """(function running one block's four linear GEMMs on ``tokens`` rows, its FLOPs)."""
    operands = []
    flops = 0
    for m, k, n in model_gemm_shapes(tokens, dim, mlp_ratio):
        operands.append((torch.randn(m, k, device=device), torch.randn(n, k, device=device),
                         torch.randn(n, device=device)))
        flops += 2 * m * k * n

    def run() -> None:
        for x, w, b in operands:
            torch.nn.functional.linear(x, w, b)

    return run, flops
