"""The benchmarks' measuring tools (benchmarks/measure.py): FLOP counting, timing, GEMM roofline."""

from __future__ import annotations

import math
import time

import pytest
import torch

from benchmarks.measure import best_time, count_flops, gemm_gflops, interleaved_best_times, model_gemm_shapes


def test_count_flops_of_one_matmul_is_2mnk():
    a, b = torch.randn(4, 8), torch.randn(8, 16)
    assert count_flops(lambda: a @ b) == 2 * 4 * 8 * 16


def test_count_flops_includes_cpu_fused_attention():
    q = k = v = torch.randn(2, 3, 5, 4)  # (B, H, N, d): QKᵀ and A·V are 2·B·H·N·N·d each
    flops = count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
    assert flops == 2 * (2 * 2 * 3 * 5 * 5 * 4)


def test_best_time_returns_the_fastest_repeat():
    durations = iter([0.04, 0.002, 0.04])
    best = best_time(lambda: time.sleep(next(durations)), repeats=3, warmup=0)
    assert 0.002 <= best < 0.03


def test_interleaved_best_times_runs_round_robin_and_keeps_each_minimum():
    calls = []
    durations = {"a": iter([0.03, 0.001]), "b": iter([0.002, 0.03])}

    def make(name):
        return lambda: (calls.append(name), time.sleep(next(durations[name])))

    best_a, best_b = interleaved_best_times([make("a"), make("b")], repeats=2, warmup=0)
    assert calls == ["a", "b", "a", "b"]
    assert best_a < 0.02 and best_b < 0.02


def test_best_time_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        best_time(lambda: None, repeats=0)


def test_gemm_gflops_is_a_positive_finite_rate():
    rate = gemm_gflops(size=64, repeats=2)
    assert math.isfinite(rate) and rate > 0


def test_model_gemm_shapes_are_the_four_block_linears():
    assert model_gemm_shapes(10, dim=8, mlp_ratio=2.0) == [(10, 8, 24), (10, 8, 8), (10, 8, 16), (10, 16, 8)]
