"""The variants of EXPERIMENTS.md §1 and the run ids the pipeline is organised by.

A run id names one trained model: ``<dataset>-<input_2d>-f<frames>-<variant>-s<seed>``, e.g.
``h36m-det-f27-diff3dhpe-m-s0``. It is self-describing (``parse_run_id`` reads it back), so every
CLI command needs only ``--run ID`` plus params.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from diff3dhpe.errors import ConfigError

if TYPE_CHECKING:  # config imports this module; avoid the cycle at import time
    from diff3dhpe.config import Params


@dataclass(frozen=True)
class Variant:
    """How a variant is built, trained and sampled (one row of EXPERIMENTS.md §1)."""

    name: str
    backbone: str  # "mixste" (seq2seq) | "poseformer" (seq2frame)
    objective: str  # "regression" | "x0" | "eps"
    pde: bool  # GRAND (A - I)V attention
    sampler: str | None  # None | "x0-ddim" | "ddim"

    @property
    def diffusion(self) -> bool:
        return self.objective != "regression"

    @property
    def model_objective(self) -> str:
        """The build_model objective: denoisers take (x2d, y_t, t)."""
        return "regression" if self.objective == "regression" else "denoiser"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("mixste", "mixste", "regression", pde=False, sampler=None),
        Variant("diff3dhpe-m", "mixste", "x0", pde=True, sampler="x0-ddim"),
        Variant("diff3dhpe-m-nopde", "mixste", "x0", pde=False, sampler="x0-ddim"),
        Variant("ddim-m", "mixste", "eps", pde=True, sampler="ddim"),
        Variant("poseformer", "poseformer", "regression", pde=False, sampler=None),
        Variant("diff3dhpe-p", "poseformer", "x0", pde=True, sampler="x0-ddim"),
    )
}
DATASETS = ("h36m", "3dhp")
INPUTS_2D = ("det", "gt")
KINDS = ("train", "robustness", "steps")

_RUN_ID = re.compile(
    r"^(?P<dataset>[a-z0-9]+)-(?P<input>[a-z]+)-f(?P<frames>\d+)-(?P<variant>.+)-s(?P<seed>\d+)$"
)


@dataclass(frozen=True)
class RunSpec:
    dataset: str
    input_2d: str
    frames: int
    variant: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.dataset}-{self.input_2d}-f{self.frames}-{self.variant}-s{self.seed}"

    @property
    def spec(self) -> Variant:
        return VARIANTS[self.variant]

    def __str__(self) -> str:
        return self.id


def parse_run_id(run_id: str) -> RunSpec:
    """'h36m-det-f27-diff3dhpe-m-s0' -> RunSpec; a clear error for anything else."""
    match = _RUN_ID.match(run_id)
    if not match:
        raise ConfigError(
            f"run id {run_id!r} is not of the form <dataset>-<input_2d>-f<frames>-<variant>-s<seed>, "
            f"e.g. h36m-det-f27-diff3dhpe-m-s0 (list them with `diff3dhpe runs`)"
        )
    spec = RunSpec(
        match["dataset"], match["input"], int(match["frames"]), match["variant"], int(match["seed"])
    )
    for what, value, allowed in (
        ("dataset", spec.dataset, DATASETS),
        ("input_2d", spec.input_2d, INPUTS_2D),
        ("variant", spec.variant, tuple(VARIANTS)),
    ):
        if value not in allowed:
            raise ConfigError(f"run id {run_id!r}: {what} {value!r} is not one of {', '.join(allowed)}")
    return spec


def train_runs(params: Params) -> list[RunSpec]:
    """Every trained model of the experiment matrix, in params order (groups, frames, variants, seeds)."""
    runs: list[RunSpec] = []
    for group in params.experiments.values():
        for input_2d in group.input_2d:
            for frames in group.frames:
                for variant in group.variants:
                    runs.extend(
                        RunSpec(group.dataset, input_2d, frames, variant, seed) for seed in group.seeds
                    )
    return runs


def sweep_runs(params: Params, kind: str) -> list[RunSpec]:
    """Trained runs a sweep ('robustness' | 'steps') evaluates again (they must be in the matrix)."""
    sweep = params.sweeps.robustness if kind == "robustness" else params.sweeps.steps
    return [
        RunSpec(sweep.dataset, sweep.input_2d, sweep.frames, variant, seed)
        for variant in sweep.variants
        for seed in sweep.seeds
    ]


def runs_of_kind(params: Params, kind: str) -> list[RunSpec]:
    if kind not in KINDS:
        raise ConfigError(f"run kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return train_runs(params) if kind == "train" else sweep_runs(params, kind)


def find_run(params: Params, run_id: str, kind: str = "train") -> RunSpec:
    """The RunSpec of ``run_id``, which must be in the matrix of ``kind`` (so S and sizes are defined)."""
    spec = parse_run_id(run_id)
    known = runs_of_kind(params, kind)
    if spec not in known:
        where = "experiments" if kind == "train" else f"sweeps.{kind}"
        raise ConfigError(
            f"run {run_id!r} is not in {where} of params.yaml; known runs: "
            f"{', '.join(r.id for r in known) or '(none)'}"
        )
    return spec


# ---------------------------------------------------------------- file layout
RESULT_KINDS = ("metrics", "robustness", "steps")


def run_dir(runs_root: str | Path, run_id: str) -> Path:
    """runs/<ID>/: checkpoint.pt (resume state), model.pt (selected weights), dvclive/, evaluate.json."""
    return Path(runs_root) / run_id


def run_result_path(results_root: str | Path, kind: str, run_id: str) -> Path:
    """Per-run tidy CSV: results/per_run/<kind>/<ID>.csv (kind: metrics | robustness | steps).

    One folder per kind (not runs/<ID>/) so each collect stage depends on exactly its own inputs.
    """
    if kind not in RESULT_KINDS:
        raise ConfigError(f"result kind must be one of {', '.join(RESULT_KINDS)}, got {kind!r}")
    return Path(results_root) / "per_run" / kind / f"{run_id}.csv"
