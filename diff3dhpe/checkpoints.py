"""Checkpoints: atomic save, safe load (``weights_only``), rebuild, and import of official weights.

Our checkpoint is a dict with ``model_config`` (the ``build_model`` kwargs), ``model`` (state dict),
``scale``, ``optimizer``, ``epoch``, ``history``, ``rng``, ``variant``, ``params_digest``.

Official checkpoints (METHOD.md §8):
- Diff3DHPE: ``{epoch, ..., 'model_diffusion': sd}``; backbone keys carry ``module.model.``;
  wrapper buffers such as ``module.betas`` are the noise schedule, which we recompute, so they are skipped.
- MixSTE: ``{..., 'model_pos': sd}``, keys possibly prefixed ``module.``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .atomic import atomic_open
from .errors import CheckpointError, ConfigError
from .models import build_model

PathLike = str | os.PathLike

# types torch.load(weights_only=True) can read back; anything else is refused at save time
_SAFE_LEAVES = (torch.Tensor, bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device,
                torch.Size)


def _check_saveable(value: object, where: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_saveable(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_saveable(item, f"{where}[{i}]")
    elif not isinstance(value, _SAFE_LEAVES):
        raise CheckpointError(
            f"save_checkpoint: {where} is a {type(value).__name__}, which a safe (weights_only) load cannot "
            f"read back; store tensors, numbers, strings, lists or dicts instead (e.g. torch.from_numpy)"
        )


def save_checkpoint(path: PathLike, state: dict) -> None:
    """Write ``state`` atomically: a temp file in the same directory, fsync, then os.replace.

    A crash mid-write leaves any previous file at ``path`` untouched.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"save_checkpoint: state must be a dict, got {type(state).__name__}")
    _check_saveable(state, "state")
    with atomic_open(path, "wb") as handle:
        torch.save(dict(state), handle)


def _numpy_safe_globals() -> list:
    """Plain numpy arrays/scalars (official checkpoints keep a numpy RNG state); never object arrays."""
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = [getattr(np.dtypes, name) for name in dir(np.dtypes)
              if name.endswith("DType") and name != "ObjectDType"]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtypes]


def load_checkpoint(path: PathLike, *, allow_numpy: bool = False) -> dict:
    """Load a checkpoint dict with ``torch.load(weights_only=True)`` on the CPU.

    ``allow_numpy`` also admits plain numpy arrays (needed for official checkpoints); arbitrary
    pickled objects are always refused.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found (or not a file)")
    allowed = _numpy_safe_globals() if allow_numpy else []
    try:
        with torch.serialization.safe_globals(allowed):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError ... depending on damage
        text = str(err)
        # the weights-only unpickler buries its reason after a long preamble
        reason = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", text, flags=re.S)
        detail = reason.group(1) if reason else (text.strip().splitlines() or [type(err).__name__])[0]
        detail = detail.splitlines()[0] if detail else ""
        if re.search(r"Unsupported global|Can only build|allowlisted|not an allowed global", detail):
            unsafe = re.search(r"GLOBAL (\S+)", detail)
            detail = f"found {unsafe.group(1)}" if unsafe else detail
            raise CheckpointError(
                f"checkpoint {path} contains pickled objects that a safe load refuses ({detail}); "
                f"only tensors, numbers, strings, lists and dicts are accepted"
            ) from err
        raise CheckpointError(
            f"checkpoint {path} cannot be read (truncated, corrupted or not a torch checkpoint): "
            f"{type(err).__name__}: {detail}"
        ) from err
    if not isinstance(state, Mapping):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return dict(state)


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Strict load_state_dict; the CheckpointError lists every wrong-shape, missing and unexpected key."""
    own = model.state_dict()
    wrong = [
        f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}"
        for key, value in state_dict.items()
        if key in own and isinstance(value, torch.Tensor) and value.shape != own[key].shape
    ]
    if wrong:
        raise CheckpointError(f"{source} has tensors of the wrong shape: {'; '.join(wrong)}")
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{source} does not match the model: missing keys {sorted(result.missing_keys)}, "
            f"unexpected keys {sorted(result.unexpected_keys)}"
        )


def load_model(path: PathLike) -> tuple[nn.Module, dict]:
    """Rebuild the model of ``state['model_config']``, load its weights; return (model in eval, state)."""
    state = load_checkpoint(path)
    for key in ("model_config", "model"):
        if key not in state:
            raise CheckpointError(f"checkpoint {path} has no {key!r} entry (found keys {sorted(state)})")
    try:
        model = build_model(**state["model_config"])
    except (ConfigError, TypeError) as err:
        raise CheckpointError(
            f"checkpoint {path}: model_config {state['model_config']!r} is invalid: {err}"
        ) from err
    load_state_dict_strict(model, state["model"], f"checkpoint {path}")
    return model.eval(), state


# ---------------------------------------------------------------- official checkpoints


def _strip_prefix(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def _official_backbone_state(checkpoint: Mapping) -> tuple[str, dict[str, torch.Tensor]]:
    """Return (format name, backbone state dict with official key names and no wrapper prefixes)."""
    for entry in ("model_diffusion", "model_pos"):
        if entry in checkpoint and not isinstance(checkpoint[entry], Mapping):
            found = type(checkpoint[entry]).__name__
            raise CheckpointError(f"official checkpoint entry {entry!r} is a {found}, expected a state dict")
    if "model_diffusion" in checkpoint:
        backbone = {}
        for key, value in checkpoint["model_diffusion"].items():
            inner = _strip_prefix(key, "module.")
            if inner.startswith("model."):
                backbone[inner[len("model."):]] = value
            elif "." not in inner:
                continue  # schedule buffer of the diffusion wrapper (betas, alphas_cumprod, ...): recomputed
            else:
                backbone[key] = value  # unknown sub-module: kept so the strict load reports it
        return "Diff3DHPE", backbone
    if "model_pos" in checkpoint:
        return "MixSTE", {_strip_prefix(k, "module."): v for k, v in checkpoint["model_pos"].items()}
    if any(str(k).endswith("Spatial_pos_embed") for k in checkpoint):  # a bare backbone state dict
        stripped = {_strip_prefix(_strip_prefix(k, "module."), "model."): v for k, v in checkpoint.items()}
        return "state dict", stripped
    raise CheckpointError(
        f"not an official Diff3DHPE ('model_diffusion') or MixSTE ('model_pos') checkpoint; "
        f"top-level keys are {sorted(map(str, checkpoint))[:20]}"
    )


def _infer_mixste_config(sd: Mapping[str, torch.Tensor], source: str, heads: int, pde: bool) -> dict:
    def need(key: str) -> torch.Tensor:
        if key not in sd:
            raise CheckpointError(f"{source}: key {key!r} is missing, cannot infer the MixSTE shape")
        return sd[key]

    if "fusion_layer.weight" in sd:
        embed_key, objective, in_chans = "fusion_layer.weight", "denoiser", 5
    elif "Spatial_patch_to_embedding.weight" in sd:
        embed_key, objective, in_chans = "Spatial_patch_to_embedding.weight", "regression", 2
    else:
        raise CheckpointError(f"{source}: neither 'fusion_layer.weight' (denoiser) nor "
                              f"'Spatial_patch_to_embedding.weight' (regression) is present")
    dim, found_chans = need(embed_key).shape
    if found_chans != in_chans:
        raise CheckpointError(
            f"{source}: {embed_key} takes {found_chans} input channels, expected {in_chans}"
        )
    block_ids = {int(m.group(1)) for k in sd if (m := re.match(r"STEblocks\.(\d+)\.", k))}
    if not block_ids:
        raise CheckpointError(f"{source}: no 'STEblocks.<i>.*' keys, cannot infer the depth")
    hidden = need("STEblocks.0.mlp.fc1.weight").shape[0]
    return {
        "backbone": "mixste",
        "frames": int(need("Temporal_pos_embed").shape[1]),
        "objective": objective,
        "dim": int(dim),
        "depth": max(block_ids) + 1,
        "heads": heads,
        "mlp_ratio": hidden / dim,
        "drop_path": 0.1,
        "time_embedding": "time_mlp.1.weight" in sd,
        "pde": pde,
        "num_joints": int(need("Spatial_pos_embed").shape[1]),
    }


def load_official(path_or_dict: PathLike | Mapping, *, pde: bool | None = None, heads: int = 8) -> nn.Module:
    """Build our MixSTE from an official Diff3DHPE or MixSTE checkpoint and load every tensor (strict).

    D, depth, F, J, the MLP ratio and time conditioning are read off the shapes; ``heads`` cannot be
    and defaults to 8 (the release). ``pde`` defaults to True for Diff3DHPE and False for MixSTE.
    Returns the model in eval mode: ``model(x2d, y_t, t)`` (denoiser) or ``model(x2d)`` (regression).
    """
    if isinstance(path_or_dict, Mapping):
        checkpoint, source = path_or_dict, "official checkpoint dict"
    else:
        checkpoint = load_checkpoint(path_or_dict, allow_numpy=True)
        source = f"official checkpoint {path_or_dict}"
    kind, state_dict = _official_backbone_state(checkpoint)
    source = f"{source} ({kind})"
    use_pde = (kind == "Diff3DHPE") if pde is None else pde
    config = _infer_mixste_config(state_dict, source, heads, use_pde)
    try:
        model = build_model(**config)
    except ConfigError as err:
        raise CheckpointError(f"{source}: inferred model config {config} is invalid: {err}") from err
    load_state_dict_strict(model, state_dict, source)
    return model.eval()
