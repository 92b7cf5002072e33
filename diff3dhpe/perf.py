"""Measuring speed: timing, matmul FLOP counts, the machine's GEMM roofline, and the cost planner.

- ``best_time(fn)``: best-of-N wall time (the machine is shared, so the minimum is the honest figure).
- ``count_flops(fn)``: matmul FLOPs of one call, counted by ``torch.utils.flop_counter.FlopCounterMode``
  (2·m·n·k per GEMM, attention included; elementwise work is not counted, as usual for MFU).
- ``mixste_forward_flops(...)``: the same count in closed form, so plans need no model.
- ``gemm_gflops(...)`` / ``model_gemm_gflops(...)``: measured fp32 GEMM throughput, the roofline.
- ``plan(params, gpu)`` / ``plan_report(params, gpu)``: runs, FLOPs and hours of a params file.
"""

from __future__ import annotations

import gc
import math
import resource
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from diff3dhpe.config import DataParams, Subjects
from diff3dhpe.errors import ConfigError

NUM_JOINTS = 17


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


def mixste_forward_flops(
    frames: int,
    dim: int = 512,
    depth: int = 8,
    mlp_ratio: float = 2.0,
    time_embedding: bool = True,
    denoiser: bool = True,
    joints: int = NUM_JOINTS,
) -> int:
    """Matmul FLOPs of one MixSTE forward pass for one clip, in closed form (METHOD.md §4a).

    Per block on T = F·J tokens: qkv + proj + MLP = 2·T·D²·(4 + 2·mlp_ratio); attention
    (QKᵀ and A·V) = 4·G·N²·D with G groups of N tokens (F groups of J joints, J groups of F frames).
    Equals ``count_flops`` of the real model (tests check it); 94.6 GFLOP at F=81, 294.9 at F=243.
    """
    tokens = frames * joints
    hidden = int(dim * mlp_ratio)
    dense = 2 * tokens * dim * (4 * dim + 2 * hidden)  # one block's linear layers
    spatial_attn = 4 * frames * joints**2 * dim
    temporal_attn = 4 * joints * frames**2 * dim
    flops = depth * (2 * dense + spatial_attn + temporal_attn)
    flops += 2 * tokens * (5 if denoiser else 2) * dim + 2 * tokens * dim * 3  # embedding and head
    if denoiser and time_embedding:
        flops += 2 * dim * 2 * dim + 2 * (2 * dim) ** 2  # time MLP
        flops += 2 * depth * 2 * (2 * dim) * dim  # every block's own SiLU + Linear(2D, D)
    return flops


def poseformer_forward_flops(
    frames: int, dim: int = 32, depth: int = 4, mlp_ratio: float = 2.0, time_embedding: bool = True,
    denoiser: bool = True, joints: int = NUM_JOINTS,
) -> int:
    """Matmul FLOPs of one PoseFormer forward pass for one clip (spatial stage, then temporal)."""
    wide = dim * joints

    def stage(tokens_per_group: int, groups: int, width: int) -> int:
        tokens = tokens_per_group * groups
        hidden = int(width * mlp_ratio)
        dense = 2 * tokens * width * (4 * width + 2 * hidden)
        return depth * (dense + 4 * groups * tokens_per_group**2 * width)

    flops = stage(joints, frames, dim) + stage(frames, 1, wide)
    flops += 2 * frames * joints * (5 if denoiser else 2) * dim  # embedding
    flops += 2 * frames * wide  # Conv1d(F -> 1) weighted mean
    flops += 2 * wide * joints * 3  # head
    if denoiser and time_embedding:
        flops += 2 * wide * 2 * wide + 2 * (2 * wide) ** 2
        flops += depth * (2 * 2 * wide * dim + 2 * 2 * wide * wide)
    return flops


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


# ---------------------------------------------------------------------- cost planner
# Dense (no sparsity) peak tensor throughput in TFLOP/s, from the vendors' data sheets (SXM parts).
# fp32 is plain FP32 (no TF32); V100 has no bf16, so its bf16 entry is its fp16 tensor-core peak.
GPU_PEAK_TFLOPS = {
    "H100": {"bf16": 989.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp32": 19.5},
    "V100": {"bf16": 125.0, "fp32": 15.7},
}
# Fraction of the data-sheet peak the training step sustains, measured on an H100 by benchmarks/gpu.py
# (results/benchmarks_gpu.csv, F = 243): bf16 compiled 18.3%, fp32 eager 53.6%. D = 512 is small, so the
# step is bound by memory passes (norms, residuals, copies), not by the tensor cores.
MEASURED_MFU = {"bf16": 0.18, "fp32": 0.53}
TRAIN_FLOPS_PER_FORWARD = 3  # backward ≈ 2 × forward


@dataclass(frozen=True)
class PlanRow:
    kind: str  # "train" or "evaluate"
    run: str
    frames: int
    passes: int  # forward passes of one clip (train: clips × epochs; evaluate: clips × S × flip × H)
    flops: float


# Clips per epoch of the real datasets (seq2seq windows of F frames over every camera view, before flip
# augmentation; seq2frame: one clip per frame). Frames: Human3.6M S1 S5 S6 S7 S8 train 1,559,752,
# S9 S11 test 543,344 (VideoPose3D counts); MPI-INF-3DHP train ~1,031,000 (8 cameras), test 2,929 valid.
H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
MPI3DHP_TRAIN_SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8")
MPI3DHP_SEQUENCES_PER_SUBJECT = 2
DATASET_FRAMES = {
    "h36m": {"train": 1_559_752, "test": 543_344},
    "3dhp": {"train": 1_031_000, "test": 2_929},
}
SEQ2SEQ_VARIANTS = {"mixste", "diff3dhpe-m", "diff3dhpe-m-nopde", "ddim-m"}
DIFFUSION_VARIANTS = {"diff3dhpe-m", "diff3dhpe-m-nopde", "ddim-m", "diff3dhpe-p"}


def _get(params: Mapping, path: str, default=None):
    node = params
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def _forward_flops(params: Mapping, variant: str, frames: int) -> int:
    backbone = "mixste" if variant in SEQ2SEQ_VARIANTS else "poseformer"
    defaults = {"mixste": {"dim": 512, "depth": 8}, "poseformer": {"dim": 32, "depth": 4}}[backbone]
    size = {**defaults, "mlp_ratio": 2.0, **(_get(params, f"model.{backbone}", {}) or {})}
    denoiser = variant in DIFFUSION_VARIANTS
    fn = mixste_forward_flops if backbone == "mixste" else poseformer_forward_flops
    return fn(frames, dim=int(size["dim"]), depth=int(size["depth"]), mlp_ratio=float(size["mlp_ratio"]),
              denoiser=denoiser, time_embedding=denoiser)


def _sampling_steps(params: Mapping, dataset: str, input_2d: str, frames: int, variant: str) -> int:
    if variant not in DIFFUSION_VARIANTS:
        return 1
    key = "diffusion.ddim_steps" if variant == "ddim-m" else f"diffusion.steps.{dataset}.{input_2d}"
    table = _get(params, key, {}) or {}
    steps = table.get(frames, table.get(str(frames)))
    if steps is None:
        raise ConfigError(f"plan: {key} has no entry for {frames} frames (needed by {variant})")
    return int(steps)


def _per_frames(value, frames: int):
    """A setting given as one number or as {frames: number} (train.max_clips_per_epoch); None if absent."""
    if isinstance(value, Mapping):
        return value.get(frames, value.get(str(frames)))
    return value


def _train_share(params: Mapping, dataset: str) -> float:
    """Fraction of DATASET_FRAMES[dataset]['train'] that trains: held-out validation data does not.

    Subjects (H36M) or sequences (3DHP) are assumed equally long, so this is an estimate: by default
    the paper profile trains on S1 S5 S6 S7 (S8 validates), i.e. 4 of 5 H36M subjects, and on 14
    of the 16 3DHP sequences (S8 Seq1 and Seq2 validate).
    """
    if dataset == "h36m":
        train = _get(params, "data.subjects.train", Subjects().train)
        return len(train) / len(H36M_TRAIN_SUBJECTS)
    held_out = _get(params, "data.mpi3dhp_validation", DataParams().mpi3dhp_validation)
    sequences = sum(1 if " " in entry.strip() else MPI3DHP_SEQUENCES_PER_SUBJECT for entry in held_out)
    return 1 - sequences / (len(MPI3DHP_TRAIN_SUBJECTS) * MPI3DHP_SEQUENCES_PER_SUBJECT)


def _clips(dataset: str, split: str, frames: int, variant: str, share: float = 1.0) -> int:
    total = round(DATASET_FRAMES[dataset][split] * share)
    return total if variant not in SEQ2SEQ_VARIANTS else math.ceil(total / frames)


def plan(params: Mapping, gpu: str = "H100", precision: str | None = None) -> dict:
    """FLOPs and estimated GPU hours of every trained run and its test evaluation.

    ``params`` is the plain dict of params.yaml (``yaml.safe_load`` or ``Params.model_dump()``):
    ``experiments.<group>.{dataset, input_2d, frames, variants, seeds}``, ``train.{epochs,
    flip_augment, max_clips_per_epoch, precision}``, ``evaluate.{flip_test, hypotheses}``,
    ``diffusion.steps`` / ``ddim_steps``, ``model.<backbone>``. Clip counts are those of the real
    datasets (``DATASET_FRAMES``), whatever ``data.source`` is, since the plan is for the real study;
    training counts only the training subjects / sequences, not the held-out validation ones
    (``data.subjects.train``, ``data.mpi3dhp_validation``; see ``_train_share``).
    Training FLOPs = 3 × forward × clips × epochs (× 2 with flip augmentation); evaluation FLOPs =
    forward × test clips × S × (2 with flip test) × hypotheses.
    """
    if not isinstance(params, Mapping):
        raise ConfigError(f"plan: params must be a dict (params.yaml as loaded), got {type(params).__name__}")
    if gpu not in GPU_PEAK_TFLOPS:
        raise ConfigError(f"plan: unknown GPU {gpu!r}; known: {', '.join(GPU_PEAK_TFLOPS)}")
    precision = precision or _get(params, "train.precision", "bf16")
    if precision not in ("bf16", "fp32"):
        raise ConfigError(f"plan: precision must be bf16 or fp32, got {precision!r}")
    experiments = _get(params, "experiments", {}) or {}
    if not experiments:
        raise ConfigError("plan: params has no experiments; nothing to plan")
    epochs = int(_get(params, "train.epochs", 200))
    flip_train = 2 if _get(params, "train.flip_augment", True) else 1
    cap = _get(params, "train.max_clips_per_epoch")
    flip_test = 2 if _get(params, "evaluate.flip_test", True) else 1
    hypotheses = int(_get(params, "evaluate.hypotheses", 1))
    rows: list[PlanRow] = []
    for name, group in experiments.items():
        for key in ("dataset", "input_2d", "frames", "variants", "seeds"):
            if key not in group:
                raise ConfigError(f"plan: experiments.{name} is missing {key!r}")
        dataset = group["dataset"]
        if dataset not in DATASET_FRAMES:
            raise ConfigError(f"plan: experiments.{name}.dataset must be one of {list(DATASET_FRAMES)}, "
                              f"got {dataset!r}")
        share = _train_share(params, dataset)
        for input_2d in group["input_2d"]:
            for frames in group["frames"]:
                for variant in group["variants"]:
                    forward = _forward_flops(params, variant, int(frames))
                    steps = _sampling_steps(params, dataset, input_2d, int(frames), variant)
                    train_clips = _clips(dataset, "train", int(frames), variant, share) * flip_train
                    frame_cap = _per_frames(cap, int(frames))
                    train_clips = min(train_clips, frame_cap) if frame_cap else train_clips
                    test_passes = _clips(dataset, "test", int(frames), variant) * steps * flip_test * (
                        hypotheses if variant in DIFFUSION_VARIANTS else 1)
                    for seed in group["seeds"]:
                        run = f"{dataset}-{input_2d}-f{frames}-{variant}-s{seed}"
                        rows.append(PlanRow("train", run, int(frames), train_clips * epochs,
                                            float(TRAIN_FLOPS_PER_FORWARD * forward * train_clips * epochs)))
                        rows.append(PlanRow("evaluate", run, int(frames), test_passes,
                                            float(forward * test_passes)))
    peak = GPU_PEAK_TFLOPS[gpu][precision] * 1e12
    sustained = peak * MEASURED_MFU[precision]
    total = sum(r.flops for r in rows)
    return {
        "gpu": gpu, "precision": precision, "peak_tflops": peak / 1e12, "mfu": MEASURED_MFU[precision],
        "runs": len({r.run for r in rows}), "rows": rows,
        "train_flops": sum(r.flops for r in rows if r.kind == "train"),
        "evaluate_flops": sum(r.flops for r in rows if r.kind == "evaluate"),
        "total_flops": total, "hours": total / sustained / 3600,
    }


def plan_report(params: Mapping, gpu: str = "H100", precision: str | None = None) -> str:
    """Human-readable plan (the body of ``diff3dhpe plan``): per-run FLOPs and hours, then the total."""
    result = plan(params, gpu, precision)
    sustained = result["peak_tflops"] * result["mfu"] * 1e12
    lines = [
        f"{result['runs']} trained runs on {gpu} ({result['precision']}, peak {result['peak_tflops']:.1f} "
        f"TFLOP/s, MFU {result['mfu']:.0%} as measured on an H100 -> {sustained / 1e12:.0f} TFLOP/s "
        "sustained)",
        f"{'run':<40} {'train PFLOP':>12} {'eval PFLOP':>11} {'GPU hours':>10}",
    ]
    per_run: dict[str, list[float]] = {}
    for row in result["rows"]:
        per_run.setdefault(row.run, [0.0, 0.0])[0 if row.kind == "train" else 1] += row.flops
    for run, (train, evaluate) in per_run.items():
        hours = (train + evaluate) / sustained / 3600
        lines.append(f"{run:<40} {train / 1e15:12.1f} {evaluate / 1e15:11.2f} {hours:10.2f}")
    lines.append(
        f"{'total':<40} {result['train_flops'] / 1e15:12.1f} {result['evaluate_flops'] / 1e15:11.2f} "
        f"{result['hours']:10.1f}"
    )
    lines.append("FLOPs count matmuls only (training = 3 x forward); clip counts are the real datasets' "
                 "(training subjects only, assumed equally long); hours exclude data loading, validation "
                 "and checkpointing.")
    return "\n".join(lines)
