"""The input layers both backbones open with (METHOD.md §4a, §4b), registered once for both.

Per joint, a linear embedding of the input channels: the 2D keypoint (u, v) for a regression model
(``Spatial_patch_to_embedding``), or (u, v, x_t, y_t, z_t), 2D first, for a denoiser
(``fusion_layer``); the timestep MLP at the temporal token width; learned spatial (J tokens) and
temporal (F tokens) positional embeddings. The attribute names are the releases' state-dict keys.
"""

from __future__ import annotations

import torch
from torch import nn

from .time_embedding import time_mlp

INPUT_CHANNELS = {False: 2, True: 5}  # regression: (u, v); denoiser: (u, v, x_t, y_t, z_t)


def add_input_layers(
    model: nn.Module,
    *,
    frames: int,
    num_joints: int,
    dim: int,
    temporal_dim: int,
    denoiser: bool,
    time_embedding: bool,
) -> int | None:
    """Register the input layers on ``model`` (in this order, so the weight initialisation is fixed).

    ``dim``: per-joint token width; ``temporal_dim``: temporal token width (MixSTE: dim; PoseFormer:
    J·dim). Sets ``model.frames``, ``num_joints``, ``denoiser``, ``fusion_layer`` or
    ``Spatial_patch_to_embedding``, ``time_mlp`` (None without time conditioning),
    ``Spatial_pos_embed`` (1, J, dim) and ``Temporal_pos_embed`` (1, F, temporal_dim). Returns the
    width 2·temporal_dim of the time conditioning every block projects, or None.
    """
    model.frames = frames
    model.num_joints = num_joints
    model.denoiser = denoiser
    embedding = nn.Linear(INPUT_CHANNELS[denoiser], dim)
    if denoiser:
        model.fusion_layer = embedding
    else:
        model.Spatial_patch_to_embedding = embedding
    use_time = denoiser and time_embedding
    model.time_mlp = time_mlp(temporal_dim) if use_time else None
    model.Spatial_pos_embed = nn.Parameter(torch.zeros(1, num_joints, dim))
    model.Temporal_pos_embed = nn.Parameter(torch.zeros(1, frames, temporal_dim))
    return 2 * temporal_dim if use_time else None
