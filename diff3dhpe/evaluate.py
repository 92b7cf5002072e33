"""Test-set evaluation of a trained run, and the two sweeps that reuse it (robustness, steps S).

Inference: clips in batches, flip test-time augmentation (predict on the mirrored 2D too, un-mirror,
average), x0-DDIM with the configured S (DDIM-M: its ddim_steps) from seeded noise, stitched back to
per-sequence predictions, × scale to mm. Scoring: Human3.6M per-action protocol (frame-weighted per
action group, "Average" unweighted over groups) or 3DHP (valid frames; MPJPE etc. = mean of the
per-sequence means, PCK/AUC pooled over all valid frames).

Fast paths (params evaluate.*): ``cuda_graphs`` samples through ``fastpaths.GraphedSampler`` (one
graph replay per batch on CUDA; the last partial batch is padded to the graph's batch size, and the
padded rows are dropped; every clip is independent, so the real rows are unchanged); ``precision:
bf16`` autocasts the forward passes on CUDA, ``bf16-weights`` samples from a bf16 copy of the model;
``compile`` wraps it in ``torch.compile``; ``spatial_attention`` picks the kernel of the spatial blocks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from diff3dhpe import metrics
from diff3dhpe.checkpoints import load_model
from diff3dhpe.config import EvaluateParams, Params
from diff3dhpe.data.augment import corrupt, corruption_rng, flip_keypoints
from diff3dhpe.data.clips import ClipBatches, stitch
from diff3dhpe.data.dataset import PoseSequence
from diff3dhpe.data.skeleton import JointLayout
from diff3dhpe.errors import ConfigError
from diff3dhpe.fastpaths import (
    GraphedSampler,
    LowPrecisionInference,
    autocast,
    compile_model,
    configure_cpu,
    set_attention_backend,
    set_input_checks,
)
from diff3dhpe.runs import VARIANTS, RunSpec, find_run, run_dir
from diff3dhpe.train import MODEL, clip_index, load_run_dataset, make_diffusion, predict_normalised
from diff3dhpe.utils import derive_seed, select_device

log = logging.getLogger("diff3dhpe.evaluate")

METRICS_COLUMNS = (
    "run",
    "dataset",
    "variant",
    "frames",
    "input_2d",
    "seed",
    "steps",
    "action",
    "frames_scored",
    "mpjpe",
    "p_mpjpe",
    "n_mpjpe",
    "mpjve",
    "pck",
    "auc",
)
ROBUSTNESS_COLUMNS = ("run", "variant", "seed", "corruption", "level", "mpjpe", "p_mpjpe")
STEPS_COLUMNS = ("run", "variant", "pde", "steps", "mpjpe", "p_mpjpe", "seconds_per_clip")
AVERAGE = "Average"


@dataclass
class TrainedRun:
    run: RunSpec
    model: torch.nn.Module  # ready to sample: bf16 copy and / or compiled when evaluate.* asks
    scale: float
    device: torch.device
    autocast: str = "fp32"  # precision of the autocast around the model's calls


def load_trained(
    params: Params, run_id: str, runs_root: str | Path = "runs", kind: str = "train"
) -> TrainedRun:
    run = find_run(params, run_id, kind)
    path = run_dir(runs_root, run.id) / MODEL
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `diff3dhpe train --run {run.id}` first (or `dvc repro`)")
    model, state = load_model(path)
    if state.get("variant") not in (None, run.variant):
        raise ConfigError(f"{path} holds a {state['variant']!r} model, but run {run.id} is {run.variant!r}")
    device = select_device(params.train.device)
    if device.type == "cpu":
        configure_cpu(params.train.cpu_threads)
    model, precision = _sampling_model(model.to(device).eval(), params.evaluate, device, run.id)
    return TrainedRun(run, model, float(state["scale"]), device, precision)


def _sampling_model(
    model: torch.nn.Module, cfg: EvaluateParams, device: torch.device, run_id: str
) -> tuple[torch.nn.Module, str]:
    """The model as evaluate.{spatial_attention, precision, compile} ask, built once per loaded run
    (robustness and S sweeps then reuse one compiled graph), and the autocast precision to call it under."""
    set_attention_backend(model, cfg.spatial_attention, spatial_only=True)  # a kernel choice: same numbers
    if device.type != "cuda":
        if cfg.precision != "fp32":
            log.info("%s: evaluate.precision %s applies on CUDA only; sampling in fp32 on %s", run_id,
                     cfg.precision, device)
        if cfg.compile:
            log.info("%s: evaluate.compile applies on CUDA only; sampling eagerly on %s", run_id, device)
        return model, "fp32"
    precision = cfg.precision
    if precision == "bf16-weights":  # the model itself is bf16: no autocast around it
        model, precision = LowPrecisionInference(model), "fp32"
    if cfg.compile:
        set_input_checks(model, False)  # the loaded data was validated; scans would break the graph
        model = compile_model(model)
    return model, precision


@torch.no_grad()
def predict_sequences(
    params: Params, trained: TrainedRun, sequences: list[PoseSequence], layout: JointLayout, steps: int | None
) -> tuple[list[np.ndarray], float]:
    """Per-sequence predictions (N, J, 3) in mm and the seconds spent per clip (flip included)."""
    run, model, device = trained.run, trained.model, trained.device
    cfg = params.evaluate
    variant = VARIANTS[run.variant]
    diffusion = make_diffusion(params) if variant.diffusion else None
    index = clip_index(run, sequences)
    batches = ClipBatches(
        sequences,
        index,
        trained.scale,
        cfg.batch_size,
        shuffle=False,
        seed=0,
        flip_augment=False,
        layout=layout,
    )
    generator = torch.Generator(device=device).manual_seed(derive_seed(cfg.seed, "evaluate"))
    precision = trained.autocast
    graphed = cfg.cuda_graphs and variant.diffusion and cfg.hypotheses == 1
    if cfg.cuda_graphs and not graphed:
        log.info("%s: evaluate.cuda_graphs is used for one-hypothesis diffusion sampling only", run.id)
    samplers: dict[tuple, GraphedSampler] = {}

    def predict(x2d: torch.Tensor) -> torch.Tensor:
        if graphed:
            return _graphed_predict(samplers, diffusion, model, run, x2d, steps, generator, cfg.batch_size)
        return predict_normalised(model, run, diffusion, x2d, steps, generator, cfg.hypotheses, cfg.aggregate)

    outputs = []
    started = time.perf_counter()
    for batch in batches:
        x2d = batch["x2d"].to(device)  # (B, F, J, 2)
        with autocast(precision, device):
            pred = predict(x2d)
            if cfg.flip_test:
                flipped = predict(flip_keypoints(x2d, layout))
                pred = (pred + flip_keypoints(flipped, layout)) / 2
        outputs.append(pred.float().cpu())
    seconds_per_clip = (time.perf_counter() - started) / max(len(index), 1)
    predictions = torch.cat(outputs).numpy() * trained.scale  # (C, F', J, 3) mm
    return stitch(index, predictions, [len(s) for s in sequences]), seconds_per_clip


def _graphed_predict(
    samplers: dict,
    diffusion,
    model: torch.nn.Module,
    run: RunSpec,
    x2d: torch.Tensor,
    steps: int,
    generator: torch.Generator,
    batch_size: int,
) -> torch.Tensor:
    """``predict_normalised`` (one hypothesis) through a GraphedSampler of fixed batch ``batch_size``.

    Noise is drawn exactly as ``Diffusion.sample`` draws it for the real rows, so the result equals the
    eager sampler; on CUDA a short batch is padded by repeating its last clip (noise zeros) and cut back.
    """
    variant = VARIANTS[run.variant]
    pose_frames = 1 if variant.backbone == "poseformer" else x2d.shape[1]
    rows = x2d.shape[0]
    noise = torch.randn(
        (rows, pose_frames, *x2d.shape[2:3], 3), generator=generator, device=generator.device
    ).to(device=x2d.device, dtype=x2d.dtype)  # (B, F', J, 3), the draw of Diffusion.sample
    if rows < batch_size and x2d.device.type == "cuda":  # one graph per shape: pad rather than recapture
        pad = batch_size - rows
        x2d = torch.cat([x2d, x2d[-1:].expand(pad, *x2d.shape[1:])])
        noise = torch.cat([noise, noise.new_zeros(pad, *noise.shape[1:])])
    key = (tuple(x2d.shape), steps)
    if key not in samplers:
        samplers[key] = GraphedSampler(
            diffusion, model, tuple(x2d.shape), steps, pose_frames=pose_frames,
            predicts="x0" if variant.sampler == "x0-ddim" else "eps", device=x2d.device,
        )
    return samplers[key](x2d, noise)[:rows]


def score(dataset: str, sequences: list[PoseSequence], predictions: list[np.ndarray]) -> pd.DataFrame:
    """Rows action, frames_scored, mpjpe, p_mpjpe, n_mpjpe, mpjve, pck, auc; last row 'Average'."""
    if dataset == "h36m":
        records = [
            {"action": seq.action, **metrics.per_frame_errors(pred, seq.poses_3d)}
            for seq, pred in zip(sequences, predictions)
        ]
        table = metrics.per_action_table(records, ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"])
        table["pck"] = np.nan
        table["auc"] = np.nan
        return table
    rows, pooled_pck, pooled_auc = [], [], []
    for seq, pred in zip(sequences, predictions):
        valid = seq.valid.astype(bool)
        gt, est = seq.poses_3d[valid], pred[valid]
        errors = metrics.per_frame_errors(est, gt)
        # velocity error only between consecutive frames that are both valid
        velocity = metrics.mpjve_per_frame(pred, np.nan_to_num(seq.poses_3d))
        both = valid & np.concatenate([[False], valid[:-1]])
        pck = metrics.pck_per_frame(est, gt)
        auc = metrics.auc_per_frame(est, gt)
        pooled_pck.append(pck)
        pooled_auc.append(auc)
        rows.append(
            {
                "action": seq.action,
                "frames_scored": int(valid.sum()),
                "mpjpe": errors["mpjpe"].mean(),
                "p_mpjpe": errors["p_mpjpe"].mean(),
                "n_mpjpe": errors["n_mpjpe"].mean(),
                "mpjve": float(np.nanmean(velocity[both])) if both.any() else np.nan,
                "pck": pck.mean(),
                "auc": auc.mean(),
            }
        )
    table = pd.DataFrame(rows)
    average = {"action": AVERAGE, "frames_scored": int(table["frames_scored"].sum())}
    average.update({m: float(table[m].mean()) for m in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve")})
    average["pck"] = float(np.concatenate(pooled_pck).mean())
    average["auc"] = float(np.concatenate(pooled_auc).mean())
    return pd.concat([table, pd.DataFrame([average])], ignore_index=True)


def evaluate_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> tuple[pd.DataFrame, dict]:
    """metrics.csv rows of one run (per action + Average) and a summary dict (for runs/<ID>/evaluate.json)."""
    trained = load_trained(params, run_id, runs_root)
    run = trained.run
    dataset = load_run_dataset(params, run)
    steps = params.sampling_steps(run)
    predictions, seconds = predict_sequences(params, trained, dataset.test, dataset.layout, steps)
    table = score(run.dataset, dataset.test, predictions)
    ids = {
        "run": run.id,
        "dataset": run.dataset,
        "variant": run.variant,
        "frames": run.frames,
        "input_2d": run.input_2d,
        "seed": run.seed,
        "steps": steps if steps is not None else pd.NA,
    }
    for key, value in ids.items():
        table[key] = value
    table["steps"] = table["steps"].astype("Int64")
    table = table[list(METRICS_COLUMNS)]
    average = table[table["action"] == AVERAGE].iloc[0]
    summary = {
        "run": run.id,
        "mpjpe": float(average["mpjpe"]),
        "p_mpjpe": float(average["p_mpjpe"]),
        "seconds_per_clip": seconds,
        "steps": steps,
    }
    log.info(
        "%s: MPJPE %.2f mm, P-MPJPE %.2f mm, %.4f s per clip",
        run.id,
        summary["mpjpe"],
        summary["p_mpjpe"],
        seconds,
    )
    return table, summary


def _average(table: pd.DataFrame) -> pd.Series:
    return table[table["action"] == AVERAGE].iloc[0]


def robustness_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> pd.DataFrame:
    """MPJPE / P-MPJPE under each corruption level of sweeps.robustness (same draws for every model)."""
    sweep = params.sweeps.robustness
    trained = load_trained(params, run_id, runs_root, kind="robustness")
    run = trained.run
    dataset = load_run_dataset(params, run)
    steps = params.sampling_steps(run)
    rows = []
    for kind, levels in (("gaussian", sweep.gaussian), ("dropout", sweep.dropout)):
        for level in levels:
            rng = corruption_rng(sweep.corruption_seed, kind, float(level))
            corrupted = [
                replace(seq, keypoints_2d=corrupt(seq.keypoints_2d, kind, float(level), rng))
                for seq in dataset.test
            ]
            predictions, _ = predict_sequences(params, trained, corrupted, dataset.layout, steps)
            average = _average(score(run.dataset, corrupted, predictions))
            rows.append(
                {
                    "run": run.id,
                    "variant": run.variant,
                    "seed": run.seed,
                    "corruption": kind,
                    "level": float(level),
                    "mpjpe": average["mpjpe"],
                    "p_mpjpe": average["p_mpjpe"],
                }
            )
            log.info("%s: %s %.3g -> MPJPE %.2f mm", run.id, kind, level, average["mpjpe"])
    return pd.DataFrame(rows, columns=list(ROBUSTNESS_COLUMNS))


def steps_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> pd.DataFrame:
    """The same trained model evaluated at every S of sweeps.steps (no retraining), with timing."""
    trained = load_trained(params, run_id, runs_root, kind="steps")
    run = trained.run
    dataset = load_run_dataset(params, run)
    rows = []
    for steps in params.sweeps.steps.steps:
        if steps > params.diffusion.timesteps:
            raise ConfigError(
                f"sweeps.steps.steps: S={steps} exceeds diffusion.timesteps {params.diffusion.timesteps}"
            )
        predictions, seconds = predict_sequences(params, trained, dataset.test, dataset.layout, steps)
        average = _average(score(run.dataset, dataset.test, predictions))
        rows.append(
            {
                "run": run.id,
                "variant": run.variant,
                "pde": VARIANTS[run.variant].pde,
                "steps": steps,
                "mpjpe": average["mpjpe"],
                "p_mpjpe": average["p_mpjpe"],
                "seconds_per_clip": seconds,
            }
        )
        log.info("%s: S=%d -> MPJPE %.2f mm, %.4f s per clip", run.id, steps, average["mpjpe"], seconds)
    return pd.DataFrame(rows, columns=list(STEPS_COLUMNS))
