"""Raw official downloads -> standard files, on tiny raw files written here in the official layouts."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
from cdflib.cdfwrite import CDF

from diff3dhpe.data import h36m, mpi3dhp, raw
from diff3dhpe.data.camera import camera_to_world, h36m_camera
from diff3dhpe.data.dataset import load_3dhp, load_h36m
from diff3dhpe.data.skeleton import H36M_32_TO_17, MPI_28_TO_17
from diff3dhpe.errors import DataFormatError


def write_pose_cdf(path, poses_mm):
    """A D3_Positions file as in the release: variable 'Pose', one record of (N, 96) millimetres."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = poses_mm.shape[0]
    cdf = CDF(path, delete=True)
    cdf.write_var(
        {
            "Variable": "Pose",
            "Data_Type": CDF.CDF_FLOAT,
            "Num_Elements": 1,
            "Rec_Vary": True,
            "Dim_Sizes": [frames, 96],
        },
        var_data=poses_mm.reshape(1, frames, 96).astype(np.float32),
    )
    cdf.close()


def body_mm(rng, frames):
    return (np.array([0.0, 0.0, 900.0]) + rng.uniform(-700, 700, (frames, 32, 3))).astype(np.float32)


def test_convert_h36m_raw_names_units_skips_and_projection(tmp_path):
    rng = np.random.default_rng(0)
    files = {
        ("S1", "Walking 1"): body_mm(rng, 4),
        ("S1", "TakingPhoto 1"): body_mm(rng, 3),
        ("S1", "WalkingDog"): body_mm(rng, 5),
        ("S11", "Directions"): body_mm(rng, 3),  # corrupted take in the release: must be skipped
        ("S11", "Directions 1"): body_mm(rng, 2),
    }
    # A kept joint (raw 25 -> 17-joint index 14) on camera 2's optical axis, 3 m away: it must project
    # onto that camera's principal point exactly (no distortion at the image centre).
    camera = h36m_camera("S1", 2)
    on_axis_m = camera_to_world(np.array([0.0, 0.0, 3.0]), camera.orientation, camera.translation_m)
    files[("S1", "Walking 1")][1, 25] = on_axis_m * 1000
    for (subject, action), poses in files.items():
        write_pose_cdf(
            tmp_path / "raw" / subject / "MyPoseFeatures" / "D3_Positions" / f"{action}.cdf", poses
        )

    path_3d, path_2d = raw.convert_h36m_raw(
        tmp_path / "raw", tmp_path / "out", name="mini", subjects=["S1", "S11"]
    )
    assert (path_3d.name, path_2d.name) == ("data_3d_mini.npz", "data_2d_mini_gt.npz")
    positions_3d = h36m.read_h36m_3d(path_3d)
    assert sorted(positions_3d["S1"]) == ["Photo 1", "WalkDog", "Walking 1"]
    assert list(positions_3d["S11"]) == ["Directions 1"]
    np.testing.assert_allclose(
        positions_3d["S1"]["Photo 1"], files[("S1", "TakingPhoto 1")] / 1000, rtol=1e-6
    )
    np.testing.assert_allclose(
        positions_3d["S11"]["Directions 1"], files[("S11", "Directions 1")] / 1000, rtol=1e-6
    )

    positions_2d, metadata = h36m.read_h36m_2d(path_2d, positions_3d)
    assert metadata["num_joints"] == 17
    views = positions_2d["S1"]["Walking 1"]
    assert len(views) == 4 and views[2].shape == (4, 17, 2)
    np.testing.assert_allclose(views[2][1, 14], camera.center, atol=1e-3)
    assert not np.allclose(views[1][1, 14], h36m_camera("S1", 1).center, atol=1.0)

    # The GT 2D file and 3D file together feed the dataset loader.
    data = load_h36m(path_3d, path_2d, ["S1"], [], ["S11"])
    assert len(data.train) == 3 * 4 and len(data.test) == 4


def test_h36m_projection_matches_the_kept_joints_only(tmp_path):
    rng = np.random.default_rng(1)
    poses = body_mm(rng, 3)
    dropped = [j for j in range(32) if j not in H36M_32_TO_17]
    write_pose_cdf(tmp_path / "S9" / "MyPoseFeatures" / "D3_Positions" / "Eating 1.cdf", poses)
    moved = poses.copy()
    moved[:, dropped] += 500.0  # joints that are not kept must not influence the 2D file
    write_pose_cdf(tmp_path / "moved" / "S9" / "MyPoseFeatures" / "D3_Positions" / "Eating 1.cdf", moved)
    _, first = raw.convert_h36m_raw(tmp_path, tmp_path / "a", subjects=["S9"])
    _, second = raw.convert_h36m_raw(tmp_path / "moved", tmp_path / "b", subjects=["S9"])
    a, _ = h36m.read_h36m_2d(first)
    b, _ = h36m.read_h36m_2d(second)
    for view_a, view_b in zip(a["S9"]["Eating 1"], b["S9"]["Eating 1"]):
        np.testing.assert_array_equal(view_a, view_b)


def test_convert_h36m_raw_errors(tmp_path):
    with pytest.raises(DataFormatError, match=r"S5.*D3_Positions: no <Action>.cdf files"):
        raw.convert_h36m_raw(tmp_path, tmp_path / "out", subjects=["S5"])
    bad = tmp_path / "S5" / "MyPoseFeatures" / "D3_Positions" / "Eating.cdf"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a cdf")
    with pytest.raises(DataFormatError, match="Eating.cdf: cannot read CDF variable 'Pose'"):
        raw.convert_h36m_raw(tmp_path, tmp_path / "out", subjects=["S5"])


def test_canonical_action_names():
    assert raw.canonical_action("TakingPhoto") == "Photo"
    assert raw.canonical_action("TakingPhoto 1") == "Photo 1"
    assert raw.canonical_action("WalkingDog 1") == "WalkDog 1"
    assert raw.canonical_action("Walking 1") == "Walking 1"
    assert raw.canonical_action("WalkTogether") == "WalkTogether"


# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP
# ----------------------------------------------------------------------------------------------
def write_annot_mat(path, annot2, univ_annot3):
    """Training annot.mat: 14-camera cell arrays of (N, 56) px and (N, 84) mm, as in the release."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cells2, cells3 = np.empty((14, 1), dtype=object), np.empty((14, 1), dtype=object)
    for camera in range(14):
        cells2[camera, 0] = annot2[camera].reshape(annot2[camera].shape[0], 56)
        cells3[camera, 0] = univ_annot3[camera].reshape(univ_annot3[camera].shape[0], 84)
    scipy.io.savemat(
        path,
        {
            "annot2": cells2,
            "univ_annot3": cells3,
            "annot3": cells3,
            "cameras": np.arange(14)[None],
            "frames": np.arange(annot2[0].shape[0])[:, None],
        },
    )


def write_test_annot(path, annot2, univ_annot3, valid, matlab_order=True):
    """Test annot_data.mat (v7.3 = HDF5). MATLAB's 2 x 17 x 1 x N reads back from HDF5 as (N, 1, 17, 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as mat:
        if matlab_order:
            mat["annot2"] = annot2[:, None]
            mat["univ_annot3"] = univ_annot3[:, None]
        else:  # the transposed order some tools write
            mat["annot2"] = annot2.transpose(2, 1, 0)[:, :, None]
            mat["univ_annot3"] = univ_annot3.transpose(2, 1, 0)[:, :, None]
        mat["valid_frame"] = valid.astype(np.float64)[:, None]


@pytest.fixture
def raw_3dhp(tmp_path):
    rng = np.random.default_rng(2)
    train = {}
    for subject, seq, frames in (("S1", "Seq1", 9), ("S2", "Seq2", 7)):
        annot2 = [rng.uniform(0, 2048, (frames, 28, 2)) for _ in range(14)]
        annot3 = [rng.normal(0, 500, (frames, 28, 3)) for _ in range(14)]
        write_annot_mat(tmp_path / "raw" / subject / seq / "annot.mat", annot2, annot3)
        train[f"{subject} {seq}"] = (annot2, annot3)
    test = {}
    for name, frames, matlab_order in (("TS1", 6, True), ("TS5", 5, False)):
        annot2, annot3 = rng.uniform(0, 1900, (frames, 17, 2)), rng.normal(0, 500, (frames, 17, 3))
        valid = rng.uniform(size=frames) < 0.6
        valid[0] = True
        write_test_annot(tmp_path / "raw" / name / "annot_data.mat", annot2, annot3, valid, matlab_order)
        test[name] = (annot2, annot3, valid)
    return tmp_path / "raw", train, test


def test_convert_3dhp_raw_keeps_8_cameras_17_joints_and_truncates(tmp_path, raw_3dhp):
    root, train, test = raw_3dhp
    table = {"S1 Seq1": (7, 25), "S2 Seq2": (None, 50)}
    train_path, test_path = raw.convert_3dhp_raw(root, tmp_path / "out", name="mini", frame_table=table)
    assert (train_path.name, test_path.name) == ("data_train_mini.npz", "data_test_mini.npz")

    converted = mpi3dhp.read_3dhp_train(train_path)
    assert list(converted) == ["S1 Seq1", "S2 Seq2"]
    cameras, fps = converted["S1 Seq1"]
    assert fps == 25 and converted["S2 Seq2"][1] == 50
    assert list(cameras) == ["0", "1", "2", "4", "5", "6", "7", "8"]
    annot2, annot3 = train["S1 Seq1"]
    np.testing.assert_allclose(cameras["5"]["data_2d"], annot2[5][:7, list(MPI_28_TO_17)], rtol=1e-6)
    np.testing.assert_allclose(cameras["5"]["data_3d"], annot3[5][:7, list(MPI_28_TO_17)], rtol=1e-6)
    # Pelvis (17-joint index 14) is raw joint 4; head top (0) is raw joint 7.
    np.testing.assert_allclose(cameras["8"]["data_3d"][:, 14], annot3[8][:7, 4], rtol=1e-6)
    np.testing.assert_allclose(cameras["8"]["data_3d"][:, 0], annot3[8][:7, 7], rtol=1e-6)
    assert converted["S2 Seq2"][0]["0"]["data_2d"].shape == (7, 17, 2)  # None: every frame kept

    converted_test = mpi3dhp.read_3dhp_test(test_path)
    assert list(converted_test) == ["TS1", "TS5"]
    for name, (annot2, annot3, valid) in test.items():
        np.testing.assert_allclose(converted_test[name]["data_2d"], annot2, rtol=1e-6)
        np.testing.assert_allclose(converted_test[name]["data_3d"], annot3, rtol=1e-6)
        np.testing.assert_array_equal(converted_test[name]["valid"], valid)

    data = load_3dhp(train_path, test_path, validation_subjects=["S2"])
    assert len(data.train) == 8 and len(data.validation) == 8 and len(data.test) == 2


def test_default_frame_table_is_the_official_one_and_fails_clearly_on_short_files(tmp_path, raw_3dhp):
    assert len(raw.MPI_TRAIN_SEQUENCE_INFO) == 16
    assert raw.MPI_TRAIN_SEQUENCE_INFO["S1 Seq2"] == (12430, 50)
    root, _, _ = raw_3dhp
    with pytest.raises(
        DataFormatError, match=r"S1/Seq1/annot.mat camera 0: 9 annotated frames, fewer than the 6416"
    ):
        raw.convert_3dhp_raw(root, tmp_path / "out")
    with pytest.raises(DataFormatError, match="'S2 Seq2' not in the frame table"):
        raw.convert_3dhp_raw(root, tmp_path / "out", frame_table={"S1 Seq1": (None, 25)})


def test_convert_3dhp_raw_errors(tmp_path):
    with pytest.raises(DataFormatError, match="found neither"):
        raw.convert_3dhp_raw(tmp_path, tmp_path / "out")
    path = tmp_path / "S1" / "Seq1" / "annot.mat"
    path.parent.mkdir(parents=True)
    scipy.io.savemat(path, {"annot2": np.zeros((3, 56))})
    with pytest.raises(DataFormatError, match=r"missing variables \['univ_annot3'\]"):
        raw.convert_3dhp_raw(tmp_path, tmp_path / "out", frame_table={"S1 Seq1": (None, 25)})
    test_file = tmp_path / "TS2" / "annot_data.mat"
    write_test_annot(test_file, np.zeros((4, 16, 2)), np.zeros((4, 16, 3)), np.ones(4, bool))
    with pytest.raises(
        DataFormatError, match=r"'annot2': shape \(4, 1, 16, 2\), expected 4 frames x 17 joints"
    ):
        raw.read_3dhp_test_annot(test_file)
