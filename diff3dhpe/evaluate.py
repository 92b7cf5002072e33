"""Test-set scoring of a trained run, and the two sweeps that reuse it (robustness, steps S).

Lifting (clips, flip test-time augmentation, DDIM from seeded noise, stitching, × scale to mm) is
``diff3dhpe.assemble.predict_sequences``; this module scores it. Human3.6M: the per-action protocol
(frame-weighted per action group, ``Average`` unweighted over groups). MPI-INF-3DHP: valid frames only;
MPJPE etc. = mean of the per-sequence means (as the release code), PCK/AUC pooled over all valid frames.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from diff3dhpe import metrics
from diff3dhpe.assemble import load_run_dataset, load_trained, predict_sequences
from diff3dhpe.config import Params
from diff3dhpe.data.augment import corrupt, corruption_rng
from diff3dhpe.data.dataset import PoseSequence
from diff3dhpe.errors import ConfigError
from diff3dhpe.results import AVERAGE, RESULT_COLUMNS

log = logging.getLogger("diff3dhpe.evaluate")


def score(dataset: str, sequences: list[PoseSequence], predictions: list[np.ndarray]) -> pd.DataFrame:
    """Rows action, frames_scored, mpjpe, p_mpjpe, n_mpjpe, mpjve, pck, auc; last row 'Average'."""
    if dataset == "h36m":
        records = [
            {"action": seq.action, **metrics.per_frame_errors(pred, seq.poses_3d)}
            for seq, pred in zip(sequences, predictions)
        ]
        table = metrics.per_action_table(records, ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"])
        table["pck"] = np.nan
        table["auc"] = np.nan
        return table
    rows, pooled_pck, pooled_auc = [], [], []
    for seq, pred in zip(sequences, predictions):
        valid = seq.valid.astype(bool)
        gt, est = seq.poses_3d[valid], pred[valid]
        errors = metrics.per_frame_errors(est, gt)
        # velocity error only between consecutive frames that are both valid
        velocity = metrics.mpjve_per_frame(pred, np.nan_to_num(seq.poses_3d))
        both = valid & np.concatenate([[False], valid[:-1]])
        pck = metrics.pck_per_frame(est, gt)
        auc = metrics.auc_per_frame(est, gt)
        pooled_pck.append(pck)
        pooled_auc.append(auc)
        rows.append(
            {
                "action": seq.action,
                "frames_scored": int(valid.sum()),
                "mpjpe": errors["mpjpe"].mean(),
                "p_mpjpe": errors["p_mpjpe"].mean(),
                "n_mpjpe": errors["n_mpjpe"].mean(),
                "mpjve": float(np.nanmean(velocity[both])) if both.any() else np.nan,
                "pck": pck.mean(),
                "auc": auc.mean(),
            }
        )
    table = pd.DataFrame(rows)
    average = {"action": AVERAGE, "frames_scored": int(table["frames_scored"].sum())}
    average.update({m: float(table[m].mean()) for m in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve")})
    average["pck"] = float(np.concatenate(pooled_pck).mean())
    average["auc"] = float(np.concatenate(pooled_auc).mean())
    return pd.concat([table, pd.DataFrame([average])], ignore_index=True)


def evaluate_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> tuple[pd.DataFrame, dict]:
    """metrics.csv rows of one run (per action + Average) and a summary dict (for runs/<ID>/evaluate.json)."""
    trained = load_trained(params, run_id, runs_root)
    run = trained.run
    dataset = load_run_dataset(params, run)
    steps = params.sampling_steps(run)
    predictions, seconds = predict_sequences(params, trained, dataset.test, dataset.layout, steps)
    table = score(run.dataset, dataset.test, predictions)
    ids = {
        "run": run.id,
        "dataset": run.dataset,
        "variant": run.variant,
        "frames": run.frames,
        "input_2d": run.input_2d,
        "seed": run.seed,
        "steps": steps if steps is not None else pd.NA,
    }
    for key, value in ids.items():
        table[key] = value
    table["steps"] = table["steps"].astype("Int64")
    table = table[list(RESULT_COLUMNS["metrics"])]
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


def _average(table: pd.DataFrame) -> pd.Series:
    return table[table["action"] == AVERAGE].iloc[0]


def robustness_run(params: Params, run_id: str, runs_root: str | Path = "runs") -> pd.DataFrame:
    """MPJPE / P-MPJPE under each corruption level of sweeps.robustness (same draws for every model)."""
    sweep = params.sweeps.robustness
    trained = load_trained(params, run_id, runs_root, kind="robustness")
    run = trained.run
    dataset = load_run_dataset(params, run)
    steps = params.sampling_steps(run)
    rows = []
    for kind, levels in (("gaussian", sweep.gaussian), ("dropout", sweep.dropout)):
        for level in levels:
            rng = corruption_rng(sweep.corruption_seed, kind, float(level))
            corrupted = [
                replace(seq, keypoints_2d=corrupt(seq.keypoints_2d, kind, float(level), rng))
                for seq in dataset.test
            ]
            predictions, _ = predict_sequences(params, trained, corrupted, dataset.layout, steps)
            average = _average(score(run.dataset, corrupted, predictions))
            rows.append(
                {
                    "run": run.id,
                    "variant": run.variant,
                    "seed": run.seed,
                    "corruption": kind,
                    "level": float(level),
                    "mpjpe": average["mpjpe"],
                    "p_mpjpe": average["p_mpjpe"],
                }
            )
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
