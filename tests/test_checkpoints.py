"""Checkpoints (METHOD.md §8, EXPERIMENTS.md §4): atomic save, safe load, official imports."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import diff3dhpe.checkpoints as ckpt
from diff3dhpe.atomic import remove_stale_temp_files
from diff3dhpe.checkpoints import load_checkpoint, load_model, load_official, save_checkpoint
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
