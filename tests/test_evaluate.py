"""Evaluation: 3DHP scoring on valid frames, flip test-time augmentation, sweeps reuse one model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_config import tiny_params

from diff3dhpe.assemble import TrainedRun, predict_sequences
from diff3dhpe.cli import main
from diff3dhpe.config import parse_params
from diff3dhpe.data.dataset import PoseSequence
from diff3dhpe.data.skeleton import H36M
from diff3dhpe.evaluate import evaluate_run, robustness_run, score, steps_run
from diff3dhpe.results import RESULT_COLUMNS
from diff3dhpe.train import train_run
from diff3dhpe.variants import parse_run_id


def _sequence(name: str, frames: int, valid: np.ndarray, rng: np.random.Generator) -> PoseSequence:
    poses = rng.normal(0, 200, size=(frames, 17, 3)).astype(np.float32)
    poses -= poses[:, 14:15]  # 3DHP root = pelvis (14)
    return PoseSequence(name, name, "", rng.normal(size=(frames, 17, 2)).astype(np.float32), poses, valid)


def test_3dhp_scores_valid_frames_only_and_reports_mpjpe_both_ways():
    rng = np.random.default_rng(0)
    valid_a = np.array([True, True, False, True, True, True])
    valid_b = np.array([True, False, True, True])
    seqs = [_sequence("TS1", 6, valid_a, rng), _sequence("TS2", 4, valid_b, rng)]
    preds = [s.poses_3d.copy() for s in seqs]
    preds[0][~valid_a] += 1e4  # garbage on invalid frames must not count
    offset = np.zeros(3, dtype=np.float32)
    offset[0] = 102.0
    preds[1] = preds[1] + offset  # every joint 102 mm off on TS2
    table = score("3dhp", seqs, preds)
    rows = table.set_index("action")
    assert list(table["action"]) == ["TS1", "TS2", "Average", "All"]
    assert rows.loc["TS1", "mpjpe"] == pytest.approx(0, abs=1e-4) and rows.loc["TS1", "pck"] == 100
    assert rows.loc["TS2", "mpjpe"] == pytest.approx(102, rel=1e-5) and rows.loc["TS2", "pck"] == 100
    assert rows.loc["TS2", "auc"] == pytest.approx(100 * 10 / 31)  # 102 mm is under thresholds 105..150 only
    # the two conventions, built to differ: TS1 has 5 valid frames at 0 mm, TS2 3 at 102 mm
    assert rows.loc["Average", "mpjpe"] == pytest.approx((0 + 102) / 2, rel=1e-5)  # release: sequence means
    assert rows.loc["All", "mpjpe"] == pytest.approx((5 * 0 + 3 * 102) / 8, rel=1e-5)  # MATLAB: 38.25 mm
    assert rows.loc["Average", "frames_scored"] == rows.loc["All", "frames_scored"] == 5 + 3
    # PCK/AUC pooled over all valid frames in both rows (5 perfect frames, 3 frames at 102 mm)
    # (error < threshold is strict, so even a perfect frame misses threshold 0: 30 of 31)
    for row in ("Average", "All"):
        assert rows.loc[row, "auc"] == pytest.approx((5 * 100 * 30 / 31 + 3 * 100 * 10 / 31) / 8)
        assert rows.loc[row, "pck"] == 100


class _MirrorBiased(torch.nn.Module):
    """A 'model' that returns a constant pose plus x-offset; flip averaging must cancel the offset."""

    def __init__(self, base: torch.Tensor):
        super().__init__()
        self.base = base  # (J, 3), flip-symmetric
        self.frames = 9

    def forward(self, x2d):
        out = self.base.expand(x2d.shape[0], x2d.shape[1], 17, 3).clone()
        out[..., 0] += 0.1
        return out


def test_flip_test_time_augmentation_cancels_mirror_bias():
    from diff3dhpe.data.augment import flip_keypoints

    base = torch.zeros(17, 3)
    base[:, 1] = torch.linspace(-0.5, 0.5, 17)
    base = (base + flip_keypoints(base, H36M)) / 2  # a mirror-symmetric pose
    rng = np.random.default_rng(1)
    poses = base.numpy()[None].repeat(12, 0) * 1000
    seq = PoseSequence("S9", "Walking 1", "0", rng.normal(size=(12, 17, 2)).astype(np.float32), poses)
    raw = tiny_params()
    trained = TrainedRun(
        parse_run_id("h36m-det-f9-mixste-s0"), _MirrorBiased(base), 1000.0, torch.device("cpu")
    )
    with_flip, _ = predict_sequences(parse_params(raw), trained, [seq], H36M, None)
    raw["evaluate"]["flip_test"] = False
    without, _ = predict_sequences(parse_params(raw), trained, [seq], H36M, None)
    np.testing.assert_allclose(with_flip[0], poses, atol=1e-3)  # +0.1 and its mirror -0.1 cancel
    np.testing.assert_allclose(without[0][..., 0] - poses[..., 0], 100.0, atol=1e-3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    raw = tiny_params(root / "data")
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["prepare", "--params", str(path), "--results", str(root / "results")]) == 0
    params = parse_params(raw)
    train_run(params, "h36m-det-f9-diff3dhpe-m-s0", root / "runs", progress=False)
    return params, root


def test_sweeps_reuse_the_model_and_level_zero_is_clean(trained):
    params, root = trained
    run = "h36m-det-f9-diff3dhpe-m-s0"
    clean, _ = evaluate_run(params, run, root / "runs")
    clean_avg = clean[clean["action"] == "Average"].iloc[0]
    robust = robustness_run(params, run, root / "runs")
    assert tuple(robust.columns) == RESULT_COLUMNS["robustness"]
    assert list(zip(robust["corruption"], robust["level"])) == [
        ("gaussian", 0.0),
        ("gaussian", 0.05),
        ("dropout", 0.0),
        ("dropout", 0.5),
    ]
    zero = robust[robust["level"] == 0.0]
    # level 0 is the clean input, and the same seeded sampler noise: identical to evaluate
    assert zero["mpjpe"].to_numpy() == pytest.approx([clean_avg["mpjpe"]] * 2, rel=1e-9)
    assert robust.loc[robust["level"] > 0, "mpjpe"].gt(clean_avg["mpjpe"]).all()

    steps = steps_run(params, run, root / "runs")
    assert tuple(steps.columns) == RESULT_COLUMNS["steps"] and list(steps["steps"]) == [1, 2]
    assert steps["pde"].all() and (steps["seconds_per_clip"] > 0).all()
    assert not (root / "runs" / "h36m-det-f9-diff3dhpe-m-s1").exists()  # nothing retrained

    # the CLI writes the per-run CSV atomically where collect expects it
    args = [
        "--params",
        str(root / "params.yaml"),
        "--runs-dir",
        str(root / "runs"),
        "--results",
        str(root / "res"),
    ]
    assert main(["robustness", "--run", run, *args]) == 0
    written = pd.read_csv(root / "res" / "per_run" / "robustness" / f"{run}.csv")
    pd.testing.assert_frame_equal(written, robust, check_exact=False, rtol=1e-9)
