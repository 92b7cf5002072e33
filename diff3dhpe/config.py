"""The one schema of params.yaml: defaults, validation and errors that name the key path.

``load_params(path)`` returns a frozen ``Params`` or raises ``ConfigError`` listing every problem as
``key.path[index]: what is wrong (allowed: ...)`` before any work starts. Unknown keys are errors
everywhere (``extra="forbid"``), with a "did you mean" hint.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from diff3dhpe.data.files import H36M_RELEASE_FILES, MPI3DHP_RELEASE_FILES, ROLES, synthetic_files
from diff3dhpe.errors import ConfigError
from diff3dhpe.variants import (
    BASELINES,
    PAPER_SIZES,
    RUN_KINDS,
    VARIANTS,
    BaselineSpec,
    DatasetName,
    Input2DName,
    RunSpec,
    VariantName,
    parse_run_id,
)


def _in_range(low: float, high: float | None = None, *, low_open: bool = False):
    """AfterValidator: a finite number in [low, high] (or (low, high]) with a message that shows both."""

    def check(value: float) -> float:
        bad_low = value <= low if low_open else value < low
        bad_high = high is not None and value > high
        if not math.isfinite(value) or bad_low or bad_high:
            left = "(" if low_open else "["
            right = f"{high}]" if high is not None else "inf)"
            raise ValueError(f"{value} is out of range {left}{low:g}, {right}")
        return value

    return AfterValidator(check)


PosInt = Annotated[int, Field(strict=True), _in_range(1)]
NonNegInt = Annotated[int, Field(strict=True), _in_range(0)]
Probability = Annotated[float, _in_range(0, 1)]
NonNegFloat = Annotated[float, _in_range(0)]
PosFloat = Annotated[float, _in_range(0, low_open=True)]
Dataset = DatasetName
Input2D = Input2DName
Precision = Literal["fp32", "bf16"]


def _unique(name: str):
    def check(values: list) -> list:
        dupes = sorted({str(v) for v in values if values.count(v) > 1})
        if dupes:
            raise ValueError(f"{name} must not repeat; duplicated: {', '.join(dupes)}")
        return values

    return AfterValidator(check)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- data
class H36MFiles(Strict):
    """Human3.6M in the VideoPose3D layout, relative to data.dir."""

    file_3d: str = H36M_RELEASE_FILES["file_3d"]
    file_2d_det: str = H36M_RELEASE_FILES["file_2d_det"]  # detected 2D ("det"): CPN for real data
    file_2d_gt: str = H36M_RELEASE_FILES["file_2d_gt"]


class MPI3DHPFiles(Strict):
    """MPI-INF-3DHP in the P-STMO layout, relative to data.dir."""

    train: str = MPI3DHP_RELEASE_FILES["train"]
    test: str = MPI3DHP_RELEASE_FILES["test"]


class Subjects(Strict):
    """Human3.6M splits. Validation subjects are held-out TRAINING subjects (never the test set)."""

    train: Annotated[list[str], Field(min_length=1), _unique("subjects")] = ["S1", "S5", "S6", "S7"]
    validation: Annotated[list[str], _unique("subjects")] = ["S8"]
    test: Annotated[list[str], Field(min_length=1), _unique("subjects")] = ["S9", "S11"]

    @model_validator(mode="after")
    def _disjoint(self) -> Subjects:
        for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
            both = sorted(set(getattr(self, a)) & set(getattr(self, b)))
            if both:
                raise ValueError(f"subjects {both} are in both {a} and {b}; the splits must not overlap")
        return self


class SyntheticData(Strict):
    """Knobs of the embedded generator (diff3dhpe.data.synthetic)."""

    name: str = (
        "synthetic"  # files are data_3d_<name>.npz, data_2d_<name>_{det,gt}.npz, data_*_<name>_3dhp.npz
    )
    seed: NonNegInt = 0
    frames_per_take: Annotated[int, Field(strict=True), _in_range(2)] = 200
    subjects: Annotated[list[str], Field(min_length=1), _unique("subjects")] = [
        "S1",
        "S5",
        "S6",
        "S7",
        "S8",
        "S9",
        "S11",
    ]
    actions: Annotated[list[str], Field(min_length=1), _unique("actions")] | None = (
        None  # None = all 15 groups
    )
    detector_check: bool = False  # also fit a linear lifter to report how hard the det 2D is (slower)
    mpi3dhp_frames_per_sequence: Annotated[int, Field(strict=True), _in_range(2)] = 200
    mpi3dhp_test_frames: Annotated[int, Field(strict=True), _in_range(2)] = 200


class RawRoots(Strict):
    """Official downloads for data.source = raw (converted by `diff3dhpe prepare`)."""

    h36m: str | None = None
    mpi3dhp: str | None = None


class DataParams(Strict):
    source: Literal["synthetic", "files", "raw"] = "synthetic"
    dir: str = "data"
    h36m: H36MFiles = H36MFiles()
    mpi3dhp: MPI3DHPFiles = MPI3DHPFiles()
    subjects: Subjects = Subjects()
    mpi3dhp_validation: list[str] = ["S8"]  # 'S8' (both sequences) or 'S8 Seq2'
    max_frames: PosInt | None = None  # truncate every sequence (quick runs); None = all frames
    # H36M test cameras scored ('0'..'3'); None = all four, as the protocol says (fewer = quick runs)
    test_cameras: Annotated[list[Literal["0", "1", "2", "3"]], Field(min_length=1)] | None = None
    synthetic: SyntheticData = SyntheticData()
    raw: RawRoots = RawRoots()

    def files(self, dataset: str) -> dict[str, Path]:
        """{params key (role): path} of the files ``dataset`` ('h36m' | '3dhp') is read from, in role order
        (h36m: file_3d, file_2d_det, file_2d_gt; 3dhp: train, test). Synthetic data uses the generator's
        names for synthetic.name (DATA.md §3); other sources the file names under data.h36m / data.mpi3dhp.
        Raises ConfigError for an unknown dataset."""
        if dataset not in ROLES:
            raise ConfigError(f"unknown dataset {dataset!r}; expected one of {sorted(ROLES)}")
        root = Path(self.dir)
        if self.source == "synthetic":
            names = synthetic_files(self.synthetic.name)[dataset]
            return {f"data.synthetic.name ({role})": root / names[role] for role in ROLES[dataset]}
        section = "h36m" if dataset == "h36m" else "mpi3dhp"
        names = getattr(self, section)
        return {f"data.{section}.{role}": root / getattr(names, role) for role in ROLES[dataset]}

    def file(self, dataset: str, role: str) -> Path:
        """One file by role, e.g. file('h36m', 'file_2d_det'). ConfigError for an unknown dataset or role."""
        paths = self.files(dataset)  # in the order of ROLES[dataset]
        if role not in ROLES[dataset]:
            raise ConfigError(f"no data file role {role!r} for dataset {dataset!r}; roles: {ROLES[dataset]}")
        return dict(zip(ROLES[dataset], paths.values()))[role]


# ---------------------------------------------------------------- model
class BackboneSize(Strict):
    dim: PosInt
    depth: PosInt
    heads: PosInt = 8
    mlp_ratio: PosFloat = 2.0
    drop_path: Annotated[float, _in_range(0, 0.999)] = 0.1

    @model_validator(mode="after")
    def _heads_divide(self) -> BackboneSize:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        return self


class ModelParams(Strict):
    mixste: BackboneSize = BackboneSize(**PAPER_SIZES["mixste"])
    poseformer: BackboneSize = BackboneSize(**PAPER_SIZES["poseformer"])  # dim per joint; frame width 17·dim


# ---------------------------------------------------------------- diffusion / evaluation
StepsByFrames = dict[PosInt, PosInt]


class DiffusionParams(Strict):
    timesteps: Annotated[int, Field(strict=True), _in_range(2)] = 1000
    compat: Literal["paper", "release"] = "paper"
    k_clip: PosFloat = 2.0
    # x0-DDIM steps S per dataset -> 2D input -> frames (paper: H36M det 81: 9, 243: 5; gt 81: 5, 243: 6)
    steps: dict[Dataset, dict[Input2D, StepsByFrames]] = {
        "h36m": {"det": {81: 9, 243: 5}, "gt": {81: 5, 243: 6}},
        "3dhp": {"gt": {27: 7}},
    }
    ddim_steps: StepsByFrames = {81: 40, 243: 80}  # DDIM-M (standard DDIM) steps per frames

    @model_validator(mode="after")
    def _steps_within_t(self) -> DiffusionParams:
        for dataset, by_input in self.steps.items():
            for input_2d, by_frames in by_input.items():
                for frames, s in by_frames.items():
                    if s > self.timesteps:
                        raise ValueError(
                            f"steps.{dataset}.{input_2d}.{frames}: S={s} exceeds timesteps {self.timesteps}"
                        )
        for frames, s in self.ddim_steps.items():
            if s > self.timesteps:
                raise ValueError(f"ddim_steps.{frames}: {s} exceeds timesteps {self.timesteps}")
        return self


class EvaluateParams(Strict):
    batch_size: PosInt = 256
    flip_test: bool = True
    hypotheses: PosInt = 1
    aggregate: Literal["mean", "median"] = "mean"
    seed: NonNegInt = 0  # initial noise of the samplers
    # Speed only (CUDA): replay the S-step sampling loop from a CUDA graph (same numbers as eager).
    cuda_graphs: bool = False
    # bf16: autocast of the sampler's forward passes; bf16-weights: a bf16 copy of the whole model
    # (residual stream and LayerNorms too; faster still). CUDA only: on CPU the run stays fp32, with a note.
    precision: Literal["fp32", "bf16", "bf16-weights"] = "fp32"
    # Speed only (CUDA): torch.compile the sampling model (compiling takes a while per batch shape).
    compile: bool = False
    # Speed only: kernel of the spatial attention (J = 17 tokens). auto: bmm on CPU, SDPA on CUDA;
    # bmm on CUDA pays off only together with compile (README "Performance").
    spatial_attention: Literal["auto", "sdpa", "bmm"] = "auto"


# ---------------------------------------------------------------- training
class TrainParams(Strict):
    epochs: PosInt = 200
    batch_size: PosInt | dict[PosInt, PosInt] = {81: 64, 243: 24}  # one number, or per frames
    lr: PosFloat = 4e-4
    lr_decay: Annotated[float, _in_range(0, 1, low_open=True)] = 0.99
    weight_decay: NonNegFloat = 0.1
    flip_augment: bool = True
    selection: Literal["last", "best_validation"] = "last"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: PosInt | None = None  # torch CPU threads; 1 is fastest for tiny models on a busy machine
    # cap on clips per epoch (a fresh random subset each epoch) for quick runs; one number or per frames
    max_clips_per_epoch: PosInt | dict[PosInt, PosInt] | None = None
    validation_max_clips: PosInt = 512  # evenly spaced validation clips scored per epoch
    validation_every: PosInt = 1
    # bf16 autocast of forward + loss (backward and optimiser stay fp32); CUDA only, fp32 on CPU.
    # Changes results, so it is part of the run digest.
    precision: Precision = "fp32"
    # Speed / memory only, same results: kept out of the run digest (a resume may switch them).
    compile: bool = False  # torch.compile the model (CUDA mainly; CPU needs a C++ compiler)
    grad_checkpointing: bool = False  # recompute each transformer block in backward (less memory)

    def batch_size_for(self, frames: int) -> int:
        return _per_frames(self.batch_size, frames, "train.batch_size")

    def max_clips_for(self, frames: int) -> int | None:
        return _per_frames(self.max_clips_per_epoch, frames, "train.max_clips_per_epoch")


def _per_frames(value: int | dict[int, int] | None, frames: int, key: str) -> int | None:
    """A setting given as one number (or None) or as {frames: number}."""
    if value is None or isinstance(value, int):
        return value
    if frames not in value:
        raise ConfigError(
            f"{key} has no entry for {frames} frames; give one of {sorted(value)} or a single number"
        )
    return value[frames]


# ---------------------------------------------------------------- experiments and sweeps
Frames = Annotated[list[PosInt], Field(min_length=1), _unique("frames")]
Seeds = Annotated[list[NonNegInt], Field(min_length=1), _unique("seeds")]
Variants = Annotated[list[VariantName], Field(min_length=1), _unique("variants")]


class ExperimentGroup(Strict):
    """Trains every combination input_2d × frames × variants × seeds on one dataset.

    ``seeds: []`` switches a group off (dvc.yaml keeps one stage pair per group name).
    """

    dataset: Dataset
    input_2d: Annotated[list[Input2D], Field(min_length=1), _unique("input_2d")]
    frames: Frames
    variants: Variants
    seeds: Annotated[list[NonNegInt], _unique("seeds")]

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentGroup:
        if self.dataset == "3dhp" and "det" in self.input_2d:
            raise ValueError("3dhp has ground-truth 2D only; use input_2d: [gt]")
        seq2frame = [v for v in self.variants if VARIANTS[v].seq2frame]
        even = [f for f in self.frames if f % 2 == 0]
        if seq2frame and even:
            raise ValueError(
                f"{', '.join(seq2frame)} predict the centre frame, so frames must be odd; got {even}"
            )
        return self


class RobustnessSweep(Strict):
    """Fig. 6: trained on clean 2D, tested on corrupted normalised 2D (same draws for every model)."""

    dataset: Dataset = "h36m"
    input_2d: Input2D = "det"
    frames: PosInt = 81
    variants: Variants = ["mixste", "diff3dhpe-m"]
    seeds: Seeds = [0, 1, 2, 3, 4]
    gaussian: Annotated[list[NonNegFloat], _unique("levels")] = [0.0, 0.005, 0.01, 0.05, 0.1, 0.5]
    dropout: Annotated[list[Probability], _unique("levels")] = [0.0, 0.1, 0.2, 0.4, 0.8]
    corruption_seed: NonNegInt = 0

    def levels(self) -> list[tuple[str, float]]:
        """(kind, level) of every corruption the sweep scores: gaussian σ then dropout rate, in params
        order (the one place the two lists are walked)."""
        kinds = (("gaussian", self.gaussian), ("dropout", self.dropout))
        return [(kind, float(level)) for kind, values in kinds for level in values]


# The keys of sweeps.robustness that Fig. 6's baselines depend on (not the models' variants or seeds):
# the params of the dvc `baselines` stage and of the Snakemake rule.
ROBUSTNESS_BASELINE_KEYS = ("dataset", "input_2d", "frames", "gaussian", "dropout", "corruption_seed")


class StepsSweep(Strict):
    """Fig. 5: one trained model per arm evaluated at every S (no retraining)."""

    dataset: Dataset = "h36m"
    input_2d: Input2D = "det"
    frames: PosInt = 81
    variants: Variants = ["diff3dhpe-m", "diff3dhpe-m-nopde"]
    seeds: Seeds = [0]
    steps: Annotated[list[PosInt], Field(min_length=1), _unique("steps")] = list(range(1, 21))

    @model_validator(mode="after")
    def _x0_models(self) -> StepsSweep:
        wrong = [v for v in self.variants if VARIANTS[v].predicts != "x0"]
        if wrong:
            raise ValueError(f"the S sweep needs x0-DDIM variants; {', '.join(wrong)} is not one")
        return self


class Sweeps(Strict):
    robustness: RobustnessSweep = RobustnessSweep()
    steps: StepsSweep = StepsSweep()


class Comparison(Strict):
    """Two-sample t-test over seeds of variant a vs variant b (Student and Welch)."""

    name: str
    a: VariantName
    b: VariantName
    dataset: Dataset = "h36m"
    input_2d: Input2D = "det"
    frames: Frames
    metrics: Annotated[list[Literal["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"]], Field(min_length=1)] = ["mpjpe"]


class StatsParams(Strict):
    ttest: list[Comparison] = [
        Comparison(name="mixste-vs-diff3dhpe-m", a="mixste", b="diff3dhpe-m", frames=[81, 243])
    ]


# ---------------------------------------------------------------- the whole file
class Params(Strict):
    data: DataParams = DataParams()
    model: ModelParams = ModelParams()
    diffusion: DiffusionParams = DiffusionParams()
    evaluate: EvaluateParams = EvaluateParams()
    train: TrainParams = TrainParams()
    experiments: dict[str, ExperimentGroup] = {}
    sweeps: Sweeps = Sweeps()
    stats: StatsParams = StatsParams()

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        problems = _cross_problems(self)
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    @classmethod
    def section_defaults(cls) -> Params:
        """Every section at its default, without the study-level cross-checks (the default t-test and
        sweeps name runs an empty matrix lacks): for commands that run no study, e.g. predict."""
        return cls.model_construct()

    # ------------------------------------------------------------ the run matrix
    def train_runs(self) -> list[RunSpec]:
        """Every trained model of the experiment matrix, in params order (groups, input_2d, frames,
        variants, seeds)."""
        return [
            RunSpec(group.dataset, input_2d, frames, variant, seed)
            for group in self.experiments.values()
            for input_2d in group.input_2d
            for frames in group.frames
            for variant in group.variants
            for seed in group.seeds
        ]

    def sweep_runs(self, kind: str) -> list[RunSpec]:
        """Trained runs a sweep ('robustness' | 'steps') evaluates again (they must be in the matrix)."""
        sweep = self.sweeps.robustness if kind == "robustness" else self.sweeps.steps
        return [
            RunSpec(sweep.dataset, sweep.input_2d, sweep.frames, variant, seed)
            for variant in sweep.variants
            for seed in sweep.seeds
        ]

    def runs(self, kind: str = "train") -> list[RunSpec]:
        """The runs of one kind: 'train' (the matrix), 'robustness' or 'steps' (the sweeps)."""
        if kind not in RUN_KINDS:
            raise ConfigError(f"run kind must be one of {', '.join(RUN_KINDS)}, got {kind!r}")
        return self.train_runs() if kind == "train" else self.sweep_runs(kind)

    def baseline_runs(self) -> list[BaselineSpec]:
        """The reference lifters without a network (EXPERIMENTS.md §5) the study's tables show: for each
        (dataset, 2D input) of the experiment matrix, in params order, the mean pose (F = 1), the
        per-frame linear lifter (F = 1) and the linear lifter over each other F of that setting's runs
        (deduplicated, ascending)."""
        frames: dict[tuple[str, str], set[int]] = {}
        for run in self.train_runs():
            frames.setdefault((run.dataset, run.input_2d), {1}).add(run.frames)
        return [
            BaselineSpec(dataset, input_2d, window, name)
            for (dataset, input_2d), windows in frames.items()
            for name, baseline in BASELINES.items()
            for window in (sorted(windows) if baseline.windowed else [1])
        ]

    def robustness_baseline_runs(self) -> list[BaselineSpec]:
        """The reference lifters without a network Fig. 6 draws beside the models: on the setting of
        sweeps.robustness (dataset, 2D input), the mean pose (F = 1; it ignores the 2D, so corrupting
        the 2D cannot move it) and the linear lifter over the sweep's F-frame window."""
        sweep = self.sweeps.robustness
        return [
            BaselineSpec(sweep.dataset, sweep.input_2d, sweep.frames if baseline.windowed else 1, name)
            for name, baseline in BASELINES.items()
        ]

    def find_run(self, run_id: str, kind: str = "train") -> RunSpec:
        """The RunSpec of ``run_id``, which must be in the runs of ``kind`` (so S and sizes are defined).

        Raises ConfigError naming the id and listing the known runs.
        """
        spec = parse_run_id(run_id)
        known = self.runs(kind)
        if spec not in known:
            where = "experiments" if kind == "train" else f"sweeps.{kind}"
            raise ConfigError(
                f"run {run_id!r} is not in {where} of params.yaml; known runs: "
                f"{', '.join(r.id for r in known) or '(none)'}"
            )
        return spec

    # ------------------------------------------------------------ per-run settings
    def sampling_steps(self, run: RunSpec) -> int | None:
        """S of a run: x0-DDIM steps from diffusion.steps, DDIM-M's from ddim_steps, None for regression."""
        predicts = run.spec.predicts
        if predicts is None:
            return None
        if predicts == "eps":
            return self.diffusion.ddim_steps[run.frames]
        return self.diffusion.steps[run.dataset][run.input_2d][run.frames]

    def steps_or_paper(self, run: RunSpec) -> tuple[int | None, str]:
        """S for ``run`` outside the experiment matrix (e.g. an imported checkpoint), and where it came from.

        params first (diffusion.steps.<dataset>.<input_2d>.<frames>, or diffusion.ddim_steps.<frames>
        for ε models), else the paper's S for that setting: the defaults of ``DiffusionParams`` (H36M det
        81: 9, 243: 5; gt 81: 5, 243: 6; 3DHP gt 27: 7; DDIM-M 81: 40, 243: 80). Returns (None, "") for
        regression variants. Raises ConfigError naming the setting and the frame counts S is known for,
        when neither has one (a model whose F is not a setting of that dataset: pass S explicitly).
        """
        predicts = run.spec.predicts
        if predicts is None:
            return None, ""
        paper = DiffusionParams()
        if predicts == "eps":
            where = f"diffusion.ddim_steps.{run.frames}"
            ours, theirs = self.diffusion.ddim_steps, paper.ddim_steps
        else:
            where = f"diffusion.steps.{run.dataset}.{run.input_2d}.{run.frames}"
            ours = self.diffusion.steps.get(run.dataset, {}).get(run.input_2d, {})
            theirs = paper.steps.get(run.dataset, {}).get(run.input_2d, {})
        if run.frames in ours:
            return ours[run.frames], f"params {where}"
        if run.frames in theirs:
            return theirs[run.frames], f"the paper's S for this setting ({where} is not in params)"
        known = sorted(set(ours) | set(theirs))
        elsewhere = sorted(
            f"{dataset}/{input_2d}"
            for source in (self.diffusion.steps, paper.steps)
            for dataset, by_input in source.items()
            for input_2d, by_frames in by_input.items()
            if run.frames in by_frames and (dataset, input_2d) != (run.dataset, run.input_2d)
        )
        hint = f"; F={run.frames} is a setting of {', '.join(dict.fromkeys(elsewhere))}" if elsewhere else ""
        raise ConfigError(
            f"no sampling steps S for a {run.variant} model with F={run.frames} frames on "
            f"{run.dataset}/{run.input_2d}: neither params ({where}) nor the paper has one (S is known "
            f"there for F = {', '.join(map(str, known)) or 'none'}){hint}. Check the dataset and 2D input, "
            f"or pass S explicitly (--steps S)"
        )

    def run_digest(self, run: RunSpec) -> str:
        """Hash of every setting that shapes a run's training; a checkpoint made otherwise is not resumed.

        Left out: settings that change speed, not results (device, compile, checkpointing), and
        precision while it is the default fp32, so digests of runs made before the key existed still match.
        """
        spec = run.spec
        speed_only = {"device", "compile", "grad_checkpointing"}
        if self.train.precision == "fp32":
            speed_only.add("precision")
        relevant = {
            "run": run.id,
            "data": self.data.model_dump(mode="json"),
            "model": getattr(self.model, spec.backbone).model_dump(mode="json"),
            "diffusion": self.diffusion.model_dump(mode="json", include={"timesteps", "compat", "k_clip"}),
            "train": self.train.model_dump(mode="json", exclude=speed_only),
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _cross_problems(params: Params) -> list[str]:
    """Checks that span sections: S defined for every diffusion run, sweep runs trained, no duplicates."""
    problems = []
    trained = params.train_runs()
    seen: set[str] = set()
    for run in trained:
        if run.id in seen:
            problems.append(f"experiments: run {run.id} appears in more than one group")
        seen.add(run.id)
    runs_needing_s = list(dict.fromkeys(trained + params.sweep_runs("robustness")))
    for run in runs_needing_s:
        predicts = run.spec.predicts
        if predicts == "eps" and run.frames not in params.diffusion.ddim_steps:
            problems.append(
                f"diffusion.ddim_steps: no entry for {run.frames} frames (needed by {run.id}); "
                f"add `{run.frames}: <steps>`"
            )
        elif predicts == "x0" and run.frames not in params.diffusion.steps.get(run.dataset, {}).get(
            run.input_2d, {}
        ):
            problems.append(
                f"diffusion.steps.{run.dataset}.{run.input_2d}: no S for {run.frames} frames "
                f"(needed by {run.id}); add `{run.frames}: <S>`"
            )
    for kind in ("robustness", "steps"):
        missing = [r.id for r in params.sweep_runs(kind) if r.id not in seen]
        if missing:
            problems.append(
                f"sweeps.{kind}: runs {', '.join(missing)} are not trained by any experiments group; "
                f"sweeps reuse trained models, so add them to experiments"
            )
    for i, comparison in enumerate(params.stats.ttest):
        for frames in comparison.frames:
            for side in (comparison.a, comparison.b):
                seeds = [
                    r.seed
                    for r in trained
                    if (r.dataset, r.input_2d, r.frames, r.variant)
                    == (comparison.dataset, comparison.input_2d, frames, side)
                ]
                if len(seeds) < 2:
                    problems.append(
                        f"stats.ttest[{i}] ({comparison.name}): {side} at {comparison.dataset}/"
                        f"{comparison.input_2d}/F={frames} has {len(seeds)} seed(s) in experiments; "
                        f"a t-test needs at least 2"
                    )
    names = [c.name for c in params.stats.ttest]
    if len(set(names)) != len(names):
        problems.append("stats.ttest: comparison names must be unique")
    return problems


# ---------------------------------------------------------------- loading and error messages
_UNION_TAGS = {"int", "float", "str", "bool", "list", "dict", "none", "literal"}


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part in _UNION_TAGS:
            continue  # pydantic's union-member tags, e.g. 'int' or 'dict[...]', are not keys
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, list, dict values, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _unwrap(arg)]
    if origin in (list, dict):
        return _unwrap(typing.get_args(annotation)[-1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _allowed_keys(loc: tuple) -> list[str]:
    """Field names valid at the parent of ``loc`` (walks the schema; list indices / dict keys skipped)."""
    models: list[type[BaseModel]] = [Params]
    for part in loc[:-1]:
        nxt = []
        for model in models:
            if isinstance(part, str) and part in model.model_fields:
                nxt.extend(_unwrap(model.model_fields[part].annotation))
        if nxt:
            models = nxt
        # an int index or a dict key leaves the element model in place
    return sorted({name for model in models for name in model.model_fields})


def _describe(error: dict) -> str:
    loc = _format_loc(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        allowed = _allowed_keys(error["loc"])
        hint = difflib.get_close_matches(key, allowed, n=1)
        did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"{loc}: unknown key '{key}'{did_you_mean} (allowed keys here: {', '.join(allowed)})"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind == "value_error" and not loc:
        return message
    value = error.get("input")
    shown = "" if isinstance(value, dict | list) or kind == "value_error" else f" (got {value!r})"
    return f"{loc or '<top level>'}: {message}{shown}"


def parse_params(raw: Any, source: str = "params") -> Params:
    """Validate an already-parsed mapping (e.g. from YAML) into Params; ConfigError on any problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of sections at the top level, got {type(raw).__name__}"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        lines = [_describe(e) for e in err.errors(include_url=False)]
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml. Raises ConfigError naming the file, key path and allowed values."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found (pass --params PATH, or copy configs/paper.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_params(raw, str(path))


# The Human3.6M file that holds each 2D input; a run reads the 3D file and only its own 2D file.
H36M_2D_ROLE = {"det": "file_2d_det", "gt": "file_2d_gt"}


def check_data_files(
    params: Params,
    datasets: list[str] | tuple[str, ...],
    inputs_2d: list[str] | tuple[str, ...] | None = None,
) -> None:
    """Every file the given datasets are read from must exist: else a ConfigError naming key and path.

    ``inputs_2d`` ('det' / 'gt') limits the Human3.6M 2D files checked to those inputs (a folder with
    GT 2D only serves gt runs); None checks both.
    """
    skipped = set() if inputs_2d is None else {r for i, r in H36M_2D_ROLE.items() if i not in inputs_2d}
    missing = []
    for dataset in dict.fromkeys(datasets):
        for (key, path), role in zip(params.data.files(dataset).items(), ROLES[dataset]):
            if dataset == "h36m" and role in skipped:
                continue
            if not path.is_file():
                missing.append(f"{key}: {path} does not exist")
    if missing:
        how = (
            "run `diff3dhpe prepare` (or `dvc repro prepare`) first"
            if params.data.source != "files"
            else "put your files there or change data.dir / the file names in params.yaml"
        )
        raise ConfigError("missing data files:\n  " + "\n  ".join(missing) + f"\n{how}")

