"""Training loop for every variant: regression (L2), x0-diffusion and ε-diffusion (METHOD.md §2, §7).

Reproducibility: every epoch's randomness (clip order, diffusion t and noise, stochastic depth) is
drawn from generators seeded by (seed, epoch), so a run resumed from runs/<ID>/checkpoint.pt
repeats an uninterrupted one exactly. The checkpoint is written atomically after every epoch.
Validation uses held-out TRAINING subjects (data.subjects.validation), never the test set.

Fast paths (params train.*): ``precision: bf16`` autocasts forward + loss on CUDA (backward and the
optimiser stay fp32); ``compile`` and ``grad_checkpointing`` change speed and memory, not results.
Under ``torchrun --nproc_per_node=N`` (WORLD_SIZE > 1) every rank takes its shard of the same global
batch (diff3dhpe.distributed), so the averaged gradient is the one-process full-batch gradient;
rank 0 alone validates and writes checkpoint.pt, model.pt and the dvclive curves.
Many runs at once (``train_runs``, `diff3dhpe train --all`): one run per worker process
(diff3dhpe.parallel); a run's outputs do not depend on the worker count.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from diff3dhpe.assemble import (
    build_run_model,
    clip_index,
    diffusion_settings,
    load_run_dataset,
    make_diffusion,
    predict_normalised,
)
from diff3dhpe.atomic import remove_stale_temp_files
from diff3dhpe.checkpoints import load_checkpoint, save_checkpoint
from diff3dhpe.config import Params
from diff3dhpe.data.clips import ClipBatches, evenly_spaced
from diff3dhpe.diffusion import Diffusion, masked_mean, regression_error
from diff3dhpe.distributed import (
    DistInfo,
    ShardedBatches,
    global_sum,
    init_distributed,
    rank_seed,
    sharded_draws,
    sharded_mean,
    teardown,
    wrap_ddp,
)
from diff3dhpe.errors import CheckpointError, ConfigError
from diff3dhpe.fastpaths import adamw, autocast, compile_model, configure_cpu, set_grad_checkpointing
from diff3dhpe.parallel import map_tasks
from diff3dhpe.results import CHECKPOINT_FILE, MODEL_FILE, run_dir, training_curves_dir
from diff3dhpe.utils import derive_seed, select_device
from diff3dhpe.variants import RunSpec

log = logging.getLogger("diff3dhpe.train")

VALIDATION_STEPS = 2  # x0-DDIM steps for the per-epoch validation of diffusion models (speed)
VALIDATION_DDIM_STEPS = 10  # DDIM-M needs more steps to give a meaningful number
# Seconds to sleep after each epoch's checkpoint: lets tests kill a training process between epochs.
SLEEP_AFTER_EPOCH_ENV = "DIFF3DHPE_SLEEP_AFTER_EPOCH"


def training_loss(
    model: torch.nn.Module,
    run: RunSpec,
    diffusion: Diffusion | None,
    batch: dict,
    generator: torch.Generator,
    info: DistInfo,
) -> torch.Tensor:
    """The loss of one batch for the run's objective, a scalar with gradients (METHOD.md §2, §7).

    regression: (model(x2d) − y0)²; x0: w_t·(f(x, y_t, t) − y0)²; eps: (f(x, y_t, t) − ε)²; each
    averaged over the frames with ``batch["mask"]`` (B, F') True. x2d (B, F, J, 2), y3d (B, F', J, 3).
    t and noise are drawn from ``generator`` for the global batch of ``batch["global_rows"]`` clips
    (the batch itself with one process) and this rank keeps its rows. With several ranks the loss is
    this rank's share of the global mean (``distributed.sharded_mean``), so DDP's gradient average is
    the one-process gradient. Raises ShapeError for malformed batches.
    """
    predicts = run.spec.predicts
    x2d, y3d, mask = batch["x2d"], batch["y3d"], batch["mask"]
    if predicts is None:  # regression
        err = regression_error(model(x2d), y3d)  # (B, F', J, 3)
    else:
        global_shape = (int(batch.get("global_rows", len(y3d))), *y3d.shape[1:])
        t, noise = sharded_draws(diffusion, global_shape, generator, info.rank, info.world_size)
        err = diffusion.training_error(model, x2d, y3d, predicts, t=t, noise=noise)
    if info.world_size > 1:
        return sharded_mean(err, mask, info.world_size)
    return masked_mean(err, mask)


@torch.no_grad()
def validation_mpjpe(
    model: torch.nn.Module,
    run: RunSpec,
    diffusion: Diffusion | None,
    batches: ClipBatches,
    scale: float,
    device: torch.device,
    seed: int,
) -> float:
    """MPJPE (mm) on the capped validation clips; diffusion models sample with few steps, fixed noise."""
    model.eval()
    variant = run.spec
    steps = None
    if variant.diffusion:
        steps = VALIDATION_DDIM_STEPS if variant.predicts == "eps" else VALIDATION_STEPS
        steps = min(steps, diffusion.num_timesteps)
    generator = torch.Generator(device=device).manual_seed(derive_seed(seed, "validation"))
    total, count = 0.0, 0
    for batch in batches:
        x2d, y3d, mask = (batch[k].to(device) for k in ("x2d", "y3d", "mask"))
        pred = predict_normalised(model, variant, diffusion, x2d, steps, generator)
        err = torch.linalg.vector_norm(pred - y3d, dim=-1).mean(dim=-1) * scale  # (B, F') mm
        total += float(err[mask].sum())
        count += int(mask.sum())
    model.train()
    return total / max(count, 1)


@dataclass
class TrainResult:
    run: str
    epochs: int
    history: list[dict]
    model_path: Path
    resumed_from: int  # epochs already done when this call started (0 = fresh)


def _rng_state() -> dict:
    return {"torch": torch.get_rng_state()}


# The training code, as the train stages of dvc.yaml list it: when it changes, dvc reruns the stage
# and a finished checkpoint of the old code must not be "resumed" as if it were the new result.
TRAINING_CODE = ("train.py", "assemble.py", "variants.py", "diffusion.py", "models", "data")


def training_code_digest() -> str:
    """Hash of the package's training source files (``TRAINING_CODE``), path and bytes."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for entry in TRAINING_CODE:
        path = root / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def run_digest_with_code(params: Params, run: RunSpec) -> str:
    """What a checkpoint must match to be resumed: the run's settings and the training code."""
    return f"{params.run_digest(run)}-{training_code_digest()}"


def train_run(
    params: Params,
    run_id: str,
    runs_root: str | Path = "runs",
    progress: bool | None = None,
    stop_after_epochs: int | None = None,
    results_root: str | Path | None = None,
) -> TrainResult:
    """Train (or resume) one run of the experiment matrix.

    Writes runs/<ID>/checkpoint.pt (every epoch), runs/<ID>/model.pt (when training is done) and, when
    ``results_root`` is given (the CLI gives results/), the curves in <results_root>/training/<ID>/
    (dvclive); the history is in the checkpoint and ``TrainResult.history`` either way. A run whose
    checkpoint matches its settings and the training code resumes; a finished one keeps its model.pt
    byte for byte (nothing is retrained).
    ``stop_after_epochs`` ends this call after that many epochs *of this call* (an interruption, for
    tests); the next call resumes from the checkpoint.
    Raises ConfigError (unknown run, bad settings), DataFormatError (data files), FloatingPointError
    (non-finite loss).
    """
    run = params.find_run(run_id, "train")
    out_dir = run_dir(runs_root, run.id)
    cfg = params.train
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        info = init_distributed(device=cfg.device)  # cuda:LOCAL_RANK (nccl) or cpu (gloo)
        device = info.device
    else:
        device = select_device(cfg.device)
        info = DistInfo(0, 1, 0, device)
    if device.type == "cpu":
        configure_cpu(cfg.cpu_threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        curves = None if results_root is None else training_curves_dir(results_root, run.id)
        return _train(params, run, out_dir, curves, info, progress, stop_after_epochs)
    except BaseException:
        if created and info.is_main:
            _remove_if_no_files(out_dir)  # a run that failed before writing anything leaves no trace
        raise
    finally:
        if distributed:
            teardown()


def _train_task(task: tuple[Params, str, str, str]) -> TrainResult:
    params, run_id, runs_root, results_root = task
    return train_run(params, run_id, runs_root, progress=False, results_root=results_root)


def training_order(runs: list[RunSpec]) -> list[RunSpec]:
    """Longest runs first (more frames, then diffusion before regression), so that the last runs
    to start are short ones and no worker idles long at the end of a parallel stage."""
    return sorted(runs, key=lambda r: (-r.frames, not r.spec.diffusion, r.variant, r.seed))


def train_runs(
    params: Params,
    run_ids: list[str] | None = None,
    runs_root: str | Path = "runs",
    results_root: str | Path = "results",
    jobs: int | None = None,
) -> list[TrainResult]:
    """Train ``run_ids`` (default: every train run of params) on ``jobs`` worker processes (0/None: every
    core), each exactly as ``train_run`` alone would. Results come back in the order given.

    Raises ConfigError for an unknown run id (before any training); TaskFailures after all runs have
    ended when some failed, naming each (the others' outputs are written).
    """
    runs = [params.find_run(run_id, "train") for run_id in run_ids] if run_ids else params.train_runs()
    order = training_order(runs)
    done = map_tasks(_train_task, [(params, r.id, str(runs_root), str(results_root)) for r in order],
                     jobs, desc="train", name=lambda task: task[1])
    by_id = {result.run: result for result in done}
    return [by_id[r.id] for r in runs]


def _finished_model(model_path: Path, digest: str) -> bool:
    """True when ``model_path`` is a readable model file written for ``digest`` (settings + code)."""
    if not model_path.is_file():
        return False
    try:
        return load_checkpoint(model_path).get("params_digest") == digest
    except CheckpointError:
        return False


def _remove_if_no_files(folder: Path) -> None:
    """Delete ``folder`` when it holds no file at any depth (only empty subfolders), else keep it."""
    if folder.is_dir() and not any(path.is_file() for path in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)


def _train(
    params: Params,
    run: RunSpec,
    out_dir: Path,
    curves_dir: Path | None,
    info: DistInfo,
    progress: bool | None,
    stop_after_epochs: int | None,
) -> TrainResult:
    variant = run.spec
    cfg = params.train
    device = info.device

    dataset = load_run_dataset(params, run)
    if not dataset.validation:
        if cfg.selection == "best_validation":
            raise ConfigError(
                f"run {run.id}: train.selection is best_validation but there are no validation sequences; "
                f"set data.subjects.validation (H36M) or data.mpi3dhp_validation (3DHP) to held-out "
                f"training subjects, or use train.selection: last"
            )
        log.info("%s: no validation subjects: training on every training subject, no per-epoch "
                 "validation, the last epoch's weights are kept (the paper's protocol)", run.id)
    scale = dataset.scale()
    batch_size = cfg.batch_size_for(run.frames)
    train_batches = ClipBatches(
        dataset.train,
        clip_index(run, dataset.train),
        scale,
        batch_size,
        shuffle=True,
        seed=run.seed,
        flip_augment=cfg.flip_augment,
        layout=dataset.layout,
    )
    val_batches = None
    if dataset.validation:
        val_index = evenly_spaced(clip_index(run, dataset.validation, valid_only=True),
                                  cfg.validation_max_clips)
        val_batches = ClipBatches(
            dataset.validation,
            val_index,
            scale,
            params.evaluate.batch_size,
            shuffle=False,
            seed=0,
            flip_augment=False,
            layout=dataset.layout,
        )
    batches_per_epoch = len(train_batches)
    if info.world_size > 1:
        train_batches = ShardedBatches(train_batches, info.rank, info.world_size)
    max_clips = cfg.max_clips_for(run.frames)
    if max_clips is not None:
        batches_per_epoch = min(batches_per_epoch, math.ceil(max_clips / batch_size))

    torch.manual_seed(run.seed)  # weight initialisation (the same on every rank)
    model = build_run_model(params, run).to(device)  # the module whose state_dict is saved
    set_grad_checkpointing(model, cfg.grad_checkpointing)
    optimizer = adamw(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # what the training step calls: DDP wrapper (several ranks), then torch.compile (when asked)
    forward_model = compile_model(wrap_ddp(model, info), cfg.compile)
    if cfg.precision == "bf16" and device.type != "cuda":
        log.info("%s: train.precision bf16 applies on CUDA only; training in fp32 on %s", run.id, device)
    precision = cfg.precision if device.type == "cuda" else "fp32"
    diffusion = make_diffusion(params) if variant.diffusion else None
    digest = run_digest_with_code(params, run)

    start_epoch, history, best = 0, [], None
    checkpoint_path = out_dir / CHECKPOINT_FILE
    if info.is_main:
        for stale in [*remove_stale_temp_files(checkpoint_path),
                      *remove_stale_temp_files(out_dir / MODEL_FILE)]:
            log.info("%s: removed %s, left by a write that was killed", run.id, stale.name)
    if checkpoint_path.exists():
        try:
            state = load_checkpoint(checkpoint_path)
        except CheckpointError as err:
            log.warning("%s: unreadable checkpoint (%s); starting from scratch", run.id, err)
            state = None
        if state is not None and state.get("params_digest") == digest:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            start_epoch, history = int(state["epoch"]), list(state["history"])
            best = state.get("best")
            log.info("%s: resuming after epoch %d of %d", run.id, start_epoch, cfg.epochs)
        elif state is not None:
            log.info("%s: checkpoint was made with other settings or training code; starting from scratch",
                     run.id)
    model_path = out_dir / MODEL_FILE
    if start_epoch >= cfg.epochs and _finished_model(model_path, digest):
        # already trained with these settings and this code: keep model.pt byte for byte (no rewrite, so
        # a pipeline re-run over all runs changes nothing), only restore missing curves
        if info.is_main and curves_dir is not None and not (curves_dir / "plots").is_dir():
            _close_live(_open_live(curves_dir, history))
        log.info("%s: already trained (%d epochs, same settings and training code): %s kept",
                 run.id, start_epoch, model_path)
        return TrainResult(run.id, len(history), history, model_path, start_epoch)
    live = _open_live(curves_dir, history) if info.is_main and curves_dir is not None else None

    log.info(
        "%s: %d train clips (%d batches of %d per epoch), %d validation clips, scale %.1f mm, device %s%s",
        run.id,
        train_batches.batches.num_items if info.world_size > 1 else train_batches.num_items,
        batches_per_epoch,
        batch_size,
        0 if val_batches is None else val_batches.num_items,
        scale,
        device,
        f", rank {info.rank} of {info.world_size}" if info.world_size > 1 else "",
    )
    sleep_after_epoch = float(os.environ.get(SLEEP_AFTER_EPOCH_ENV, "0") or 0)
    show_bar = progress if progress is not None else None  # tqdm disables itself when not a TTY
    epochs_this_call = 0
    for epoch in range(start_epoch, cfg.epochs):
        if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
            break
        started = time.perf_counter()
        lr = cfg.lr * cfg.lr_decay**epoch
        for group in optimizer.param_groups:
            group["lr"] = lr
        train_batches.set_epoch(epoch)
        droppath_seed = derive_seed(run.seed, epoch, "droppath")
        # each rank draws stochastic-depth masks for its own rows, so the seeds must differ
        torch.manual_seed(droppath_seed if info.world_size == 1 else rank_seed(droppath_seed, info.rank))
        generator = torch.Generator(device=device).manual_seed(derive_seed(run.seed, epoch, "diffusion"))
        model.train()
        loss_sum, loss_n = 0.0, 0
        bar = tqdm(
            range(batches_per_epoch),
            desc=f"{run.id} epoch {epoch + 1}/{cfg.epochs}",
            leave=False,
            disable=not info.is_main or ((not show_bar) if show_bar is not None else None),
        )
        for i in bar:
            batch = {k: v.to(device) for k, v in train_batches[i].items()}
            with autocast(precision, device):  # forward and loss; backward runs outside autocast
                loss = training_loss(forward_model, run, diffusion, batch, generator, info)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{run.id}: loss is {float(loss)} at epoch {epoch + 1}, batch {i}")
            optimizer.zero_grad(set_to_none=True)
            loss.float().backward()
            optimizer.step()
            # the full-batch mean loss is the sum over ranks of loss / world_size (summed after the epoch)
            rows = int(batch.get("global_rows", len(batch["x2d"])))
            loss_sum += float(loss.detach()) * rows / info.world_size
            loss_n += rows
            if info.world_size == 1:
                bar.set_postfix(loss=f"{loss_sum / loss_n:.4f}")
        bar.close()
        if info.world_size > 1:
            loss_sum = float(global_sum(torch.tensor(loss_sum, dtype=torch.float64, device=device)))
        validate = val_batches is not None and (
            (epoch + 1) % cfg.validation_every == 0 or epoch + 1 == cfg.epochs
        )
        val = (
            validation_mpjpe(model, run, diffusion, val_batches, scale, device, run.seed)
            if validate and info.is_main
            else None
        )
        seconds = time.perf_counter() - started
        entry = {
            "epoch": epoch + 1,
            "loss": loss_sum / max(loss_n, 1),
            "val_mpjpe": val,
            "lr": lr,
            "seconds": seconds,
        }
        history.append(entry)
        if val is not None and (best is None or val < best["val_mpjpe"]):
            best = {
                "epoch": epoch + 1,
                "val_mpjpe": val,
                "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            }
        log.info(
            "%s epoch %d/%d  loss %.5f  val MPJPE %s mm  lr %.3g  %.1f s",
            run.id,
            epoch + 1,
            cfg.epochs,
            entry["loss"],
            "-" if val is None else f"{val:.2f}",
            lr,
            seconds,
        )
        if not info.is_main:  # the other ranks only compute
            epochs_this_call += 1
            continue
        if live is not None:
            _log_epoch(live, entry)
        save_checkpoint(
            checkpoint_path,
            {
                "model_config": model.config,
                "model": model.state_dict(),
                "scale": scale,
                "optimizer": optimizer.state_dict(),
                "epoch": epoch + 1,
                "history": history,
                "rng": _rng_state(),
                "variant": run.variant,
                "params_digest": digest,
                "run": run.id,
                "diffusion": diffusion_settings(params),
                "best": best if cfg.selection == "best_validation" else None,
            },
        )
        epochs_this_call += 1
        if sleep_after_epoch > 0:
            time.sleep(sleep_after_epoch)

    done = len(history) >= cfg.epochs
    if done and info.is_main:
        weights = model.state_dict()
        selected_epoch = cfg.epochs
        if cfg.selection == "best_validation" and best is not None:
            weights, selected_epoch = best["model"], best["epoch"]
        save_checkpoint(
            model_path,
            {
                "model_config": model.config,
                "model": {k: v.cpu() for k, v in weights.items()},
                "scale": scale,
                "epoch": selected_epoch,
                "history": history,
                "variant": run.variant,
                "params_digest": digest,
                "run": run.id,
                "selection": cfg.selection,
                "diffusion": diffusion_settings(params),
            },
        )
        log.info("%s: wrote %s (epoch %d, selection %s)", run.id, model_path, selected_epoch, cfg.selection)
    if live is not None:
        _close_live(live)
    return TrainResult(run.id, len(history), history, model_path, start_epoch)


def _open_live(curves_dir: Path, history: list[dict]):
    """A fresh dvclive log replayed from the checkpoint history: an interrupted epoch never logs twice."""
    from dvclive import Live

    class FilesOnlyLive(Live):
        """dvclive's curves (plots/metrics/**.tsv, one row per epoch) without its DVC-repo integration,
        which would open (or even `dvc init`) the enclosing repository and fails in a repo with no commit.
        ``_close_live`` removes its summary metrics.json at the end: dvc.yaml declares the whole curves
        folder as plots, where a JSON object is not plot data (the last row of each .tsv is the summary)."""

        def _init_dvc(self) -> None:
            self._save_dvc_exp = False

    live = FilesOnlyLive(dir=str(curves_dir), resume=False, save_dvc_exp=False, dvcyaml=False)
    for entry in history:
        _log_epoch(live, entry)
    return live


def _close_live(live) -> None:
    """End the dvclive log and drop its summary file, leaving only the per-epoch curves."""
    live.end()
    Path(live.metrics_file).unlink(missing_ok=True)


def _log_epoch(live, entry: dict) -> None:
    for key in ("loss", "val_mpjpe", "lr", "seconds"):
        if entry.get(key) is not None:
            live.log_metric(f"train/{key}" if key == "loss" else key, float(entry[key]), plot=True)
    live.next_step()
