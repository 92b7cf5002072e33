"""A tiny study through the SLURM profile on a real single-node SLURM cluster, compared with a local run.

The cluster is started by .ci/slurm-setup.sh (root: apt-get install slurm-wlm munge, then the
daemons). The test skips, saying why, only when that is impossible here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from diff3dhpe.config import load_params

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SETUP = REPO / ".ci" / "slurm-setup.sh"
RESULTS = ("metrics", "robustness", "steps", "ttest")
TIMING_COLUMNS = ("seconds_per_clip",)  # wall-clock, differs between any two runs

TINY_PARAMS = """
data:
  source: synthetic
  dir: data
  synthetic:
    name: tiny
    seed: 0
    frames_per_take: 30
    subjects: [S1, S8, S9]
    actions: [Walking, Sitting]
    mpi3dhp_frames_per_sequence: 20
    mpi3dhp_test_frames: 20
  subjects: {train: [S1], validation: [S8], test: [S9]}
model:
  mixste: {dim: 16, depth: 1, heads: 2, mlp_ratio: 2.0, drop_path: 0.0}
diffusion:
  steps: {h36m: {det: {9: 2}}}
  ddim_steps: {9: 4}
evaluate: {batch_size: 256, flip_test: true, seed: 0}
train:
  epochs: 1
  batch_size: 16
  max_clips_per_epoch: 32
  validation_max_clips: 16
  device: cpu
experiments:
  det:
    dataset: h36m
    input_2d: [det]
    frames: [9]
    variants: [mixste, diff3dhpe-m]
    seeds: [0, 1]
sweeps:
  robustness:
    {frames: 9, variants: [mixste, diff3dhpe-m], seeds: [0], gaussian: [0.0, 0.1], dropout: [0.0, 0.5]}
  steps: {frames: 9, variants: [diff3dhpe-m], seeds: [0], steps: [1, 2]}
stats:
  ttest:
    - {name: mixste-vs-diff3dhpe-m, a: mixste, b: diff3dhpe-m, frames: [9], metrics: [mpjpe]}
"""
TARGETS = [f"results/{name}.csv" for name in RESULTS]
CLUSTER_RULES = ("prepare", "baselines", "train", "evaluate", "robustness", "steps")


def node_idle() -> bool:
    if not shutil.which("sinfo"):
        return False
    state = subprocess.run(["sinfo", "--noheader", "-o", "%T"], capture_output=True, text=True)
    return state.returncode == 0 and state.stdout.strip().rstrip("*~#") in ("idle", "mixed")


@pytest.fixture(scope="module")
def slurm_cluster():
    if node_idle():
        return
    if os.geteuid() != 0 and not shutil.which("sinfo"):
        pytest.skip("SLURM is not installed and installing it needs root (run .ci/slurm-setup.sh as root)")
    setup = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=900)
    if setup.returncode != 0 or not node_idle():
        pytest.skip(f"could not install/start a single-node SLURM with {SETUP.name}: "
                    f"{(setup.stdout + setup.stderr)[-1500:]}")


def run_snakemake(workdir: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "MPLBACKEND": "Agg",
        # Fit every job on the CI node, one CPU each (so the threads, hence the float sums, equal the
        # local run's with --cores 1); no GPUs there.
        "DIFF3DHPE_SLURM_GPUS": "0", "DIFF3DHPE_SLURM_MAX_CPUS": "1", "DIFF3DHPE_SLURM_MAX_MEM_MB": "2000",
    }
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), *TARGETS, *args], capture_output=True, text=True, env=env, timeout=1500,
    )
    return result, time.perf_counter() - start


def read(workdir: Path, name: str) -> pd.DataFrame:
    frame = pd.read_csv(workdir / "results" / f"{name}.csv")
    frame = frame.drop(columns=[c for c in TIMING_COLUMNS if c in frame.columns])
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_tiny_study_on_slurm_matches_local_run(slurm_cluster, tmp_path):
    local, on_slurm = tmp_path / "local", tmp_path / "slurm"
    for workdir in (local, on_slurm):
        workdir.mkdir()
        (workdir / "params.yaml").write_text(TINY_PARAMS)
    params = load_params(local / "params.yaml")
    runs = {kind: [r.id for r in params.runs(kind)] for kind in ("train", "robustness", "steps")}

    result, local_seconds = run_snakemake(local, "--profile", str(REPO / "workflow/profiles/default"),
                                          "--cores", "1")
    assert result.returncode == 0, result.stderr[-4000:]

    result, slurm_seconds = run_snakemake(
        on_slurm, "--profile", str(REPO / "workflow/profiles/slurm"), "--jobs", "4",
        # accounting is off on the CI cluster: no account, and squeue instead of sacct for job states
        "--slurm-no-account", "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "2",
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    print(f"local run {local_seconds:.0f} s, SLURM run {slurm_seconds:.0f} s")

    # Every cluster rule's job was submitted with sbatch and left its SLURM log.
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    # prepare, baselines, then train + evaluate per run, and the sweeps
    expected_jobs = 2 + 2 * len(runs["train"]) + len(runs["robustness"]) + len(runs["steps"])
    assert len(set(job_ids)) == expected_jobs, log[-4000:]
    for run in runs["train"]:
        assert list((on_slurm / "logs" / "slurm" / "rule_train" / run).glob("*.log")), run
    states = subprocess.run(["squeue", "--states=all", "--noheader", "-o", "%i %T", "-j", ",".join(job_ids)],
                            capture_output=True, text=True).stdout
    assert {line.split()[1] for line in states.splitlines()} == {"COMPLETED"}, states

    # The CSVs equal the local run's (timing columns aside).
    for name in RESULTS:
        pd.testing.assert_frame_equal(read(on_slurm, name), read(local, name), check_exact=True, obj=name)
    baselines = {b.id for b in params.baseline_runs()}
    assert set(read(on_slurm, "metrics")["run"]) == set(runs["train"]) | baselines
