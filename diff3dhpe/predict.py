"""`diff3dhpe predict`: 3D poses from anyone's 2D keypoints, with per-joint uncertainty.

    prediction = predict_file("alphapose-results.json", image_size=(1920, 1080), hypotheses=5)
    write_prediction(prediction, "predictions/clip")            # poses_3d.npz (+ .csv / .json)

Input: any format ``diff3dhpe.keypoints`` reads, converted to the 17 Human3.6M joints (one track,
low-confidence joints as missing, empty frames interpolated). Model: the bundled demo model
(``DEMO_MODEL``, trained on the embedded synthetic data only), a run of the study (``run=``), or a
checkpoint file (``checkpoint=``: our ``model.pt`` or an official release file). Lifting:
``assemble.lift_sequences`` (sliding windows stitched so that every frame is predicted exactly once,
short inputs edge-padded, flip test-time augmentation, H hypotheses aggregated by mean or median).

Output (``Prediction``; units and frame written into every file): ``poses_3d`` (T, 17, 3) mm in
camera coordinates (x right, y down, z forward) with the pelvis at the origin, Human3.6M joint order;
``uncertainty`` (T, 17) mm, the mean distance of the H hypotheses to the aggregate (0 when H = 1 or
for regression models); the converted 2D input; the model, S, H and seed used.

Scale: our models decode with the scale stored in their file. Official release weights need the
release's normalisation constant (``diff3dhpe normalisation`` prints it for a data folder); without
it the output is labelled "up to scale" and ``height_mm`` rescales it so the skeleton's height
(``skeleton_height``) matches a known one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from diff3dhpe.assemble import (
    TrainedRun,
    checkpoint_run_spec,
    checkpoint_steps,
    lift_sequences,
    load_trained,
    trained_from_checkpoint,
)
from diff3dhpe.atomic import atomic_open, atomic_write_json, atomic_write_text
from diff3dhpe.checkpoints import load_lifter
from diff3dhpe.config import EvaluateParams, Params
from diff3dhpe.data.dataset import PoseSequence
from diff3dhpe.data.skeleton import H36M
from diff3dhpe.errors import ConfigError
from diff3dhpe.keypoints import DEFAULT_CONFIDENCE_THRESHOLD, LiftInput, load_lift_input
from diff3dhpe.results import MODEL_PROVENANCE_FILE
from diff3dhpe.variants import RunSpec

log = logging.getLogger("diff3dhpe.predict")

DEMO_DIR = resources.files("diff3dhpe") / "resources" / "demo"
DEMO_MODEL = Path(str(DEMO_DIR / "model.pt"))
DEMO_PROVENANCE = Path(str(DEMO_DIR / MODEL_PROVENANCE_FILE))
COORDINATES = "camera coordinates (x right, y down, z forward), pelvis (joint 0) at the origin"
UP_TO_SCALE = ("up to scale: the model's normalised output, not millimetres (official weights need the "
               "release normalisation constant: pass --normalisation MM from `diff3dhpe normalisation`, "
               "or --height MM to rescale to a known skeleton height)")
OUTPUT_FILES = {"npz": "poses_3d.npz", "csv": "poses_3d.csv", "json": "poses_3d.json"}
# The skeleton's height: leg (hip, knee, ankle; mean of both sides) plus trunk and head.
LEG_CHAINS = (("r_hip", "r_knee", "r_ankle"), ("l_hip", "l_knee", "l_ankle"))
TRUNK_CHAIN = ("pelvis", "spine", "thorax", "neck_nose", "head")


@dataclass
class Prediction:
    """A lifted keypoint file. Arrays: T frames, 17 Human3.6M joints (``joint_names``)."""

    poses_3d: np.ndarray  # (T, 17, 3) float32, mm (or normalised when up_to_scale), COORDINATES
    uncertainty: np.ndarray  # (T, 17) float32, same unit: spread over hypotheses
    lift_input: LiftInput  # the converted 2D input (normalised), confidence, missing, interpolated
    model: str  # what lifted it: file or run id, variant, where the scale came from
    variant: str
    steps: int | None  # S (None for regression models)
    hypotheses: int
    aggregate: str
    seed: int
    flip: bool
    scale: str  # how the normalised output became mm
    up_to_scale: bool = False
    seconds: float = 0.0
    joint_names: tuple[str, ...] = field(default_factory=lambda: tuple(H36M.joint_names))

    @property
    def unit(self) -> str:
        return "normalised (up to scale)" if self.up_to_scale else "mm"

    def summary(self) -> str:
        """One line for the terminal: frames, model, S, H, unit, scale, median uncertainty."""
        return (f"{len(self.poses_3d)} frames lifted by {self.model}, S={self.steps}, H={self.hypotheses}, "
                f"{self.unit} ({self.scale}); median uncertainty {float(np.median(self.uncertainty)):.1f} "
                f"{self.unit}")

    def metadata(self) -> dict:
        """Everything but the arrays, as written into every output file."""
        return {
            "units": self.unit,
            "coordinates": COORDINATES,
            "joint_names": list(self.joint_names),
            "uncertainty": "per-joint spread over the hypotheses (mean distance to the aggregate), "
                           f"{self.unit}; 0 with one hypothesis or a regression model",
            "source": self.lift_input.source,
            "source_layout": self.lift_input.layout,
            "image_size": list(self.lift_input.image_size),
            "model": self.model,
            "variant": self.variant,
            "steps": self.steps,
            "hypotheses": self.hypotheses,
            "aggregate": self.aggregate,
            "seed": self.seed,
            "flip_test": self.flip,
            "scale": self.scale,
            "up_to_scale": self.up_to_scale,
            "frames": int(len(self.poses_3d)),
            "interpolated_frames": int(self.lift_input.interpolated.sum()),
        }


def skeleton_height(poses: np.ndarray) -> float:
    """Median over frames of the skeleton's height: leg length (hip–knee–ankle, mean of both sides)
    plus the trunk and head path (pelvis–spine–thorax–neck/nose–head). poses (T, 17, 3), H36M order;
    same unit as ``poses``."""
    index = {name: i for i, name in enumerate(H36M.joint_names)}

    def path(chain: tuple[str, ...]) -> np.ndarray:
        joints = poses[:, [index[name] for name in chain]]
        return np.linalg.norm(np.diff(joints, axis=1), axis=-1).sum(axis=1)

    legs = np.mean([path(chain) for chain in LEG_CHAINS], axis=0)
    return float(np.median(legs + path(TRUNK_CHAIN)))


def _evaluate_settings(params: Params, **overrides) -> Params:
    """params with evaluate.* overridden (validated: ConfigError naming the flag's key)."""
    values = {**params.evaluate.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        evaluate = EvaluateParams.model_validate(values)
    except ValidationError as err:
        flags = {"flip_test": "--no-flip"}  # the other settings share their flag's name
        problems = "; ".join(
            f"{flags.get(key := str(e['loc'][0]), '--' + key)}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors())
        raise ConfigError(f"predict settings are invalid: {problems}") from None
    return params.model_copy(update={"evaluate": evaluate})


def load_model_for_predict(
    params: Params,
    *,
    run: str | None = None,
    checkpoint: str | Path | None = None,
    runs_root: str | Path = "runs",
    normalisation: str | float | None = None,
    steps: int | None = None,
) -> tuple[TrainedRun, int | None, str, bool]:
    """The model ``predict`` lifts with: (trained, S, description, up_to_scale).

    ``run``: a run of params' experiment matrix (runs/<ID>/model.pt); ``checkpoint``: our model.pt /
    checkpoint.pt or an official release file (``assemble.trained_from_checkpoint``); neither: the
    bundled demo model. S: ``steps``, else a run's params.diffusion.steps, else for files
    ``assemble.checkpoint_steps`` (the S stored beside the file, params, the paper's).
    Official files without ``normalisation`` give output up to scale. Raises ConfigError (both or a
    missing model, a model not trained on Human3.6M joints, S for a regression model), CheckpointError.
    """
    if run and checkpoint:
        raise ConfigError("give either --run or --checkpoint, not both")
    up_to_scale = False
    if run:
        trained = load_trained(params, run, runs_root)
        description = f"run {run}"
        _refuse_other_joint_orders(trained.run, description)
        if steps is not None and not trained.run.spec.diffusion:
            raise ConfigError(f"--steps: {description} is a regression model ({trained.run.variant}); "
                              f"it has no sampling steps")
        used_steps = steps if steps is not None else params.sampling_steps(trained.run)
    else:
        path = Path(checkpoint) if checkpoint else DEMO_MODEL
        if not path.is_file():
            raise ConfigError(f"{path}: checkpoint not found" if checkpoint else
                              f"{path}: the bundled demo model is missing from this installation")
        description = "bundled demo model" if not checkpoint else f"checkpoint {path}"
        loaded = load_lifter(path)
        # our files know their dataset; release files are taken as Human3.6M ones (joint order)
        _refuse_other_joint_orders(checkpoint_run_spec(loaded, None if loaded.run else "h36m"), description)
        if loaded.origin == "official" and normalisation is None:
            normalisation, up_to_scale = 1.0, True
        trained = trained_from_checkpoint(params, loaded, dataset="h36m", normalisation=normalisation)
        used_steps, _ = checkpoint_steps(params, loaded, trained.run, steps)
    variant = trained.run.spec
    return trained, used_steps, f"{description} ({variant.label})", up_to_scale


def _refuse_other_joint_orders(run: RunSpec, description: str) -> None:
    if run.dataset != "h36m":
        raise ConfigError(
            f"{description} was trained on {run.dataset}, whose joint order is not Human3.6M's; "
            f"predict lifts Human3.6M-17 keypoints: use a model trained on h36m"
        )


def predict_file(
    keypoints: str | Path,
    params: Params | None = None,
    *,
    run: str | None = None,
    checkpoint: str | Path | None = None,
    runs_root: str | Path = "runs",
    format: str | None = None,
    image_size: tuple[int, int] | None = None,
    person: int = 0,
    threshold: float | None = None,
    hypotheses: int | None = None,
    aggregate: str | None = None,
    steps: int | None = None,
    seed: int | None = None,
    flip: bool | None = None,
    normalisation: str | float | None = None,
    height_mm: float | None = None,
    progress: bool = False,
) -> Prediction:
    """Lift one keypoint file to 3D (see the module docstring); nothing is written.

    ``params`` (default: the schema's defaults) supplies evaluate.* (batch size, flip, H, aggregation,
    seed) unless overridden here, and diffusion.* for our runs. ``height_mm`` rescales the output so
    that ``skeleton_height`` equals it (for output up to scale, or to fit a known person).
    Raises ConfigError / DataFormatError naming the file and frame for bad input, ConfigError for
    bad settings, CheckpointError for an unreadable model.
    """
    params = params or Params.section_defaults()
    if height_mm is not None and not (np.isfinite(height_mm) and height_mm > 0):
        raise ConfigError(f"--height must be a positive number of millimetres, got {height_mm!r}")
    threshold = DEFAULT_CONFIDENCE_THRESHOLD if threshold is None else threshold
    lift_input = load_lift_input(keypoints, format, image_size=image_size, person=person, threshold=threshold)
    settings = _evaluate_settings(params, hypotheses=hypotheses, aggregate=aggregate, seed=seed,
                                  flip_test=flip)
    trained, used_steps, description, up_to_scale = load_model_for_predict(
        settings, run=run, checkpoint=checkpoint, runs_root=runs_root, normalisation=normalisation,
        steps=steps)
    sequence = PoseSequence("input", Path(str(keypoints)).name, "0", lift_input.x2d,
                            np.zeros((*lift_input.x2d.shape[:2], 3), np.float32))
    lifted = lift_sequences(settings, trained, [sequence], H36M, used_steps, progress=progress)
    poses, spread = lifted.poses[0].astype(np.float32), lifted.spread[0].astype(np.float32)
    poses = poses - poses[:, H36M.root : H36M.root + 1]  # the promised frame: pelvis at the origin
    scale = "up to scale" if up_to_scale else trained.normalisation
    if height_mm is not None:
        factor = height_mm / skeleton_height(poses)
        poses, spread = poses * factor, spread * factor
        scale, up_to_scale = f"rescaled to a skeleton height of {height_mm:g} mm (from: {scale})", False
    cfg = settings.evaluate
    return Prediction(poses, spread, lift_input, description, trained.run.variant, used_steps,
                      cfg.hypotheses if trained.run.spec.diffusion else 1, cfg.aggregate, cfg.seed,
                      cfg.flip_test, scale, up_to_scale, lifted.seconds_per_clip)


def write_prediction(prediction: Prediction, out_dir: str | Path, formats: tuple[str, ...] = ("npz",)
                     ) -> list[Path]:
    """Write ``prediction`` into ``out_dir`` as ``OUTPUT_FILES`` of ``formats`` (npz | csv | json), each
    atomically, units and coordinate frame inside each file. Returns the paths written."""
    unknown = [f for f in formats if f not in OUTPUT_FILES]
    if unknown:
        raise ConfigError(f"output formats must be among {', '.join(OUTPUT_FILES)}, got {unknown}")
    out = Path(out_dir)
    meta = prediction.metadata()
    lift = prediction.lift_input
    written = []
    for kind in formats:
        path = out / OUTPUT_FILES[kind]
        if kind == "npz":
            arrays = {
                "poses_3d": prediction.poses_3d, "uncertainty": prediction.uncertainty,
                "keypoints_2d": lift.x2d, "confidence": lift.confidence, "missing": lift.missing,
                "interpolated": lift.interpolated, "joint_names": np.array(prediction.joint_names),
                "frame_ids": np.array([str(f) for f in lift.frame_ids]),
                "metadata": np.array(json.dumps(meta, sort_keys=True)),
                "units": np.array(prediction.unit), "coordinates": np.array(COORDINATES),
            }
            with atomic_open(path, "wb") as handle:
                np.savez_compressed(handle, **arrays)
        elif kind == "csv":
            rows = [f"# {key}: {json.dumps(value)}" for key, value in meta.items()]
            rows.append("frame,frame_id,joint,x,y,z,uncertainty,confidence,interpolated")
            for t in range(len(prediction.poses_3d)):
                for j, name in enumerate(prediction.joint_names):
                    x, y, z = prediction.poses_3d[t, j]
                    rows.append(f"{t},{lift.frame_ids[t]},{name},{x:.3f},{y:.3f},{z:.3f},"
                                f"{prediction.uncertainty[t, j]:.3f},{lift.confidence[t, j]:.3f},"
                                f"{int(lift.interpolated[t])}")
            atomic_write_text(path, "\n".join(rows) + "\n")
        else:
            atomic_write_json({**meta, "poses_3d": np.round(prediction.poses_3d, 3).tolist(),
                               "uncertainty": np.round(prediction.uncertainty, 3).tolist(),
                               "frame_ids": [str(f) for f in lift.frame_ids]}, path)
        written.append(path)
    return written


def render_prediction(prediction: Prediction, path: str | Path, *, fps: float = 25.0,
                      max_frames: int | None = None) -> list[Path]:
    """``render.render_video`` of the 2D input beside the 3D poses (uncertainty as joint colour and
    size), plus a PNG strip of a few frames next to it (<stem>_strip.png). Returns both paths."""
    from diff3dhpe.render import render_strip, render_video

    lift = prediction.lift_input
    shown_2d = np.where(lift.missing[..., None], np.nan, lift.x2d)  # missing joints are not drawn
    common = dict(image_size=lift.image_size, normalised=True,
                  title=f"{Path(lift.source).name}: {prediction.model}")
    video = render_video(path, shown_2d, prediction.poses_3d, prediction.uncertainty, fps=fps,
                         max_frames=max_frames, **common)
    strip = render_strip(Path(path).with_name(f"{Path(path).stem}_strip.png"), shown_2d,
                         prediction.poses_3d, prediction.uncertainty, **common)
    return [video, strip]


def package_model(params: Params, run_id: str, runs_root: str | Path, out_dir: str | Path,
                  params_file: str | Path | None = None) -> list[Path]:
    """A trained run as a self-describing model for ``predict --checkpoint``: ``out_dir/model.pt`` and
    ``out_dir/provenance.json`` (what it was trained on: the params, the data source and seed; S; its
    test MPJPE / P-MPJPE scored as ``evaluate`` scores it, beside the reference lifters without a
    network fitted on the same training data). This is how the bundled demo model was made.
    Raises what ``evaluate_run`` raises (the run must be trained).
    """
    import shutil
    from datetime import date

    from diff3dhpe.evaluate import baseline_scores, evaluate_run
    from diff3dhpe.results import model_path

    run = params.find_run(run_id)
    table, summary = evaluate_run(params, run_id, runs_root)
    data = params.data
    source = (f"synthetic data (the embedded generator '{data.synthetic.name}', seed {data.synthetic.seed}, "
              f"{data.synthetic.frames_per_take} frames per take)" if data.source == "synthetic"
              else f"{data.source} files in {data.dir}")
    provenance = {
        "run": run.id, "variant": run.variant, "label": run.spec.label, "frames": run.frames,
        "steps": params.sampling_steps(run), "params_file": str(params_file) if params_file else None,
        "params": params.model_dump(mode="json", include={"data", "model", "diffusion", "train", "evaluate"}),
        "trained_on": f"{source}; training subjects {', '.join(data.subjects.train)}; "
                      f"{run.input_2d} 2D input",
        "test": {"subjects": data.subjects.test, "mpjpe": summary["mpjpe"], "p_mpjpe": summary["p_mpjpe"],
                 "protocol": "Average over action groups, flip test-time augmentation, one hypothesis"},
        "baselines": baseline_scores(params, run_id),
        "created": date.today().isoformat(),
    }
    out = Path(out_dir)
    target = out / "model.pt"
    with atomic_open(target, "wb") as handle, open(model_path(runs_root, run.id), "rb") as source_file:
        shutil.copyfileobj(source_file, handle)
    return [target, atomic_write_json(provenance, out / MODEL_PROVENANCE_FILE)]
