"""Checkpoints (METHOD.md §8, EXPERIMENTS.md §4): atomic save, safe load, official imports."""

from __future__ import annotations

import os
import pickle
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import diff3dhpe.checkpoints as ckpt
from diff3dhpe.atomic import remove_stale_temp_files
from diff3dhpe.checkpoints import (
    load_checkpoint,
    load_lifter,
    load_model,
    load_official,
    release_safe_globals,
    save_checkpoint,
)
from diff3dhpe.errors import CheckpointError
from diff3dhpe.models import build_model

J = 17
SCHEDULE_BUFFERS = ["betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                    "posterior_variance", "posterior_mean_coef1"]


def tiny_model(objective="denoiser", frames=9, **kwargs):
    torch.manual_seed(0)
    model = build_model("mixste", frames=frames, objective=objective, dim=16, depth=2, heads=8, **kwargs)
    with torch.no_grad():  # non-zero positional embeddings, so that loading them is visible
        model.Spatial_pos_embed.normal_()
        model.Temporal_pos_embed.normal_()
    return model.eval()


def sample_inputs(frames=9, batch=2):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(batch, frames, J, 2, generator=g), torch.randn(batch, frames, J, 3, generator=g),
            torch.tensor([5, 700]))


def official_diff3dhpe(model) -> dict:
    """Release layout: DataParallel(diffusion wrapper(backbone)), schedule buffers, training state."""
    sd = {f"module.model.{k}": v.clone() for k, v in model.state_dict().items()}
    sd.update({f"module.{name}": torch.rand(1000, dtype=torch.float64) for name in SCHEDULE_BUFFERS})
    return {"epoch": 12, "best_epoch": 11, "min_loss": 40.1, "lr": 3.5e-4,
            "optimizer": {"state": {}, "param_groups": [{"lr": 3.5e-4, "weight_decay": 0.1}]},
            "random_state": np.random.RandomState(3).get_state(), "model_diffusion": sd}


# ------------------------------------------------------------------ save / load


def test_save_and_load_round_trip(tmp_path):
    state = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3, "scale": 1234.5,
             "history": [{"loss": 0.5, "lr": 1e-3}], "variant": "diff3dhpe-m", "rng": torch.tensor([1, 2])}
    path = tmp_path / "sub" / "ckpt.pt"
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)
    assert loaded.keys() == state.keys() and loaded["history"] == state["history"]
    assert torch.equal(loaded["model"]["w"], state["model"]["w"])


def test_save_is_atomic_when_the_write_fails_midway(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"epoch": 1})

    def failing_save(obj, handle):
        handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}  # the previous checkpoint survives intact
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # and no temp file is left behind


def test_save_refuses_objects_a_safe_load_could_not_read(tmp_path):
    with pytest.raises(CheckpointError, match=r"state\['rng'\]\['numpy'\] is a ndarray"):
        save_checkpoint(tmp_path / "x.pt", {"rng": {"numpy": np.zeros(3)}})
    assert not (tmp_path / "x.pt").exists()


class _Payload:
    """Unpickling this would create a marker file: proof that code ran during load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_refuses_a_pickle_with_arbitrary_objects(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="safe load refuses"):
        load_checkpoint(path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="safe load refuses"):
        load_official(path)  # numpy is allowed there, arbitrary objects still are not
    assert not marker.exists()


def test_load_reports_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.randn(100, 100)}})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt cannot be read"):
        load_checkpoint(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.txt cannot be read"):
        load_checkpoint(text)
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(2), tensor_only)
    with pytest.raises(CheckpointError, match="holds a Tensor, expected a dict"):
        load_checkpoint(tensor_only)


def test_load_model_rebuilds_the_trained_model(tmp_path):
    model = tiny_model(pde=False)
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"model_config": model.config, "model": model.state_dict(), "scale": 900.0})
    loaded, state = load_model(path)
    assert not loaded.training and state["scale"] == 900.0 and loaded.config == model.config
    x2d, y_t, t = sample_inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x2d, y_t, t), model(x2d, y_t, t))


def test_load_model_names_missing_entries_and_keys(tmp_path):
    model = tiny_model()
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"model": model.state_dict()})
    with pytest.raises(CheckpointError, match="no 'model_config' entry"):
        load_model(path)
    weights = model.state_dict()
    del weights["head.1.bias"]
    save_checkpoint(path, {"model_config": model.config, "model": weights})
    with pytest.raises(CheckpointError, match=r"missing keys \['head.1.bias'\]"):
        load_model(path)


# ------------------------------------------------------------------ official checkpoints


def test_our_mixste_uses_the_official_key_names():
    model = build_model("mixste", frames=9, objective="denoiser", dim=16, depth=1, heads=8)
    block_parts = ["norm1", "attn.qkv", "attn.proj", "norm2", "time_mlp.1", "mlp.fc1", "mlp.fc2"]
    top = ["time_mlp.1", "time_mlp.3", "fusion_layer", "Spatial_norm", "Temporal_norm", "head.0", "head.1"]
    modules = top + [f"{blocks}.0.{part}" for blocks in ("STEblocks", "TTEblocks") for part in block_parts]
    expected = {f"{m}.{p}" for m in modules for p in ("weight", "bias")} | {"Spatial_pos_embed",
                                                                             "Temporal_pos_embed"}
    assert set(model.state_dict()) == expected
    regression = build_model("mixste", frames=9, objective="regression", dim=16, depth=1, heads=8)
    assert "Spatial_patch_to_embedding.weight" in regression.state_dict()
    assert not any("time_mlp" in k for k in regression.state_dict())


@pytest.mark.parametrize("from_file", [False, True])
def test_official_diff3dhpe_checkpoint_round_trips(tmp_path, from_file):
    model = tiny_model(frames=9)
    official = official_diff3dhpe(model)
    if from_file:
        path = tmp_path / "h36m_best_epoch.bin"
        torch.save(official, path)  # as the release wrote it, numpy RNG state included
        official = path
    loaded = load_official(official)
    assert not loaded.training and loaded.objective == "denoiser"
    assert {k: loaded.config[k] for k in ("frames", "dim", "depth", "heads", "time_embedding", "pde")} == {
        "frames": 9, "dim": 16, "depth": 2, "heads": 8, "time_embedding": True, "pde": True}
    x2d, y_t, t = sample_inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x2d, y_t, t), model(x2d, y_t, t))


def test_official_diff3dhpe_without_time_conditioning_is_detected():
    model = tiny_model(frames=9, time_embedding=False)
    loaded = load_official(official_diff3dhpe(model))
    assert loaded.time_mlp is None and loaded.config["time_embedding"] is False


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_official_mixste_checkpoint_round_trips(tmp_path, prefix):
    model = tiny_model("regression", frames=9, pde=False)
    official = {"epoch": 80, "lr": 1e-4, "model_pos": {prefix + k: v for k, v in model.state_dict().items()}}
    path = tmp_path / "best_epoch.bin"
    torch.save(official, path)
    loaded = load_official(path)
    assert loaded.objective == "regression" and loaded.config["pde"] is False
    x2d, _, _ = sample_inputs()
    with torch.no_grad():
        assert torch.equal(loaded(x2d), model(x2d))
    assert load_official(official, pde=True).config["pde"] is True  # override for experiments


def test_corrupted_official_checkpoints_name_the_offending_keys():
    model = tiny_model()
    missing = official_diff3dhpe(model)
    del missing["model_diffusion"]["module.model.TTEblocks.1.mlp.fc2.bias"]
    only_missing = r"missing keys \['TTEblocks.1.mlp.fc2.bias'\], unexpected keys \[\]"
    with pytest.raises(CheckpointError, match=only_missing):
        load_official(missing)
    extra = official_diff3dhpe(model)
    extra["model_diffusion"]["module.model.extra_head.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"unexpected keys \['extra_head.weight'\]"):
        load_official(extra)
    wrong_shape = official_diff3dhpe(model)
    wrong_shape["model_diffusion"]["module.model.head.1.weight"] = torch.zeros(4, 16)
    with pytest.raises(CheckpointError, match=r"head.1.weight: checkpoint \(4, 16\) vs model \(3, 16\)"):
        load_official(wrong_shape)
    with pytest.raises(CheckpointError, match="'model_diffusion'.*'model_pos'"):
        load_official({"epoch": 1, "state_dict": {}})
    with pytest.raises(CheckpointError, match="'model_pos' keys.*Spatial_pos_embed"):
        load_official({"model_pos": {"Spatial_pos_embed": torch.zeros(1, 17, 8), "layer.w": torch.zeros(2)}})
    no_pos = official_diff3dhpe(model)
    del no_pos["model_diffusion"]["module.model.Temporal_pos_embed"]
    with pytest.raises(CheckpointError, match="'Temporal_pos_embed' is missing"):
        load_official(no_pos)


def test_stale_temp_files_of_killed_writers_are_removed_and_others_kept(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"epoch": 1})
    stale = [tmp_path / ".checkpoint.pt.abc123.tmp", tmp_path / ".checkpoint.pt.zz.tmp"]
    unrelated = [tmp_path / ".model.pt.abc.tmp", tmp_path / "checkpoint.pt.tmp", tmp_path / "notes.txt"]
    for f in stale + unrelated:
        f.write_bytes(b"PK\x03\x04 half")  # what a SIGKILL mid-write leaves
    assert sorted(remove_stale_temp_files(path)) == sorted(stale)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["checkpoint.pt", *(f.name for f in unrelated)])
    assert load_checkpoint(path) == {"epoch": 1}
    assert remove_stale_temp_files(tmp_path / "missing.pt") == []


# ------------------------------------------------------------------ release files as the release writes them
#
# The official training scripts call torch.save({'epoch', 'best_epoch', 'min_loss', 'min_train_loss',
# 'lr', 'random_state', 'optimizer', 'model_pos' | 'model_diffusion'}) (METHOD.md §8a): random_state
# is the batch generator's live numpy RandomState, losses and lr may be numpy scalars, optimizer a
# full AdamW state_dict, and the weights come from a DataParallel wrapper ('module.' prefix).


class _DataParallelKeys(nn.Module):
    """Stands in for nn.DataParallel: the same 'module.' state-dict prefix, without needing a GPU."""

    def __init__(self, module):
        super().__init__()
        self.module = module


class _ReleaseDiffusion(nn.Module):
    """The release's diffusion wrapper: the backbone as ``model`` plus noise-schedule buffers."""

    def __init__(self, backbone):
        super().__init__()
        self.model = backbone
        for name in SCHEDULE_BUFFERS:
            self.register_buffer(name, torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))


RELEASES = {  # layout -> (backbone, objective, checkpoint entry)
    "Diff3DHPE": ("mixste", "denoiser", "model_diffusion"),
    "Diff3DHPE-P": ("poseformer", "denoiser", "model_diffusion"),
    "MixSTE": ("mixste", "regression", "model_pos"),
    "PoseFormer": ("poseformer", "regression", "model_pos"),
}


def _call(model, objective, frames=9, batch=2):
    g = torch.Generator().manual_seed(7)
    x2d = torch.randn(batch, frames, J, 2, generator=g)
    if objective == "regression":
        return model(x2d)
    out_frames = 1 if model.seq2frame else frames
    return model(x2d, torch.randn(batch, out_frames, J, 3, generator=g), torch.tensor([3, 900]))


def write_release_checkpoint(path, layout, *, rng_seed=1234, pickle_module=pickle):
    """Train one AdamW step and save exactly what the release's save call saves; return the backbone."""
    backbone_name, objective, entry = RELEASES[layout]
    torch.manual_seed(0)
    backbone = build_model(backbone_name, frames=9, objective=objective, dim=16, depth=2, heads=8,
                           pde=objective == "denoiser")
    with torch.no_grad():  # non-zero positional embeddings, so that loading them is visible
        backbone.Spatial_pos_embed.normal_()
        backbone.Temporal_pos_embed.normal_()
    trained = _DataParallelKeys(_ReleaseDiffusion(backbone) if entry == "model_diffusion" else backbone)
    lr = np.float64(4e-5) * np.float64(0.993) ** 3  # a numpy scalar, as the release's decayed lr can be
    optimizer = torch.optim.AdamW(trained.parameters(), lr=lr, weight_decay=0.1)
    _call(backbone.train(), objective).square().mean().backward()
    optimizer.step()  # exp_avg / exp_avg_sq / step now in the optimizer state
    random_state = np.random.RandomState(rng_seed)  # the batch generator's live RNG, already used
    random_state.permutation(50)
    torch.save({
        "epoch": 17,
        "best_epoch": np.int64(15),
        "min_loss": np.float64(41.25),
        "min_train_loss": np.float32(0.03125),
        "lr": lr,
        "random_state": random_state,
        "optimizer": optimizer.state_dict(),
        entry: trained.state_dict(),
    }, path, pickle_module=pickle_module)
    return backbone.eval(), random_state


@pytest.mark.parametrize("layout", list(RELEASES))
def test_release_checkpoint_written_by_the_release_save_call_loads_and_predicts_identically(tmp_path, layout):
    path = tmp_path / f"{layout}.bin"
    source, rng = write_release_checkpoint(path, layout)
    unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    assert "numpy.random._pickle.__randomstate_ctor" in unsafe  # really the live RandomState

    loaded = load_official(path)
    backbone, objective, _ = RELEASES[layout]
    assert not loaded.training and loaded.official_layout == layout.split("-")[0]
    inferred = ("backbone", "objective", "frames", "dim", "depth", "mlp_ratio")
    assert {k: loaded.config[k] for k in inferred} == {
        "backbone": backbone, "objective": objective, "frames": 9, "dim": 16, "depth": 2, "mlp_ratio": 2.0}
    assert loaded.config["pde"] is (objective == "denoiser")
    with torch.no_grad():
        assert torch.equal(_call(loaded, objective), _call(source, objective))

    state = load_checkpoint(path, allow_numpy=True)
    assert state["lr"] == pytest.approx(4e-5 * 0.993**3) and isinstance(state["min_loss"], np.float64)
    assert state["optimizer"]["state"][0]["exp_avg"].shape == next(source.parameters()).shape
    # the RNG comes back live and continues the same stream
    assert isinstance(state["random_state"], np.random.RandomState)
    np.testing.assert_array_equal(state["random_state"].randint(0, 10**6, 8), rng.randint(0, 10**6, 8))


def test_our_strict_loader_refuses_a_release_file_and_points_to_load_official(tmp_path):
    path = tmp_path / "mixste.bin"
    write_release_checkpoint(path, "MixSTE")
    with pytest.raises(CheckpointError, match=r"safe load refuses \(found numpy.*load_official"):
        load_checkpoint(path)


# numpy 1 wrote numpy.core.* module paths, and RandomState.__reduce__ passed the bit generator's
# name (1.17-1.24: ('MT19937',); 1.25: ('MT19937', __bit_generator_ctor)); numpy < 1.17 used
# numpy.random.__RandomState_ctor() and a state tuple. A pure-Python pickler writes those forms.
_NUMPY_RANDOM_PICKLE = __import__("numpy.random._pickle", fromlist=["_pickle"])
_RANDOMSTATE_CTOR = getattr(_NUMPY_RANDOM_PICKLE, "__randomstate_ctor")
_BIT_GENERATOR_CTOR = getattr(_NUMPY_RANDOM_PICKLE, "__bit_generator_ctor")


def _numpy1_pickle_module(random_state_form):
    class Numpy1Pickler(pickle._Pickler):
        def reducer_override(self, obj):
            if type(obj) is not np.random.RandomState:
                return NotImplemented
            if random_state_form == "numpy<1.17":
                return getattr(np.random, "__RandomState_ctor"), (), obj.get_state(legacy=True)
            by_name = random_state_form == "numpy 1.17-1.24"
            args = ("MT19937",) if by_name else ("MT19937", _BIT_GENERATOR_CTOR)
            return _RANDOMSTATE_CTOR, args, obj.get_state(legacy=False)

        def save_global(self, obj, name=None):
            module = getattr(obj, "__module__", "")
            if module.startswith("numpy._core"):  # numpy 1 spelling of the same module
                qualname = (name or obj.__qualname__).encode()
                self.write(pickle.GLOBAL + b"numpy.core" + module[len("numpy._core"):].encode() + b"\n"
                           + qualname + b"\n")
                self.memoize(obj)
                return
            super().save_global(obj, name)

    module = types.ModuleType("numpy1_pickle")
    module.Pickler = Numpy1Pickler
    return module


@pytest.mark.parametrize("random_state_form", ["numpy 1.17-1.24", "numpy 1.25", "numpy<1.17"])
def test_release_checkpoint_pickled_by_numpy_1_loads(tmp_path, random_state_form):
    path = tmp_path / "numpy1.bin"
    numpy1 = _numpy1_pickle_module(random_state_form)
    source, rng = write_release_checkpoint(path, "MixSTE", pickle_module=numpy1)
    unsafe = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    assert {"numpy.core.multiarray.scalar", "numpy.core.multiarray._reconstruct"} <= unsafe
    assert not any(name.startswith("numpy._core") for name in unsafe)
    loaded = load_official(path)
    with torch.no_grad():
        assert torch.equal(_call(loaded, "regression"), _call(source, "regression"))
    state = load_checkpoint(path, allow_numpy=True)
    np.testing.assert_array_equal(state["random_state"].randint(0, 10**6, 8), rng.randint(0, 10**6, 8))


def test_the_allow_list_is_exactly_numpy_scalars_arrays_and_the_legacy_rng():
    rng = {"numpy.random._pickle.__randomstate_ctor", "numpy.random._pickle.__bit_generator_ctor",
           "numpy.random.__RandomState_ctor", "numpy.random._mt19937.MT19937",
           "numpy.random.mtrand.RandomState"}
    arrays = {f"{core}.multiarray.{name}" for core in ("numpy._core", "numpy.core")
              for name in ("_reconstruct", "scalar")} | {"numpy.ndarray", "numpy.dtype"}
    numeric = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64"]
    dtype_classes = {type(np.dtype(name)) for name in numeric}
    allowed = release_safe_globals()
    dtype_names = {f"{c.__module__}.{c.__qualname__}" for c in dtype_classes}
    assert {name for _, name in allowed} == rng | arrays | dtype_names
    objects = {obj for obj, _ in allowed}
    for refused in ("O", "U3", "S3", "V8", "complex128", "datetime64[s]"):
        assert type(np.dtype(refused)) not in objects
    assert np.random.PCG64 not in objects and np.random.Generator not in objects


class _Reduces:
    """Pickles as ``func(*args)``: unpickling it calls func, which is what an attacker would want."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _malicious(kind, marker):
    if kind == "os.system":
        return _Reduces(os.system, f"touch {marker}")
    if kind == "builtins.eval":
        return _Reduces(eval, f"open({str(marker)!r}, 'w').close()")
    if kind == "bit generator ctor abused":  # an admitted numpy global asked to build another class
        return _Reduces(_BIT_GENERATOR_CTOR, OrderedDict)
    if kind == "numpy Generator":  # a numpy RNG the releases never pickle
        return np.random.default_rng(0)
    raise AssertionError(kind)


FORBIDDEN = ["os.system", "builtins.eval", "bit generator ctor abused", "numpy Generator"]


@pytest.mark.parametrize("kind", FORBIDDEN)
def test_release_file_with_a_forbidden_global_is_refused_without_running_it(tmp_path, kind):
    """A real torch zip checkpoint in the release layout, with one poisoned entry."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    model = tiny_model("regression", pde=False)
    torch.save({"epoch": 3, "lr": np.float64(1e-4), "random_state": np.random.RandomState(0),
                "model_pos": model.state_dict(), "min_loss": _malicious(kind, marker)}, path)
    expected = {"os.system": f"found {os.system.__module__}.system", "builtins.eval": "found eval",
                "bit generator ctor abused": "bit generator is not admitted",
                "numpy Generator": "found numpy.random._pickle.__generator_ctor"}[kind]
    for load in (load_official, lambda p: load_checkpoint(p, allow_numpy=True)):
        with pytest.raises(CheckpointError, match="safe load refuses") as info:
            load(path)
        assert str(path) in str(info.value) and expected in str(info.value)
        assert not marker.exists()
    with pytest.raises(CheckpointError, match="safe load refuses"):
        load_checkpoint(path)  # our own loader admits no numpy at all
    assert not marker.exists()
    if kind in ("os.system", "builtins.eval"):  # the payload is live: an unrestricted load would run it
        torch.load(path, weights_only=False)
        assert marker.exists()


def test_unrecognised_file_names_the_layouts_tried_and_the_keys_found(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({f"key{i:02d}": i for i in range(25)} | {"state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError) as info:
        load_official(path)
    message = str(info.value)
    assert str(path) in message
    for layout in ("Diff3DHPE", "MixSTE", "PoseFormer"):
        assert layout in message
    assert "'key00'" in message and "'key19'" in message and "'state_dict'" not in message
    assert "(26 in all)" in message


def test_official_poseformer_with_unequal_stage_depths_is_explained():
    model = build_model("poseformer", frames=9, objective="regression", dim=16, depth=2, heads=8, pde=False)
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("blocks.1.")}
    with pytest.raises(CheckpointError, match="2 spatial blocks but 1 temporal blocks"):
        load_official({"model_pos": weights})


# ------------------------------------------------------------------ any file: load_lifter


@pytest.mark.parametrize("layout, variant", [("Diff3DHPE", "diff3dhpe-m"), ("Diff3DHPE-P", "diff3dhpe-p"),
                                             ("MixSTE", "mixste"), ("PoseFormer", "poseformer")])
def test_load_lifter_names_the_variant_a_release_file_is(tmp_path, layout, variant):
    path = tmp_path / f"{layout}.bin"
    write_release_checkpoint(path, layout)
    loaded = load_lifter(path)
    assert (loaded.origin, loaded.variant, loaded.frames, loaded.run, loaded.scale) == (
        "official", variant, 9, None, None)
    assert (loaded.alphas_cumprod is not None) == (layout.startswith("Diff3DHPE"))  # the wrapper's buffer


def test_load_lifter_reads_our_files_and_checks_their_variant(tmp_path):
    model = tiny_model()  # a MixSTE denoiser
    state = {"model_config": model.config, "model": model.state_dict(), "scale": 1000.0,
             "variant": "diff3dhpe-m", "run": "h36m-det-f9-diff3dhpe-m-s0"}
    path = tmp_path / "model.pt"
    save_checkpoint(path, state)
    loaded = load_lifter(path)
    assert (loaded.origin, loaded.variant, loaded.run, loaded.scale) == (
        "ours", "diff3dhpe-m", "h36m-det-f9-diff3dhpe-m-s0", 1000.0)
    save_checkpoint(path, {**state, "variant": "mixste"})
    with pytest.raises(CheckpointError, match="mixste denoiser model, but its variant 'mixste' is a mixste "
                                              "regression"):
        load_lifter(path)
    save_checkpoint(path, {k: v for k, v in state.items() if k != "variant"})
    with pytest.raises(CheckpointError, match="entry 'variant' is None"):
        load_lifter(path)
