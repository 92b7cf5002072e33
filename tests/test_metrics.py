"""Claims of DATA.md §2/§4 about the metrics and the per-action protocol, one test each."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from diff3dhpe import metrics
from diff3dhpe.data.skeleton import MPI_PCK_JOINTS
from diff3dhpe.errors import ShapeError
from diff3dhpe.metrics import (
    auc,
    mean_over_sequences,
    mpjpe,
    mpjpe_per_frame,
    mpjve,
    mpjve_per_frame,
    n_mpjpe,
    n_mpjpe_per_frame,
    p_mpjpe,
    p_mpjpe_per_frame,
    pck,
    per_action_table,
    procrustes_align,
)


def random_poses(n=6, joints=17, seed=0, spread=300.0):
    return np.random.default_rng(seed).normal(size=(n, joints, 3)) * spread


def random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def similarity(poses, rng, scale=0.7):
    """Each frame: scale · pose · R + t with its own proper rotation R and translation t."""
    out = np.empty_like(poses)
    for i, pose in enumerate(poses):
        out[i] = scale * pose @ random_rotation(rng) + rng.normal(size=3) * 100
    return out


def horn_proper_fit_error(pred, gt) -> float:
    """Independent reference: Horn's unit-quaternion method (proper rotations only) + optimal scale."""
    p, g = pred - pred.mean(0), gt - gt.mean(0)
    s = p.T @ g  # s[a, b] = Σ p_a g_b
    sxx, sxy, sxz, syx, syy, syz, szx, szy, szz = s.ravel()
    n = np.array(
        [
            [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
            [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
            [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
            [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
        ]
    )
    w, x, y, z = np.linalg.eigh(n)[1][:, -1]
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    rotated = p @ rot.T  # column-vector rotation applied to each joint
    scale = (rotated * g).sum() / (p * p).sum()
    return float(np.linalg.norm(scale * rotated - g, axis=-1).mean())


# ------------------------------------------------------------------ MPJPE family
def test_mpjpe_on_a_two_joint_toy():
    gt = np.zeros((2, 2, 3))
    pred = np.array([[[0, 0, 0], [3, 4, 0]], [[1, 0, 0], [0, 0, 2]]], dtype=float)
    np.testing.assert_allclose(mpjpe_per_frame(pred, gt), [2.5, 1.5])
    assert mpjpe(pred, gt) == pytest.approx(2.0)


def test_p_mpjpe_is_zero_for_a_similarity_transformed_copy_of_gt():
    gt = random_poses(seed=1)
    pred = similarity(gt, np.random.default_rng(2))
    assert mpjpe(pred, gt) > 50  # the alignment has real work to do
    np.testing.assert_allclose(p_mpjpe_per_frame(pred, gt), 0, atol=1e-9)
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-9)


def test_p_mpjpe_is_invariant_to_rotating_scaling_translating_the_prediction():
    gt, pred = random_poses(seed=3), random_poses(seed=4)
    moved = similarity(pred, np.random.default_rng(5), scale=2.5)
    np.testing.assert_allclose(p_mpjpe_per_frame(moved, gt), p_mpjpe_per_frame(pred, gt), rtol=1e-9)


def test_p_mpjpe_matches_an_independent_quaternion_fit():
    gt, pred = random_poses(n=8, seed=6), random_poses(n=8, seed=7)
    expected = [horn_proper_fit_error(p, g) for p, g in zip(pred, gt)]
    np.testing.assert_allclose(p_mpjpe_per_frame(pred, gt), expected, rtol=1e-9)


def test_p_mpjpe_does_not_undo_a_reflection():
    gt = random_poses(n=4, seed=8)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    got = p_mpjpe_per_frame(mirrored, gt)
    assert np.all(got > 10)  # a reflection is not a rotation, so the error stays
    expected = [horn_proper_fit_error(p, g) for p, g in zip(mirrored, gt)]
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    aligned = procrustes_align(mirrored, gt)
    # The implied transform is proper: the aligned pose has the handedness of the mirrored input.
    tri = aligned[:, [1, 2, 3]] - aligned[:, [0]]
    tri_mirrored = mirrored[:, [1, 2, 3]] - mirrored[:, [0]]
    assert np.all(np.sign(np.linalg.det(tri)) == np.sign(np.linalg.det(tri_mirrored)))


def test_n_mpjpe_is_scale_invariant_and_matches_a_hand_value():
    gt, pred = random_poses(seed=9), random_poses(seed=10)
    np.testing.assert_allclose(n_mpjpe_per_frame(3.0 * pred, gt), n_mpjpe_per_frame(pred, gt), rtol=1e-12)
    np.testing.assert_allclose(n_mpjpe_per_frame(0.4 * gt, gt), 0, atol=1e-9)
    # One joint: pred (2,0,0), gt (1,1,0): s = 2/4, scaled pred (1,0,0), error 1.
    assert n_mpjpe(np.array([[[2.0, 0, 0]]]), np.array([[[1.0, 1, 0]]])) == pytest.approx(1.0)
    # Scale only: a rotation is not undone.
    assert n_mpjpe(similarity(gt, np.random.default_rng(0), scale=1.0), gt) > 1


def test_chunked_processing_matches_one_chunk(monkeypatch):
    gt, pred = random_poses(n=11, seed=11), random_poses(n=11, seed=12)
    ids = np.array([0] * 4 + [1] * 7)
    whole = metrics.per_frame_errors(pred, gt, ids)
    monkeypatch.setattr(metrics, "CHUNK_FRAMES", 3)
    chunked = metrics.per_frame_errors(pred, gt, ids)
    for name in whole:
        np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-12, equal_nan=True)


# ------------------------------------------------------------------ MPJVE
def test_mpjve_never_crosses_sequence_boundaries():
    gt = random_poses(n=10, seed=13)
    offsets = np.where(np.arange(10) < 6, 0.0, 500.0)[:, None, None]  # constant per sequence
    pred = gt + offsets
    ids = np.array([7] * 6 + [3] * 4)
    per_frame = mpjve_per_frame(pred, gt, ids)
    assert np.isnan(per_frame[[0, 6]]).all() and np.count_nonzero(np.isnan(per_frame)) == 2
    assert mpjve(pred, gt, ids) == pytest.approx(0.0, abs=1e-9)
    assert mpjve(pred, gt) == pytest.approx(500.0 / 9 * np.sqrt(3))  # one boundary jump among 9 steps


def test_mpjve_of_a_steady_drift_is_the_drift_speed():
    gt = random_poses(n=5, seed=14)
    pred = gt + np.arange(5)[:, None, None] * np.array([3.0, 4.0, 0.0])  # 5 mm/frame drift
    np.testing.assert_allclose(mpjve_per_frame(pred, gt)[1:], 5.0)
    assert mpjve(pred, gt) == pytest.approx(5.0)


def test_mpjve_rejects_split_sequences_and_all_single_frames():
    gt = random_poses(n=4, seed=15)
    with pytest.raises(ShapeError, match="contiguous"):
        mpjve(gt, gt, np.array([0, 1, 0, 1]))
    with pytest.raises(ShapeError, match="sequence_ids"):
        mpjve(gt, gt, np.array([0, 1]))
    with pytest.raises(ShapeError, match="two or more frames"):
        mpjve(gt, gt, np.arange(4))


# ------------------------------------------------------------------ PCK / AUC
def integer_poses(n=2, seed=16):
    """Integer coordinates, so that adding an offset gives errors exactly representable."""
    return np.random.default_rng(seed).integers(-500, 500, size=(n, 17, 3)).astype(np.float64)


def test_pck_is_strict_and_scores_only_the_14_joints():
    gt = integer_poses()
    pred = gt.copy()
    pred[0, :7, 0] += 149.5  # hit
    pred[0, 7:14, 1] += 150.0  # exactly at the threshold: miss
    pred[:, 14:, 2] += 1000.0  # pelvis, spine, head: not scored
    assert MPI_PCK_JOINTS == tuple(range(14))
    assert pck(pred, gt) == pytest.approx((50.0 + 100.0) / 2)
    np.testing.assert_allclose(metrics.pck_per_frame(pred, gt), [50.0, 100.0])
    assert pck(pred, gt, threshold=150.5) == pytest.approx(100.0)


def test_auc_of_a_constant_50mm_error():
    gt = integer_poses(n=3)
    pred = gt + np.array([0.0, 0.0, 50.0])
    thresholds = range(0, 151, 5)
    expected = 100.0 * np.mean([t > 50 for t in thresholds])
    assert len(thresholds) == 31
    assert auc(pred, gt) == pytest.approx(expected)
    assert auc(gt, gt) == pytest.approx(100.0 * 30 / 31)  # threshold 0 is strict too


def test_pck_requires_the_17_joint_3dhp_layout():
    with pytest.raises(ShapeError, match="17 joints"):
        pck(random_poses(joints=16), random_poses(joints=16))


# ------------------------------------------------------------------ per-action protocol
def test_per_action_table_groups_exact_names_weights_frames_and_averages_groups():
    records = [
        {"action": "Sitting 1", "mpjpe": np.full(3, 10.0), "mpjve": np.array([np.nan, 1.0, 1.0])},
        {"action": "Sitting 2", "mpjpe": np.array([50.0]), "mpjve": np.array([np.nan])},
        {"action": "SittingDown 1", "mpjpe": np.full(2, 100.0), "mpjve": np.array([np.nan, 4.0])},
        {"action": "Walking", "frames_scored": 5, "mpjpe_sum": 25.0, "mpjve_sum": 8.0, "mpjve_count": 4},
    ]
    table = per_action_table(records)
    assert list(table.columns) == ["action", "frames_scored", "mpjpe", "mpjve"]
    assert table["action"].tolist() == ["Sitting", "SittingDown", "Walking", "Average"]
    rows = table.set_index("action")
    assert rows.loc["Sitting", "mpjpe"] == pytest.approx((3 * 10 + 50) / 4)  # not (10 + 50) / 2
    assert rows.loc["Sitting", "frames_scored"] == 4
    assert rows.loc["SittingDown", "mpjpe"] == pytest.approx(100.0)
    assert rows.loc["Walking", "mpjpe"] == pytest.approx(5.0)
    assert rows.loc["Sitting", "mpjve"] == pytest.approx(1.0)
    assert rows.loc["Walking", "mpjve"] == pytest.approx(2.0)
    assert rows.loc["Average", "mpjpe"] == pytest.approx((20.0 + 100.0 + 5.0) / 3)
    assert rows.loc["Average", "frames_scored"] == 4 + 2 + 5
    # A DataFrame of pre-summed rows gives the same table.
    again = per_action_table(pd.DataFrame([records[3]]), metrics=["mpjpe"])
    assert again.set_index("action").loc["Walking", "mpjpe"] == pytest.approx(5.0)


def test_per_action_table_reports_missing_metrics_and_actions():
    with pytest.raises(ShapeError, match="p_mpjpe"):
        per_action_table([{"action": "Eating 1", "mpjpe": np.ones(2)}], metrics=["mpjpe", "p_mpjpe"])
    with pytest.raises(ShapeError, match="'action'"):
        per_action_table([{"mpjpe": np.ones(2)}])
    with pytest.raises(ShapeError, match="frame count"):
        per_action_table([{"action": "Eating", "mpjpe": np.ones(2), "p_mpjpe": np.ones(3)}])


def test_mean_over_sequences_is_a_mean_of_means():
    assert mean_over_sequences([np.ones(4), np.array([3.0])]) == pytest.approx(2.0)  # pooled would be 1.4
    with pytest.raises(ShapeError, match="values\\[1\\]"):
        mean_over_sequences([np.ones(2), np.array([])])


# ------------------------------------------------------------------ input handling
def test_torch_tensors_give_the_numpy_result():
    gt, pred = random_poses(seed=17), random_poses(seed=18)
    assert p_mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)) == pytest.approx(
        p_mpjpe(pred, gt), rel=1e-12
    )
    assert mpjpe(torch.from_numpy(pred).float(), gt) == pytest.approx(mpjpe(pred, gt), rel=1e-5)


def test_bad_inputs_name_the_argument():
    gt = random_poses(seed=19)
    with pytest.raises(ShapeError, match="differs from gt"):
        mpjpe(gt[:, :16], gt)
    with pytest.raises(ShapeError, match=r"pred must have shape \(N, J, 3\)"):
        p_mpjpe(gt[..., :2], gt[..., :2])
    bad = gt.copy()
    bad[3, 5, 1] = np.nan
    with pytest.raises(ShapeError, match="gt contains NaN or inf \\(first at frame 3\\)"):
        n_mpjpe(gt, bad)
    with pytest.raises(ShapeError, match="pred contains NaN"):
        mpjve(bad, gt)


@pytest.mark.slow
def test_p_mpjpe_on_a_million_frames_takes_seconds():
    rng = np.random.default_rng(0)
    gt = (rng.normal(size=(1_000_000, 17, 3)) * 300).astype(np.float32)
    pred = gt + (rng.normal(size=gt.shape) * 30).astype(np.float32)
    start = time.perf_counter()
    value = p_mpjpe(pred, gt)
    assert time.perf_counter() - start < 30
    assert 0 < value < mpjpe(pred, gt)


# ------------------------------------------------------------------ MPI-INF-3DHP: both MPJPE conventions
def test_3dhp_mpjpe_sequence_mean_and_all_frames_differ_on_unequal_sequences():
    """TS1: 3 frames, every joint 10 mm off, one more frame invalid; TS2: 7 frames, every joint 40 mm off.

    Release (mean of sequence means): (10 + 40) / 2 = 25 mm.
    MATLAB 'All' (valid frames pooled): (3·10 + 7·40) / 10 = 31 mm.
    """
    rng = np.random.default_rng(3)
    gt1, gt2 = rng.normal(0, 300, (4, 17, 3)), rng.normal(0, 300, (7, 17, 3))
    pred1 = gt1 + np.array([6.0, 8.0, 0.0])  # |(6, 8, 0)| = 10 mm on every joint
    pred1[3] += 500.0  # the invalid frame: a huge error that must not count
    pred2 = gt2 + np.array([0.0, 0.0, -40.0])
    valid1 = np.array([True, True, True, False])
    per_frame_1 = np.where(valid1, metrics.mpjpe_per_frame(pred1, gt1), np.nan)
    result = metrics.mpjpe_3dhp_conventions({"TS1": per_frame_1, "TS2": metrics.mpjpe_per_frame(pred2, gt2)})
    assert result["mpjpe_sequence_mean"] == pytest.approx(25.0)
    assert result["mpjpe_all_frames"] == pytest.approx(31.0)
    assert result["frames_scored"] == 10
    assert set(metrics.MPJPE_3DHP_CONVENTIONS) == {"mpjpe_sequence_mean", "mpjpe_all_frames"}
    as_list = metrics.mpjpe_3dhp_conventions([per_frame_1, metrics.mpjpe_per_frame(pred2, gt2)])
    assert as_list == result


def test_3dhp_mpjpe_conventions_name_a_sequence_without_scored_frames():
    with pytest.raises(ShapeError, match=r"'TS3'.*no scored frame"):
        metrics.mpjpe_3dhp_conventions({"TS1": np.ones(3), "TS3": np.full(2, np.nan)})
    with pytest.raises(ShapeError, match="at least one sequence"):
        metrics.mpjpe_3dhp_conventions({})
