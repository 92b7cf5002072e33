"""Training end to end on tiny synthetic data: outputs, the CSV contract, exact resume, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from diff3dhpe.checkpoints import load_checkpoint
from diff3dhpe.cli import main
from diff3dhpe.config import parse_params
from diff3dhpe.errors import ConfigError
from diff3dhpe.evaluate import evaluate_run
from diff3dhpe.results import RESULT_COLUMNS
from diff3dhpe.train import train_run


def _no_time(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


def test_prepare_writes_data_and_provenance(study):
    files = sorted(p.name for p in (study["root"] / "data").glob("*.npz"))
    assert files == [
        "data_2d_tiny_det.npz",
        "data_2d_tiny_gt.npz",
        "data_3d_tiny.npz",
        "data_test_tiny_3dhp.npz",
        "data_train_tiny_3dhp.npz",
    ]
    provenance = json.loads((study["root"] / "results" / "provenance.json").read_text())
    assert "synthetic" in provenance["h36m"]


def test_train_then_evaluate_follows_the_contract(study, tmp_path):
    params = study["params"]
    result = train_run(params, "h36m-det-f9-diff3dhpe-m-s0", tmp_path, progress=False,
                       results_root=tmp_path / "results")
    run_dir = tmp_path / "h36m-det-f9-diff3dhpe-m-s0"
    curves = tmp_path / "results" / "training" / "h36m-det-f9-diff3dhpe-m-s0"
    assert result.epochs == 2 and (run_dir / "model.pt").is_file() and (run_dir / "checkpoint.pt").is_file()
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(h["val_mpjpe"] > 0 and h["loss"] > 0 for h in result.history)
    assert result.history[1]["lr"] == pytest.approx(0.002 * 0.99)
    # dvclive layout: one row per epoch for every curve
    loss_tsv = curves / "plots" / "metrics" / "train" / "loss.tsv"
    assert len(loss_tsv.read_text().strip().splitlines()) == 1 + 2
    assert not (curves / "metrics.json").exists()  # only plot data in the folder dvc.yaml calls plots
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "model.pt"]  # models only

    table, summary = evaluate_run(params, "h36m-det-f9-diff3dhpe-m-s0", tmp_path)
    assert tuple(table.columns) == RESULT_COLUMNS["metrics"]
    assert list(table["action"]) == ["Sitting", "Walking", "Average"]  # H36M_ACTIONS order, then Average
    average = table[table["action"] == "Average"].iloc[0]
    assert average["mpjpe"] == pytest.approx(table["mpjpe"][:-1].mean())  # unweighted over groups
    assert average["steps"] == 3 and average["frames_scored"] == 2 * 2 * 24  # 2 actions x 2 takes x camera 0
    assert table[["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"]].notna().all().all()
    assert table[["pck", "auc"]].isna().all().all()  # only 3DHP rows carry PCK / AUC
    assert average["p_mpjpe"] <= average["mpjpe"] and summary["seconds_per_clip"] > 0


def test_interrupted_training_resumes_to_identical_weights(study, tmp_path):
    params = study["params"]
    run = "h36m-det-f9-mixste-s1"
    straight = train_run(params, run, tmp_path / "a", progress=False)
    first = train_run(params, run, tmp_path / "b", progress=False, stop_after_epochs=1,
                      results_root=tmp_path / "rb")
    assert first.epochs == 1 and not (tmp_path / "b" / run / "model.pt").exists()
    resumed = train_run(params, run, tmp_path / "b", progress=False, results_root=tmp_path / "rb")
    assert resumed.resumed_from == 1 and resumed.epochs == 2
    assert _no_time(resumed.history) == _no_time(straight.history)
    a = load_checkpoint(tmp_path / "a" / run / "model.pt")["model"]
    b = load_checkpoint(tmp_path / "b" / run / "model.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    metrics_a, _ = evaluate_run(params, run, tmp_path / "a")
    metrics_b, _ = evaluate_run(params, run, tmp_path / "b")
    pd.testing.assert_frame_equal(metrics_a, metrics_b)
    # the resumed dvclive log has each epoch once
    curves = tmp_path / "rb" / "training" / run / "plots" / "metrics"
    tsv = (curves / "val_mpjpe.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[0] == "step" and [line.split("\t")[0] for line in tsv[1:]] == ["0", "1"]


def test_checkpoint_from_other_settings_is_not_resumed(study, tmp_path):
    run = "h36m-det-f9-mixste-s0"
    train_run(study["params"], run, tmp_path, progress=False, stop_after_epochs=1)
    changed = dict(study["raw"], train={**study["raw"]["train"], "lr": 0.001})
    result = train_run(parse_params(changed), run, tmp_path, progress=False)
    assert result.resumed_from == 0 and result.history[0]["lr"] == 0.001


def test_evaluate_without_model_says_what_to_run(study, tmp_path):
    with pytest.raises(ConfigError, match=r"run `diff3dhpe train --run h36m-det-f9-mixste-s0` first"):
        evaluate_run(study["params"], "h36m-det-f9-mixste-s0", tmp_path)
    with pytest.raises(ConfigError, match="is not in experiments"):
        evaluate_run(study["params"], "h36m-gt-f9-mixste-s0", tmp_path)


def test_collect_names_missing_runs(study, tmp_path, capsys):
    args = ["collect", "--params", str(study["path"]), "--kind", "metrics", "--results", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "4 of 4 runs have no metrics file yet" in err and "h36m-det-f9-diff3dhpe-m-s1" in err
    assert not (Path(tmp_path) / "metrics.csv").exists()


def _without_validation(study, selection: str):
    raw = dict(study["raw"])
    raw["data"] = {**raw["data"], "subjects": {**raw["data"]["subjects"], "validation": []}}
    raw["train"] = {**raw["train"], "selection": selection}
    return parse_params(raw)


def test_no_validation_subjects_trains_on_all_given_subjects_keeping_the_last_epoch(study, tmp_path):
    # the paper's protocol: train on every training subject, keep the last epoch (no validation split)
    result = train_run(_without_validation(study, "last"), "h36m-det-f9-mixste-s0", tmp_path, progress=False)
    assert result.epochs == 2 and all(entry["val_mpjpe"] is None for entry in result.history)
    state = load_checkpoint(result.model_path)
    assert state["selection"] == "last" and state["epoch"] == 2


def test_best_validation_without_validation_subjects_is_refused(study, tmp_path):
    with pytest.raises(ConfigError, match="best_validation but there are no validation sequences"):
        train_run(_without_validation(study, "best_validation"), "h36m-det-f9-mixste-s0", tmp_path,
                  progress=False)


def test_a_failed_train_leaves_no_empty_run_folder(study, tmp_path):
    raw = dict(study["raw"], data={**study["raw"]["data"], "dir": str(tmp_path / "no-data")})
    with pytest.raises(ConfigError, match="missing data files"):
        train_run(parse_params(raw), "h36m-det-f9-mixste-s0", tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs" / "h36m-det-f9-mixste-s0").exists()
