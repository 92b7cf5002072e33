"""The experiment vocabulary (diff3dhpe.variants): one table of variants, one run-id format."""

from __future__ import annotations

import re
import typing

import pytest

from diff3dhpe.config import ExperimentGroup, load_params
from diff3dhpe.errors import ConfigError
from diff3dhpe.variants import RUN_ID_PATTERN, VARIANTS, RunSpec, parse_run_id

# EXPERIMENTS.md §1, written out: backbone, objective, PDE attention, sampler
TABLE = {
    "mixste": ("mixste", "regression", False, None),
    "diff3dhpe-m": ("mixste", "x0", True, "x0-ddim"),
    "diff3dhpe-m-nopde": ("mixste", "x0", False, "x0-ddim"),
    "ddim-m": ("mixste", "eps", True, "ddim"),
    "poseformer": ("poseformer", "regression", False, None),
    "diff3dhpe-p": ("poseformer", "x0", True, "x0-ddim"),
}


@pytest.mark.parametrize("name", list(TABLE))
def test_each_variant_is_the_row_of_experiments_md(name):
    variant = VARIANTS[name]
    assert (variant.backbone, variant.objective, variant.pde, variant.sampler) == TABLE[name]
    assert variant.diffusion == (variant.objective != "regression")
    assert variant.predicts == (None if variant.objective == "regression" else variant.objective)
    assert variant.model_objective == ("denoiser" if variant.diffusion else "regression")


def test_seq2frame_variants_predict_one_frame_per_window():
    assert {n for n, v in VARIANTS.items() if v.seq2frame} == {"poseformer", "diff3dhpe-p"}
    assert VARIANTS["diff3dhpe-p"].output_frames(81) == 1 and VARIANTS["diff3dhpe-m"].output_frames(81) == 81


def test_the_params_schema_takes_its_variant_names_from_the_table():
    annotation = ExperimentGroup.model_fields["variants"].annotation  # list[Literal[...]]
    (literal,) = typing.get_args(annotation)
    assert set(typing.get_args(literal)) == set(VARIANTS)


@pytest.mark.parametrize("config", ["params.yaml", "configs/paper.yaml"])
def test_every_run_id_round_trips_and_matches_the_snakemake_pattern(config):
    params = load_params(config)
    for kind in ("train", "robustness", "steps"):
        for run in params.runs(kind):
            assert parse_run_id(run.id) == run
            assert re.fullmatch(RUN_ID_PATTERN, run.id)


def test_run_spec_formats_the_documented_id():
    assert RunSpec("h36m", "det", 27, "diff3dhpe-m-nopde", 3).id == "h36m-det-f27-diff3dhpe-m-nopde-s3"


@pytest.mark.parametrize(
    "run_id, message",
    [("h36m-det-27-mixste-s0", "is not of the form"), ("h36m-cpn-f27-mixste-s0", "input_2d 'cpn'"),
     ("h36m-det-f27-videopose-s0", "variant 'videopose'")],
)
def test_a_bad_run_id_names_what_is_wrong(run_id, message):
    with pytest.raises(ConfigError, match=message):
        parse_run_id(run_id)
