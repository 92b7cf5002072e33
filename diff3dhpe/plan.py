"""The cost planner of ``diff3dhpe plan``: FLOPs and estimated GPU hours of a params file's study.

``plan(params, gpu)`` walks the validated run matrix (``Params.train_runs``) and uses each run's own
``Variant``, model size and sampling steps S (``Params.sampling_steps``), so it plans exactly what
``dvc repro`` would train. FLOPs come from closed forms of the models (``mixste_forward_flops``,
``poseformer_forward_flops``; tests check them against torch's FLOP counter on the real models), clip
counts from the REAL datasets' sizes (``DATASET_FRAMES``), whatever ``data.source`` is, and hours
from the data-sheet peak times the MFU measured by ``benchmarks/gpu.py`` (``MEASURED_MFU``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diff3dhpe.config import Params
from diff3dhpe.data.skeleton import NUM_JOINTS
from diff3dhpe.errors import ConfigError
from diff3dhpe.variants import PAPER_SIZES, RunSpec

# Dense (no sparsity) peak tensor throughput in TFLOP/s, from the vendors' data sheets (SXM parts).
# fp32 is plain FP32 (no TF32); V100 has no bf16, so its bf16 entry is its fp16 tensor-core peak.
GPU_PEAK_TFLOPS = {
    "H100": {"bf16": 989.0, "fp32": 67.0},
    "H200": {"bf16": 989.0, "fp32": 67.0},
    "A100": {"bf16": 312.0, "fp32": 19.5},
    "V100": {"bf16": 125.0, "fp32": 15.7},
}
# Fraction of the data-sheet peak the training step sustains, measured on an H100 by benchmarks/gpu.py
# at F = 243 (results/benchmarks_gpu.csv; README "Performance").
MEASURED_MFU = {"bf16": 0.18, "fp32": 0.53}
TRAIN_FLOPS_PER_FORWARD = 3  # backward ≈ 2 × forward

# The real datasets' frame counts (VideoPose3D counts for Human3.6M; MPI-INF-3DHP over 8 cameras, an
# estimate, and its 2,929 valid test frames) and the subjects / sequences they are counted over.
DATASET_FRAMES = {
    "h36m": {"train": 1_559_752, "test": 543_344},
    "3dhp": {"train": 1_031_000, "test": 2_929},
}
H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
MPI3DHP_TRAIN_SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8")
MPI3DHP_SEQUENCES_PER_SUBJECT = 2


@dataclass(frozen=True)
class PlanRow:
    kind: str  # "train" or "evaluate"
    run: str
    frames: int
    passes: int  # forward passes of one clip (train: clips × epochs; evaluate: clips × S × flip × H)
    flops: float


def mixste_forward_flops(
    frames: int,
    dim: int = PAPER_SIZES["mixste"]["dim"],
    depth: int = PAPER_SIZES["mixste"]["depth"],
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
    frames: int, dim: int = PAPER_SIZES["poseformer"]["dim"], depth: int = PAPER_SIZES["poseformer"]["depth"],
    mlp_ratio: float = 2.0, time_embedding: bool = True,
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



# ---------------------------------------------------------------------- the planner
def forward_flops(params: Params, run: RunSpec) -> int:
    """Matmul FLOPs of one forward pass of ``run``'s model on one clip, at the size params.model gives."""
    variant = run.spec
    size = getattr(params.model, variant.backbone)
    count = mixste_forward_flops if variant.backbone == "mixste" else poseformer_forward_flops
    return count(run.frames, dim=size.dim, depth=size.depth, mlp_ratio=size.mlp_ratio,
                 denoiser=variant.diffusion, time_embedding=variant.diffusion)


def train_share(params: Params, dataset: str) -> float:
    """Fraction of ``DATASET_FRAMES[dataset]['train']`` that trains: held-out validation data does not.

    Subjects (H36M) or sequences (3DHP) are assumed equally long, so this is an estimate: the paper
    profile trains on S1 S5 S6 S7 (S8 validates), 4 of 5 H36M subjects, and on 14 of the 16 3DHP
    sequences (S8 Seq1 and Seq2 validate).
    """
    if dataset == "h36m":
        return len(params.data.subjects.train) / len(H36M_TRAIN_SUBJECTS)
    held_out = params.data.mpi3dhp_validation
    sequences = sum(1 if " " in entry.strip() else MPI3DHP_SEQUENCES_PER_SUBJECT for entry in held_out)
    return 1 - sequences / (len(MPI3DHP_TRAIN_SUBJECTS) * MPI3DHP_SEQUENCES_PER_SUBJECT)


def clip_count(run: RunSpec, split: str, share: float = 1.0) -> int:
    """Clips of one epoch over the real dataset: F-frame windows (seq2seq) or one per frame (seq2frame)."""
    total = round(DATASET_FRAMES[run.dataset][split] * share)
    return total if run.spec.seq2frame else math.ceil(total / run.frames)


def plan(params: Params, gpu: str = "H100", precision: str | None = None) -> dict:
    """FLOPs and estimated GPU hours of every trained run of ``params`` and its test evaluation.

    Training FLOPs = 3 × forward × clips × epochs (× 2 with flip augmentation; capped by
    train.max_clips_per_epoch); evaluation FLOPs = forward × test clips × S × (2 with flip test) ×
    hypotheses. Training counts only the training subjects / sequences (``train_share``).
    ``precision`` defaults to train.precision. Raises ConfigError for an unknown GPU or precision, or
    a params file without experiments.
    """
    if gpu not in GPU_PEAK_TFLOPS:
        raise ConfigError(f"plan: unknown GPU {gpu!r}; known: {', '.join(GPU_PEAK_TFLOPS)}")
    precision = precision or params.train.precision
    if precision not in MEASURED_MFU:
        raise ConfigError(f"plan: precision must be one of {', '.join(MEASURED_MFU)}, got {precision!r}")
    runs = params.train_runs()
    if not runs:
        raise ConfigError("plan: params has no experiments; nothing to plan")
    epochs = params.train.epochs
    flip_train = 2 if params.train.flip_augment else 1
    flip_test = 2 if params.evaluate.flip_test else 1
    rows: list[PlanRow] = []
    for run in runs:
        forward = forward_flops(params, run)
        steps = params.sampling_steps(run) or 1
        train_clips = clip_count(run, "train", train_share(params, run.dataset)) * flip_train
        cap = params.train.max_clips_for(run.frames)
        train_clips = min(train_clips, cap) if cap else train_clips
        hypotheses = params.evaluate.hypotheses if run.spec.diffusion else 1
        test_passes = clip_count(run, "test") * steps * flip_test * hypotheses
        rows.append(PlanRow("train", run.id, run.frames, train_clips * epochs,
                            float(TRAIN_FLOPS_PER_FORWARD * forward * train_clips * epochs)))
        rows.append(PlanRow("evaluate", run.id, run.frames, test_passes, float(forward * test_passes)))
    peak = GPU_PEAK_TFLOPS[gpu][precision] * 1e12
    sustained = peak * MEASURED_MFU[precision]
    total = sum(r.flops for r in rows)
    return {
        "gpu": gpu, "precision": precision, "peak_tflops": peak / 1e12, "mfu": MEASURED_MFU[precision],
        "runs": len(runs), "rows": rows,
        "train_flops": sum(r.flops for r in rows if r.kind == "train"),
        "evaluate_flops": sum(r.flops for r in rows if r.kind == "evaluate"),
        "total_flops": total, "hours": total / sustained / 3600,
    }


def plan_report(params: Params, gpu: str = "H100", precision: str | None = None) -> str:
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
