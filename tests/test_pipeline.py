"""The real `dvc repro` end to end on a tiny study in a temporary git repo (slow: minutes)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_config import tiny_params

from diff3dhpe.config import parse_params
from diff3dhpe.results import ALL_FRAMES, AVERAGE, RESULT_COLUMNS
from diff3dhpe.stats import TTEST_COLUMNS

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def pipeline_params(data_dir: str) -> dict:
    """Every experiment group of dvc.yaml, each as small as possible (F=9, one or two seeds)."""
    raw = tiny_params(data_dir)
    raw["diffusion"]["steps"] = {"h36m": {"det": {9: 3}, "gt": {9: 2}}, "3dhp": {"gt": {9: 2}}}

    def group(dataset: str, input_2d: str, variants: list[str], seeds: list[int]) -> dict:
        return {
            "dataset": dataset,
            "input_2d": [input_2d],
            "frames": [9],
            "variants": variants,
            "seeds": seeds,
        }

    raw["experiments"] = {
        "h36m_det": group("h36m", "det", ["mixste", "diff3dhpe-m"], [0, 1]),
        "h36m_det_ddim": group("h36m", "det", ["ddim-m"], [0]),
        "h36m_det_nopde": group("h36m", "det", ["diff3dhpe-m-nopde"], [0]),
        "h36m_gt": group("h36m", "gt", ["mixste"], [0]),
        "h36m_poseformer": group("h36m", "det", ["poseformer", "diff3dhpe-p"], [0]),
        "mpi3dhp_gt": group("3dhp", "gt", ["diff3dhpe-m"], [0]),
    }
    raw["sweeps"]["steps"]["variants"] = ["diff3dhpe-m", "diff3dhpe-m-nopde"]
    return raw


def dvc(cwd: Path, *args: str) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    done = subprocess.run(["dvc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, f"dvc {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_dvc_repro_end_to_end_then_nothing_to_do(tmp_path):
    if shutil.which("dvc") is None or shutil.which("diff3dhpe") is None:
        pytest.skip("needs the dvc and diff3dhpe commands on PATH (pip install -e .)")
    work = tmp_path / "study"
    work.mkdir()
    # dvc.yaml's deps name these package paths; the commands run the installed package
    shutil.copy(REPO / "dvc.yaml", work / "dvc.yaml")
    shutil.copytree(REPO / "diff3dhpe", work / "diff3dhpe", ignore=shutil.ignore_patterns("__pycache__"))
    # dvc needs every params key a stage names to be in the file: write the full validated params
    params = parse_params(pipeline_params("data"))
    raw = params.model_dump(mode="python")
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    dvc(work, "init", "-q")
    (work / ".dvcignore").write_text("__pycache__/\n*.pyc\n")

    dvc(work, "repro")
    results = work / "results"
    metrics = pd.read_csv(results / "metrics.csv")
    assert tuple(metrics.columns) == RESULT_COLUMNS["metrics"]
    trained = [r.id for r in params.runs("train")]
    baselines = [b.id for b in params.baseline_runs()]
    # every run in run order, then the baselines (mean pose, linear lifters)
    assert list(dict.fromkeys(metrics["run"])) == trained + baselines
    average = metrics[(metrics["action"] == AVERAGE) & metrics["run"].isin(trained)]
    assert len(average) == len(trained) and average["mpjpe"].notna().all()
    assert set(metrics.loc[metrics["run"].isin(baselines), "variant"]) == {"mean-pose", "linear-lifter"}
    assert set(average["variant"]) == {
        "mixste",
        "diff3dhpe-m",
        "ddim-m",
        "diff3dhpe-m-nopde",
        "poseformer",
        "diff3dhpe-p",
    }
    # 3DHP: one row per test sequence, the mean of their means (Average) and every frame pooled (All)
    assert set(metrics.loc[metrics["dataset"] == "3dhp", "action"]) == {f"TS{i}" for i in range(1, 7)} | {
        AVERAGE, ALL_FRAMES
    }
    assert metrics.loc[metrics["dataset"] == "3dhp", ["pck", "auc"]].notna().all().all()

    robustness = pd.read_csv(results / "robustness.csv")
    assert tuple(robustness.columns) == RESULT_COLUMNS["robustness"]
    sweep = params.sweeps.robustness
    expected = {
        (r.id, kind, level)
        for r in params.runs("robustness")
        for kind, levels in (("gaussian", sweep.gaussian), ("dropout", sweep.dropout))
        for level in levels
    }
    # then the baselines of Fig. 6 under the same levels (`diff3dhpe baselines`)
    levels = {(kind, level) for _, kind, level in expected}
    baselines = {(b.id, kind, level) for b in params.robustness_baseline_runs() for kind, level in levels}
    assert set(zip(robustness["run"], robustness["corruption"], robustness["level"])) == expected | baselines
    assert robustness["seed"].isna().sum() == len(baselines)

    steps = pd.read_csv(results / "steps.csv")
    assert tuple(steps.columns) == RESULT_COLUMNS["steps"]
    assert sorted(set(zip(steps["variant"], steps["steps"]))) == sorted(
        (v, s) for v in ("diff3dhpe-m", "diff3dhpe-m-nopde") for s in params.sweeps.steps.steps
    )
    assert set(steps["pde"]) == {True, False} and (steps["seconds_per_clip"] > 0).all()

    ttest = pd.read_csv(results / "ttest.csv")
    assert tuple(ttest.columns) == TTEST_COLUMNS and list(ttest["test"]) == ["student", "welch"]
    assert ttest["p_value"].between(0, 1).all()

    # second repro: nothing runs
    again = dvc(work, "repro")
    assert "Running stage" not in again
    assert "up to date" in dvc(work, "status")

    # a new robustness level makes only the robustness stages (and the baselines scored under it) stale
    raw["sweeps"]["robustness"]["gaussian"] = [0.0, 0.05, 0.1]
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    stale = {
        line.rstrip(":").strip()
        for line in dvc(work, "status").splitlines()
        if line.endswith(":") and not line.startswith(("\t", " "))
    }
    assert stale == {"baselines", "robustness", "collect-robustness"}, stale

    # one more seed: the train stage reruns, but only the new run trains; the others' files stay as they are
    models = {p: p.read_bytes() for p in (work / "runs").glob("*/model.pt")}
    raw["experiments"]["h36m_det"]["seeds"] = [*raw["experiments"]["h36m_det"]["seeds"], 7]
    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    log = dvc(work, "repro", "train")
    assert all(path.read_bytes() == data for path, data in models.items())
    assert (work / "runs" / "h36m-det-f9-mixste-s7" / "model.pt").is_file()
    assert log.count("epochs done") == len(models) + 2  # every run reported, two of them new
