"""Test-set scoring of a trained run, and the two sweeps that reuse it (robustness, steps S).

Lifting (clips, flip test-time augmentation, DDIM from seeded noise, stitching, × scale to mm) is
``diff3dhpe.assemble.predict_sequences``; this module scores it. Human3.6M: the per-action protocol
(frame-weighted per action group, ``Average`` unweighted over groups). MPI-INF-3DHP: valid frames only;
MPJPE both ways, labelled: ``Average`` = mean of the per-sequence means (the release code) and ``All`` =
every valid frame pooled (the official MATLAB script); PCK/AUC pooled over all valid frames.

Any checkpoint file, official release or ours, is scored the same way by ``evaluate_checkpoint`` (what
`diff3dhpe evaluate --checkpoint` runs), laid out as the paper's Table 1, 2 or 3 beside the paper's row.

The reference lifters without a network (mean pose, linear lifter; ``diff3dhpe.baselines``) are fitted
on a setting's training subjects and scored by the same ``score``: ``baseline_rows`` and
``baseline_robustness_rows`` (what `diff3dhpe baselines` writes; the latter under the robustness sweep's
corruption draws) and ``baseline_scores`` (one run's).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from diff3dhpe import baselines, metrics
from diff3dhpe.assemble import (
    TrainedRun,
    checkpoint_run_spec,
    checkpoint_steps,
    limit_test_sequences,
    load_dataset,
    load_run_dataset,
    load_trained,
    predict_sequences,
    trained_from_checkpoint,
)
from diff3dhpe.atomic import atomic_write_csv, atomic_write_json
from diff3dhpe.checkpoints import load_lifter
from diff3dhpe.config import Params
from diff3dhpe.data.augment import corrupt, corruption_rng
from diff3dhpe.data.dataset import PoseDataset, PoseSequence
from diff3dhpe.data.skeleton import JointLayout
from diff3dhpe.errors import ConfigError, ShapeError
from diff3dhpe.parallel import map_tasks
from diff3dhpe.prepare import provenance_label
from diff3dhpe.report.paper import PAPER_METHODS
from diff3dhpe.report.tables import Table, run_table, write_table
from diff3dhpe.results import (
    ALL_FRAMES,
    AVERAGE,
    CHECKPOINT_RESULT_FILES,
    COMMAND_OF_RESULT,
    RESULT_COLUMNS,
    RUN_KIND_OF_RESULT,
    checkpoint_run_name,
    evaluate_summary_path,
    run_result_path,
)
from diff3dhpe.variants import DATASET_NAMES, VARIANTS, BaselineSpec, RunSpec

log = logging.getLogger("diff3dhpe.evaluate")


def score(dataset: str, sequences: list[PoseSequence], predictions: list[np.ndarray]) -> pd.DataFrame:
    """Test-set metrics: rows action, frames_scored, mpjpe, p_mpjpe, n_mpjpe, mpjve, pck, auc (mm, %).

    ``predictions``: one (N, J, 3) array in mm per sequence, aligned with ``sequences``.
    Human3.6M ('h36m'): one row per action group (frame-weighted over its sequences), then 'Average'
    (unweighted over groups; DATA.md §4); pck / auc are NaN. MPI-INF-3DHP ('3dhp'): valid frames only,
    one row per test sequence, then two summary rows (``diff3dhpe.results``):
    'Average' = the mean of the per-sequence means (the release code's MPJPE) and 'All' = every valid
    frame pooled (the official MATLAB script's "All" row), both from ``metrics.mpjpe_3dhp_conventions``;
    PCK / AUC are pooled over all valid frames in both rows.

    Raises ShapeError: a 3DHP sequence without a valid frame, shapes or values the metrics refuse.
    """
    if dataset == "h36m":
        records = [
            {"action": seq.action, **metrics.per_frame_errors(pred, seq.poses_3d)}
            for seq, pred in zip(sequences, predictions)
        ]
        table = metrics.per_action_table(records, ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"])
        table["pck"] = np.nan
        table["auc"] = np.nan
        return table
    rows = []
    pooled: dict[str, list[np.ndarray]] = {m: [] for m in metrics.METRIC_NAMES}
    for seq, pred in zip(sequences, predictions):
        valid = seq.valid.astype(bool)
        gt, est = seq.poses_3d[valid], pred[valid]
        if not valid.any():
            raise ShapeError(f"{seq.name}: no valid frame to score (MPI-INF-3DHP scores valid frames only)")
        per_frame = metrics.per_frame_errors(est, gt)
        # velocity error only between consecutive frames that are both valid
        velocity = metrics.mpjve_per_frame(pred, np.nan_to_num(seq.poses_3d))
        both = valid & np.concatenate([[False], valid[:-1]])
        per_frame["mpjve"] = velocity[both]
        per_frame["pck"] = metrics.pck_per_frame(est, gt)
        per_frame["auc"] = metrics.auc_per_frame(est, gt)
        row = {"action": seq.action, "frames_scored": int(valid.sum())}
        for metric, values in per_frame.items():
            pooled[metric].append(values)
            row[metric] = float(np.nanmean(values)) if values.size else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    mpjpe = metrics.mpjpe_3dhp_conventions(pooled["mpjpe"])
    frames = int(mpjpe["frames_scored"])
    pck = float(np.concatenate(pooled["pck"]).mean())
    auc = float(np.concatenate(pooled["auc"]).mean())
    average = {"action": AVERAGE, "frames_scored": frames, "mpjpe": mpjpe["mpjpe_sequence_mean"]}
    average.update({m: float(table[m].mean()) for m in ("p_mpjpe", "n_mpjpe", "mpjve")})
    every = {"action": ALL_FRAMES, "frames_scored": frames, "mpjpe": mpjpe["mpjpe_all_frames"]}
    for metric in ("p_mpjpe", "n_mpjpe", "mpjve"):
        values = np.concatenate(pooled[metric])
        every[metric] = float(values.mean()) if values.size else np.nan
    summary = pd.DataFrame([{**average, "pck": pck, "auc": auc}, {**every, "pck": pck, "auc": auc}])
    return pd.concat([table, summary], ignore_index=True)


def evaluate_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> tuple[pd.DataFrame, dict]:
    """metrics.csv rows of one run (per action + Average) and a summary dict (MPJPE, P-MPJPE in mm, S,
    seconds per clip; written to results/per_run/evaluate/<ID>.json)."""
    trained = load_trained(params, run_id, runs_root)
    run = trained.run
    dataset = load_run_dataset(params, run)
    steps = params.sampling_steps(run)
    predictions, seconds = predict_sequences(params, trained, dataset.test, dataset.layout, steps)
    table = _metrics_rows(score(run.dataset, dataset.test, predictions), run, run.id, run.seed, steps)
    average = table[table["action"] == AVERAGE].iloc[0]
    summary = {
        "run": run.id,
        "mpjpe": float(average["mpjpe"]),
        "p_mpjpe": float(average["p_mpjpe"]),
        "seconds_per_clip": seconds,
        "steps": steps,
    }
    log.info(
        "%s: MPJPE %.2f mm, P-MPJPE %.2f mm, %.4f s per clip",
        run.id,
        summary["mpjpe"],
        summary["p_mpjpe"],
        seconds,
    )
    return table, summary


def _metrics_rows(table: pd.DataFrame, run: RunSpec | BaselineSpec, name: str, seed: int | None,
                  steps: int | None) -> pd.DataFrame:
    """``score`` rows with the run's columns, in the order of results/metrics.csv (seed, steps may be NA).

    ``run``: a trained run or a baseline (``variant`` = the baseline's name, ``frames`` = its window).
    """
    ids = {
        "run": name,
        "dataset": run.dataset,
        "variant": run.variant if isinstance(run, RunSpec) else run.baseline,
        "frames": run.frames,
        "input_2d": run.input_2d,
        "seed": seed if seed is not None else pd.NA,
        "steps": steps if steps is not None else pd.NA,
    }
    for key, value in ids.items():
        table[key] = value
    table["seed"] = table["seed"].astype("Int64")
    table["steps"] = table["steps"].astype("Int64")
    return table[list(RESULT_COLUMNS["metrics"])]


# ---------------------------------------------------------------- baselines without a network
Predictor = Callable[[np.ndarray], np.ndarray]  # normalised 2D (N, J, 2) -> 3D (N, J, 3) mm


def fit_baseline(spec: BaselineSpec, train: list[PoseSequence]) -> Predictor:
    """``spec``'s lifter fitted on ``train`` (``diff3dhpe.baselines``): the mean root-relative training
    pose, or the least-squares linear lifter over a ``spec.frames``-frame window (ridge 1e-4, every
    frame). Returns x2d (N, J, 2) normalised → (N, J, 3) mm, relative to joint 0."""
    pairs = [(seq.keypoints_2d, seq.poses_3d) for seq in train]
    if not spec.spec.windowed:
        mean_pose = baselines.fit_mean_pose(pairs)
        return lambda x2d: np.broadcast_to(mean_pose, (*np.shape(x2d)[:2], 3))
    return baselines.fit_linear_lifter(pairs, window=spec.frames).predict


def _score_predictor(predict: Predictor, dataset: str, layout: JointLayout,
                     sequences: list[PoseSequence]) -> pd.DataFrame:
    """``score`` of a baseline's predictions on ``sequences`` (their 2D as given, maybe corrupted)."""
    root = layout.root  # the baselines predict relative to joint 0; the data is relative to its root
    predictions = [np.asarray(predict(seq.keypoints_2d), dtype=np.float64) for seq in sequences]
    return score(dataset, sequences, [pred - pred[:, root : root + 1] for pred in predictions])


def score_baseline(spec: BaselineSpec, data: PoseDataset) -> pd.DataFrame:
    """``score`` rows of ``spec`` fitted on ``data.train`` and scored on ``data.test`` exactly as a
    trained run is (per action / 3DHP sequence, ``Average``, 3DHP ``All``; mm and %), with the
    metrics.csv columns (run = ``spec.id``, variant = its name, frames = its window, no seed or S)."""
    table = _score_predictor(fit_baseline(spec, data.train), spec.dataset, data.layout, data.test)
    return _metrics_rows(table, spec, spec.id, None, None)


def baseline_rows(params: Params) -> pd.DataFrame:
    """results/per_run/baselines.csv: the metrics.csv rows of every baseline of the study
    (``Params.baseline_runs``: per (dataset, 2D input) of the experiment matrix, the mean pose, the
    per-frame linear lifter and the linear lifter over each F of its runs), each fitted on that
    setting's training subjects and scored on its test set (``score_baseline``). One log line each.

    Raises ConfigError (a data file missing) and DataFormatError (a malformed one), as evaluate does.
    """
    tables = []
    for (dataset, input_2d), specs in _by_setting(params.baseline_runs()).items():
        data = load_dataset(params, dataset, input_2d)
        for spec in specs:
            table = score_baseline(spec, data)
            average = _average(table)
            log.info("%s: MPJPE %.2f mm, P-MPJPE %.2f mm", spec.id, average["mpjpe"], average["p_mpjpe"])
            tables.append(table)
    if not tables:
        return pd.DataFrame(columns=list(RESULT_COLUMNS["metrics"]))
    return pd.concat(tables, ignore_index=True)


def baseline_robustness_rows(params: Params) -> pd.DataFrame:
    """results/per_run/baselines_robustness.csv: robustness.csv rows of the baselines Fig. 6 draws
    (``Params.robustness_baseline_runs``: the mean pose and the linear lifter over the sweep's F), fitted
    on clean training 2D of the sweep's setting and scored under each corruption level of
    sweeps.robustness with the models' very draws (``corrupted_test_sets``). run = the baseline's id,
    variant = its name, seed empty; MPJPE / P-MPJPE in mm (``Average``). One log line per level.

    Raises ConfigError (a data file missing) and DataFormatError (a malformed one), as evaluate does.
    """
    sweep = params.sweeps.robustness
    specs = params.robustness_baseline_runs()
    data = load_dataset(params, sweep.dataset, sweep.input_2d)
    predictors = [fit_baseline(spec, data.train) for spec in specs]
    rows = []
    for kind, level, corrupted in corrupted_test_sets(params, data.test):
        for spec, predict in zip(specs, predictors):
            average = _average(_score_predictor(predict, spec.dataset, data.layout, corrupted))
            rows.append(_robustness_row(spec.id, spec.baseline, None, kind, level, average))
        log.info("baselines: %s %.3g -> MPJPE %s mm", kind, level,
                 " / ".join(f"{row['mpjpe']:.2f}" for row in rows[-len(specs):]))
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS["robustness"]))


def _by_setting(specs: Sequence[BaselineSpec]) -> dict[tuple[str, str], list[BaselineSpec]]:
    grouped: dict[tuple[str, str], list[BaselineSpec]] = {}
    for spec in specs:
        grouped.setdefault((spec.dataset, spec.input_2d), []).append(spec)
    return grouped


def baseline_scores(params: Params, run_id: str) -> dict[str, dict[str, float]]:
    """The reference lifters without a network on ``run_id``'s data (``score_baseline``): the mean
    training pose, and the linear lifter per frame and over the run's F-frame window. Returns
    {name: {"mpjpe": mm, "p_mpjpe": mm}} (the ``Average`` row), names 'mean pose', 'linear lifter,
    1 frame', 'linear lifter, <F> frames' (as packaged models' provenance.json records them).
    """
    run = params.find_run(run_id)
    dataset = load_run_dataset(params, run)
    specs = {"mean pose": BaselineSpec(run.dataset, run.input_2d, 1, "mean-pose")}
    for window in dict.fromkeys((1, run.frames)):
        name = f"linear lifter, {window} frame{'s' if window > 1 else ''}"
        specs[name] = BaselineSpec(run.dataset, run.input_2d, window, "linear-lifter")
    scores = {}
    for name, spec in specs.items():
        average = _average(score_baseline(spec, dataset))
        scores[name] = {"mpjpe": float(average["mpjpe"]), "p_mpjpe": float(average["p_mpjpe"])}
    return scores


def _average(table: pd.DataFrame) -> pd.Series:
    return table[table["action"] == AVERAGE].iloc[0]


def corrupted_test_sets(params: Params, test: list[PoseSequence]
                        ) -> Iterator[tuple[str, float, list[PoseSequence]]]:
    """(kind, level, ``test`` with corrupted 2D) for every level of sweeps.robustness, gaussian then
    dropout, in params order. The draws depend on (corruption_seed, kind, level) and the order of
    ``test`` only (``corruption_rng``), so every model and baseline sees the very same corrupted 2D."""
    sweep = params.sweeps.robustness
    for kind, level in sweep.levels():
        rng = corruption_rng(sweep.corruption_seed, kind, level)
        yield kind, level, [replace(seq, keypoints_2d=corrupt(seq.keypoints_2d, kind, level, rng))
                            for seq in test]


def _robustness_row(run_id: str, variant: str, seed: int | None, kind: str, level: float,
                    average: pd.Series) -> dict:
    return {"run": run_id, "variant": variant, "seed": seed, "corruption": kind, "level": level,
            "mpjpe": average["mpjpe"], "p_mpjpe": average["p_mpjpe"]}


def robustness_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> pd.DataFrame:
    """MPJPE / P-MPJPE under each corruption level of sweeps.robustness (same draws for every model)."""
    trained = load_trained(params, run_id, runs_root, kind="robustness")
    run = trained.run
    dataset = load_run_dataset(params, run)
    steps = params.sampling_steps(run)
    rows = []
    for kind, level, corrupted in corrupted_test_sets(params, dataset.test):
        predictions, _ = predict_sequences(params, trained, corrupted, dataset.layout, steps)
        average = _average(score(run.dataset, corrupted, predictions))
        rows.append(_robustness_row(run.id, run.variant, run.seed, kind, level, average))
        log.info("%s: %s %.3g -> MPJPE %.2f mm", run.id, kind, level, average["mpjpe"])
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS["robustness"]))


def steps_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> pd.DataFrame:
    """The same trained model evaluated at every S of sweeps.steps (no retraining), with timing."""
    trained = load_trained(params, run_id, runs_root, kind="steps")
    run = trained.run
    dataset = load_run_dataset(params, run)
    rows = []
    for steps in params.sweeps.steps.steps:
        if steps > params.diffusion.timesteps:
            raise ConfigError(
                f"sweeps.steps.steps: S={steps} exceeds diffusion.timesteps {params.diffusion.timesteps}"
            )
        predictions, seconds = predict_sequences(params, trained, dataset.test, dataset.layout, steps)
        average = _average(score(run.dataset, dataset.test, predictions))
        rows.append(
            {
                "run": run.id,
                "variant": run.variant,
                "pde": run.spec.pde,
                "steps": steps,
                "mpjpe": average["mpjpe"],
                "p_mpjpe": average["p_mpjpe"],
                "seconds_per_clip": seconds,
            }
        )
        log.info("%s: S=%d -> MPJPE %.2f mm, %.4f s per clip", run.id, steps, average["mpjpe"], seconds)
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS["steps"]))


# ---------------------------------------------------------------- per-run results of many runs
def write_run_result(kind: str, params: Params, run_id: str, runs_root: str | Path = "runs",
                     results_root: str | Path = "results", out: str | Path | None = None) -> Path:
    """Compute one run's result of ``kind`` and write it atomically; returns the CSV written.

    kind "metrics" (``evaluate_run``; also writes results/per_run/evaluate/<ID>.json), "robustness"
    (``robustness_run``) or "steps" (``steps_run``). ``out``: CSV path instead of
    results/per_run/<kind>/<ID>.csv (``results.run_result_path``).
    """
    if kind == "metrics":
        table, summary = evaluate_run(params, run_id, runs_root)
        atomic_write_json(summary, evaluate_summary_path(results_root, run_id))
    elif kind == "robustness":
        table = robustness_run(params, run_id, runs_root)
    elif kind == "steps":
        table = steps_run(params, run_id, runs_root)
    else:
        raise ConfigError(f"result kind must be metrics, robustness or steps, got {kind!r}")
    path = Path(out) if out else run_result_path(results_root, kind, run_id)
    atomic_write_csv(table, path)
    return path


def _result_task(task: tuple[str, Params, str, str, str]) -> Path:
    kind, params, run_id, runs_root, results_root = task
    return write_run_result(kind, params, run_id, runs_root, results_root)


def write_run_results(kind: str, params: Params, run_ids: Sequence[str] | None = None,
                      runs_root: str | Path = "runs", results_root: str | Path = "results",
                      jobs: int | None = None) -> list[Path]:
    """``write_run_result`` for ``run_ids`` (default: every run of the kind in params: the train runs
    for metrics, the sweep's runs otherwise) on ``jobs`` worker processes (0/None: every core).

    Raises ConfigError for a run id that is not in the study (before any work); TaskFailures naming
    each failed run after all have ended (the others' files are written).
    """
    run_kind = RUN_KIND_OF_RESULT[kind]
    runs = [params.find_run(r, run_kind) for r in run_ids] if run_ids else params.runs(run_kind)
    # the costliest first: diffusion models sample S times, longer windows cost more per clip
    order = sorted(runs, key=lambda r: (not r.spec.diffusion, -r.frames, r.variant, r.seed))
    tasks = [(kind, params, r.id, str(runs_root), str(results_root)) for r in order]
    paths = dict(zip((r.id for r in order),
                     map_tasks(_result_task, tasks, jobs, desc=COMMAND_OF_RESULT[kind], name=lambda t: t[2])))
    return [paths[r.id] for r in runs]


# ---------------------------------------------------------------- any checkpoint file
@dataclass
class CheckpointEvaluation:
    """What ``evaluate_checkpoint`` / ``evaluate_lifter`` found.

    ``metrics``: rows in the columns of results/metrics.csv (per action or 3DHP sequence, then
    'Average' (+ 'All' on 3DHP)); ``table``: the paper's Table 1, 2 or 3 layout with the paper's rows of
    the same method; ``summary``: what was evaluated how (JSON-able: variant, F, S and where it came
    from, normalisation and scale in mm, frames lifted, seconds, frames/s, device, the averages).
    """

    metrics: pd.DataFrame
    table: Table
    summary: dict

    def summary_line(self) -> str:
        """One line: model, setting, MPJPE / P-MPJPE (mm; 3DHP: both MPJPEs) and frames per second."""
        s = self.summary
        steps = f", S={s['steps']}" if s["steps"] is not None else ""
        mpjpe = f"MPJPE {s['mpjpe']:.2f} mm"
        if "mpjpe_all_frames" in s:
            mpjpe = (f"MPJPE {s['mpjpe']:.2f} mm (mean of sequences) / {s['mpjpe_all_frames']:.2f} mm (all "
                     f"frames), PCK {s['pck']:.1f}%, AUC {s['auc']:.1f}%")
        return (f"{s['run']} ({s['variant']}, F={s['frames']}{steps}, {s['dataset']} {s['input_2d']} 2D): "
                f"{mpjpe}, P-MPJPE {s['p_mpjpe']:.2f} mm; {s['frames_lifted']} frames in "
                f"{s['seconds']:.1f} s = {s['frames_per_second']:.1f} frames/s on {s['device']}")


def evaluate_checkpoint(
    params: Params,
    checkpoint: str | Path,
    *,
    dataset: str | None = None,
    input_2d: str | None = None,
    steps: int | None = None,
    normalisation: str | float | None = None,
    compat: str | None = None,
    subjects: list[str] | None = None,
    max_frames: int | None = None,
    progress: bool = False,
) -> CheckpointEvaluation:
    """Score any checkpoint file (an official release or our model.pt / checkpoint.pt) on the test set.

    The file is read by ``checkpoints.load_lifter`` (variant and F from the file), the setting by
    ``assemble.checkpoint_run_spec`` (``dataset`` required for official files; ``input_2d`` default 'det'
    on Human3.6M, 'gt' on 3DHP; our files default to their run), S = ``steps``, else params
    ``diffusion.steps`` / ``ddim_steps`` for that setting, else the paper's (``Params.steps_or_paper``),
    the scale by ``assemble.resolve_scale`` (``normalisation``: None = the file's default, i.e. the
    release constant for official files; 'release', 'ours' or mm), flip test-time augmentation,
    hypotheses, aggregation and batch size from params.evaluate, device and fast paths as ``evaluate_run``.
    ``subjects`` / ``max_frames``: a quick look (``assemble.limit_test_sequences``); ``progress``: a bar.
    Everything is checked before the first clip is lifted; nothing is written (see
    ``write_checkpoint_evaluation``).

    Raises CheckpointError (missing, unsafe or unrecognised file) and ConfigError (dataset, 2D input,
    S, normalisation, subjects, data files), each naming the flag or file to fix.
    """
    loaded = load_lifter(checkpoint)
    run = checkpoint_run_spec(loaded, dataset, input_2d)
    steps, steps_from = checkpoint_steps(params, loaded, run, steps)
    data = load_dataset(params, run.dataset, run.input_2d)
    sequences = limit_test_sequences(data.test, subjects, max_frames)
    trained = trained_from_checkpoint(params, loaded, dataset=run.dataset, input_2d=run.input_2d,
                                      normalisation=normalisation, compat=compat, data=data)
    if steps is not None and steps > trained.diffusion.num_timesteps:
        raise ConfigError(f"--steps {steps} exceeds the {trained.diffusion.num_timesteps} diffusion "
                          f"timesteps of {loaded.path.name}")
    quick = []
    if subjects or max_frames:
        frames = sum(int(seq.valid.sum()) for seq in sequences)
        quick = [f"Quick look, not the full protocol: {frames} scored frames of "
                 f"{' '.join(dict.fromkeys(seq.subject for seq in sequences))}"
                 + (f" (--max-frames {max_frames})" if max_frames else "") + "."]
    return evaluate_lifter(params, trained, sequences, data.layout, steps, steps_from=steps_from,
                           name=checkpoint_run_name(loaded.path), notes=quick, progress=progress)


def evaluate_lifter(
    params: Params,
    trained: TrainedRun,
    sequences: list[PoseSequence],
    layout: JointLayout,
    steps: int | None,
    *,
    name: str,
    steps_from: str = "",
    notes: Sequence[str] = (),
    progress: bool = False,
) -> CheckpointEvaluation:
    """Lift ``sequences`` with ``trained`` (``assemble.predict_sequences``), score them (``score``) and
    lay the result out as the paper's table for the setting (``report.tables.run_table``).

    ``name`` fills the ``run`` column (e.g. 'checkpoint:<file name>'); the seed column is the run's
    seed for our models and empty for official files (unknown). ``steps`` is S (None for regression);
    ``steps_from`` / ``notes`` are printed under the table. Frames per second = frames lifted (every
    frame of ``sequences``, valid or not) / wall seconds of lifting, flip and hypotheses included.
    """
    run = trained.run
    started = time.perf_counter()
    predictions, _ = predict_sequences(params, trained, sequences, layout, steps, progress=progress)
    seconds = time.perf_counter() - started
    official = trained.checkpoint is not None and trained.checkpoint.origin == "official"
    rows = _metrics_rows(score(run.dataset, sequences, predictions), run, name,
                         None if official else run.seed, steps)
    frames = sum(len(seq) for seq in sequences)
    average = rows[rows["action"] == AVERAGE].iloc[0]
    cfg = params.evaluate
    summary = {
        "run": name,
        "checkpoint": str(trained.checkpoint.path) if trained.checkpoint else None,
        "origin": trained.checkpoint.origin if trained.checkpoint else None,
        "layout": trained.checkpoint.layout if trained.checkpoint else None,
        "variant": run.variant,
        "dataset": run.dataset,
        "input_2d": run.input_2d,
        "frames": run.frames,
        "steps": steps,
        "steps_from": steps_from or None,
        "compat": ((trained.diffusion or params.diffusion).compat if run.spec.diffusion else None),
        "normalisation": trained.normalisation,
        "scale_mm": trained.scale,
        "flip_test": cfg.flip_test,
        "hypotheses": cfg.hypotheses,
        "aggregate": cfg.aggregate,
        "device": str(trained.device),
        "sequences": len(sequences),
        "frames_lifted": frames,
        "frames_scored": int(average["frames_scored"]),
        "seconds": seconds,
        "frames_per_second": frames / seconds if seconds > 0 else float("inf"),
        "mpjpe": float(average["mpjpe"]),
        "p_mpjpe": float(average["p_mpjpe"]),
    }
    if run.dataset == "3dhp":
        summary["mpjpe_all_frames"] = float(rows[rows["action"] == ALL_FRAMES].iloc[0]["mpjpe"])
        summary.update(pck=float(average["pck"]), auc=float(average["auc"]))
    data_label = provenance_label(params.data, run.dataset)
    how = [f"Row 'ours' is {name} ({run.variant}, F={run.frames}"
           + (f", S={steps} from {steps_from}" if steps is not None else "") + f") on {data_label}; "
           f"normalisation {trained.normalisation}; flip test-time augmentation "
           f"{'on' if cfg.flip_test else 'off'}, {cfg.hypotheses} hypothesis(es) ({cfg.aggregate})."]
    how.append(f"Rows 'paper' are the published {DATASET_NAMES[run.dataset]} numbers of the same method, "
               "at the paper's F and S, copied from the paper.")
    method = VARIANTS[run.variant].label
    if official:  # the authors' own model, not our retrained baseline (MixSTE, not MixSTE*)
        method = f"{PAPER_METHODS.get(run.variant, method)} (release file)"
    table = run_table(rows, f"ours ({name}, {data_label})", [*how, *notes], method=method)
    table.generated_by = f"`diff3dhpe evaluate --checkpoint` ({name})"
    return CheckpointEvaluation(rows, table, summary)


def write_checkpoint_evaluation(evaluation: CheckpointEvaluation, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir``/{metrics.csv, table.md, table.tex, summary.json} (``CHECKPOINT_RESULT_FILES``),
    each atomically (the folder is made only now, after everything was computed). Returns the paths."""
    out = Path(out_dir)
    files = CHECKPOINT_RESULT_FILES
    paths = [atomic_write_csv(evaluation.metrics, out / files["metrics"])]
    paths += write_table(evaluation.table, out, stem=Path(files["markdown"]).stem, formats=("md", "tex"))
    paths.append(atomic_write_json(evaluation.summary, out / files["summary"]))
    return paths
