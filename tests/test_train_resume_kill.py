"""A training process killed with SIGKILL (between epochs, then mid-epoch) resumes to the same result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from test_config import tiny_params

from diff3dhpe import checkpoints
from diff3dhpe.checkpoints import load_checkpoint
from diff3dhpe.cli import main
from diff3dhpe.config import parse_params
from diff3dhpe.errors import CheckpointError
from diff3dhpe.results import CHECKPOINT_FILE as CHECKPOINT
from diff3dhpe.results import MODEL_FILE as MODEL
from diff3dhpe.train import SLEEP_AFTER_EPOCH_ENV, train_run

RUN = "h36m-det-f9-diff3dhpe-m-s0"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("kill")
    raw = tiny_params(root / "data")
    raw["train"]["epochs"] = 3
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["prepare", "--params", str(path), "--results", str(root / "results")]) == 0
    return {"path": path, "params": parse_params(raw)}


def _epoch_done(run_dir: Path) -> int:
    try:
        return int(load_checkpoint(run_dir / CHECKPOINT)["epoch"])
    except CheckpointError:  # not written yet
        return 0


def _train_command(study: dict, runs: Path) -> list[str]:
    return [sys.executable, "-m", "diff3dhpe.cli", "train", "--params", str(study["path"]), "--run", RUN,
            "--runs-dir", str(runs), "--results", str(runs.parent / "results")]


def _kill_when(study: dict, runs: Path, epoch: int, sleep_after_epoch: float) -> None:
    """Start `diff3dhpe train`, SIGKILL it as soon as the checkpoint records ``epoch`` epochs."""
    env = {**os.environ, SLEEP_AFTER_EPOCH_ENV: str(sleep_after_epoch), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(_train_command(study, runs), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _epoch_done(runs / RUN) < epoch:
            assert proc.poll() is None, f"training exited (rc {proc.returncode}) before epoch {epoch}"
            assert time.monotonic() < deadline, "training made no progress in 120 s"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_sigkill_between_and_within_epochs_resumes_to_identical_results(study, tmp_path):
    straight = train_run(study["params"], RUN, tmp_path / "straight", progress=False)
    runs = tmp_path / "killed"
    # 1: killed while sleeping after epoch 1 (between epochs, deterministically)
    _kill_when(study, runs, epoch=1, sleep_after_epoch=60)
    assert _epoch_done(runs / RUN) == 1 and not (runs / RUN / MODEL).exists()
    # 2: resumed, then killed the moment epoch 2 is saved: inside epoch 3 (or its checkpoint write)
    _kill_when(study, runs, epoch=2, sleep_after_epoch=0)
    assert _epoch_done(runs / RUN) >= 2
    # a SIGKILL inside a checkpoint write leaves its temp file; make sure this run sees one either way
    (runs / RUN / f".{CHECKPOINT}.killedwrite.tmp").write_bytes(b"PK\x03\x04 half a checkpoint")
    # 3: the same command again runs to completion
    done = subprocess.run(_train_command(study, runs), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    a = load_checkpoint(tmp_path / "straight" / RUN / MODEL)
    b = load_checkpoint(runs / RUN / MODEL)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [h["loss"] for h in b["history"]] == [h["loss"] for h in straight.history]
    assert not list((runs / RUN).glob(".*.tmp"))  # no temp file of a killed write is left behind
    csvs = []
    for name in ("straight", "killed"):
        out = tmp_path / f"{name}.csv"
        args = ["evaluate", "--params", str(study["path"]), "--run", RUN, "--runs-dir", str(tmp_path / name),
                "--results", str(tmp_path / "results"), "--out", str(out)]
        assert main(args) == 0
        csvs.append(out.read_text())
    assert csvs[0] == csvs[1]


class _Killed(BaseException):
    """Stands in for the process dying (not an Exception, so nothing in the trainer catches it)."""


def test_crash_during_checkpoint_write_keeps_the_previous_checkpoint(study, tmp_path, monkeypatch):
    real_save = torch.save
    calls = []

    def dying_save(obj, handle, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the epoch-2 checkpoint: half a file, then the process is gone
            handle.write(b"PK\x03\x04 truncated")
            raise _Killed
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "save", dying_save)
    with pytest.raises(_Killed):
        train_run(study["params"], RUN, tmp_path, progress=False)
    monkeypatch.setattr(checkpoints.torch, "save", real_save)
    run_dir = tmp_path / RUN
    assert load_checkpoint(run_dir / CHECKPOINT)["epoch"] == 1  # the previous, complete checkpoint
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / MODEL).exists()
    resumed = train_run(study["params"], RUN, tmp_path, progress=False)
    assert resumed.resumed_from == 1 and resumed.epochs == 3


def test_finished_run_is_kept_for_the_same_code_and_retrained_when_training_code_changes(
    study, tmp_path, monkeypatch
):
    from diff3dhpe import train as train_module

    first = train_run(study["params"], RUN, tmp_path, progress=False)
    assert first.resumed_from == 0
    again = train_run(study["params"], RUN, tmp_path, progress=False)
    assert again.resumed_from == study["params"].train.epochs  # same code: nothing to redo
    # dvc reruns the stage when diff3dhpe/models etc. change; the old weights must not pass as new
    monkeypatch.setattr(train_module, "training_code_digest", lambda: "edited-model-code")
    retrained = train_run(study["params"], RUN, tmp_path, progress=False)
    assert retrained.resumed_from == 0


def test_training_code_digest_covers_the_dvc_train_dependencies():
    from diff3dhpe import train as train_module

    stages = yaml.safe_load((Path(__file__).parents[1] / "dvc.yaml").read_text())["stages"]
    deps = stages["train"]["deps"]
    code = sorted(d.removeprefix("diff3dhpe/") for d in deps if d.startswith("diff3dhpe/"))
    assert code == sorted(train_module.TRAINING_CODE)
    assert len(train_module.training_code_digest()) == 16
