"""The experiment vocabulary: variants (EXPERIMENTS.md §1), datasets, 2D inputs and run ids.

A run id names one trained model: ``<dataset>-<input_2d>-f<frames>-<variant>-s<seed>``, e.g.
``h36m-det-f27-diff3dhpe-m-s0``. It is self-describing (``parse_run_id`` reads it back), so every
CLI command needs only ``--run ID`` plus params.yaml. The run-id format is written here once:
``RunSpec.id`` formats it, ``RUN_ID_PATTERN`` matches it (the Snakemake wildcard uses it too).

The reference lifters without a network (EXPERIMENTS.md §5) are not variants: they are named in
``BASELINES`` (``mean-pose``, ``linear-lifter``), never in ``VARIANTS`` (which builds networks), and a
``BaselineSpec`` names one of them on one setting. Its id, ``baseline-<dataset>-<input_2d>-f<frames>-
<baseline>`` (e.g. ``baseline-h36m-det-f9-linear-lifter``), is written once, by ``BaselineSpec.id``;
it starts with ``baseline-`` and has no ``-s<seed>``, so it never parses as a run id.

A variant's behaviour (backbone, seq2frame, what the network predicts, sampler) lives on its
``Variant``; the loops read these fields and never compare variant names. This module imports
nothing else of the package but its errors, so every other module may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from diff3dhpe.errors import ConfigError

Backbone = Literal["mixste", "poseformer"]
Objective = Literal["regression", "x0", "eps"]

# The backbones (METHOD.md §4). seq2seq ones predict every input frame, seq2frame ones (PoseFormer) the
# centre frame only; the model classes read their ``seq2frame`` from here. The paper's sizes: for
# PoseFormer ``dim`` is the per-joint width of the spatial stage (its frame tokens are J·dim wide).
BACKBONES = ("mixste", "poseformer")
SEQ2FRAME_BACKBONES = frozenset({"poseformer"})
PAPER_SIZES = {"mixste": {"dim": 512, "depth": 8}, "poseformer": {"dim": 32, "depth": 4}}
SAMPLERS = {"x0": "x0-ddim", "eps": "ddim"}  # x0-DDIM (eq. 13) for x0 models, standard DDIM for ε models


@dataclass(frozen=True)
class Variant:
    """How a variant is built, trained and sampled: one row of EXPERIMENTS.md §1.

    ``objective``: "regression" (L2 on the 3D pose), "x0" (weighted x0-prediction, METHOD.md §2) or
    "eps" (ε-prediction, the DDIM-M baseline). ``label`` is the paper's name for it in tables.
    """

    name: str
    label: str
    backbone: Backbone
    objective: Objective
    pde: bool  # GRAND (A − I)V attention (METHOD.md §5)

    @property
    def diffusion(self) -> bool:
        """Trained as a denoiser and sampled with DDIM (not a one-shot regression)."""
        return self.objective != "regression"

    @property
    def predicts(self) -> Literal["x0", "eps"] | None:
        """What the denoiser outputs, x0 or ε; None for regression models."""
        return self.objective if self.diffusion else None  # type: ignore[return-value]

    @property
    def sampler(self) -> str | None:
        """"x0-ddim" (eq. 13), "ddim" (standard DDIM) or None for regression models."""
        return SAMPLERS.get(self.objective)

    @property
    def seq2frame(self) -> bool:
        """True when the model predicts only the centre frame of each input window (PoseFormer)."""
        return self.backbone in SEQ2FRAME_BACKBONES

    @property
    def model_objective(self) -> Literal["regression", "denoiser"]:
        """The build_model objective: denoisers take (x2d, y_t, t), regressors (x2d)."""
        return "denoiser" if self.diffusion else "regression"

    def output_frames(self, frames: int) -> int:
        """Frames F' predicted per window of ``frames`` input frames: 1 (seq2frame) or F (seq2seq)."""
        return 1 if self.seq2frame else frames


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("mixste", "MixSTE*", "mixste", "regression", pde=False),
        Variant("diff3dhpe-m", "Diff3DHPE-M", "mixste", "x0", pde=True),
        Variant("diff3dhpe-m-nopde", "Diff3DHPE-M w/o PDE", "mixste", "x0", pde=False),
        Variant("ddim-m", "DDIM-M", "mixste", "eps", pde=True),
        Variant("poseformer", "PoseFormer*", "poseformer", "regression", pde=False),
        Variant("diff3dhpe-p", "Diff3DHPE-P", "poseformer", "x0", pde=True),
    )
}


@dataclass(frozen=True)
class Baseline:
    """A reference 2D→3D lifter without a network (``diff3dhpe.baselines``), fitted in closed form.

    ``windowed``: it reads an F-frame window of 2D (the linear lifter); otherwise it ignores the 2D
    (the mean pose) and its window is always 1. ``label`` names it in tables.
    """

    name: str
    label: str
    windowed: bool


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("mean-pose", "Mean pose", windowed=False),
        Baseline("linear-lifter", "Linear lifter", windowed=True),
    )
}
DATASET_NAMES = {"h36m": "Human3.6M", "3dhp": "MPI-INF-3DHP"}
INPUT_NAMES = {"det": "detected 2D", "gt": "GT 2D"}  # detected: the paper's CPN 2D on Human3.6M
DATASETS = tuple(DATASET_NAMES)
INPUTS_2D = tuple(INPUT_NAMES)
RUN_KINDS = ("train", "robustness", "steps")  # the matrix of trained runs, and the two sweeps over them

# Literal types for the params schema, built from the tables above (one home for the names).
VariantName = Literal[tuple(VARIANTS)]  # type: ignore[valid-type]
DatasetName = Literal[DATASETS]  # type: ignore[valid-type]
Input2DName = Literal[INPUTS_2D]  # type: ignore[valid-type]

# The run id's grammar, once: parse_run_id matches it with named groups, RUN_ID_PATTERN (for
# Snakemake's wildcard, which nests it in a regex of its own) is the same without the names.
_RUN_ID_GRAMMAR = (
    r"(?P<dataset>[a-z0-9]+)-(?P<input>[a-z]+)-f(?P<frames>\d+)-(?P<variant>[a-z0-9-]+)-s(?P<seed>\d+)"
)
_RUN_ID = re.compile(_RUN_ID_GRAMMAR)
RUN_ID_PATTERN = re.sub(r"\?P<\w+>", "?:", _RUN_ID_GRAMMAR)


@dataclass(frozen=True)
class RunSpec:
    """One trained model of the study: dataset, 2D input, frames F, variant name and seed."""

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
        """The ``Variant`` this run trains."""
        return VARIANTS[self.variant]

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class BaselineSpec:
    """One baseline on one setting: dataset, 2D input, window F (frames of 2D per prediction) and name.

    In results/metrics.csv its rows carry ``run`` = ``.id``, ``variant`` = the baseline's name,
    ``frames`` = F, an empty seed (deterministic: nothing is drawn at random) and empty steps.
    Raises ConfigError for an unknown baseline, F < 1, or F > 1 for a baseline without a window.
    """

    dataset: str
    input_2d: str
    frames: int
    baseline: str

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ConfigError(f"baseline {self.baseline!r} is not one of {', '.join(BASELINES)}")
        if self.frames < 1 or (self.frames > 1 and not BASELINES[self.baseline].windowed):
            raise ConfigError(f"baseline {self.baseline!r}: window F={self.frames} must be "
                              f"{'>= 1' if BASELINES[self.baseline].windowed else '1 (it ignores the 2D)'}")

    @property
    def id(self) -> str:
        return f"baseline-{self.dataset}-{self.input_2d}-f{self.frames}-{self.baseline}"

    @property
    def spec(self) -> Baseline:
        return BASELINES[self.baseline]

    def __str__(self) -> str:
        return self.id


def parse_run_id(run_id: str) -> RunSpec:
    """'h36m-det-f27-diff3dhpe-m-s0' -> RunSpec; ConfigError naming the id and the allowed values."""
    match = _RUN_ID.fullmatch(run_id)
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
