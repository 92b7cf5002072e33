"""The cost planner of `diff3dhpe plan` (diff3dhpe.plan) and the models' closed-form FLOP counts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from benchmarks.measure import count_flops
from diff3dhpe.config import (
    DataParams,
    DiffusionParams,
    EvaluateParams,
    ExperimentGroup,
    ModelParams,
    Params,
    StatsParams,
    Sweeps,
    TrainParams,
    load_params,
)
from diff3dhpe.errors import ConfigError
from diff3dhpe.models import build_model
from diff3dhpe.plan import (
    DATASET_FRAMES,
    GPU_PEAK_TFLOPS,
    MEASURED_MFU,
    mixste_forward_flops,
    plan,
    plan_report,
    poseformer_forward_flops,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("objective", ["denoiser", "regression"])
def test_mixste_closed_form_matches_counted_flops(objective):
    model = build_model("mixste", frames=7, objective=objective, dim=16, depth=2, heads=4).eval()
    x2d, y_t, t = torch.randn(3, 7, 17, 2), torch.randn(3, 7, 17, 3), torch.tensor([1, 50, 999])
    args = (x2d, y_t, t) if objective == "denoiser" else (x2d,)
    counted = count_flops(lambda: model(*args))
    denoiser = objective == "denoiser"
    assert counted == 3 * mixste_forward_flops(7, 16, 2, denoiser=denoiser, time_embedding=denoiser)


def test_poseformer_closed_form_matches_counted_flops():
    model = build_model("poseformer", frames=5, objective="denoiser", dim=8, depth=2, heads=4).eval()
    x2d, y_t, t = torch.randn(2, 5, 17, 2), torch.randn(2, 1, 17, 3), torch.tensor([3, 7])
    assert count_flops(lambda: model(x2d, y_t, t)) == 2 * poseformer_forward_flops(5, 8, 2)


def test_paper_size_forward_flops_match_method_md():
    # METHOD.md §4a: ≈ 294.9 GFLOP per clip at F=243, 94.6 at F=81
    assert mixste_forward_flops(243) / 1e9 == pytest.approx(294.9, abs=0.05)
    assert mixste_forward_flops(81) / 1e9 == pytest.approx(94.6, abs=0.1)


def test_training_step_counts_about_three_forwards():
    model = build_model("mixste", frames=5, objective="denoiser", dim=16, depth=1, heads=4, drop_path=0.0)
    x2d, y_t, t = torch.randn(2, 5, 17, 2), torch.randn(2, 5, 17, 3), torch.tensor([1, 2])
    forward = count_flops(lambda: model(x2d, y_t, t))
    step = count_flops(lambda: model(x2d, y_t, t).sum().backward())
    assert 2.8 * forward < step < 3.3 * forward


def _params(variant="diff3dhpe-m", frames=81, seeds=(0,), dataset="h36m", data=None, **train) -> Params:
    """Params whose matrix is one group; built section by section (each validated) because a lone
    group does not carry the runs the default sweeps and t-test name, which the planner ignores."""
    input_2d = "gt" if dataset == "3dhp" else "det"
    return Params.model_construct(
        data=DataParams(**(data or {})),
        model=ModelParams(),
        diffusion=DiffusionParams(steps={dataset: {input_2d: {frames: 9}}}, ddim_steps={frames: 40}),
        evaluate=EvaluateParams(flip_test=True, hypotheses=3),
        train=TrainParams(epochs=2, flip_augment=True, **train),
        experiments={"g": ExperimentGroup(dataset=dataset, input_2d=[input_2d], frames=[frames],
                                          variants=[variant], seeds=list(seeds))},
        sweeps=Sweeps(),
        stats=StatsParams(ttest=[]),
    )


def test_plan_flops_and_hours_by_hand():
    result = plan(_params(seeds=(0, 1)), gpu="A100", precision="bf16")
    forward = mixste_forward_flops(81)
    # S1 S5 S6 S7 train (S8 validates): 4 of the 5 subjects; flip augmentation doubles
    train_clips = math.ceil(round(DATASET_FRAMES["h36m"]["train"] * 4 / 5) / 81) * 2
    test_passes = math.ceil(DATASET_FRAMES["h36m"]["test"] / 81) * 9 * 2 * 3  # S × flip × hypotheses
    per_run = 3 * forward * train_clips * 2 + forward * test_passes
    assert result["runs"] == 2
    assert result["total_flops"] == pytest.approx(2 * per_run)
    sustained = GPU_PEAK_TFLOPS["A100"]["bf16"] * 1e12 * MEASURED_MFU["bf16"]
    assert result["hours"] == pytest.approx(2 * per_run / sustained / 3600)


@pytest.mark.parametrize(
    "data, dataset, share",
    [
        ({"subjects": {"train": ["S1", "S5", "S6", "S7", "S8"], "validation": []}}, "h36m", 1.0),
        ({"subjects": {"train": ["S1", "S5"]}}, "h36m", 2 / 5),
        ({}, "3dhp", 14 / 16),  # S8 (Seq1 and Seq2) validates
        ({"mpi3dhp_validation": ["S8 Seq2"]}, "3dhp", 15 / 16),
        ({"mpi3dhp_validation": []}, "3dhp", 1.0),
    ],
)
def test_plan_trains_only_on_the_training_subjects(data, dataset, share):
    params = _params(variant="mixste", frames=27, dataset=dataset, data=data)
    train = [r for r in plan(params)["rows"] if r.kind == "train"][0]
    assert train.passes == math.ceil(round(DATASET_FRAMES[dataset]["train"] * share) / 27) * 2 * 2


def test_plan_regression_has_one_pass_per_test_clip_and_honours_clip_cap():
    result = plan(_params(variant="mixste", max_clips_per_epoch=100), precision="fp32")
    forward = mixste_forward_flops(81, denoiser=False, time_embedding=False)
    evaluate = [r for r in result["rows"] if r.kind == "evaluate"][0]
    train = [r for r in result["rows"] if r.kind == "train"][0]
    assert evaluate.passes == math.ceil(DATASET_FRAMES["h36m"]["test"] / 81) * 2
    assert train.flops == pytest.approx(3 * forward * 100 * 2)


def test_plan_clip_cap_may_be_given_per_frames():
    capped = plan(_params(variant="mixste", max_clips_per_epoch={81: 10, 27: 99}))
    uncapped = plan(_params(variant="mixste", max_clips_per_epoch=None))
    train = [r for r in capped["rows"] if r.kind == "train"][0]
    assert train.passes == 10 * 2  # capped clips × epochs
    assert [r for r in uncapped["rows"] if r.kind == "train"][0].passes > train.passes


def test_plan_refuses_a_clip_cap_without_the_runs_frames_as_training_does():
    with pytest.raises(ConfigError, match="max_clips_per_epoch has no entry for 81 frames"):
        plan(_params(variant="mixste", max_clips_per_epoch={27: 99}))


def test_plan_reads_ddim_steps_for_ddim_m():
    result = plan(_params(variant="ddim-m"))
    evaluate = [r for r in result["rows"] if r.kind == "evaluate"][0]
    assert evaluate.passes == math.ceil(DATASET_FRAMES["h36m"]["test"] / 81) * 40 * 2 * 3


@pytest.mark.parametrize(
    "params, gpu, precision, message",
    [
        (_params(), "TPU", None, "unknown GPU"),
        (_params(), "H100", "fp16", "precision must be one of"),
        (Params.model_construct(**{**_params().__dict__, "experiments": {}}), "H100", None, "no experiments"),
    ],
)
def test_plan_errors_name_the_problem(params, gpu, precision, message):
    with pytest.raises(ConfigError, match=message):
        plan(params, gpu=gpu, precision=precision)


def test_plan_precision_defaults_to_the_params_file():
    assert plan(_params(precision="bf16"))["precision"] == "bf16"
    assert plan(_params())["precision"] == "fp32"  # the schema's default, train.precision: fp32


def test_plan_report_of_the_repository_params():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    report = plan_report(load_params(REPO / "params.yaml"), gpu="H100")
    runs = sum(
        len(g["input_2d"]) * len(g["frames"]) * len(g["variants"]) * len(g["seeds"])
        for g in raw["experiments"].values()
    )
    assert report.splitlines()[0].startswith(f"{runs} trained runs on H100")
    assert "h36m-det-f27-diff3dhpe-m-s0" in report and report.splitlines()[-2].startswith("total")
