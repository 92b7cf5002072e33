"""The embedded synthetic data: real file layouts, physical plausibility, detector noise, depth ambiguity."""

import numpy as np
import pytest

from diff3dhpe.baselines import linear_lifter_mpjpe
from diff3dhpe.data.camera import H36M_CAMERAS, normalize_screen_coordinates, project_to_2d, world_to_camera
from diff3dhpe.data.h36m import read_h36m_2d, read_h36m_3d
from diff3dhpe.data.mpi3dhp import read_3dhp_test, read_3dhp_train
from diff3dhpe.data.skeleton import H36M, H36M_32_TO_17, H36M_ACTIONS, MPI_INF_3DHP
from diff3dhpe.data.synthetic import (
    H36M_SUBJECTS,
    DetectorNoise,
    animate,
    detector_noise,
    generate_3dhp,
    generate_h36m,
    h36m_action_names,
    motion_statistics,
    random_stream,
    subject_body,
    take_motion,
    write_data_readme,
)
from diff3dhpe.errors import ShapeError

FRAMES = 60
SUBJECTS = ("S1", "S9")


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    stats = generate_h36m(out, name="t", seed=7, frames_per_take=FRAMES, subjects=SUBJECTS)
    positions_3d = read_h36m_3d(out / "data_3d_t.npz")
    gt, meta_gt = read_h36m_2d(out / "data_2d_t_gt.npz", positions_3d)
    det, meta_det = read_h36m_2d(out / "data_2d_t_det.npz", positions_3d)
    return {"out": out, "stats": stats, "3d": positions_3d, "gt": gt, "det": det, "meta": meta_gt}


def world17(positions_3d, subject, action):
    return positions_3d[subject][action][:, list(H36M_32_TO_17)].astype(np.float64)


def test_h36m_files_have_the_videopose3d_layout(h36m):
    actions = h36m_action_names()
    assert len(actions) == 30 and "Walking 1" in actions and "Directions 2" in actions
    raw = np.load(h36m["out"] / "data_3d_t.npz", allow_pickle=True)["positions_3d"].item()
    assert set(raw) == set(SUBJECTS)
    for subject in SUBJECTS:
        assert sorted(raw[subject]) == sorted(actions)
        for action in actions:
            pose = raw[subject][action]
            assert pose.dtype == np.float32 and pose.shape == (FRAMES, 32, 3)
            for source in (h36m["gt"], h36m["det"]):
                views = source[subject][action]
                assert len(views) == 4
                assert all(v.dtype == np.float32 and v.shape == (FRAMES, 17, 2) for v in views)
    det_file = np.load(h36m["out"] / "data_2d_t_det.npz", allow_pickle=True)
    assert det_file["metadata"].item() == {
        "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
        "layout_name": "h36m"}
    assert (h36m["out"] / "README.md").exists()


def test_dropped_32_joints_copy_a_kept_neighbour(h36m):
    pose = h36m["3d"]["S1"]["Walking 1"]
    np.testing.assert_array_equal(pose[:, 4], pose[:, 3])  # R toe <- R ankle
    np.testing.assert_array_equal(pose[:, 27], pose[:, 28])  # R wrist -> R hand site


def test_generation_is_deterministic_and_streams_are_per_subject(tmp_path):
    a = generate_h36m(tmp_path / "a", seed=3, frames_per_take=20, subjects=("S1", "S5"), lifter_check=False)
    generate_h36m(tmp_path / "b", seed=3, frames_per_take=20, subjects=("S5",), lifter_check=False)
    generate_h36m(tmp_path / "c", seed=4, frames_per_take=20, subjects=("S5",), lifter_check=False)
    pa, pb, pc = (read_h36m_3d(tmp_path / d / "data_3d_synth.npz") for d in "abc")
    for action in pa["S5"]:
        np.testing.assert_array_equal(pa["S5"][action], pb["S5"][action])
    assert not np.allclose(pa["S5"]["Walking 1"], pc["S5"]["Walking 1"])
    det_a = read_h36m_2d(tmp_path / "a" / "data_2d_synth_det.npz")[0]
    det_b = read_h36m_2d(tmp_path / "b" / "data_2d_synth_det.npz")[0]
    np.testing.assert_array_equal(det_a["S5"]["Posing 2"][3], det_b["S5"]["Posing 2"][3])
    assert a["frames_total"] == 2 * 30 * 20


def test_regenerating_the_same_data_gives_byte_identical_files(tmp_path):
    for folder in ("a", "b"):
        generate_h36m(tmp_path / folder, seed=3, frames_per_take=10, subjects=("S1",), lifter_check=False)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) >= 3
    for name in names:  # dvc hashes these files: same params must give the same bytes
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_gt_2d_is_the_distorted_projection_of_the_3d(h36m):
    for subject in SUBJECTS:
        for action in ("Walking 2", "Sitting 1", "Photo 1"):
            world = world17(h36m["3d"], subject, action)
            for cam, gt in zip(H36M_CAMERAS[subject], h36m["gt"][subject][action]):
                expected = project_to_2d(world_to_camera(world, cam.orientation, cam.translation_m), cam)
                np.testing.assert_allclose(gt, expected, atol=1e-3)  # float32 storage of px


def test_bone_lengths_are_constant_in_time_and_differ_between_subjects(h36m):
    for subject in SUBJECTS:
        for action in h36m["3d"][subject]:
            stats = motion_statistics(world17(h36m["3d"], subject, action), fps=50)
            assert stats["max_bone_deviation_mm"] < 5e-3  # float32 metres round to ~0.5 µm
    statures = [subject_body(0, s, index=i, count=7).stature for i, s in enumerate(H36M_SUBJECTS)]
    assert max(statures) / min(statures) > 1.06
    thigh = [subject_body(0, s, index=i, count=7).bone_lengths[1] for i, s in enumerate(H36M_SUBJECTS)]
    assert np.std(thigh) / np.mean(thigh) > 0.02
    assert all(1.5 < s < 1.95 for s in statures)  # adults


def test_motion_is_smooth_and_within_human_speed(h36m):
    speeds = [motion_statistics(world17(h36m["3d"], s, a), fps=50)["max_joint_speed_m_s"]
              for s in SUBJECTS for a in h36m["3d"][s]]
    assert max(speeds) < 10.0
    walking = world17(h36m["3d"], "S9", "Walking 1")
    pelvis_speed = np.linalg.norm(np.diff(walking[:, 0, :2], axis=0), axis=-1).mean() * 50
    assert 0.6 < pelvis_speed < 2.0  # walking pace, not standing still, not running


def test_feet_stay_on_the_floor_while_standing_and_sitting_lowers_the_pelvis(h36m):
    for subject in SUBJECTS:
        for take in (1, 2):
            waiting = world17(h36m["3d"], subject, f"Waiting {take}")
            stats = motion_statistics(waiting, fps=50)
            assert stats["standing_fraction"] > 0.95
            assert stats["min_support_foot_height_m"] > 0.03
            assert stats["max_support_foot_height_standing_m"] < 0.15
            assert waiting[:, 0, 2].min() > 0.8
        sitting = world17(h36m["3d"], subject, "Eating 1")  # seated the whole take
        assert sitting[:, 0, 2].max() < 0.7
    lowest = min(world17(h36m["3d"], s, a)[..., 2].min() for s in SUBJECTS for a in h36m["3d"][s])
    assert lowest > 0.0  # nothing below the floor


def test_detections_have_realistic_correlated_errors(h36m):
    errors, lag1, per_joint = [], [], []
    for subject in SUBJECTS:
        for action in h36m["gt"][subject]:
            for gt, det in zip(h36m["gt"][subject][action], h36m["det"][subject][action]):
                err = (det - gt).astype(np.float64)  # (N, 17, 2)
                errors.append(np.linalg.norm(err, axis=-1))
                centred = err - err.mean(0)
                lag1.append((centred[1:] * centred[:-1]).sum() / (centred**2).sum())
    errors = np.stack(errors)  # (S, N, 17)
    per_joint = np.median(errors, axis=(0, 1))
    assert 2.0 < errors.mean() < 15.0
    assert np.mean(lag1) > 0.5
    assert per_joint[[13, 16]].min() > per_joint[[0, 8, 9]].max()  # wrists are harder than the torso
    assert errors.max() > 20.0  # gross outliers or swaps exist
    assert np.mean(errors > 20.0) < 0.03  # ... but are rare
    assert h36m["stats"]["det_mean_error_px"] == pytest.approx(errors.mean(), rel=1e-3)


def test_detector_noise_components():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 1000, size=(400, 17, 2))
    silent = DetectorNoise(sigma_px=(0.0,) * 17, bias_px=0.0, outlier_rate=0.0, swap_rate=0.0)
    np.testing.assert_array_equal(detector_noise(gt, np.random.default_rng(1), silent), gt)
    swaps_only = DetectorNoise(sigma_px=(0.0,) * 17, bias_px=0.0, outlier_rate=0.0, swap_rate=0.05)
    det = detector_noise(gt, np.random.default_rng(1), swaps_only)
    swapped = np.all(det[:, list(H36M.joints_right)] == gt[:, list(H36M.joints_left)], axis=-1)  # (N, 6)
    untouched = np.all(det == gt, axis=-1)
    assert swapped.any() and (swapped | untouched[:, list(H36M.joints_right)]).all()


def test_depth_cannot_be_read_off_one_frame_of_2d(h36m):
    positions, gt = h36m["3d"], h36m["gt"]

    def sequences(subject):
        for action in positions[subject]:
            world = world17(positions, subject, action)
            for cam, x2d in zip(H36M_CAMERAS[subject], gt[subject][action]):
                yield (normalize_screen_coordinates(x2d, cam.res_w, cam.res_h),
                       world_to_camera(world, cam.orientation, cam.translation_m) * 1000)

    one_frame = linear_lifter_mpjpe(sequences("S1"), sequences("S9"), window=1, train_stride=4)
    # A linear lifter is far from exact (real lifters reach ~40-50 mm on Human3.6M).
    assert one_frame > 40.0
    assert h36m["stats"]["lifter_linear_gt_1frame_mpjpe_mm"] == pytest.approx(one_frame, rel=1e-6)
    assert h36m["stats"]["lifter_mean_pose_mpjpe_mm"] > one_frame  # ... but 2D does carry information
    # Sanity of the lifter itself: it recovers a 3D pose that IS a linear function of the 2D exactly.
    x2d = np.random.default_rng(0).normal(size=(300, 17, 2))
    y3d = np.concatenate([x2d, x2d[..., :1] * 2.0], axis=-1) * 100
    assert linear_lifter_mpjpe([(x2d, y3d)], [(x2d, y3d)], window=1, ridge=1e-12) < 1e-6


def test_motion_statistics_rejects_bad_input():
    with pytest.raises(ShapeError, match=r"\(N, 17, 3\)"):
        motion_statistics(np.zeros((10, 16, 3)), fps=50)
    bad = np.zeros((10, 17, 3))
    bad[3, 4, 1] = np.nan
    with pytest.raises(ShapeError, match="NaN"):
        motion_statistics(bad, fps=50)


def test_bad_generator_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="S2"):
        generate_h36m(tmp_path, subjects=("S2",))
    with pytest.raises(ValueError, match="frames_per_take"):
        generate_h36m(tmp_path, frames_per_take=1)
    with pytest.raises(ValueError, match="seed"):
        generate_h36m(tmp_path, seed=-1, frames_per_take=5, subjects=("S1",), actions=("Walking",))


def test_3dhp_files_have_the_pstmo_layout(tmp_path):
    stats = generate_3dhp(tmp_path, name="t", seed=1, frames_per_sequence=30, test_frames=80)
    train = read_3dhp_train(tmp_path / "data_train_t_3dhp.npz")
    test = read_3dhp_test(tmp_path / "data_test_t_3dhp.npz")
    assert sorted(train) == sorted(f"S{k} Seq{q}" for k in range(1, 9) for q in (1, 2))
    parents = np.array([p if p >= 0 else i for i, p in enumerate(MPI_INF_3DHP.parents)])
    for cameras, fps in train.values():
        assert sorted(cameras) == ["0", "1", "2", "4", "5", "6", "7", "8"] and fps == 25
        bones = []
        for view in cameras.values():
            assert view["data_2d"].shape == (30, 17, 2) and view["data_3d"].shape == (30, 17, 3)
            assert (view["data_3d"][..., 2] > 1000).all()  # camera coordinates, mm, in front
            assert ((view["data_2d"] > 0) & (view["data_2d"] < 2048)).all()
            bones.append(np.linalg.norm(view["data_3d"] - view["data_3d"][:, parents], axis=-1))
        np.testing.assert_allclose(bones[0], bones[-1], atol=0.05)  # one rigid person seen 8 times
        head_top, pelvis = cameras["0"]["data_3d"][:, 0], cameras["0"]["data_3d"][:, 14]
        assert 550 < np.linalg.norm(head_top - pelvis, axis=-1).mean() < 850  # adult torso + head, mm
    assert sorted(test) == ["TS1", "TS2", "TS3", "TS4", "TS5", "TS6"]
    for ts, seq in test.items():
        w, h = (1920, 1080) if ts in ("TS5", "TS6") else (2048, 2048)
        assert seq["valid"].dtype == bool and 0.8 < seq["valid"].mean() <= 1.0
        assert ((seq["data_2d"] > 0) & (seq["data_2d"] < [w, h])).all()
        assert stats["valid_test_frames"][ts] == seq["valid"].sum()
    assert (tmp_path / "README.md").exists()


def test_readme_keeps_both_sections(tmp_path):
    write_data_readme(tmp_path, {"A": {"det_mean_error_px": 6.25, "frames": 10}})
    path = write_data_readme(tmp_path, {"B": {"generation_seconds": 1.0, "mpjpe_mm": 78.61}})
    text = path.read_text()
    assert "## A" in text and "## B" in text and "| det_mean_error_px | 6.2 |" in text
    assert "78.6" in text and "generation_seconds" not in text  # wall time would break reproducibility


@pytest.mark.parametrize("action", H36M_ACTIONS)
def test_every_action_moves_plausibly(action):
    body = subject_body(0, "S5", index=1, count=7)
    world = animate(body, take_motion(action, random_stream(0, "h36m", "S5", f"{action} 1"), 150, 50, 1.8))
    stats = motion_statistics(world, fps=50)
    assert stats["max_joint_speed_m_s"] < 10.0 and stats["min_joint_height_m"] > 0.0
    assert np.linalg.norm(world[:, 0, :2], axis=-1).max() <= 1.8 + 1e-9  # inside the capture volume
    assert np.ptp(world - world[:, :1], axis=0).max() > 0.05  # the body actually moves
