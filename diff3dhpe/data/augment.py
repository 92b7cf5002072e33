"""Flip augmentation and the 2D input corruptions of the robustness study (EXPERIMENTS.md, Fig. 6).

Every function works on arrays shaped (..., J, C); `flip_keypoints` accepts numpy arrays and torch
tensors alike, the corruptions draw from an explicit numpy Generator so that two models evaluated with
the same (seed, kind, level) see exactly the same corrupted input.
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np
import torch

from diff3dhpe.data.skeleton import JointLayout
from diff3dhpe.errors import ConfigError, ShapeError

CORRUPTIONS = ("gaussian", "dropout")


def flip_keypoints(arr: np.ndarray | torch.Tensor, layout: JointLayout) -> np.ndarray | torch.Tensor:
    """Mirror poses: first coordinate x -> -x (u -> -u for normalised 2D), then swap left/right joints.

    `arr` is (..., J, C) with J = layout.num_joints; returns a new array/tensor of the same type,
    dtype and device. Flipping twice is the identity.
    """
    if arr.ndim < 2 or arr.shape[-2] != layout.num_joints or arr.shape[-1] < 1:
        raise ShapeError(
            f"flip_keypoints expects (..., {layout.num_joints}, C) for layout '{layout.name}', "
            f"got shape {tuple(arr.shape)}"
        )
    channels = arr.shape[-1]
    if isinstance(arr, torch.Tensor):
        perm = torch.as_tensor(layout.flip_permutation, device=arr.device)
        sign = torch.ones(channels, dtype=arr.dtype, device=arr.device)
        sign[0] = -1
        return arr[..., perm, :] * sign
    arr = np.asarray(arr)
    sign = np.ones(channels, dtype=arr.dtype)
    sign[0] = -1
    return arr[..., layout.flip_permutation, :] * sign


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ConfigError(f"corruption rng must be a numpy Generator or a non-negative int seed, got {rng!r}")


def _check_2d(x2d: np.ndarray | torch.Tensor, what: str) -> None:
    if x2d.ndim < 2 or x2d.shape[-1] != 2:
        raise ShapeError(f"{what} expects 2D keypoints shaped (..., J, 2), got shape {tuple(x2d.shape)}")


def _like(values: np.ndarray, x2d: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """numpy values -> same container/dtype/device as x2d."""
    if isinstance(x2d, torch.Tensor):
        return torch.from_numpy(values).to(device=x2d.device, dtype=x2d.dtype)
    return values.astype(np.asarray(x2d).dtype, copy=False)


def corrupt_gaussian(
    x2d: np.ndarray | torch.Tensor, sigma: float, rng: np.random.Generator | int
) -> np.ndarray | torch.Tensor:
    """Add i.i.d. N(0, sigma^2) noise to normalised 2D keypoints (..., J, 2); sigma = 0 is the identity."""
    _check_2d(x2d, "corrupt_gaussian")
    if not (isinstance(sigma, (int, float, np.floating, np.integer)) and math.isfinite(sigma) and sigma >= 0):
        raise ConfigError(f"gaussian corruption sigma must be a finite number >= 0, got {sigma!r}")
    rng = _generator(rng)
    if sigma == 0:
        return x2d.clone() if isinstance(x2d, torch.Tensor) else np.array(x2d, copy=True)
    noise = rng.normal(0.0, float(sigma), size=tuple(x2d.shape))
    return x2d + _like(noise, x2d)


def corrupt_dropout(
    x2d: np.ndarray | torch.Tensor, rate: float, rng: np.random.Generator | int
) -> np.ndarray | torch.Tensor:
    """Set each (frame, joint) of (..., J, 2) keypoints to (0, 0) with probability `rate` in [0, 1]."""
    _check_2d(x2d, "corrupt_dropout")
    if not (isinstance(rate, (int, float, np.floating, np.integer)) and 0 <= rate <= 1):
        raise ConfigError(f"joint dropout rate must be a number in [0, 1], got {rate!r}")
    rng = _generator(rng)
    keep = rng.random(size=tuple(x2d.shape[:-1])) >= rate  # (..., J); random() < 1 so rate=1 drops all
    if isinstance(x2d, torch.Tensor):
        keep_t = torch.from_numpy(keep).to(x2d.device)[..., None]
        return torch.where(keep_t, x2d, torch.zeros((), dtype=x2d.dtype, device=x2d.device))
    return np.where(keep[..., None], x2d, np.zeros((), dtype=x2d.dtype))


def corrupt(
    x2d: np.ndarray | torch.Tensor, kind: str, level: float, rng: np.random.Generator | int
) -> np.ndarray | torch.Tensor:
    """Dispatch on kind: 'gaussian' (level = sigma) or 'dropout' (level = rate)."""
    if kind == "gaussian":
        return corrupt_gaussian(x2d, level, rng)
    if kind == "dropout":
        return corrupt_dropout(x2d, level, rng)
    raise ConfigError(f"corruption kind must be one of {CORRUPTIONS}, got {kind!r}")


def corruption_rng(seed: int, kind: str, level: float) -> np.random.Generator:
    """Generator determined by (seed, kind, level) only, so every model sees the same corruption draws.

    The level enters through its exact float64 bits: 0.1 and 0.1000001 give unrelated streams.
    """
    if kind not in CORRUPTIONS:
        raise ConfigError(f"corruption kind must be one of {CORRUPTIONS}, got {kind!r}")
    if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise ConfigError(f"corruption seed must be a non-negative int, got {seed!r}")
    if not (isinstance(level, (int, float, np.floating, np.integer)) and math.isfinite(level)):
        raise ConfigError(f"corruption level must be a finite number, got {level!r}")
    level_bits = struct.unpack("<Q", struct.pack("<d", float(level)))[0]
    return np.random.default_rng([int(seed), zlib.crc32(kind.encode()), level_bits])
