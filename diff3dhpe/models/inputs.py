"""Input checks shared by the backbones: shapes, dtypes, NaN scans and the call convention.

Regression models are called as ``model(x2d)``, denoisers as ``model(x2d, y_t, t)``; every problem
raises ShapeError naming the argument, the expected shape and what was found.
"""

from __future__ import annotations

import torch

from ..errors import ShapeError


def _check_finite(name: str, tensor: torch.Tensor, model: str) -> None:
    if not torch.isfinite(tensor).all():
        bad = int((~torch.isfinite(tensor)).sum())
        raise ShapeError(f"{model}: {name} contains {bad} NaN/inf values; clean or mask the input first")


def check_pose_input(
    model: str, name: str, tensor: object, frames: int, joints: int, channels: int, batch: int | None = None,
    finite: bool = True,
) -> None:
    """Raise ShapeError unless ``tensor`` is a finite (B, frames, joints, channels) tensor.

    ``finite=False`` skips the NaN scan (a host sync, which CUDA-graph capture forbids); shapes are
    still checked.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ShapeError(
            f"{model}: {name} must be a torch.Tensor of shape (B, {frames}, {joints}, {channels}), "
            f"got {type(tensor).__name__}"
        )
    expected = f"({batch if batch is not None else 'B'}, {frames}, {joints}, {channels})"
    if tensor.ndim != 4 or tuple(tensor.shape[1:]) != (frames, joints, channels) or (
        batch is not None and tensor.shape[0] != batch
    ):
        raise ShapeError(
            f"{model}: {name} must have shape {expected} (B clips, frames, joints, channels), "
            f"got {tuple(tensor.shape)}; this model was built for frames={frames}, joints={joints}"
        )
    if tensor.shape[0] == 0:
        raise ShapeError(f"{model}: {name} is an empty batch (B = 0)")
    if not tensor.is_floating_point():
        raise ShapeError(f"{model}: {name} must be a floating-point tensor, got dtype {tensor.dtype}")
    if finite:
        _check_finite(name, tensor, model)


def check_timesteps(model: str, t: object, batch: int, values: bool = True) -> torch.Tensor:
    """Return t as an int64 (B,) tensor; a scalar is broadcast to every clip. ``values=False``: no sync."""
    if not isinstance(t, torch.Tensor):
        raise ShapeError(
            f"{model}: t must be an integer torch.Tensor of shape ({batch},), got {type(t).__name__}"
        )
    if t.is_floating_point() or t.is_complex():
        raise ShapeError(f"{model}: t must hold integer timesteps, got dtype {t.dtype}")
    if t.ndim == 0:
        t = t.expand(batch)
    if tuple(t.shape) != (batch,):
        raise ShapeError(
            f"{model}: t must have shape ({batch},) (one timestep per clip), got {tuple(t.shape)}"
        )
    if values and (t < 0).any():
        raise ShapeError(f"{model}: timesteps must be >= 0, got min {int(t.min())}")
    return t.long()


def check_call(
    model: torch.nn.Module, x2d: object, y_t: object, t: object, pose_frames: int, pose_name: str = "y_t"
) -> torch.Tensor | None:
    """Check a backbone call against its convention; returns t as int64 (B,), None for regression.

    x2d: (B, model.frames, J, 2); for a denoiser also y_t: (B, pose_frames, J, 3) and t: (B,) or a
    scalar. ``model.check_inputs`` False skips the value scans (NaN, negative t). Raises ShapeError.
    """
    name, check = type(model).__name__, model.check_inputs
    check_pose_input(name, "x2d", x2d, model.frames, model.num_joints, 2, finite=check)
    if not model.denoiser:
        if y_t is not None or t is not None:
            raise ShapeError(f"{name}: the regression model is called as model(x2d); got y_t / t as well")
        return None
    if y_t is None or t is None:
        raise ShapeError(f"{name}: the denoiser is called as model(x2d, y_t, t); y_t or t is missing")
    batch = x2d.shape[0]
    check_pose_input(name, pose_name, y_t, pose_frames, model.num_joints, 3, batch=batch, finite=check)
    return check_timesteps(name, t, batch, values=check)
