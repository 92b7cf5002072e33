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
- ``trained_from_checkpoint(params, file, ...)``: the same ``TrainedRun`` from any checkpoint file (an
  official release or our own ``model.pt`` / ``checkpoint.pt``), with the normalisation it must be
  decoded with (``release_scale``: the release's constant from the data files; ``resolve_scale``);
  ``checkpoint_run_spec`` says which setting it is evaluated in, ``limit_test_sequences`` picks a
  quick-look subset.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from diff3dhpe.checkpoints import LoadedCheckpoint, load_lifter, load_model
from diff3dhpe.config import H36M_2D_ROLE, EvaluateParams, Params, check_data_files
from diff3dhpe.data.augment import flip_keypoints
from diff3dhpe.data.clips import ClipBatches, ClipIndex, apply_valid, seq2frame_clips, seq2seq_clips, stitch
from diff3dhpe.data.dataset import PoseDataset, PoseSequence, load_3dhp, load_h36m
from diff3dhpe.data.normalisation import (
    RELEASE_SCALE_UNIT,
    release_scale_3dhp,
    release_scale_h36m,
    release_scale_mm,
)
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
from diff3dhpe.results import MODEL_PROVENANCE_FILE, model_path
from diff3dhpe.utils import derive_seed, select_device
from diff3dhpe.variants import DATASETS, INPUTS_2D, RunSpec, Variant, parse_run_id

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


DIFFUSION_SETTINGS = ("timesteps", "compat", "k_clip")  # what a checkpoint stores to sample as trained


def diffusion_settings(params: Params) -> dict:
    """{timesteps, compat, k_clip} of params.diffusion: the schedule a model is trained and sampled with."""
    return params.diffusion.model_dump(mode="json", include=set(DIFFUSION_SETTINGS))


def make_diffusion(params: Params, settings: dict | None = None) -> Diffusion:
    """The schedule of ``settings`` (a checkpoint's stored {timesteps, compat, k_clip}) or else of
    params.diffusion (T, paper / release form, k_clip)."""
    return Diffusion(**(settings or diffusion_settings(params)))


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
    with_spread: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """One prediction of a batch of clips, no flip: (B, F', J, 3) normalised (× scale = mm).

    x2d (B, F, J, 2) normalised screen coordinates. Regression variants: ``model(x2d)``. Diffusion
    variants: DDIM with ``steps`` S from noise drawn with ``generator`` (x0-DDIM, eq. 13, or standard
    DDIM for ε models), ``hypotheses`` H aggregated by ``aggregate`` (mean | median). F' = 1 for
    seq2frame variants, else F. ``with_spread`` also returns the per-joint spread (B, F', J)
    (``Diffusion.sample_hypotheses``: mean distance of the H hypotheses to the aggregate; zeros for
    one hypothesis or a regression model).
    """
    if not variant.diffusion:
        pred = model(x2d)
        return (pred, pred.new_zeros(pred.shape[:-1])) if with_spread else pred
    output_frames = variant.output_frames(x2d.shape[1])
    if hypotheses > 1:
        agg, _, spread = diffusion.sample_hypotheses(
            model,
            x2d,
            steps,
            hypotheses,
            aggregate=aggregate,
            generator=generator,
            sampler=variant.predicts,
            output_frames=output_frames,
        )
        return (agg, spread) if with_spread else agg
    sample = diffusion.sample if variant.predicts == "x0" else diffusion.sample_eps
    pred = sample(model, x2d, steps, output_frames=output_frames, generator=generator)
    return (pred, pred.new_zeros(pred.shape[:-1])) if with_spread else pred


@dataclass
class TrainedRun:
    """A trained run ready to lift 2D: the sampling model (bf16 copy / compiled as evaluate.* asks),
    the normalisation scale (mm), the device and the autocast precision to call the model under.

    ``diffusion``: the schedule to sample with; None = params.diffusion (our runs). Official files
    carry their own (T = 1000, the release's update form; see ``trained_from_checkpoint``).
    ``checkpoint`` / ``normalisation``: for a model read from a file, what the file is and how
    ``scale`` was chosen (e.g. "release: s = 1.0207 m from data/data_3d_h36m.npz").
    """

    run: RunSpec
    model: torch.nn.Module
    scale: float
    device: torch.device
    autocast: str = "fp32"
    diffusion: Diffusion | None = None
    checkpoint: LoadedCheckpoint | None = None
    normalisation: str = "ours"


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
    model, device, precision = _on_device(params, model, run.id)
    scale = float(state["scale"])
    return TrainedRun(run, model, scale, device, precision,
                      normalisation=f"the scale stored in {path} ({scale:.6g} mm)")


def _on_device(
    params: Params, model: torch.nn.Module, name: str
) -> tuple[torch.nn.Module, torch.device, str]:
    """The model on train.device (CUDA when present for 'auto'; CPU threads from train.cpu_threads),
    prepared by ``sampling_model``: (model, device, autocast precision)."""
    device = select_device(params.train.device)
    if device.type == "cpu":
        configure_cpu(params.train.cpu_threads)
    model, precision = sampling_model(model.to(device).eval(), params.evaluate, device, name)
    return model, device, precision


# ---------------------------------------------------------------- models from checkpoint files
@dataclass(frozen=True)
class ReleaseScale:
    """The release's normalisation constant of one dataset (METHOD.md §8a).

    ``value`` in the release's own ``unit`` ('m' for Human3.6M, 'mm' for MPI-INF-3DHP), ``mm`` the
    decode factor (a normalised prediction × mm = millimetres) and the data ``files`` it was read from.
    """

    dataset: str
    value: float
    unit: str
    mm: float
    files: tuple[Path, ...]

    def __str__(self) -> str:
        return (f"release: s = {self.value:.6g} {self.unit} from {', '.join(map(str, self.files))} "
                f"(decode factor {self.mm:.6g} mm)")


def release_scale(params: Params, dataset: str) -> ReleaseScale:
    """The constant official weights must be decoded with, from the data files of params data.*.

    Human3.6M: ``release_scale_h36m`` of the 3D file (all subjects, 32 joints, 4 cameras; metres);
    MPI-INF-3DHP: ``release_scale_3dhp`` of the train and test files (mm). Works for data.source
    synthetic, files and raw alike (the files in data.dir). Source: METHOD.md §8a.

    Raises ConfigError: unknown dataset, or a missing file (naming its params key);
    DataFormatError: a malformed file.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    check_data_files(params, [dataset], inputs_2d=[])  # the 3D files only
    data = params.data
    if dataset == "h36m":
        files = (data.file("h36m", "file_3d"),)
        value = release_scale_h36m(files[0])
    else:
        files = (data.file("3dhp", "train"), data.file("3dhp", "test"))
        value = release_scale_3dhp(*files)
    return ReleaseScale(dataset, value, RELEASE_SCALE_UNIT[dataset], release_scale_mm(dataset, value), files)


NORMALISATIONS = ("release", "ours")  # or a number in mm; the default depends on the file


def resolve_scale(
    params: Params, checkpoint: LoadedCheckpoint, run: RunSpec, normalisation: str | float | None = None,
    data: PoseDataset | None = None,
) -> tuple[float, str]:
    """The scale (mm) that decodes ``checkpoint``'s normalised output in the setting ``run``, and how it
    was chosen (a line for logs and tables).

    ``normalisation``: None = the default for the file (official: 'release'; ours: the file's own
    ``scale``); 'release' = ``release_scale`` (METHOD.md §8a); 'ours' = ``PoseDataset.scale()`` (the
    training subjects of params, 17 joints; ``data`` is loaded when not given); a positive number
    (or its string) = that many mm.

    Raises ConfigError: any other value (names the flag and the allowed values).
    """
    choice = _parse_normalisation(normalisation)
    if choice is None and checkpoint.origin == "ours":
        scale = float(checkpoint.scale)
        return scale, f"checkpoint: the scale stored in {checkpoint.path.name} ({scale:.6g} mm)"
    if choice is None or choice == "release":
        found = release_scale(params, run.dataset)
        return found.mm, str(found)
    if choice == "ours":
        data = data if data is not None else load_dataset(params, run.dataset, run.input_2d)
        scale = data.scale()
        return scale, f"ours: max |coordinate| over the training subjects of params ({scale:.6g} mm)"
    return float(choice), f"given: {float(choice):.6g} mm"


def _parse_normalisation(value: str | float | None) -> str | float | None:
    if value is None or value in NORMALISATIONS:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number <= 0:
        raise ConfigError(
            f"--normalisation must be 'release', 'ours' or a positive number of millimetres; got {value!r}"
        )
    return number


def checkpoint_run_spec(checkpoint: LoadedCheckpoint, dataset: str | None = None,
                        input_2d: str | None = None) -> RunSpec:
    """The setting a checkpoint is evaluated in: dataset, 2D input, its F, its variant, a seed.

    Our files know their run: ``dataset`` must then match it (H36M and 3DHP order the joints
    differently) and default to it, as does ``input_2d`` (another input may be asked for). Official
    files know neither: ``dataset`` is required, ``input_2d`` defaults to 'det' on Human3.6M (the
    paper's Table 1) and 'gt' on MPI-INF-3DHP (the only one there); seed 0 stands in for the unknown.

    Raises ConfigError: a missing, unknown or mismatched dataset, an unknown 2D input, or 'det' on 3DHP.
    """
    trained = parse_run_id(checkpoint.run) if checkpoint.run else None
    if trained is not None and dataset not in (None, trained.dataset):
        raise ConfigError(
            f"checkpoint {checkpoint.path} was trained on {trained.dataset} (run {trained.id}), not "
            f"{dataset}: the two datasets order the joints differently; drop --dataset or pass "
            f"--dataset {trained.dataset}"
        )
    dataset = dataset or (trained.dataset if trained else None)
    if dataset is None:
        what = (f"an official {checkpoint.layout} file" if checkpoint.origin == "official"
                else "a file without its run id")
        raise ConfigError(
            f"checkpoint {checkpoint.path} is {what}, which does not say which dataset it was trained on: "
            f"pass --dataset h36m or --dataset 3dhp"
        )
    if dataset not in DATASETS:
        raise ConfigError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    input_2d = input_2d or (trained.input_2d if trained else ("det" if dataset == "h36m" else "gt"))
    if input_2d not in INPUTS_2D:
        raise ConfigError(f"--input-2d must be one of {', '.join(INPUTS_2D)}, got {input_2d!r}")
    if dataset == "3dhp" and input_2d != "gt":
        raise ConfigError(f"3dhp has ground-truth 2D only: pass --input-2d gt (got {input_2d!r})")
    return RunSpec(dataset, input_2d, checkpoint.frames, checkpoint.variant, trained.seed if trained else 0)


def trained_from_checkpoint(
    params: Params,
    checkpoint: str | Path | LoadedCheckpoint,
    *,
    dataset: str | None = None,
    input_2d: str | None = None,
    normalisation: str | float | None = None,
    compat: str | None = None,
    data: PoseDataset | None = None,
) -> TrainedRun:
    """Any checkpoint file (official release or ours, see ``load_lifter``) ready to lift 2D.

    The setting comes from ``checkpoint_run_spec(checkpoint, dataset, input_2d)``; the scale from
    ``resolve_scale(params, ..., normalisation, data)`` (official files: the release constant of
    params' data files by default). Diffusion variants sample with: official files, T = the length of
    the file's schedule buffer (else 1000) and the release's update form (``compat`` 'release',
    METHOD.md §3, so the weights run as their authors ran them); our files, the settings stored in
    them (older files: params.diffusion); ``compat`` ('paper' | 'release') overrides the form.
    Device, threads and the fast paths as ``load_trained``.

    Raises CheckpointError (unreadable, unsafe or unrecognised file) and ConfigError (setting,
    normalisation or compat); a release schedule that is not the cosine one is logged as a warning.
    """
    loaded = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else load_lifter(checkpoint)
    run = checkpoint_run_spec(loaded, dataset, input_2d)
    scale, how = resolve_scale(params, loaded, run, normalisation, data)
    diffusion = _checkpoint_diffusion(params, loaded, compat) if run.spec.diffusion else None
    model, device, precision = _on_device(params, loaded.model, loaded.path.name)
    return TrainedRun(run, model, scale, device, precision, diffusion=diffusion, checkpoint=loaded,
                      normalisation=how)


def checkpoint_steps(
    params: Params, checkpoint: LoadedCheckpoint, run: RunSpec, steps: int | None = None
) -> tuple[int | None, str]:
    """(S, where it came from) for sampling ``checkpoint`` in the setting ``run``; (None, '') for
    regression models. In order: ``steps`` as given; the S stored beside the file (a packaged model's
    ``provenance.json``); params diffusion.steps / ddim_steps
    for that setting; the paper's (``Params.steps_or_paper``).

    Raises ConfigError: ``steps`` for a regression model, or not a positive integer; a setting whose
    F has no known S.
    """
    if not run.spec.diffusion:
        if steps is not None:
            raise ConfigError(f"--steps {steps}: a {run.variant} model is a regression model, it has no "
                              f"sampler (drop --steps)")
        return None, ""
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"--steps must be a positive integer, got {steps!r}")
        return steps, "--steps"
    sidecar = checkpoint.path.with_name(MODEL_PROVENANCE_FILE)
    try:
        stored = json.loads(sidecar.read_text()).get("steps") if sidecar.is_file() else None
    except (json.JSONDecodeError, AttributeError, OSError):
        stored = None
    if isinstance(stored, int) and not isinstance(stored, bool) and stored > 0:
        return stored, f"{sidecar.name} beside {checkpoint.path.name}"
    return params.steps_or_paper(run)


def _checkpoint_diffusion(params: Params, loaded: LoadedCheckpoint, compat: str | None) -> Diffusion:
    d = params.diffusion
    if loaded.origin == "ours":  # as trained: the file's settings (older files: params.diffusion)
        settings = dict(loaded.diffusion or diffusion_settings(params))
        return Diffusion(**{**settings, "compat": compat or settings["compat"]})
    found = loaded.alphas_cumprod
    diffusion = Diffusion(compat=compat or "release", k_clip=d.k_clip,
                          **({"timesteps": int(found.numel())} if found is not None else {}))
    if found is not None:
        deviation = float((diffusion.alphas_cumprod.double() - found).abs().max())
        if deviation > 1e-5:
            log.warning("%s: the file's noise schedule (alphas_cumprod) differs from the cosine schedule "
                        "by up to %.3g; sampling with the cosine schedule (METHOD.md §1)", loaded.path,
                        deviation)
    return diffusion


def limit_test_sequences(
    sequences: list[PoseSequence], subjects: list[str] | None = None, max_frames: int | None = None
) -> list[PoseSequence]:
    """A quick-look subset of test sequences, in their order.

    ``subjects``: keep these subjects only (Human3.6M 'S9', 'S11'; MPI-INF-3DHP 'TS1'..'TS6').
    ``max_frames``: keep the first ``max_frames`` scored (valid) frames in all: whole sequences
    in order, the last one cut right after its last kept valid frame.

    Raises ConfigError: a subject that is not among the test sequences (listing those that are),
    ``max_frames`` < 1, or nothing left to score.
    """
    if subjects:
        present = list(dict.fromkeys(seq.subject for seq in sequences))
        unknown = [s for s in subjects if s not in present]
        if unknown:
            raise ConfigError(
                f"--subjects {' '.join(unknown)}: not among the test subjects of params "
                f"(data.subjects.test / the 3DHP test file): {' '.join(present)}"
            )
        sequences = [seq for seq in sequences if seq.subject in subjects]
    if max_frames is not None:
        if max_frames < 1:
            raise ConfigError(f"--max-frames must be a positive number of frames, got {max_frames}")
        kept, left = [], max_frames
        for seq in sequences:
            if left == 0:
                break
            scored = np.flatnonzero(seq.valid)
            if not scored.size:
                continue
            if scored.size > left:
                end = int(scored[left - 1]) + 1
                seq = replace(seq, keypoints_2d=seq.keypoints_2d[:end], poses_3d=seq.poses_3d[:end],
                              valid=seq.valid[:end])
            kept.append(seq)
            left -= min(left, scored.size)
        sequences = kept
    if not any(seq.valid.any() for seq in sequences):
        raise ConfigError(
            "no test frame left to score (check --subjects / --max-frames and data.subjects.test)"
        )
    return sequences


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


@dataclass
class Lifted:
    """Whole sequences lifted to 3D: per sequence ``poses`` (N, J, 3) mm and ``spread`` (N, J) mm (the
    per-joint spread over hypotheses, 0 with one hypothesis), and the seconds spent per clip."""

    poses: list[np.ndarray]
    spread: list[np.ndarray]
    seconds_per_clip: float


@torch.no_grad()
def lift_sequences(
    params: Params,
    trained: TrainedRun,
    sequences: list[PoseSequence],
    layout: JointLayout,
    steps: int | None,
    progress: bool = False,
) -> Lifted:
    """Whole sequences lifted to 3D (mm), with the per-joint spread over hypotheses (mm).

    Clips of the run's F frames in batches of evaluate.batch_size; with evaluate.flip_test the mirrored
    2D is predicted too, un-mirrored and averaged (the spreads likewise); noise is seeded from
    evaluate.seed; each frame is taken from exactly one clip (``stitch``), so any length works (clips
    of short sequences are edge-padded). With evaluate.cuda_graphs, one-hypothesis diffusion sampling
    replays a CUDA graph per batch shape (same numbers as eager). Diffusion samples with
    ``trained.diffusion``, or params.diffusion when that is None. ``progress``: a tqdm bar over the
    batches (shown on a terminal only).
    """
    run, model, device = trained.run, trained.model, trained.device
    variant = run.spec
    cfg = params.evaluate
    diffusion = (trained.diffusion or make_diffusion(params)) if variant.diffusion else None
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

    def predict(x2d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if graphed:
            pred = _graphed_predict(samplers, diffusion, model, variant, x2d, steps, generator,
                                    cfg.batch_size)
            return pred, pred.new_zeros(pred.shape[:-1])
        return predict_normalised(model, variant, diffusion, x2d, steps, generator, cfg.hypotheses,
                                  cfg.aggregate, with_spread=True)

    outputs, spreads = [], []
    started = time.perf_counter()
    bar = tqdm(batches, total=len(batches), desc=f"lifting {len(index)} clips", unit="batch", leave=False,
               disable=None if progress else True)
    for batch in bar:
        x2d = batch["x2d"].to(device)  # (B, F, J, 2)
        with autocast(trained.autocast, device):
            pred, spread = predict(x2d)
            if cfg.flip_test:
                flipped, flipped_spread = predict(flip_keypoints(x2d, layout))
                pred = (pred + flip_keypoints(flipped, layout)) / 2
                spread = (spread + flipped_spread[..., list(layout.flip_permutation)]) / 2  # un-mirror joints
        outputs.append(pred.float().cpu())
        spreads.append(spread.float().cpu())
    seconds_per_clip = (time.perf_counter() - started) / max(len(index), 1)
    lengths = [len(s) for s in sequences]
    predictions = torch.cat(outputs).numpy() * trained.scale  # (C, F', J, 3) mm
    spread_mm = torch.cat(spreads).numpy()[..., None] * trained.scale  # (C, F', J, 1) mm
    return Lifted(stitch(index, predictions, lengths), [s[..., 0] for s in stitch(index, spread_mm, lengths)],
                  seconds_per_clip)


def predict_sequences(
    params: Params,
    trained: TrainedRun,
    sequences: list[PoseSequence],
    layout: JointLayout,
    steps: int | None,
    progress: bool = False,
) -> tuple[list[np.ndarray], float]:
    """Whole sequences lifted to 3D: per-sequence (N, J, 3) in mm, and the seconds spent per clip
    (``lift_sequences`` without the spread)."""
    lifted = lift_sequences(params, trained, sequences, layout, steps, progress)
    return lifted.poses, lifted.seconds_per_clip


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
