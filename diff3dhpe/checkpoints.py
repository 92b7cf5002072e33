"""Checkpoints: atomic save, safe load (``weights_only``), rebuild, and import of official weights.

Our checkpoint is a dict with ``model_config`` (the ``build_model`` kwargs), ``model`` (state dict),
``scale``, ``optimizer``, ``epoch``, ``history``, ``rng``, ``variant``, ``params_digest``.

Official checkpoints (METHOD.md §8):
- Diff3DHPE: ``{epoch, ..., 'model_diffusion': sd}``; backbone keys carry ``module.model.``;
  wrapper buffers such as ``module.betas`` are the noise schedule, which we recompute, so they are skipped.
- MixSTE: ``{..., 'model_pos': sd}``, keys possibly prefixed ``module.``.
- PoseFormer: ``{..., 'model_pos': sd}``; our PoseFormer uses the release's key names.
Release files also pickle a live numpy ``RandomState`` and numpy scalars (§8a): ``load_official``
admits exactly those (``release_safe_globals``) and nothing else.
"""

from __future__ import annotations

import importlib
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .atomic import atomic_open
from .data.skeleton import NUM_JOINTS
from .errors import CheckpointError, ConfigError
from .models import build_model
from .variants import VARIANTS

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


# ---------------------------------------------------------------- what release files pickle
#
# The releases' torch.save stores, beside tensors, a live numpy.random.RandomState, numpy scalars
# (lr, min_loss) and the uint32 key array of the Mersenne Twister state (METHOD.md §8a). These are
# the only non-torch globals such files reference (read off real files with
# torch.serialization.get_unsafe_globals_in_checkpoint, plus the dtype classes that the BUILD
# opcode of a pickled dtype needs). Each RNG constructor is admitted through a narrow replacement
# that only ever builds the legacy MT19937 RandomState; nothing else of numpy is callable.

_BIT_GENERATOR = "MT19937"


def _refuse(what: str, found: object) -> None:
    raise pickle.UnpicklingError(
        f"{what} is not admitted in a release checkpoint (only the legacy {_BIT_GENERATOR} "
        f"RandomState is); found {found!r}"
    )


def _bit_generator_ctor(bit_generator: object = _BIT_GENERATOR) -> np.random.MT19937:
    """Stand-in for ``numpy.random._pickle.__bit_generator_ctor``: MT19937 only (class or name)."""
    by_name = isinstance(bit_generator, str) and bit_generator == _BIT_GENERATOR
    if bit_generator is np.random.MT19937 or by_name:
        return np.random.MT19937()
    _refuse("bit generator", bit_generator)


def _randomstate_ctor(bit_generator_name: object = _BIT_GENERATOR,
                      bit_generator_ctor: object = None) -> np.random.RandomState:
    """Stand-in for ``numpy.random._pickle.__randomstate_ctor`` (numpy 2 passes the bit generator
    itself; numpy 1 its name and, from 1.25, the ctor). The state follows through BUILD."""
    if type(bit_generator_name) is np.random.MT19937:
        return np.random.RandomState(bit_generator_name)
    if bit_generator_ctor is not None and bit_generator_ctor is not _bit_generator_ctor:
        _refuse("bit generator constructor", bit_generator_ctor)
    return np.random.RandomState(_bit_generator_ctor(bit_generator_name))


def _legacy_randomstate_ctor() -> np.random.RandomState:
    """Stand-in for ``numpy.random.__RandomState_ctor`` (numpy < 1.17 pickles); state via BUILD."""
    return np.random.RandomState(seed=0)


def _numpy_attr(module_suffix: str, name: str):
    """numpy 2 renamed numpy.core to numpy._core; either spelling may be in a file."""
    for prefix in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{prefix}.{module_suffix}"), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy.(_)core.{module_suffix}.{name} not found in numpy {np.__version__}")


# numeric dtypes a numpy scalar or the RNG key array can have; never object, string or void dtypes
_SCALAR_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64")


def release_safe_globals() -> list[tuple[object, str]]:
    """The exact allow-list for ``torch.load(weights_only=True)`` of an official release file.

    Returns ``(object, "dotted.name")`` pairs for ``torch.serialization.safe_globals``:
    - numpy RNG: ``numpy.random._pickle.__randomstate_ctor``, ``numpy.random._pickle.__bit_generator_ctor``
      and ``numpy.random.__RandomState_ctor`` (numpy < 1.17), each mapped to a stand-in that only builds
      the legacy MT19937 ``RandomState``; the classes ``numpy.random._mt19937.MT19937`` and
      ``numpy.random.mtrand.RandomState`` (BUILD sets their state);
    - numpy scalars and arrays: ``numpy.(_)core.multiarray.scalar`` and ``._reconstruct`` (both the
      numpy 1 and numpy 2 module paths), ``numpy.ndarray``, ``numpy.dtype`` and the dtype classes of
      bool, (u)int8..64 and float16..64 (``numpy.dtypes.Float64DType`` ... in numpy 2), which BUILD needs.
    Anything else (``os.system``, ``builtins.eval``, object arrays, other bit generators) is refused.
    Source: METHOD.md §8a.
    """
    reconstruct = _numpy_attr("multiarray", "_reconstruct")
    scalar = _numpy_attr("multiarray", "scalar")
    allowed: list[tuple[object, str]] = []
    for core in ("numpy._core", "numpy.core"):
        allowed += [(reconstruct, f"{core}.multiarray._reconstruct"), (scalar, f"{core}.multiarray.scalar")]
    allowed += [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    for name in _SCALAR_DTYPES:
        cls = type(np.dtype(name))  # numpy.dtypes.Float64DType in numpy 2, numpy.dtype[float64] in 1.x
        allowed.append((cls, f"{cls.__module__}.{cls.__qualname__}"))
    allowed += [
        (_randomstate_ctor, "numpy.random._pickle.__randomstate_ctor"),
        (_bit_generator_ctor, "numpy.random._pickle.__bit_generator_ctor"),
        (_legacy_randomstate_ctor, "numpy.random.__RandomState_ctor"),
        (np.random.MT19937, "numpy.random._mt19937.MT19937"),
        (np.random.RandomState, "numpy.random.mtrand.RandomState"),
    ]
    return allowed


def _weights_only_reason(text: str) -> str:
    """The one line of a torch.load error that says why; the weights-only unpickler buries it
    between a long preamble ("Weights only load failed ...") and a pointer to the documentation."""
    reason = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if reason:
        return reason.group(1).strip()
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        paragraph = paragraph.strip()
        if paragraph and not paragraph.startswith(("Weights only load failed", "Check the documentation")):
            return paragraph.splitlines()[0]
    return text.strip().splitlines()[0] if text.strip() else ""


def load_checkpoint(path: PathLike, *, allow_numpy: bool = False) -> dict:
    """Load a checkpoint dict with ``torch.load(weights_only=True)`` on the CPU.

    Our own files (``model.pt``, ``checkpoint.pt``) hold only tensors, numbers, strings, lists and
    dicts, and are read with torch's default allow-list. ``allow_numpy=True`` (official release
    files, METHOD.md §8a) also admits exactly ``release_safe_globals()``: numpy scalars, plain numeric
    arrays and the legacy MT19937 ``RandomState``. Arbitrary pickled objects are always refused
    without running any of their code.

    Raises CheckpointError: file missing; truncated / corrupt / not a torch file; a global outside
    the allow-list (the message names it); the file holds something other than a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found (or not a file)")
    allowed = release_safe_globals() if allow_numpy else []
    try:
        with torch.serialization.safe_globals(allowed):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError ... depending on damage
        detail = _weights_only_reason(str(err)) or type(err).__name__
        refused = r"Unsupported global|unsupported GLOBAL|is blocked|Can only build|Can only create|" \
                  r"allowlisted|not an allowed global|unrecognized function|not admitted"
        if re.search(refused, detail):
            unsafe = re.search(r"GLOBAL (\S+)", detail)
            detail = f"found {unsafe.group(1)}" if unsafe else detail
            hint = ("; only tensors, numbers, strings, lists and dicts are accepted"
                    if not allow_numpy else
                    "; release files may only add numpy scalars/arrays and the legacy MT19937 RandomState")
            if not allow_numpy and "numpy" in detail:
                hint += " (an official release checkpoint? load it with load_official)"
            raise CheckpointError(
                f"checkpoint {path} contains pickled objects that a safe load refuses ({detail}){hint}"
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
    if "model_config" not in state:
        raise CheckpointError(f"checkpoint {path} has no 'model_config' entry (found keys {sorted(state)})")
    model, _ = _model_from_state(state, Path(path))
    return model, state


# ---------------------------------------------------------------- official checkpoints

# The layouts load_official recognises, named in its error when a file matches none of them.
OFFICIAL_LAYOUTS = (
    "Diff3DHPE ('model_diffusion': backbone under 'module.model.*', MixSTE or PoseFormer keys)",
    "MixSTE ('model_pos' with 'STEblocks.*', optional 'module.' prefix)",
    "PoseFormer ('model_pos' with 'Spatial_blocks.*' and 'blocks.*', optional 'module.' prefix)",
    "a bare backbone state dict (top-level 'Spatial_pos_embed')",
)


def _strip_prefix(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


def _first_keys(mapping: Mapping, count: int = 20) -> str:
    keys = sorted(map(str, mapping))
    more = f" ... ({len(keys)} in all)" if len(keys) > count else ""
    return f"{keys[:count]}{more}"


def _backbone_of(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """'mixste' (STEblocks / TTEblocks), 'poseformer' (Spatial_blocks / blocks) or None."""
    if any(key.startswith("STEblocks.") for key in state_dict):
        return "mixste"
    if any(key.startswith("Spatial_blocks.") for key in state_dict):
        return "poseformer"
    return None


def _unrecognised(source: str, found: Mapping, where: str = "top-level keys") -> CheckpointError:
    return CheckpointError(
        f"{source}: not a recognised official checkpoint; layouts tried: {'; '.join(OFFICIAL_LAYOUTS)}. "
        f"Found {where} {_first_keys(found)}"
    )


def _official_backbone_state(checkpoint: Mapping, source: str) -> tuple[str, str, dict[str, torch.Tensor]]:
    """Return (release name, backbone, backbone state dict with official key names, no wrapper prefixes)."""
    for entry in ("model_diffusion", "model_pos"):
        if entry in checkpoint and not isinstance(checkpoint[entry], Mapping):
            found = type(checkpoint[entry]).__name__
            raise CheckpointError(f"{source}: entry {entry!r} is a {found}, expected a state dict")
    if "model_diffusion" in checkpoint:
        backbone_sd = {}
        for key, value in checkpoint["model_diffusion"].items():
            inner = _strip_prefix(key, "module.")
            if inner.startswith("model."):
                backbone_sd[inner[len("model."):]] = value
            elif "." not in inner:
                continue  # schedule buffer of the diffusion wrapper (betas, alphas_cumprod, ...): recomputed
            else:
                backbone_sd[key] = value  # unknown sub-module: kept so the strict load reports it
        backbone = _backbone_of(backbone_sd)
        if backbone is None:
            raise _unrecognised(source, checkpoint["model_diffusion"], "'model_diffusion' keys")
        return "Diff3DHPE", backbone, backbone_sd
    if "model_pos" in checkpoint:
        backbone_sd = {_strip_prefix(k, "module."): v for k, v in checkpoint["model_pos"].items()}
        backbone = _backbone_of(backbone_sd)
        if backbone is None:
            raise _unrecognised(source, checkpoint["model_pos"], "'model_pos' keys")
        return ("MixSTE" if backbone == "mixste" else "PoseFormer"), backbone, backbone_sd
    if any(str(k).endswith("Spatial_pos_embed") for k in checkpoint):  # a bare backbone state dict
        backbone_sd = {_strip_prefix(_strip_prefix(k, "module."), "model."): v for k, v in checkpoint.items()}
        backbone = _backbone_of(backbone_sd)
        if backbone is not None:
            return "state dict", backbone, backbone_sd
    raise _unrecognised(source, checkpoint)


def _need(sd: Mapping[str, torch.Tensor], key: str, source: str, backbone: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f"{source}: key {key!r} is missing, cannot infer the {backbone} shape")
    return sd[key]


def _input_layer(sd: Mapping[str, torch.Tensor], source: str) -> tuple[str, int]:
    """(objective, D) from the input projection: fusion_layer (5 -> D, denoiser) or
    Spatial_patch_to_embedding (2 -> D, regression)."""
    if "fusion_layer.weight" in sd:
        key, objective, in_chans = "fusion_layer.weight", "denoiser", 5
    elif "Spatial_patch_to_embedding.weight" in sd:
        key, objective, in_chans = "Spatial_patch_to_embedding.weight", "regression", 2
    else:
        raise CheckpointError(f"{source}: neither 'fusion_layer.weight' (denoiser) nor "
                              f"'Spatial_patch_to_embedding.weight' (regression) is present")
    dim, found_chans = sd[key].shape
    if found_chans != in_chans:
        raise CheckpointError(f"{source}: {key} takes {found_chans} input channels, expected {in_chans}")
    return objective, int(dim)


def _depth(sd: Mapping[str, torch.Tensor], prefix: str, source: str) -> int:
    ids = {int(m.group(1)) for k in sd if (m := re.match(rf"{re.escape(prefix)}\.(\d+)\.", k))}
    if not ids:
        raise CheckpointError(f"{source}: no '{prefix}.<i>.*' keys, cannot infer the depth")
    return max(ids) + 1


def _infer_mixste_config(sd: Mapping[str, torch.Tensor], source: str, heads: int, pde: bool) -> dict:
    objective, dim = _input_layer(sd, source)
    hidden = _need(sd, "STEblocks.0.mlp.fc1.weight", source, "MixSTE").shape[0]
    return {
        "backbone": "mixste",
        "frames": int(_need(sd, "Temporal_pos_embed", source, "MixSTE").shape[1]),
        "objective": objective,
        "dim": dim,
        "depth": _depth(sd, "STEblocks", source),
        "heads": heads,
        "mlp_ratio": hidden / dim,
        "drop_path": 0.1,
        "time_embedding": "time_mlp.1.weight" in sd,
        "pde": pde,
        "num_joints": int(_need(sd, "Spatial_pos_embed", source, "MixSTE").shape[1]),
    }


def _infer_poseformer_config(sd: Mapping[str, torch.Tensor], source: str, heads: int, pde: bool) -> dict:
    """PoseFormer: spatial width D (per joint), temporal width J·D, F from Temporal_pos_embed (1, F, J·D)."""
    objective, dim = _input_layer(sd, source)
    num_joints = int(_need(sd, "Spatial_pos_embed", source, "PoseFormer").shape[1])
    temporal = _need(sd, "Temporal_pos_embed", source, "PoseFormer")
    if temporal.shape[2] != dim * num_joints:
        raise CheckpointError(
            f"{source}: Temporal_pos_embed has width {temporal.shape[2]}, expected J·D = "
            f"{num_joints}·{dim} = {dim * num_joints}"
        )
    depth, temporal_depth = _depth(sd, "Spatial_blocks", source), _depth(sd, "blocks", source)
    if depth != temporal_depth:
        raise CheckpointError(
            f"{source}: {depth} spatial blocks but {temporal_depth} temporal blocks; our PoseFormer "
            f"has equally many"
        )
    ratio = _need(sd, "Spatial_blocks.0.mlp.fc1.weight", source, "PoseFormer").shape[0] / dim
    temporal_hidden = _need(sd, "blocks.0.mlp.fc1.weight", source, "PoseFormer").shape[0]
    if temporal_hidden != int(dim * num_joints * ratio):
        raise CheckpointError(
            f"{source}: the temporal MLP is {temporal_hidden} wide, expected mlp_ratio {ratio} x "
            f"{dim * num_joints} as in the spatial blocks"
        )
    return {
        "backbone": "poseformer",
        "frames": int(temporal.shape[1]),
        "objective": objective,
        "dim": dim,
        "depth": depth,
        "heads": heads,
        "mlp_ratio": ratio,
        "drop_path": 0.1,
        "time_embedding": "time_mlp.1.weight" in sd,
        "pde": pde,
        "num_joints": num_joints,
    }


def load_official(path_or_dict: PathLike | Mapping, *, pde: bool | None = None, heads: int = 8,
                  source: str | None = None) -> nn.Module:
    """Build our model from an official release checkpoint and load every tensor (strict).

    Layouts (METHOD.md §8, §8a): Diff3DHPE (``model_diffusion``; backbone keys under
    ``module.model.``, schedule buffers skipped), MixSTE (``model_pos``, ``STEblocks.*``) and
    PoseFormer (``model_pos``, ``Spatial_blocks.*`` / ``blocks.*`` / ``weighted_mean``); keys may
    carry a DataParallel ``module.`` prefix. A file is read with ``load_checkpoint(allow_numpy=True)``,
    so the release's live numpy ``RandomState``, numpy scalars and optimizer state are accepted.

    D, depth, F, J, the MLP ratio and time conditioning are read off the tensor shapes; ``heads``
    cannot be and defaults to 8 (every release). ``pde`` defaults to True for Diff3DHPE and False
    for MixSTE / PoseFormer. Returns the model in eval mode, with ``official_layout`` set to the
    release name: ``model(x2d, y_t, t)`` (denoiser) or ``model(x2d)`` (regression); MixSTE maps
    (B, F, 17, 2) -> (B, F, 17, 3), PoseFormer to the centre frame (B, 1, 17, 3), in the release's
    normalised units (see ``diff3dhpe.data.normalisation``).

    ``source`` names an already loaded dict in error messages (default "official checkpoint dict").

    Raises CheckpointError: unreadable or unsafe file; unrecognised layout (names the layouts tried
    and the first keys found); shapes that cannot be inferred; missing, unexpected or wrong-shape keys.
    """
    if isinstance(path_or_dict, Mapping):
        checkpoint, source = path_or_dict, source or "official checkpoint dict"
    else:
        checkpoint = load_checkpoint(path_or_dict, allow_numpy=True)
        source = f"official checkpoint {path_or_dict}"
    kind, backbone, state_dict = _official_backbone_state(checkpoint, source)
    source = f"{source} ({kind})"
    use_pde = (kind == "Diff3DHPE") if pde is None else pde
    infer = _infer_mixste_config if backbone == "mixste" else _infer_poseformer_config
    config = infer(state_dict, source, heads, use_pde)
    try:
        model = build_model(**config)
    except ConfigError as err:
        raise CheckpointError(f"{source}: inferred model config {config} is invalid: {err}") from err
    load_state_dict_strict(model, state_dict, source)
    model.official_layout = kind
    return model.eval()


# ---------------------------------------------------------------- any lifter checkpoint

# The variant an official release file is (EXPERIMENTS.md §1): (release name, backbone) -> variant.
# A bare backbone state dict says only its backbone and objective: denoisers are taken as Diff3DHPE.
OFFICIAL_VARIANTS = {
    ("Diff3DHPE", "mixste"): "diff3dhpe-m",
    ("Diff3DHPE", "poseformer"): "diff3dhpe-p",
    ("MixSTE", "mixste"): "mixste",
    ("PoseFormer", "poseformer"): "poseformer",
}
_BARE_VARIANTS = {("mixste", "denoiser"): "diff3dhpe-m", ("poseformer", "denoiser"): "diff3dhpe-p",
                  ("mixste", "regression"): "mixste", ("poseformer", "regression"): "poseformer"}


@dataclass
class LoadedCheckpoint:
    """A lifter read from any checkpoint file ``load_lifter`` knows, and what the file says about it.

    ``origin``: "official" (a release file, METHOD.md §8) or "ours" (``model.pt`` / ``checkpoint.pt``).
    ``layout``: the release name ("Diff3DHPE", "MixSTE", "PoseFormer", "state dict") or "diff3dhpe".
    ``variant``: the EXPERIMENTS.md §1 variant (stored in our files, inferred for release files).
    ``run``: our files' run id (dataset, 2D input, F and seed it was trained with); None for releases.
    ``scale``: our files' normalisation scale in mm; None for releases (they store none, METHOD.md §8a).
    ``alphas_cumprod``: the noise-schedule buffer a release Diff3DHPE file carries (T,), else None.
    ``diffusion``: our files' schedule settings {timesteps, compat, k_clip} (files written before they
    were stored: None, and the caller's params.diffusion applies).
    """

    path: Path
    model: nn.Module
    origin: str
    layout: str
    variant: str
    run: str | None = None
    scale: float | None = None
    alphas_cumprod: torch.Tensor | None = None
    diffusion: dict | None = None

    @property
    def frames(self) -> int:
        """F, the input window of the model (read off its temporal positional embedding)."""
        return int(self.model.config["frames"])


def load_lifter(path: PathLike, *, heads: int = 8) -> LoadedCheckpoint:
    """Read a lifter from an official release file or from our own ``model.pt`` / ``checkpoint.pt``.

    The file is read once with ``load_checkpoint(allow_numpy=True)`` (our files need no more than the
    default allow-list; releases add numpy scalars and the legacy RandomState). A dict with
    ``model_config`` is ours: rebuilt from it, ``variant``, ``run`` and ``scale`` taken from the file.
    Anything else goes to ``load_official`` (``heads``: not recoverable from shapes, 8 in every
    release); its variant comes from ``OFFICIAL_VARIANTS``. The model is returned in eval mode, on the CPU.

    Raises CheckpointError: file missing, unreadable or unsafe; an unrecognised layout (naming the
    layouts tried and the keys found); our file without ``variant`` or with a variant that does not
    match its model (backbone, objective); a model with another joint count than 17.
    """
    path = Path(path)
    state = load_checkpoint(path, allow_numpy=True)
    if "model_config" in state:
        model, _ = _model_from_state(state, path)
        variant = state.get("variant")
        if variant not in VARIANTS:
            raise CheckpointError(
                f"checkpoint {path}: entry 'variant' is {variant!r}, expected one of {sorted(VARIANTS)} "
                f"(files written by `diff3dhpe train` store it)"
            )
        if not isinstance(state.get("scale"), int | float) or not state["scale"] > 0:
            raise CheckpointError(f"checkpoint {path}: entry 'scale' (mm) is {state.get('scale')!r}, "
                                  f"expected a positive number")
        loaded = LoadedCheckpoint(path, model, "ours", "diff3dhpe", variant, run=state.get("run"),
                                  scale=float(state["scale"]), diffusion=state.get("diffusion"))
    else:
        model = load_official(state, heads=heads, source=f"official checkpoint {path}")
        config = model.config
        variant = OFFICIAL_VARIANTS.get((model.official_layout, config["backbone"])) or _BARE_VARIANTS[
            (config["backbone"], config["objective"])]
        loaded = LoadedCheckpoint(path, model, "official", model.official_layout, variant,
                                  alphas_cumprod=_release_schedule(state))
    spec = VARIANTS[loaded.variant]
    config = loaded.model.config
    if (config["backbone"], config["objective"]) != (spec.backbone, spec.model_objective):
        raise CheckpointError(
            f"checkpoint {path}: holds a {config['backbone']} {config['objective']} model, but its variant "
            f"{loaded.variant!r} is a {spec.backbone} {spec.model_objective}"
        )
    if config["num_joints"] != NUM_JOINTS:
        raise CheckpointError(f"checkpoint {path}: the model has {config['num_joints']} joints, "
                              f"expected {NUM_JOINTS} (Human3.6M / MPI-INF-3DHP layouts)")
    return loaded


def _model_from_state(state: Mapping, path: Path) -> tuple[nn.Module, Mapping]:
    """Our model of ``state['model_config']`` with the weights of ``state['model']`` (eval mode)."""
    if "model" not in state:
        raise CheckpointError(f"checkpoint {path} has no 'model' entry (found keys {sorted(state)})")
    try:
        model = build_model(**state["model_config"])
    except (ConfigError, TypeError) as err:
        raise CheckpointError(
            f"checkpoint {path}: model_config {state['model_config']!r} is invalid: {err}"
        ) from err
    load_state_dict_strict(model, state["model"], f"checkpoint {path}")
    return model.eval(), state


def _release_schedule(checkpoint: Mapping) -> torch.Tensor | None:
    """The ``alphas_cumprod`` buffer of a release Diff3DHPE wrapper ('module.alphas_cumprod'), if any."""
    entry = checkpoint.get("model_diffusion")
    if not isinstance(entry, Mapping):
        return None
    for key, value in entry.items():
        if _strip_prefix(str(key), "module.") == "alphas_cumprod" and isinstance(value, torch.Tensor):
            return value.detach().to(torch.float64).flatten()
    return None
