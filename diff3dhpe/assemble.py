"""From a run of the study to its parts: dataset, model, diffusion, and the lifting of 2D sequences.

Train, evaluate and predict all go through here, so a run is built one way only:

- ``load_dataset(params, dataset, input_2d)`` / ``load_run_dataset(params, run)``: the splits a run
  trains and is scored on (data.* of params.yaml; 'det' or 'gt' picks the 2D file).
- ``clip_index(run, sequences)``: seq2seq windows or one centred clip per frame (``Variant.seq2frame``).
- ``build_run_model(params, run)`` and ``make_diffusion(params)``: the network and the schedule.
- ``predict_normalised(model, variant, diffusion, x2d, steps, generator)``: one prediction of a batch
  of clips (regression: one forward pass; diffusion: DDIM from seeded noise), no flip.
- ``load_trained(params, run_id)`` and ``predict_sequences(params, trained, sequences, layout, steps)``:
  the trained model ready to sample, and whole sequences lifted in mm with flip test-time
  augmentation, stitched so that every frame is predicted exactly once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diff3dhpe.checkpoints import load_model
from diff3dhpe.config import H36M_2D_ROLE, EvaluateParams, Params, check_data_files
from diff3dhpe.data.augment import flip_keypoints
from diff3dhpe.data.clips import ClipBatches, ClipIndex, apply_valid, seq2frame_clips, seq2seq_clips, stitch
from diff3dhpe.data.dataset import PoseDataset, PoseSequence, load_3dhp, load_h36m
from diff3dhpe.data.skeleton import JointLayout
from diff3dhpe.diffusion import Diffusion
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
from diff3dhpe.models import build_model
from diff3dhpe.results import model_path
from diff3dhpe.utils import derive_seed, select_device
from diff3dhpe.variants import RunSpec, Variant

log = logging.getLogger("diff3dhpe.assemble")


# ---------------------------------------------------------------- data
def load_dataset(params: Params, dataset: str, input_2d: str) -> PoseDataset:
    """The train / validation / test splits of ``dataset`` ('h36m' | '3dhp') with 2D input 'det' | 'gt'.

    Reads the files of params data.*; H36M test sequences are limited to data.test_cameras when set.
    Raises ConfigError for a missing file (naming its params key) or 'det' on 3DHP (GT 2D only), and
    DataFormatError for a malformed file.
    """
    check_data_files(params, [dataset], [input_2d])
    data = params.data
    if dataset == "h36m":
        role = H36M_2D_ROLE[input_2d]
        loaded = load_h36m(
            data.file("h36m", "file_3d"),
            data.file("h36m", role),
            data.subjects.train,
            data.subjects.validation,
            data.subjects.test,
            max_frames=data.max_frames,
        )
        if data.test_cameras is not None:
            loaded.test = [seq for seq in loaded.test if seq.camera in data.test_cameras]
        return loaded
    if input_2d != "gt":
        raise ConfigError(f"3dhp has ground-truth 2D only (input_2d must be gt, got {input_2d!r})")
    return load_3dhp(
        data.file("3dhp", "train"),
        data.file("3dhp", "test"),
        data.mpi3dhp_validation,
        max_frames=data.max_frames,
    )


def load_run_dataset(params: Params, run: RunSpec) -> PoseDataset:
    """The dataset a run trains and is scored on."""
    return load_dataset(params, run.dataset, run.input_2d)


def clip_index(run: RunSpec, sequences: list[PoseSequence], valid_only: bool = False) -> ClipIndex:
    """Clips of F = run.frames frames: seq2seq windows, or one centred clip per frame for seq2frame
    variants. ``valid_only`` keeps the mask only on the sequences' valid frames (3DHP)."""
    lengths = [len(s) for s in sequences]
    make = seq2frame_clips if run.spec.seq2frame else seq2seq_clips
    index = make(lengths, run.frames)
    return apply_valid(index, [s.valid for s in sequences]) if valid_only else index


# ---------------------------------------------------------------- model and schedule
def build_run_model(params: Params, run: RunSpec) -> torch.nn.Module:
    """The untrained network of ``run``: its variant's backbone, objective and PDE switch, at the size
    params.model gives for that backbone (fp32, CPU, train mode)."""
    variant = run.spec
    size = getattr(params.model, variant.backbone)
    return build_model(
        variant.backbone,
        frames=run.frames,
        objective=variant.model_objective,
        dim=size.dim,
        depth=size.depth,
        heads=size.heads,
        mlp_ratio=size.mlp_ratio,
        drop_path=size.drop_path,
        time_embedding=True,
        pde=variant.pde,
    )


def make_diffusion(params: Params) -> Diffusion:
    """The schedule of params.diffusion (T, paper / release form, k_clip)."""
    d = params.diffusion
    return Diffusion(timesteps=d.timesteps, compat=d.compat, k_clip=d.k_clip)


# ---------------------------------------------------------------- prediction
@torch.no_grad()
def predict_normalised(
    model: torch.nn.Module,
    variant: Variant,
    diffusion: Diffusion | None,
    x2d: torch.Tensor,
    steps: int | None,
    generator: torch.Generator | None,
    hypotheses: int = 1,
    aggregate: str = "mean",
) -> torch.Tensor:
    """One prediction of a batch of clips, no flip: (B, F', J, 3) normalised (× scale = mm).

    x2d (B, F, J, 2) normalised screen coordinates. Regression variants: ``model(x2d)``. Diffusion
    variants: DDIM with ``steps`` S from noise drawn with ``generator`` (x0-DDIM, eq. 13, or standard
    DDIM for ε models), ``hypotheses`` H aggregated by ``aggregate`` (mean | median). F' = 1 for
    seq2frame variants, else F.
    """
    if not variant.diffusion:
        return model(x2d)
    output_frames = variant.output_frames(x2d.shape[1])
    if hypotheses > 1:
        agg, _, _ = diffusion.sample_hypotheses(
            model,
            x2d,
            steps,
            hypotheses,
            aggregate=aggregate,
            generator=generator,
            sampler=variant.predicts,
            output_frames=output_frames,
        )
        return agg
    sample = diffusion.sample if variant.predicts == "x0" else diffusion.sample_eps
    return sample(model, x2d, steps, output_frames=output_frames, generator=generator)


@dataclass
class TrainedRun:
    """A trained run ready to lift 2D: the sampling model (bf16 copy / compiled as evaluate.* asks),
    the normalisation scale (mm), the device and the autocast precision to call the model under."""

    run: RunSpec
    model: torch.nn.Module
    scale: float
    device: torch.device
    autocast: str = "fp32"


def load_trained(
    params: Params, run_id: str, runs_root: str | Path = "runs", kind: str = "train"
) -> TrainedRun:
    """runs/<ID>/model.pt of a run of ``kind`` (train | robustness | steps), ready to sample.

    Raises ConfigError when the run is not in params, model.pt is missing (saying which command makes
    it) or holds another variant.
    """
    run = params.find_run(run_id, kind)
    path = model_path(runs_root, run.id)
    if not path.is_file():
        raise ConfigError(f"{path} not found: run `diff3dhpe train --run {run.id}` first (or `dvc repro`)")
    model, state = load_model(path)
    if state.get("variant") not in (None, run.variant):
        raise ConfigError(f"{path} holds a {state['variant']!r} model, but run {run.id} is {run.variant!r}")
    device = select_device(params.train.device)
    if device.type == "cpu":
        configure_cpu(params.train.cpu_threads)
    model, precision = sampling_model(model.to(device).eval(), params.evaluate, device, run.id)
    return TrainedRun(run, model, float(state["scale"]), device, precision)


def sampling_model(
    model: torch.nn.Module, cfg: EvaluateParams, device: torch.device, name: str
) -> tuple[torch.nn.Module, str]:
    """The model as evaluate.{spatial_attention, precision, compile} ask, built once per loaded run
    (robustness and S sweeps then reuse one compiled graph), and the autocast precision to call it under.
    bf16 and compile apply on CUDA only; elsewhere the model stays fp32 and eager (logged)."""
    set_attention_backend(model, cfg.spatial_attention, spatial_only=True)  # a kernel choice: same numbers
    if device.type != "cuda":
        if cfg.precision != "fp32":
            log.info("%s: evaluate.precision %s applies on CUDA only; sampling in fp32 on %s", name,
                     cfg.precision, device)
        if cfg.compile:
            log.info("%s: evaluate.compile applies on CUDA only; sampling eagerly on %s", name, device)
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
    """Whole sequences lifted to 3D: per-sequence (N, J, 3) in mm, and the seconds spent per clip.

    Clips of the run's F frames in batches of evaluate.batch_size; with evaluate.flip_test the mirrored
    2D is predicted too, un-mirrored and averaged; noise is seeded from evaluate.seed; each frame is
    taken from exactly one clip (``stitch``). With evaluate.cuda_graphs, one-hypothesis diffusion
    sampling replays a CUDA graph per batch shape (same numbers as eager).
    """
    run, model, device = trained.run, trained.model, trained.device
    variant = run.spec
    cfg = params.evaluate
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
    graphed = cfg.cuda_graphs and variant.diffusion and cfg.hypotheses == 1
    if cfg.cuda_graphs and not graphed:
        log.info("%s: evaluate.cuda_graphs is used for one-hypothesis diffusion sampling only", run.id)
    samplers: dict[tuple, GraphedSampler] = {}

    def predict(x2d: torch.Tensor) -> torch.Tensor:
        if graphed:
            return _graphed_predict(samplers, diffusion, model, variant, x2d, steps, generator,
                                    cfg.batch_size)
        return predict_normalised(model, variant, diffusion, x2d, steps, generator, cfg.hypotheses,
                                  cfg.aggregate)

    outputs = []
    started = time.perf_counter()
    for batch in batches:
        x2d = batch["x2d"].to(device)  # (B, F, J, 2)
        with autocast(trained.autocast, device):
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
    diffusion: Diffusion,
    model: torch.nn.Module,
    variant: Variant,
    x2d: torch.Tensor,
    steps: int,
    generator: torch.Generator,
    batch_size: int,
) -> torch.Tensor:
    """``predict_normalised`` (one hypothesis) through a GraphedSampler of fixed batch ``batch_size``.

    Noise is drawn exactly as ``Diffusion.sample`` draws it for the real rows, so the result equals the
    eager sampler; on CUDA a short batch is padded by repeating its last clip (noise zeros) and cut back.
    """
    pose_frames = variant.output_frames(x2d.shape[1])
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
            predicts=variant.predicts, device=x2d.device,
        )
    return samplers[key](x2d, noise)[:rows]
