"""The release's normalisation constant (METHOD.md §8a), checked against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest

from diff3dhpe.data import h36m, mpi3dhp
from diff3dhpe.data.camera import h36m_camera
from diff3dhpe.data.normalisation import release_scale_3dhp, release_scale_h36m, release_scale_mm
from diff3dhpe.errors import DataFormatError

KEPT_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]  # DATA.md §1


def rotation_matrix(q):
    """Unit quaternion (w, x, y, z) -> 3x3 rotation matrix, written out (camera -> world)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def body(rng, frames, joints, spread, centre, root):
    """(N, joints, 3) float32: joints within ±spread (per axis) of joint ``root``, which wanders
    around ``centre``."""
    pelvis = np.asarray(centre) + rng.normal(0, spread / 10, (frames, 1, 3))
    poses = pelvis + rng.uniform(-spread, spread, (frames, joints, 3))
    poses[:, root] = pelvis[:, 0]
    return poses.astype(np.float32)


@pytest.fixture
def h36m_3d(tmp_path):
    """S1 (train), S9 and S11 (test); the largest offset is S11's joint 23, not among the 17 kept."""
    rng = np.random.default_rng(0)
    positions = {
        "S1": {"Walking 1": body(rng, 6, 32, 0.8, [0.3, -0.2, 0.9], 0),
               "Eating 2": body(rng, 4, 32, 0.8, [0, 0, 0.9], 0)},
        "S9": {"Sitting 1": body(rng, 5, 32, 0.8, [-0.4, 0.5, 0.6], 0)},
        "S11": {"Directions 1": body(rng, 5, 32, 0.8, [0.1, 0.1, 0.9], 0)},
    }
    positions["S11"]["Directions 1"][3, 23] = positions["S11"]["Directions 1"][3, 0] + 1.5  # metres
    path = tmp_path / "data_3d_h36m.npz"
    h36m.write_h36m_3d(path, positions)
    return path, positions


def hand_h36m_constant(positions, subjects, joints):
    best = 0.0
    for subject in subjects:
        for world in positions[subject].values():
            for index in range(4):
                camera = h36m_camera(subject, index)
                R = rotation_matrix(camera.orientation)
                t = np.asarray(camera.translation_mm, dtype=np.float64) / 1000.0
                cam = (world.astype(np.float64) - t) @ R  # R^T (X - t), row vectors
                relative = cam - cam[:, :1]
                best = max(best, float(np.abs(relative[:, joints]).max()))
    return best


def test_h36m_release_constant_is_the_max_over_all_subjects_32_joints_and_4_cameras(h36m_3d):
    path, positions = h36m_3d
    s = release_scale_h36m(path)
    expected = hand_h36m_constant(positions, ["S1", "S9", "S11"], list(range(32)))
    assert s == pytest.approx(expected, rel=1e-6)
    assert 1.5 < s < 2.6  # metres: the (1.5, 1.5, 1.5) m offset, rotated into a camera frame
    # the separating case: training subjects / 17 joints only (our own scale) would be smaller
    assert hand_h36m_constant(positions, ["S1"], KEPT_17) < 0.95 * s
    assert release_scale_mm("h36m", s) == pytest.approx(s * 1000.0)


def test_h36m_release_constant_skips_empty_subjects_and_names_subjects_without_cameras(h36m_3d, tmp_path):
    path, positions = h36m_3d
    with_empty = tmp_path / "with_empty.npz"
    np.savez(with_empty, positions_3d={**positions, "S2": {}})  # an extra subject with no actions
    assert release_scale_h36m(with_empty) == release_scale_h36m(path)
    unknown = tmp_path / "unknown.npz"
    np.savez(unknown, positions_3d={**positions, "S99": {"Walking 1": positions["S1"]["Walking 1"]}})
    with pytest.raises(DataFormatError, match=r"unknown.npz, subject S99: has 1 actions but no Human3.6M"):
        release_scale_h36m(unknown)


@pytest.fixture
def mpi_files(tmp_path):
    """Pelvis (joint 14) far from the camera origin; the largest offset is in test sequence TS2."""
    rng = np.random.default_rng(1)

    def pair(frames, centre):
        return {"data_2d": rng.uniform(0, 2048, (frames, 17, 2)).astype(np.float32),
                "data_3d": body(rng, frames, 17, 400.0, centre, 14)}

    train = {"S1 Seq1": [{"0": pair(5, [100, 200, 4000]), "8": pair(4, [-300, 0, 3500])}, 25],
             "S7 Seq2": [{"4": pair(6, [0, -100, 5000])}, 50]}
    test = {"TS1": {**pair(5, [0, 0, 3000]), "valid": np.array([1, 1, 0, 1, 1], bool)},
            "TS2": {**pair(4, [200, 100, 4500]), "valid": np.ones(4, bool)}}
    test["TS2"]["data_3d"][2, 5] = test["TS2"]["data_3d"][2, 14] + np.array([-950.0, 10.0, 20.0])
    train_path, test_path = tmp_path / "data_train_3dhp.npz", tmp_path / "data_test_3dhp.npz"
    mpi3dhp.write_3dhp_train(train_path, train)
    mpi3dhp.write_3dhp_test(test_path, test)
    return train_path, test_path, train, test


def test_3dhp_release_constant_is_the_max_over_train_and_test_pelvis_relative_mm(mpi_files):
    train_path, test_path, train, test = mpi_files
    arrays = [entry["data_3d"] for cameras, _ in train.values() for entry in cameras.values()]
    arrays += [entry["data_3d"] for entry in test.values()]
    expected = max(float(np.abs(a.astype(np.float64) - a[:, 14:15]).max()) for a in arrays)
    s = release_scale_3dhp(train_path, test_path)
    assert s == pytest.approx(expected, rel=1e-7)
    assert s == pytest.approx(950.0, abs=1e-3)  # TS2's elbow, millimetres from the pelvis
    train_only = max(float(np.abs(a.astype(np.float64) - a[:, 14:15]).max()) for a in arrays[:3])
    assert train_only < s  # the test file counts
    assert release_scale_mm("3dhp", s) == s


def test_release_scale_mm_refuses_unknown_datasets_and_bad_scales():
    with pytest.raises(ValueError, match="dataset must be one of"):
        release_scale_mm("humaneva", 1.0)
    with pytest.raises(ValueError, match="positive finite"):
        release_scale_mm("h36m", 0.0)
