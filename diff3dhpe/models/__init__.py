"""Backbones: MixSTE (seq2seq) and PoseFormer (seq2frame), as regression models or denoisers.

``build_model`` is the one constructor; the returned module carries ``.config`` (the resolved
keyword arguments, JSON-able, so ``build_model(**model.config)`` rebuilds it), ``.objective`` and
its class's ``.seq2frame``. ``PAPER_SIZES`` (from ``diff3dhpe.variants``) gives the paper's widths and depths.
"""

from __future__ import annotations

from numbers import Integral, Real

from torch import nn

from ..errors import ConfigError
from ..variants import PAPER_SIZES
from .attention import Attention, Block, DropPath
from .mixste import MixSTE
from .poseformer import PoseFormer
from .time_embedding import SinusoidalEmbedding, time_mlp

__all__ = [
    "PAPER_SIZES", "Attention", "Block", "DropPath", "MixSTE", "PoseFormer", "SinusoidalEmbedding",
    "build_model", "time_mlp",
]

BACKBONES = {"mixste": MixSTE, "poseformer": PoseFormer}
OBJECTIVES = ("regression", "denoiser")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ConfigError(f"build_model: {name} must be a positive integer, got {value!r}")
    return int(value)


def build_model(
    backbone: str,
    *,
    frames: int,
    objective: str,
    dim: int | None = None,
    depth: int | None = None,
    heads: int = 8,
    mlp_ratio: float = 2.0,
    drop_path: float = 0.1,
    time_embedding: bool = True,
    pde: bool = True,
    num_joints: int = 17,
) -> nn.Module:
    """Build a backbone (METHOD.md §4); ``dim`` / ``depth`` default to its ``PAPER_SIZES``.

    ``objective``: "regression" (called as model(x2d)) or "denoiser" (model(x2d, y_t, t)).
    ``time_embedding`` only applies to denoisers; a regression model records it as False.
    Raises ConfigError naming the argument when a value or a combination of sizes is invalid.
    """
    if backbone not in BACKBONES:
        raise ConfigError(f"build_model: backbone must be one of {tuple(BACKBONES)}, got {backbone!r}")
    if objective not in OBJECTIVES:
        raise ConfigError(f"build_model: objective must be one of {OBJECTIVES}, got {objective!r}")
    dim = PAPER_SIZES[backbone]["dim"] if dim is None else dim
    depth = PAPER_SIZES[backbone]["depth"] if depth is None else depth
    frames, dim, depth, heads, num_joints = (
        _positive_int(name, value)
        for name, value in [("frames", frames), ("dim", dim), ("depth", depth), ("heads", heads),
                            ("num_joints", num_joints)]
    )
    for name, flag in [("time_embedding", time_embedding), ("pde", pde)]:
        if not isinstance(flag, bool):
            raise ConfigError(f"build_model: {name} must be true or false, got {flag!r}")
    if isinstance(mlp_ratio, bool) or not isinstance(mlp_ratio, Real) or int(dim * mlp_ratio) < 1:
        raise ConfigError(f"build_model: mlp_ratio must be a positive number with dim·mlp_ratio >= 1, "
                          f"got {mlp_ratio!r} (dim={dim})")
    if isinstance(drop_path, bool) or not isinstance(drop_path, Real) or not 0.0 <= drop_path < 1.0:
        raise ConfigError(f"build_model: drop_path must be in [0, 1), got {drop_path!r}")

    denoiser = objective == "denoiser"
    time_embedding = time_embedding and denoiser
    # widths of the attention blocks; each must split evenly into heads
    widths = [dim] if backbone == "mixste" else [dim, dim * num_joints]
    for width in widths:
        if width % heads != 0:
            raise ConfigError(
                f"build_model: {backbone} block width {width} must be divisible by heads={heads} "
                f"(dim={dim}, num_joints={num_joints})"
            )
    if time_embedding and (widths[-1] % 2 != 0 or widths[-1] < 4):
        raise ConfigError(
            f"build_model: the sinusoidal time embedding needs an even width >= 4, got {widths[-1]}; "
            f"change dim or set time_embedding: false"
        )
    cls = BACKBONES[backbone]
    if cls.seq2frame and frames % 2 == 0:
        raise ConfigError(
            f"build_model: {backbone} predicts the centre frame, so frames must be odd, got {frames}"
        )

    config = {
        "backbone": backbone, "frames": frames, "objective": objective, "dim": dim, "depth": depth,
        "heads": heads, "mlp_ratio": float(mlp_ratio), "drop_path": float(drop_path),
        "time_embedding": time_embedding, "pde": pde, "num_joints": num_joints,
    }
    model = cls(
        frames, denoiser=denoiser, num_joints=num_joints, dim=dim, depth=depth, heads=heads,
        mlp_ratio=float(mlp_ratio), drop_path=float(drop_path), time_embedding=time_embedding, pde=pde,
    )
    model.config = config
    model.objective = objective
    return model
