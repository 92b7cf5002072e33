"""The speed switches (precision, compile, grad checkpointing, CUDA graphs) as the pipeline uses them."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import torch

from diff3dhpe import train as train_module
from diff3dhpe.assemble import load_trained
from diff3dhpe.checkpoints import load_checkpoint
from diff3dhpe.config import parse_params
from diff3dhpe.errors import ConfigError
from diff3dhpe.evaluate import evaluate_run
from diff3dhpe.models import Attention
from diff3dhpe.results import MODEL_FILE as MODEL
from diff3dhpe.train import train_run
from diff3dhpe.variants import parse_run_id

RUN = "h36m-det-f9-diff3dhpe-m-s0"


def _with(raw: dict, section: str, **values) -> dict:
    return {**raw, section: {**raw[section], **values}}


def test_run_digest_has_precision_but_not_speed_switches(study):
    raw, run = study["raw"], parse_run_id(RUN)
    base = parse_params(raw).run_digest(run)
    assert parse_params(_with(raw, "train", precision="fp32")).run_digest(run) == base
    assert parse_params(_with(raw, "train", compile=True, grad_checkpointing=True)).run_digest(run) == base
    assert parse_params(_with(raw, "train", precision="bf16")).run_digest(run) != base


def test_new_keys_are_validated(study):
    with pytest.raises(ConfigError, match=r"train\.precision"):
        parse_params(_with(study["raw"], "train", precision="fp16"))
    with pytest.raises(ConfigError, match=r"evaluate\.cuda_graphs"):
        parse_params(_with(study["raw"], "evaluate", cuda_graphs="sometimes"))
    with pytest.raises(ConfigError, match=r"train\.precision"):
        parse_params(_with(study["raw"], "train", precision="bf16-weights"))  # sampling-only choice
    with pytest.raises(ConfigError, match=r"evaluate\.compile"):
        parse_params(_with(study["raw"], "evaluate", compile="yes please"))
    assert parse_params(_with(study["raw"], "evaluate", precision="bf16-weights")).evaluate.precision == \
        "bf16-weights"


def test_compile_and_grad_checkpointing_train_the_same_weights(study, tmp_path, monkeypatch):
    compiled = []

    def eager_compile(model, enabled=True):  # a real torch.compile wrapper, without needing a C++ compiler
        compiled.append(enabled)
        return torch.compile(model, backend="eager", dynamic=False) if enabled else model

    train_run(study["params"], RUN, tmp_path / "plain", progress=False)
    monkeypatch.setattr(train_module, "compile_model", eager_compile)
    fast = parse_params(_with(study["raw"], "train", compile=True, grad_checkpointing=True))
    train_run(fast, RUN, tmp_path / "fast", progress=False)
    assert compiled == [True]
    plain = load_checkpoint(tmp_path / "plain" / RUN / MODEL)["model"]
    quick = load_checkpoint(tmp_path / "fast" / RUN / MODEL)["model"]
    assert quick.keys() == plain.keys()  # the module's own keys, no `_orig_mod.` prefix of the wrapper
    for key in plain:
        torch.testing.assert_close(quick[key], plain[key], atol=1e-6, rtol=0, msg=key)


def test_bf16_on_cpu_trains_in_fp32_with_a_note(study, tmp_path, caplog):
    train_run(study["params"], RUN, tmp_path / "fp32", progress=False)
    with caplog.at_level(logging.INFO, logger="diff3dhpe.train"):
        train_run(parse_params(_with(study["raw"], "train", precision="bf16")), RUN, tmp_path / "bf16",
                  progress=False)
    assert "bf16 applies on CUDA only" in caplog.text
    a = load_checkpoint(tmp_path / "fp32" / RUN / MODEL)["model"]
    b = load_checkpoint(tmp_path / "bf16" / RUN / MODEL)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cuda_graphs_switch_gives_the_eager_metrics(study, tmp_path):
    """On CPU the GraphedSampler runs its loop eagerly: the same numbers as Diffusion.sample."""
    train_run(study["params"], RUN, tmp_path, progress=False)
    eager, _ = evaluate_run(study["params"], RUN, tmp_path)
    graphed, _ = evaluate_run(parse_params(_with(study["raw"], "evaluate", cuda_graphs=True)), RUN, tmp_path)
    pd.testing.assert_frame_equal(graphed, eager)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision, compiled", [("fp32", False), ("bf16", False), ("bf16-weights", False),
                                                 ("fp32", True)])
def test_cuda_graphs_with_padded_last_batch_match_eager_on_gpu(study, tmp_path, precision, compiled):
    raw = _with(study["raw"], "train", device="cuda")
    train_run(parse_params(raw), RUN, tmp_path, progress=False)
    raw = _with(raw, "evaluate", batch_size=7)  # 7 does not divide the clip count
    reference, _ = evaluate_run(parse_params(raw), RUN, tmp_path)  # plain fp32 eager
    raw = _with(raw, "evaluate", precision=precision, compile=compiled)
    eager, _ = evaluate_run(parse_params(raw), RUN, tmp_path)
    graphed, _ = evaluate_run(parse_params(_with(raw, "evaluate", cuda_graphs=True)), RUN, tmp_path)
    tolerance = 1e-4 if precision == "fp32" else 0.5  # mm: a graph replays the eager kernels
    pd.testing.assert_frame_equal(graphed, eager, atol=tolerance, rtol=0)
    # bf16 vs the fp32 path: within 1% of each error (measured on an H100: 0.15% for bf16 autocast,
    # 0.3% for bf16-weights, on this untrained model's ~430 mm errors)
    pd.testing.assert_frame_equal(eager, reference, atol=1e-4, rtol=0 if precision == "fp32" else 1e-2)


def test_gpu_only_evaluate_switches_sample_in_fp32_eagerly_on_cpu(study, tmp_path, caplog):
    train_run(study["params"], RUN, tmp_path, progress=False)
    plain, _ = evaluate_run(study["params"], RUN, tmp_path)
    raw = _with(study["raw"], "evaluate", precision="bf16-weights", compile=True)
    with caplog.at_level(logging.INFO, logger="diff3dhpe.assemble"):
        switched, _ = evaluate_run(parse_params(raw), RUN, tmp_path)
    assert "precision bf16-weights applies on CUDA only" in caplog.text
    assert "compile applies on CUDA only" in caplog.text
    pd.testing.assert_frame_equal(switched, plain)


def test_evaluate_spatial_attention_switches_the_loaded_model_and_keeps_the_metrics(study, tmp_path):
    train_run(study["params"], RUN, tmp_path, progress=False)
    plain, _ = evaluate_run(study["params"], RUN, tmp_path)
    params = parse_params(_with(study["raw"], "evaluate", spatial_attention="sdpa"))
    model = load_trained(params, RUN, tmp_path).model
    assert {m.backend for m in model.STEblocks.modules() if isinstance(m, Attention)} == {"sdpa"}
    assert {m.backend for m in model.TTEblocks.modules() if isinstance(m, Attention)} == {"auto"}
    switched, _ = evaluate_run(params, RUN, tmp_path)
    # errors in mm from two kernels that agree to 1e-5 in the model's normalised units
    pd.testing.assert_frame_equal(switched, plain, atol=1e-3, rtol=0)
    with pytest.raises(ConfigError, match=r"evaluate\.spatial_attention"):
        parse_params(_with(study["raw"], "evaluate", spatial_attention="flash"))
