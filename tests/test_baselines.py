"""The no-network baselines: the linear lifter is ridge least squares, the mean pose is a plain mean."""

import numpy as np
import pytest

from diff3dhpe.baselines import (
    fit_linear_lifter,
    fit_mean_pose,
    linear_lifter_mpjpe,
    mean_pose_mpjpe,
    window_frames,
)
from diff3dhpe.errors import ShapeError


def sequences(rng, lengths, joints=3):
    """(x2d (N, J, 2), y3d (N, J, 3) mm) pairs with a root offset, so centring matters."""
    return [(rng.normal(size=(n, joints, 2)) + 0.5, rng.normal(scale=100, size=(n, joints, 3)) + 4000)
            for n in lengths]


def closed_form_mpjpe(train, test, window, ridge, stride):
    """Ridge regression written as one np.linalg.lstsq on the stacked system [X; √λ I] w = [Y; 0]."""

    def features(x2d):
        n = len(x2d)
        rel = (x2d - x2d[:, :1]).reshape(n, -1)
        half = window // 2
        neighbours = [rel[min(max(i + k - half, 0), n - 1)] for i in range(n) for k in range(window)]
        return np.concatenate([np.reshape(neighbours, (n, -1)), np.ones((n, 1))], axis=1)

    X = np.concatenate([features(x)[::stride] for x, _ in train])
    Y = np.concatenate([(y - y[:, :1]).reshape(len(y), -1)[::stride] for _, y in train])
    lam = ridge * np.trace(X.T @ X) / X.shape[1]
    A = np.concatenate([X, np.sqrt(lam) * np.eye(X.shape[1])])
    B = np.concatenate([Y, np.zeros((X.shape[1], Y.shape[1]))])
    weights = np.linalg.lstsq(A, B, rcond=None)[0]
    errors = [np.linalg.norm((features(x) @ weights).reshape(y.shape) - (y - y[:, :1]), axis=-1).ravel()
              for x, y in test]
    return np.concatenate(errors).mean()


@pytest.mark.parametrize(("window", "stride"), [(1, 1), (3, 2), (4, 1)])
def test_linear_lifter_mpjpe_equals_closed_form_ridge_least_squares(window, stride):
    rng = np.random.default_rng(0)
    train, test = sequences(rng, (9, 7, 8)), sequences(rng, (5, 6))
    expected = closed_form_mpjpe(train, test, window, ridge=0.1, stride=stride)
    got = linear_lifter_mpjpe(train, test, window=window, ridge=0.1, train_stride=stride)
    assert got == pytest.approx(expected, rel=1e-9)
    assert linear_lifter_mpjpe(iter(train), iter(test), window=window, ridge=0.1, train_stride=stride) == got


def test_linear_lifter_predicts_root_relative_3d_per_frame():
    rng = np.random.default_rng(1)
    train = sequences(rng, (12, 10))
    lifter = fit_linear_lifter(iter(train), window=3)
    pred = lifter.predict(train[0][0])
    assert pred.shape == (12, 3, 3) and lifter.num_joints == 3
    np.testing.assert_array_equal(pred[:, 0], 0.0)  # the root is the origin
    with pytest.raises(ShapeError, match=r"\(N, 3, 2\)"):
        lifter.predict(np.zeros((4, 17, 2)))


def test_window_frames_are_centred_and_clamped_at_the_edges():
    x = np.arange(4.0)[:, None]  # (4, 1)
    np.testing.assert_array_equal(window_frames(x, 3), [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]])


def test_mean_pose_mpjpe_equals_the_hand_computed_value():
    # Two joints; the root sits anywhere (4 m away here): only root-relative poses count.
    root = np.array([0.0, 0.0, 4000.0])
    train_3d = root + np.array([[[0, 0, 0], [0, 0, 10]], [[0, 0, 0], [0, 0, 30]]], dtype=float)  # mean 20
    test_3d = root + np.array([[[0, 0, 0], [0, 0, 20]], [[0, 0, 0], [0, 3, 24]]], dtype=float)
    x2d = np.zeros((2, 2, 2))
    np.testing.assert_array_equal(fit_mean_pose([(x2d, train_3d)]), [[0, 0, 0], [0, 0, 20]])
    # Errors per (frame, joint): 0, 0, 0 and |(0, 3, 4)| = 5, so the mean is 5 / 4.
    assert mean_pose_mpjpe([(x2d, train_3d)], [(x2d, test_3d)]) == 1.25


def test_baselines_need_data_and_matching_shapes():
    rng = np.random.default_rng(2)
    (pair,) = sequences(rng, (5,))
    with pytest.raises(ValueError, match="training sequence"):
        linear_lifter_mpjpe([], [pair])
    with pytest.raises(ValueError, match="test frame"):
        linear_lifter_mpjpe([pair], [])
    with pytest.raises(ValueError, match="training sequence"):
        mean_pose_mpjpe([], [pair])
    with pytest.raises(ValueError, match="window >= 1"):
        fit_linear_lifter([pair], window=0)
    with pytest.raises(ShapeError, match="3D target"):
        linear_lifter_mpjpe([(pair[0], pair[1][:4])], [pair])
    with pytest.raises(ShapeError, match="one count only"):
        fit_linear_lifter([pair, *sequences(rng, (5,), joints=4)])


# ---------------------------------------------------------------------------------------------
# The baselines as rows of results/metrics.csv (`diff3dhpe baselines`, evaluate.score_baseline)
# ---------------------------------------------------------------------------------------------
def h36m_dataset(rng):
    """A hand-made Human3.6M-layout dataset (17 joints, root 0, root-relative 3D in mm): 3 training
    sequences, test sequences of two action groups (Walking: two sequences of unequal length)."""
    from diff3dhpe.data.dataset import PoseDataset, PoseSequence
    from diff3dhpe.data.skeleton import H36M

    def sequence(subject, action, frames):
        x2d = rng.normal(scale=0.3, size=(frames, 17, 2)).astype(np.float32)
        y3d = rng.normal(scale=150, size=(frames, 17, 3)).astype(np.float32)
        y3d -= y3d[:, :1]
        return PoseSequence(subject, action, "0", x2d, y3d)

    train = [sequence("S1", action, n) for action, n in (("Walking 1", 60), ("Sitting 1", 50), ("Eating", 7))]
    test = [sequence("S9", "Walking 1", 11), sequence("S9", "Walking 2", 5), sequence("S9", "Sitting 1", 8)]
    return PoseDataset(H36M, train, [], test)


def test_linear_lifter_row_equals_closed_form_on_a_small_fixture():
    """The Average MPJPE of the 'linear-lifter' row (F = 3) = ridge least squares written out by hand:
    stacked lstsq, centred clamped windows of root-relative 2D, then the per-action protocol (frames
    pooled per action group, groups averaged)."""
    from diff3dhpe.evaluate import score_baseline
    from diff3dhpe.variants import BaselineSpec

    data = h36m_dataset(np.random.default_rng(3))
    to64 = lambda seqs: [(s.keypoints_2d.astype(np.float64), s.poses_3d.astype(np.float64)) for s in seqs]  # noqa: E731
    train, test = to64(data.train), to64(data.test)
    window, ridge = 3, 1e-4

    def features(x2d):  # (N, 17, 2) -> (N, 3·34 + 1), neighbours clamped at the sequence ends
        n = len(x2d)
        rel = (x2d - x2d[:, :1]).reshape(n, -1)
        rows = [np.concatenate([rel[min(max(i + k - 1, 0), n - 1)] for k in range(window)] + [[1.0]])
                for i in range(n)]
        return np.array(rows)

    X = np.concatenate([features(x) for x, _ in train])
    Y = np.concatenate([(y - y[:, :1]).reshape(len(y), -1) for _, y in train])
    lam = ridge * np.trace(X.T @ X) / X.shape[1]
    A = np.concatenate([X, np.sqrt(lam) * np.eye(X.shape[1])])
    B = np.concatenate([Y, np.zeros((X.shape[1], Y.shape[1]))])
    weights = np.linalg.lstsq(A, B, rcond=None)[0]
    errors = [np.linalg.norm((features(x) @ weights).reshape(y.shape) - y, axis=-1).mean(axis=1)
              for x, y in test]
    walking, sitting = np.concatenate(errors[:2]).mean(), errors[2].mean()  # frame-weighted per group

    rows = score_baseline(BaselineSpec("h36m", "det", window, "linear-lifter"), data).set_index("action")
    assert rows.loc["Walking", "mpjpe"] == pytest.approx(walking, rel=1e-6)
    assert rows.loc["Sitting", "mpjpe"] == pytest.approx(sitting, rel=1e-6)
    assert rows.loc["Average", "mpjpe"] == pytest.approx((walking + sitting) / 2, rel=1e-6)
    assert rows.loc["Average", "frames_scored"] == 24
    # the mean pose: the plain mean of the training poses, scored the same way
    mean = np.concatenate([y for _, y in train]).mean(0)
    errors = [np.linalg.norm(y - mean, axis=-1).mean(axis=1) for _, y in test]
    expected = (np.concatenate(errors[:2]).mean() + errors[2].mean()) / 2
    rows = score_baseline(BaselineSpec("h36m", "det", 1, "mean-pose"), data).set_index("action")
    assert rows.loc["Average", "mpjpe"] == pytest.approx(expected, rel=1e-6)


def test_baseline_ids_never_parse_as_run_ids_and_windows_are_checked():
    from diff3dhpe.errors import ConfigError
    from diff3dhpe.variants import BASELINES, VARIANTS, BaselineSpec, parse_run_id

    spec = BaselineSpec("h36m", "det", 9, "linear-lifter")
    assert spec.id == "baseline-h36m-det-f9-linear-lifter"
    with pytest.raises(ConfigError, match="not of the form"):
        parse_run_id(spec.id)
    assert not set(BASELINES) & set(VARIANTS)  # VARIANTS builds networks; baselines are not in it
    with pytest.raises(ConfigError, match="ignores the 2D"):
        BaselineSpec("h36m", "det", 9, "mean-pose")
    with pytest.raises(ConfigError, match="not one of"):
        BaselineSpec("h36m", "det", 1, "mixste")


def test_the_study_has_one_mean_pose_and_a_linear_lifter_per_distinct_window():
    from test_config import tiny_params

    from diff3dhpe.config import parse_params

    raw = tiny_params()
    raw["diffusion"]["steps"]["h36m"]["det"] = {9: 3, 27: 3}
    raw["experiments"]["h36m_det"]["frames"] = [27, 9]
    raw["experiments"]["h36m_det_more"] = {"dataset": "h36m", "input_2d": ["det"], "frames": [9],
                                           "variants": ["mixste"], "seeds": [3]}
    raw["experiments"]["mpi"] = {"dataset": "3dhp", "input_2d": ["gt"], "frames": [1], "variants": ["mixste"],
                                 "seeds": [0]}
    assert [spec.id for spec in parse_params(raw).baseline_runs()] == [
        "baseline-h36m-det-f1-mean-pose", "baseline-h36m-det-f1-linear-lifter",
        "baseline-h36m-det-f9-linear-lifter", "baseline-h36m-det-f27-linear-lifter",
        "baseline-3dhp-gt-f1-mean-pose", "baseline-3dhp-gt-f1-linear-lifter",
    ]


def test_baselines_command_writes_contract_rows_and_collect_appends_them(study, tmp_path, caplog, capsys):
    import pandas as pd

    from diff3dhpe.cli import main
    from diff3dhpe.results import RESULT_COLUMNS, baselines_path, run_result_path

    params, results = study["params"], tmp_path / "results"
    args = ["--params", str(study["path"]), "--results", str(results)]
    assert main(["baselines", *args]) == 0
    rows = pd.read_csv(baselines_path(results))
    assert baselines_path(results) == results / "per_run" / "baselines.csv"
    assert list(rows.columns) == list(RESULT_COLUMNS["metrics"])
    ids = ["baseline-h36m-det-f1-mean-pose", "baseline-h36m-det-f1-linear-lifter",
           "baseline-h36m-det-f9-linear-lifter"]  # the tiny study: h36m det, F = 9
    assert list(dict.fromkeys(rows["run"])) == ids
    for _, group in rows.groupby("run"):  # the synthetic test actions, in the paper's order
        assert list(group["action"]) == ["Sitting", "Walking", "Average"]
    first = rows.drop_duplicates("run").set_index("run")
    assert list(first["variant"]) == ["mean-pose", "linear-lifter", "linear-lifter"]
    assert list(first["frames"]) == [1, 1, 9]
    assert rows["seed"].isna().all() and rows["steps"].isna().all()
    assert rows[["mpjpe", "p_mpjpe"]].notna().all().all()
    average = rows[rows["action"] == "Average"].set_index("run")["mpjpe"]
    assert average[ids[1]] < average[ids[0]]  # the 2D carries information the mean pose ignores

    # collect appends them after the runs' rows (stand-in per-run files: the baseline rows renamed)
    run_result_path(results, "metrics", "any").parent.mkdir(parents=True)
    for run in params.train_runs():
        fake = rows[rows["run"] == ids[0]].assign(run=run.id, variant=run.variant, frames=run.frames,
                                                  seed=run.seed)
        fake.to_csv(run_result_path(results, "metrics", run.id), index=False)
    assert main(["collect", "--kind", "metrics", *args]) == 0
    collected = pd.read_csv(results / "metrics.csv")
    assert list(dict.fromkeys(collected["run"])) == [run.id for run in params.train_runs()] + ids
    assert len(collected) == 3 * (len(params.train_runs()) + 3)

    # without the file collect still works, and says how to get the baselines
    baselines_path(results).unlink()
    with caplog.at_level("WARNING", logger="diff3dhpe.results"):
        assert main(["collect", "--kind", "metrics", *args]) == 0
    assert "diff3dhpe baselines" in caplog.text
    assert not pd.read_csv(results / "metrics.csv")["run"].str.startswith("baseline-").any()

    # a key repeated (here: a baselines file written twice into one) is an error, not two rows
    pd.concat([rows, rows]).to_csv(baselines_path(results), index=False)
    assert main(["collect", "--kind", "metrics", *args]) == 2
    assert "repeat the key ['run', 'action']" in capsys.readouterr().err


def test_baselines_under_corruption_see_the_models_draws_and_collect_appends_them(study, tmp_path, caplog,
                                                                                 capsys):
    """baselines_robustness.csv: the Fig. 6 baselines on the sweep's setting under each corruption level.
    Clean levels equal the clean metrics rows; the mean pose ignores the 2D so no corruption moves it;
    the linear lifter's score at a level equals score_baseline on the test 2D corrupted by hand with
    corruption_rng(seed, kind, level) drawn sequence after sequence (the draws robustness_run uses)."""
    from dataclasses import replace

    import pandas as pd

    from diff3dhpe.assemble import load_dataset
    from diff3dhpe.cli import main
    from diff3dhpe.data.augment import corrupt, corruption_rng
    from diff3dhpe.evaluate import score_baseline
    from diff3dhpe.results import RESULT_COLUMNS, baselines_path, run_result_path

    params, results = study["params"], tmp_path / "results"
    args = ["--params", str(study["path"]), "--results", str(results)]
    assert main(["baselines", *args]) == 0
    path = baselines_path(results, "robustness")
    assert path == results / "per_run" / "baselines_robustness.csv"
    rows = pd.read_csv(path)
    assert list(rows.columns) == list(RESULT_COLUMNS["robustness"])
    sweep = params.sweeps.robustness
    ids = ["baseline-h36m-det-f1-mean-pose", f"baseline-h36m-det-f{sweep.frames}-linear-lifter"]
    assert [spec.id for spec in params.robustness_baseline_runs()] == ids
    levels = [("gaussian", lv) for lv in sweep.gaussian] + [("dropout", lv) for lv in sweep.dropout]
    assert len(rows) == 2 * len(levels) and rows["seed"].isna().all()
    assert list(dict.fromkeys(zip(rows["corruption"], rows["level"]))) == levels

    clean = pd.read_csv(baselines_path(results)).query("action == 'Average'").set_index("run")["mpjpe"]
    by_run = {run: group.set_index(["corruption", "level"])["mpjpe"] for run, group in rows.groupby("run")}
    for kind in ("gaussian", "dropout"):
        assert by_run[ids[1]][(kind, 0.0)] == pytest.approx(clean[ids[1]], rel=1e-9)
    assert by_run[ids[0]].to_numpy() == pytest.approx(clean[ids[0]], rel=1e-9)  # every level
    worst = ("gaussian", max(sweep.gaussian))
    assert by_run[ids[1]][worst] > clean[ids[1]]

    data = load_dataset(params, "h36m", "det")
    kind, level = "dropout", max(sweep.dropout)
    rng = corruption_rng(sweep.corruption_seed, kind, level)
    corrupted = [replace(seq, keypoints_2d=corrupt(seq.keypoints_2d, kind, level, rng)) for seq in data.test]
    spec = params.robustness_baseline_runs()[1]
    by_hand = score_baseline(spec, replace(data, test=corrupted)).query("action == 'Average'")["mpjpe"]
    assert by_run[ids[1]][(kind, level)] == pytest.approx(float(by_hand.iloc[0]), rel=1e-9)
    assert by_run[ids[1]][(kind, level)] != pytest.approx(clean[ids[1]], rel=1e-3)

    # collect --kind robustness appends them after the runs' rows, seeds kept integer
    run_result_path(results, "robustness", "any").parent.mkdir(parents=True)
    runs = params.sweep_runs("robustness")
    for run in runs:
        rows[rows["run"] == ids[1]].assign(run=run.id, variant=run.variant, seed=run.seed).to_csv(
            run_result_path(results, "robustness", run.id), index=False)
    assert main(["collect", "--kind", "robustness", *args]) == 0
    collected = pd.read_csv(results / "robustness.csv")
    assert list(dict.fromkeys(collected["run"])) == [run.id for run in runs] + ids
    assert collected["seed"].notna().sum() == len(runs) * len(levels)
    # an integer seed stays "0", not "0.0", beside the baselines' empty ones
    assert (results / "robustness.csv").read_text().splitlines()[1].split(",")[2] == str(runs[0].seed)
    # made for other levels (here: one level lost): an error naming the file and the command
    rows.drop(index=rows.index[-1]).to_csv(path, index=False)
    assert main(["collect", "--kind", "robustness", *args]) == 2
    err = capsys.readouterr().err
    assert "baselines_robustness.csv" in err and "asks for" in err and "diff3dhpe baselines" in err
    path.unlink()  # without the file: the runs alone, and a warning naming the command
    with caplog.at_level("WARNING", logger="diff3dhpe.results"):
        assert main(["collect", "--kind", "robustness", *args]) == 0
    assert "diff3dhpe baselines" in caplog.text and "robustness has no baseline rows" in caplog.text
    assert not pd.read_csv(results / "robustness.csv")["run"].str.startswith("baseline-").any()


def test_dvc_and_snakemake_rerun_the_baselines_on_the_robustness_keys_they_read():
    """Fig. 6's baselines depend on the sweep's setting and levels (config.ROBUSTNESS_BASELINE_KEYS), not
    on its models: dvc.yaml's baselines stage lists exactly those keys of sweeps.robustness."""
    from pathlib import Path

    import yaml

    from diff3dhpe.config import ROBUSTNESS_BASELINE_KEYS, RobustnessSweep

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["baselines"]["params"]
    sweep_keys = [p.removeprefix("sweeps.robustness.") for p in params if p.startswith("sweeps.")]
    assert sweep_keys == list(ROBUSTNESS_BASELINE_KEYS)
    assert set(ROBUSTNESS_BASELINE_KEYS) == set(RobustnessSweep.model_fields) - {"variants", "seeds"}
    study = (root / "workflow" / "rules" / "study.smk").read_text()
    rule = study.split("rule baselines:")[1].split("rule ")[0]
    assert "ROBUSTNESS_BASELINE_KEYS" in rule
