"""Many runs on worker processes: the same files as one process, every failure named, nothing lost."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from diff3dhpe.checkpoints import load_checkpoint
from diff3dhpe.cli import main
from diff3dhpe.errors import ConfigError
from diff3dhpe.parallel import TaskFailures, available_cores, map_tasks, resolve_jobs
from diff3dhpe.results import evaluate_summary_path, run_result_path, training_curves_dir
from diff3dhpe.train import train_run


def test_resolve_jobs_defaults_to_every_core_and_never_exceeds_the_tasks(monkeypatch):
    monkeypatch.delenv("DIFF3DHPE_JOBS", raising=False)
    assert resolve_jobs(None, 1000) == available_cores()
    assert resolve_jobs(0, 1000) == available_cores()
    assert resolve_jobs(3, 2) == 2 and resolve_jobs(1, 5) == 1
    monkeypatch.setenv("DIFF3DHPE_JOBS", "1")
    assert resolve_jobs(None, 5) == 1
    monkeypatch.setenv("DIFF3DHPE_JOBS", "two")
    with pytest.raises(ConfigError, match="DIFF3DHPE_JOBS='two'"):
        resolve_jobs(None, 5)
    with pytest.raises(ConfigError, match="--jobs must be 0"):
        resolve_jobs(-1, 5)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failed_item_is_named_and_the_others_still_finish(jobs):
    with pytest.raises(TaskFailures, match=r"1 of 3 failed") as caught:
        map_tasks(math.sqrt, [4.0, -1.0, 9.0], jobs=jobs, desc="roots")
    assert "-1.0: ValueError: math domain error" in str(caught.value)
    assert map_tasks(math.sqrt, [4.0, 9.0], jobs=jobs) == [2.0, 3.0]  # results in the order given


def test_training_on_two_workers_writes_what_one_process_writes(study, tmp_path):
    """`train --run A B --jobs 2` then `evaluate --all`: the same weights as train_run in this process,
    curves in results/training/<ID>/, runs/<ID>/ holds only the model files."""
    runs = ["h36m-det-f9-mixste-s0", "h36m-det-f9-diff3dhpe-m-s1"]
    common = ["--params", str(study["path"]), "--runs-dir", str(tmp_path / "runs"),
              "--results", str(tmp_path / "results")]
    assert main(["train", *common, "--run", *runs, "--jobs", "2"]) == 0
    for run in runs:
        alone = train_run(study["params"], run, tmp_path / "alone", progress=False)
        a = load_checkpoint(alone.model_path)["model"]
        b = load_checkpoint(tmp_path / "runs" / run / "model.pt")["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), run
        assert sorted(p.name for p in (tmp_path / "runs" / run).iterdir()) == ["checkpoint.pt", "model.pt"]
        curves = training_curves_dir(tmp_path / "results", run)
        assert (curves / "plots" / "metrics" / "val_mpjpe.tsv").is_file()

    # a finished run is not retrained: the same call again leaves the model file untouched
    before = (tmp_path / "runs" / runs[0] / "model.pt").read_bytes()
    assert main(["train", *common, "--run", runs[0]]) == 0
    assert (tmp_path / "runs" / runs[0] / "model.pt").read_bytes() == before

    # evaluate every run of the study: the two trained ones succeed, the two untrained ones are named
    assert main(["evaluate", *common, "--all", "--jobs", "2"]) == 2
    for run in runs:
        table = pd.read_csv(run_result_path(tmp_path / "results", "metrics", run))
        summary = json.loads(evaluate_summary_path(tmp_path / "results", run).read_text())
        average = table[table["action"] == "Average"].iloc[0]
        assert summary["run"] == run and summary["mpjpe"] == pytest.approx(average["mpjpe"])
    assert not run_result_path(tmp_path / "results", "metrics", "h36m-det-f9-mixste-s1").exists()
