"""Standard dataset files: safe unpickling, the Human3.6M / 3DHP layouts, the PoseDataset built on them."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from diff3dhpe.data import h36m, mpi3dhp
from diff3dhpe.data.camera import h36m_camera, quaternion_to_matrix
from diff3dhpe.data.dataset import PoseDataset, PoseSequence, load_3dhp, load_h36m
from diff3dhpe.data.safe_pickle import load_npz, load_npz_keys
from diff3dhpe.data.skeleton import H36M, H36M_32_TO_17, MPI_INF_3DHP
from diff3dhpe.errors import DataFormatError, ShapeError

SYMMETRY = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]


def world_poses(rng, frames):
    """(N, 32, 3) float32 metres: a body-sized cloud near the capture-volume centre."""
    root = np.array([0.2, -0.3, 0.9]) + rng.normal(0, 0.05, (frames, 1, 3))
    return (root + rng.uniform(-0.8, 0.8, (frames, 32, 3))).astype(np.float32)


def pixels(rng, frames):
    return rng.uniform(0, 1000, (frames, 17, 2)).astype(np.float32)


@pytest.fixture
def h36m_files(tmp_path):
    """Small 3D + 2D files: S11 lacks 'Directions', 2D runs longer, the 2D file has an extra S2."""
    rng = np.random.default_rng(0)
    lengths = {
        ("S1", "Walking 1"): 7,
        ("S1", "Photo 1"): 5,
        ("S9", "Walking 1"): 6,
        ("S11", "Directions 1"): 4,
    }
    pos3d: dict = {}
    pos2d: dict = {"S2": {"Walking 1": [pixels(rng, 3) for _ in range(4)]}}  # CPN-style subject without 3D
    for (subject, action), n in lengths.items():
        pos3d.setdefault(subject, {})[action] = world_poses(rng, n)
        pos2d.setdefault(subject, {})[action] = [pixels(rng, n + 2) for _ in range(4)]  # 2 extra 2D frames
    pos2d["S11"]["Directions"] = [pixels(rng, 3) for _ in range(4)]  # in 2D only: ignored
    path_3d, path_2d = tmp_path / "data_3d_t.npz", tmp_path / "data_2d_t_gt.npz"
    # Written the way other tools write them: plain numpy, dicts pickled inside the npz.
    np.savez_compressed(path_3d, positions_3d=pos3d)
    np.savez_compressed(
        path_2d, positions_2d=pos2d, metadata={"num_joints": 17, "keypoints_symmetry": SYMMETRY}
    )
    return path_3d, path_2d, pos3d, pos2d


# ----------------------------------------------------------------------------------------------
# safe_pickle
# ----------------------------------------------------------------------------------------------
def test_nested_dict_written_by_plain_numpy_reads_back_identically(tmp_path):
    rng = np.random.default_rng(1)
    value = {
        "S1": {"Walking 1": rng.normal(size=(3, 32, 3)).astype(np.float32)},
        "views": [rng.normal(size=(2, 17, 2)), rng.integers(0, 5, size=4)],
        "meta": {
            "num_joints": 17,
            "name": "h36m",
            "pair": (1, 2.5),
            "flag": True,
            "none": None,
            "np_scalar": np.float64(0.25),
            "np_int": np.int64(7),
            "c": 1 + 2j,
        },
    }
    path = tmp_path / "nested.npz"
    np.savez_compressed(path, payload=value, plain=np.arange(6.0).reshape(2, 3))
    assert load_npz_keys(path) == ["payload", "plain"]
    loaded = load_npz(path, "payload")
    assert loaded["S1"]["Walking 1"].dtype == np.float32
    np.testing.assert_array_equal(loaded["S1"]["Walking 1"], value["S1"]["Walking 1"])
    np.testing.assert_array_equal(loaded["views"][0], value["views"][0])
    np.testing.assert_array_equal(loaded["views"][1], value["views"][1])
    assert loaded["meta"] == value["meta"]
    np.testing.assert_array_equal(load_npz(path, "plain"), np.arange(6.0).reshape(2, 3))


def _npz_with_raw_member(path, key, npy_bytes):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{key}.npy", npy_bytes)


def _object_npy_bytes(value):
    buffer = io.BytesIO()
    np.save(buffer, np.array(value, dtype=object), allow_pickle=True)
    return buffer.getvalue()


def _npy_from_pickle(payload):
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "|O", "fortran_order": False, "shape": ()})
    return npy.getvalue() + payload


def test_file_pickled_by_numpy_1_module_names_still_loads(tmp_path):
    # numpy 1.x pickles name numpy.core.multiarray; protocol 3 spells globals as text lines.
    payload = pickle.dumps(np.array({"a": np.arange(4, dtype=np.float32)}, dtype=object), protocol=3)
    assert b"numpy._core.multiarray\n" in payload
    legacy = payload.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    path = tmp_path / "legacy.npz"
    _npz_with_raw_member(path, "positions_3d", _npy_from_pickle(legacy))
    np.testing.assert_array_equal(load_npz(path, "positions_3d")["a"], np.arange(4, dtype=np.float32))


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _PlainObject:
    pass


@pytest.mark.parametrize("kind", ["os.system", "class instance", "builtins.eval"])
def test_pickle_with_arbitrary_globals_is_refused_and_nothing_runs(tmp_path, kind):
    marker = tmp_path / "pwned"
    evil = {
        "os.system": _RunsCommand(marker),
        "class instance": _PlainObject(),
        "builtins.eval": None,
    }[kind]
    if kind == "builtins.eval":
        # Hand-written protocol-0 pickle: eval("open(marker, 'w')") wrapped in a dict value.
        code = f"open({str(marker)!r}, 'w')"
        member = _npy_from_pickle(b"cbuiltins\neval\n(V" + code.encode() + b"\ntR.")
    else:
        member = _object_npy_bytes({"S1": {"Walking 1": evil}})
    path = tmp_path / "evil.npz"
    _npz_with_raw_member(path, "positions_3d", member)
    with pytest.raises(DataFormatError) as info:
        load_npz(path, "positions_3d")
    message = str(info.value)
    assert str(path) in message and "positions_3d" in message and "forbidden global" in message
    expected_global = {
        "os.system": "system",
        "class instance": "_PlainObject",
        "builtins.eval": "builtins.eval",
    }
    assert expected_global[kind] in message
    assert not marker.exists()


def test_missing_file_not_a_zip_and_truncated_file_are_clear_errors(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_npz(tmp_path / "absent.npz", "positions_3d")
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(DataFormatError, match="not a readable .npz"):
        load_npz(text, "positions_3d")

    good = tmp_path / "good.npz"
    np.savez_compressed(good, positions_3d={"S1": {"A": np.random.default_rng(0).normal(size=(500, 32, 3))}})
    data = good.read_bytes()
    cut_tail = tmp_path / "cut_tail.npz"  # the zip directory at the end is gone
    cut_tail.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated"):
        load_npz(cut_tail, "positions_3d")
    # Directory intact but member data damaged: the stream itself fails to decompress / unpickle.
    damaged = tmp_path / "damaged.npz"
    middle = len(data) // 2
    damaged.write_bytes(data[:middle] + bytes(200) + data[middle + 200 :])
    with pytest.raises(DataFormatError, match=r"damaged.npz.*positions_3d"):
        load_npz(damaged, "positions_3d")


def test_missing_key_lists_the_keys_present(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, positions_2d={"S1": {}}, metadata={"num_joints": 17})
    with pytest.raises(DataFormatError, match=r"no key 'positions_3d'.*\['positions_2d', 'metadata'\]"):
        load_npz(path, "positions_3d")


# ----------------------------------------------------------------------------------------------
# Human3.6M layout
# ----------------------------------------------------------------------------------------------
def test_h36m_readers_return_the_arrays_written_by_other_tools(h36m_files):
    path_3d, path_2d, pos3d, pos2d = h36m_files
    loaded_3d = h36m.read_h36m_3d(path_3d)
    assert list(loaded_3d) == ["S1", "S9", "S11"]
    assert "Directions" not in loaded_3d["S11"] and "Directions 1" in loaded_3d["S11"]
    for subject, actions in pos3d.items():
        for action, array in actions.items():
            assert loaded_3d[subject][action].dtype == np.float32
            np.testing.assert_array_equal(loaded_3d[subject][action], array)

    loaded_2d, metadata = h36m.read_h36m_2d(path_2d, loaded_3d)
    assert metadata["num_joints"] == 17
    assert set(loaded_2d) == {"S1", "S9", "S11"}  # S2 has no 3D: ignored
    assert set(loaded_2d["S11"]) == {"Directions 1"}  # 2D-only action ignored
    for subject, actions in pos3d.items():
        for action, array in actions.items():
            views = loaded_2d[subject][action]
            assert len(views) == 4
            for view, original in zip(views, pos2d[subject][action]):
                assert view.shape == (array.shape[0], 17, 2)  # truncated to the 3D length
                np.testing.assert_array_equal(view, original[: array.shape[0]])

    unaligned, _ = h36m.read_h36m_2d(path_2d)
    assert "S2" in unaligned and unaligned["S1"]["Walking 1"][0].shape == (9, 17, 2)


def test_h36m_writers_produce_the_standard_layout(tmp_path, h36m_files):
    _, _, pos3d, pos2d = h36m_files
    pos2d = {s: a for s, a in pos2d.items() if s != "S2"}
    path_3d, path_2d = tmp_path / "out" / "data_3d_x.npz", tmp_path / "out" / "data_2d_x_gt.npz"
    h36m.write_h36m_3d(
        path_3d, {s: {a: v.astype(np.float64) for a, v in acts.items()} for s, acts in pos3d.items()}
    )
    h36m.write_h36m_2d(path_2d, pos2d)
    # What a peer code base would see with the stock loader (trusted here: we wrote it).
    with np.load(path_3d, allow_pickle=True) as raw:
        assert raw.files == ["positions_3d"]
        stored = raw["positions_3d"].item()
    assert stored["S1"]["Walking 1"].dtype == np.float32
    np.testing.assert_array_equal(stored["S9"]["Walking 1"], pos3d["S9"]["Walking 1"])
    with np.load(path_2d, allow_pickle=True) as raw:
        assert sorted(raw.files) == ["metadata", "positions_2d"]
        meta = raw["metadata"].item()
        views = raw["positions_2d"].item()["S1"]["Photo 1"]
    assert meta == {"num_joints": 17, "keypoints_symmetry": SYMMETRY}
    assert isinstance(views, list) and len(views) == 4
    np.testing.assert_array_equal(views[3], pos2d["S1"]["Photo 1"][3])
    assert not list(path_3d.parent.glob("*.tmp"))


def _write(tmp_path, pos3d=None, pos2d=None, metadata=None):
    path_3d, path_2d = tmp_path / "d3.npz", tmp_path / "d2.npz"
    if pos3d is not None:
        np.savez(path_3d, positions_3d=pos3d)
    if pos2d is not None:
        np.savez(path_2d, positions_2d=pos2d, metadata=metadata or {"num_joints": 17})
    return path_3d, path_2d


def test_h36m_3d_with_wrong_joint_count_or_dtype_names_subject_and_action(tmp_path):
    path_3d, _ = _write(tmp_path, pos3d={"S1": {"Eating 2": np.zeros((4, 17, 3), np.float32)}})
    with pytest.raises(
        DataFormatError, match=r"d3.npz, subject S1, action 'Eating 2'.*\(N, 32, 3\).*17 joints"
    ):
        h36m.read_h36m_3d(path_3d)
    path_3d, _ = _write(tmp_path, pos3d={"S1": {"Eating 2": np.zeros((4, 32, 3), np.int32)}})
    with pytest.raises(DataFormatError, match="float array, found dtype int32"):
        h36m.read_h36m_3d(path_3d)
    path_3d, _ = _write(tmp_path, pos3d=np.zeros((4, 32, 3)))
    with pytest.raises(DataFormatError, match="expected a pickled dict, found ndarray"):
        h36m.read_h36m_3d(path_3d)


def test_h36m_2d_errors_name_file_subject_action_and_camera(tmp_path):
    rng = np.random.default_rng(3)
    pos3d = {"S9": {"Sitting 1": world_poses(rng, 5)}}
    views = [pixels(rng, 5) for _ in range(4)]
    views[2][3, 7, 1] = np.nan
    _, path_2d = _write(tmp_path, pos2d={"S9": {"Sitting 1": views}})
    with pytest.raises(
        DataFormatError, match=r"d2.npz, subject S9, action 'Sitting 1', camera 2: 1 NaN.*frame 3"
    ):
        h36m.read_h36m_2d(path_2d, pos3d)

    _, path_2d = _write(tmp_path, pos2d={"S9": {"Sitting 1": [pixels(rng, 5) for _ in range(3)]}})
    with pytest.raises(DataFormatError, match="list of 4 camera arrays, found 3"):
        h36m.read_h36m_2d(path_2d, pos3d)

    _, path_2d = _write(tmp_path, pos2d={"S9": {"Sitting 1": [np.zeros((5, 32, 2), np.float32)] * 4}})
    with pytest.raises(DataFormatError, match=r"camera 0: expected shape \(N, 17, 2\)"):
        h36m.read_h36m_2d(path_2d, pos3d)

    _, path_2d = _write(tmp_path, pos2d={"S9": {"Sitting 1": [pixels(rng, 4) for _ in range(4)]}})
    with pytest.raises(DataFormatError, match="camera 0: 4 2D frames, fewer than the 5 3D frames"):
        h36m.read_h36m_2d(path_2d, pos3d)

    _, path_2d = _write(tmp_path, pos2d={"S9": {"Sitting 2": [pixels(rng, 5) for _ in range(4)]}})
    with pytest.raises(DataFormatError, match=r"subject S9, action 'Sitting 1': 3D poses exist but no 2D"):
        h36m.read_h36m_2d(path_2d, pos3d)

    _, path_2d = _write(tmp_path, pos2d={"S1": {"Sitting 1": views}})
    with pytest.raises(DataFormatError, match=r"subject S9 has 3D poses but no 2D.*\['S1'\]"):
        h36m.read_h36m_2d(path_2d, pos3d)


def test_h36m_2d_metadata_must_describe_the_17_joint_order(tmp_path):
    rng = np.random.default_rng(4)
    pos2d = {"S1": {"Walking 1": [pixels(rng, 3) for _ in range(4)]}}
    swapped = [SYMMETRY[1], SYMMETRY[0]]
    _, path_2d = _write(tmp_path, pos2d=pos2d, metadata={"num_joints": 17, "keypoints_symmetry": swapped})
    with pytest.raises(DataFormatError, match="keypoints_symmetry"):
        h36m.read_h36m_2d(path_2d)
    _, path_2d = _write(tmp_path, pos2d=pos2d, metadata={"num_joints": 32})
    with pytest.raises(DataFormatError, match="num_joints = 32, expected 17"):
        h36m.read_h36m_2d(path_2d)


# ----------------------------------------------------------------------------------------------
# MPI-INF-3DHP layout
# ----------------------------------------------------------------------------------------------
def _pair(rng, n):
    return {"data_2d": rng.uniform(0, 2048, (n, 17, 2)), "data_3d": rng.normal(0, 400, (n, 17, 3))}


@pytest.fixture
def mpi_files(tmp_path):
    rng = np.random.default_rng(5)
    train = {
        "S1 Seq1": [{"0": _pair(rng, 6), "4": _pair(rng, 6)}, 25],
        "S2 Seq2": [{"8": _pair(rng, 5)}, 50],
    }
    test = {
        "TS1": {**_pair(rng, 6), "valid": np.array([1, 1, 0, 1, 0, 1], dtype=np.float64)},
        "TS5": {**_pair(rng, 4), "valid": np.array([True, False, True, True])},
    }
    train_path, test_path = tmp_path / "data_train_t3dhp.npz", tmp_path / "data_test_t3dhp.npz"
    np.savez_compressed(train_path, data=train)
    np.savez_compressed(test_path, data=test)
    return train_path, test_path, train, test


def test_3dhp_round_trip_through_reader_and_writer(tmp_path, mpi_files):
    train_path, test_path, train, test = mpi_files
    loaded_train = mpi3dhp.read_3dhp_train(train_path)
    loaded_test = mpi3dhp.read_3dhp_test(test_path)
    assert loaded_train["S1 Seq1"][1] == 25 and set(loaded_train["S1 Seq1"][0]) == {"0", "4"}
    np.testing.assert_allclose(
        loaded_train["S2 Seq2"][0]["8"]["data_3d"], train["S2 Seq2"][0]["8"]["data_3d"], rtol=1e-6
    )
    assert loaded_train["S2 Seq2"][0]["8"]["data_2d"].dtype == np.float32
    assert loaded_test["TS1"]["valid"].dtype == bool
    np.testing.assert_array_equal(loaded_test["TS1"]["valid"], [True, True, False, True, False, True])

    mpi3dhp.write_3dhp_train(tmp_path / "w_train.npz", loaded_train)
    mpi3dhp.write_3dhp_test(tmp_path / "w_test.npz", loaded_test)
    again = mpi3dhp.read_3dhp_test(tmp_path / "w_test.npz")
    np.testing.assert_array_equal(again["TS5"]["data_2d"], loaded_test["TS5"]["data_2d"])
    assert mpi3dhp.read_3dhp_train(tmp_path / "w_train.npz")["S2 Seq2"][1] == 50


def test_3dhp_resolution_per_sequence():
    assert mpi3dhp.resolution("S3 Seq2") == (2048, 2048)
    assert mpi3dhp.resolution("TS4") == (2048, 2048)
    assert mpi3dhp.resolution("TS5") == mpi3dhp.resolution("TS6") == (1920, 1080)
    with pytest.raises(DataFormatError, match="unknown MPI-INF-3DHP sequence 'TS7'"):
        mpi3dhp.resolution("TS7")


def test_3dhp_layout_errors(tmp_path):
    rng = np.random.default_rng(6)
    bad_frames = {
        "TS1": {
            "data_2d": rng.normal(size=(5, 17, 2)),
            "data_3d": rng.normal(size=(4, 17, 3)),
            "valid": np.ones(5, bool),
        }
    }
    with pytest.raises(DataFormatError, match="sequence 'TS1': data_2d has 5 frames but data_3d has 4"):
        mpi3dhp.write_3dhp_test(tmp_path / "t.npz", bad_frames)
    with pytest.raises(DataFormatError, match="unknown test sequence"):
        mpi3dhp.write_3dhp_test(tmp_path / "t.npz", {"TS9": {**_pair(rng, 3), "valid": np.ones(3, bool)}})
    with pytest.raises(DataFormatError, match="'valid' has 2 entries for 3 frames"):
        mpi3dhp.write_3dhp_test(tmp_path / "t.npz", {"TS1": {**_pair(rng, 3), "valid": np.ones(2, bool)}})
    with pytest.raises(DataFormatError, match=r"unknown cameras \['3'\]"):
        mpi3dhp.write_3dhp_train(tmp_path / "t.npz", {"S1 Seq1": [{"3": _pair(rng, 3)}, 25]})
    with pytest.raises(DataFormatError, match="camera 0 data_3d: expected shape"):
        mpi3dhp.write_3dhp_train(
            tmp_path / "t.npz",
            {
                "S1 Seq1": [
                    {"0": {"data_2d": rng.normal(size=(3, 17, 2)), "data_3d": rng.normal(size=(3, 28, 3))}},
                    25,
                ]
            },
        )


# ----------------------------------------------------------------------------------------------
# PoseDataset
# ----------------------------------------------------------------------------------------------
def test_load_h36m_gives_root_relative_camera_millimetres(h36m_files):
    path_3d, path_2d, pos3d, pos2d = h36m_files
    data = load_h36m(path_3d, path_2d, ["S1"], ["S9"], ["S11"])
    assert data.layout is H36M
    assert len(data.train) == 2 * 4 and len(data.validation) == 4 and len(data.test) == 4
    seq = next(s for s in data.train if s.action == "Photo 1" and s.camera == "2")
    assert seq.poses_3d.dtype == np.float32 and seq.keypoints_2d.dtype == np.float32
    assert seq.poses_3d.shape == (5, 17, 3) and seq.valid.all()
    assert np.all(seq.poses_3d[:, 0] == 0)  # root exactly zero

    # Independent path: rotation matrix of the camera orientation, R^T (X - t), in mm.
    camera = h36m_camera("S1", 2)
    world = pos3d["S1"]["Photo 1"][:, list(H36M_32_TO_17)].astype(np.float64) * 1000
    cam = (world - np.asarray(camera.translation_mm)) @ quaternion_to_matrix(camera.orientation)
    np.testing.assert_allclose(seq.poses_3d, cam - cam[:, :1], atol=0.02)
    # Camera coordinates: the subject stands a few metres in front of the camera (before centring).
    assert (cam[:, :, 2] > 2000).all()

    # 2D: X / w * 2 - [1, h / w] with this camera's image size, truncated to the 3D length.
    expected_2d = pos2d["S1"]["Photo 1"][2][:5] / camera.res_w * 2 - np.array(
        [1, camera.res_h / camera.res_w]
    )
    np.testing.assert_allclose(seq.keypoints_2d, expected_2d, atol=1e-6)


def test_load_h36m_filters_and_split_errors(h36m_files):
    path_3d, path_2d, _, _ = h36m_files
    data = load_h36m(path_3d, path_2d, ["S1"], [], ["S9"], actions=["Walking"], max_frames=3)
    assert {s.action for s in data.train} == {"Walking 1"} and all(len(s) == 3 for s in data.train)
    assert data.summary() == {
        "train": {"sequences": 4, "frames": 12, "valid_frames": 12, "subjects": ["S1"]},
        "validation": {"sequences": 0, "frames": 0, "valid_frames": 0, "subjects": []},
        "test": {"sequences": 4, "frames": 12, "valid_frames": 12, "subjects": ["S9"]},
    }
    with pytest.raises(DataFormatError, match=r"subjects \['S7'\] not found"):
        load_h36m(path_3d, path_2d, ["S1", "S7"], [], ["S9"])
    with pytest.raises(DataFormatError, match=r"subjects \['S9'\] are in the training split"):
        load_h36m(path_3d, path_2d, ["S1", "S9"], [], ["S9"])


def _sequence(value_mm, frames=3):
    poses = np.zeros((frames, 17, 3), np.float32)
    poses[1, 5] = value_mm
    return PoseSequence("S1", "A", "0", np.zeros((frames, 17, 2), np.float32), poses, np.ones(frames, bool))


def test_scale_is_max_abs_coordinate_over_train_and_validation_only():
    data = PoseDataset(
        H36M,
        train=[_sequence([120.0, -300.0, 5.0])],
        validation=[_sequence([0.0, 10.0, -450.0])],
        test=[_sequence([900.0, 0.0, 0.0])],
    )
    assert data.scale() == 450.0
    with pytest.raises(DataFormatError, match="no train or validation"):
        PoseDataset(H36M, [], [], [_sequence([1.0, 0, 0])]).scale()


def test_pose_sequence_checks_shapes():
    with pytest.raises(ShapeError, match="S1 / A / 0"):
        PoseSequence("S1", "A", "0", np.zeros((3, 17, 2)), np.zeros((4, 17, 3)))
    assert (
        PoseSequence("S1", "A", "0", np.zeros((3, 17, 2)), np.zeros((3, 17, 3))).valid.tolist() == [True] * 3
    )


def test_load_3dhp_splits_roots_and_normalises_with_each_resolution(mpi_files):
    train_path, test_path, train, test = mpi_files
    data = load_3dhp(train_path, test_path, validation_subjects=["S2"])
    assert data.layout is MPI_INF_3DHP
    assert [(s.subject, s.action, s.camera) for s in data.train] == [("S1", "Seq1", "0"), ("S1", "Seq1", "4")]
    assert [(s.subject, s.action, s.camera) for s in data.validation] == [("S2", "Seq2", "8")]
    assert [s.subject for s in data.test] == ["TS1", "TS5"]
    for seq in data.train + data.validation + data.test:
        assert np.all(seq.poses_3d[:, 14] == 0)  # pelvis is the 3DHP root
    raw = train["S1 Seq1"][0]["4"]
    np.testing.assert_allclose(data.train[1].poses_3d, raw["data_3d"] - raw["data_3d"][:, 14:15], atol=1e-3)
    np.testing.assert_allclose(data.train[1].keypoints_2d, raw["data_2d"] / 1024 - 1, atol=1e-6)
    ts5 = data.test[1]
    np.testing.assert_allclose(ts5.keypoints_2d, test["TS5"]["data_2d"] / 960 - [1, 1080 / 1920], atol=1e-6)
    assert ts5.valid.tolist() == [True, False, True, True]
    assert data.train[0].valid.all()
    assert data.summary()["test"]["valid_frames"] == 4 + 3

    by_sequence = load_3dhp(train_path, test_path, validation_subjects=["S1 Seq1"])
    assert {s.subject for s in by_sequence.validation} == {"S1"}
    with pytest.raises(DataFormatError, match=r"validation subjects \['S7'\] not found"):
        load_3dhp(train_path, test_path, validation_subjects=["S7"])


# ----------------------------------------------------------------------------------------------
# File names (diff3dhpe.data.files): one convention for params, generator, converters and prepare
# ----------------------------------------------------------------------------------------------
def test_release_file_names_are_the_ones_data_md_lists():
    from diff3dhpe.data import files

    assert files.h36m_files("h36m", detector="cpn_ft_h36m_dbb") == {
        "file_3d": "data_3d_h36m.npz",
        "file_2d_det": "data_2d_h36m_cpn_ft_h36m_dbb.npz",
        "file_2d_gt": "data_2d_h36m_gt.npz",
    }
    assert files.mpi3dhp_files("3dhp") == {"train": "data_train_3dhp.npz", "test": "data_test_3dhp.npz"}
    assert tuple(files.H36M_RELEASE_FILES) == files.ROLES["h36m"]
    assert tuple(files.MPI3DHP_RELEASE_FILES) == files.ROLES["3dhp"]


def test_synthetic_file_names_follow_data_md_section_3():
    from diff3dhpe.data import files

    assert files.synthetic_files("t") == {
        "h36m": {
            "file_3d": "data_3d_t.npz", "file_2d_det": "data_2d_t_det.npz", "file_2d_gt": "data_2d_t_gt.npz"
        },
        "3dhp": {"train": "data_train_t_3dhp.npz", "test": "data_test_t_3dhp.npz"},
    }


def test_file_names_give_back_their_name_and_other_names_are_refused():
    from diff3dhpe.data import files

    for name in ("h36m", "my_set_2", "synthetic"):
        assert files.h36m_name(files.h36m_files(name)["file_3d"]) == name
        assert files.mpi3dhp_name(files.mpi3dhp_files(name)["train"]) == name
    with pytest.raises(ValueError, match="data_3d_<name>.npz"):
        files.h36m_name("poses.npz")
    with pytest.raises(ValueError, match="data_train_<name>.npz"):
        files.mpi3dhp_name("data_test_3dhp.npz")


def test_params_read_the_files_the_generator_and_converters_write(tmp_path):
    from diff3dhpe.config import DataParams
    from diff3dhpe.data import files
    from diff3dhpe.errors import ConfigError

    synthetic = DataParams(dir=str(tmp_path), synthetic={"name": "t"})
    for dataset, names in files.synthetic_files("t").items():
        assert list(synthetic.files(dataset).values()) == [tmp_path / n for n in names.values()]
        for role, name in names.items():
            assert synthetic.file(dataset, role) == tmp_path / name
    user = DataParams(source="files", dir=str(tmp_path))
    assert {path.name for path in user.files("h36m").values()} == set(files.H36M_RELEASE_FILES.values())
    assert user.file("3dhp", "test") == tmp_path / "data_test_3dhp.npz"
    assert list(user.files("3dhp")) == ["data.mpi3dhp.train", "data.mpi3dhp.test"]
    with pytest.raises(ConfigError, match="role 'file_3d' for dataset '3dhp'"):
        user.file("3dhp", "file_3d")
    with pytest.raises(ConfigError, match="unknown dataset 'mpii'"):
        user.files("mpii")


# ----------------------------------------------------------------------------------------------
# Real data folders: liberal in what is valid, strict in what is wrong
# ----------------------------------------------------------------------------------------------
def _normalised(view, w=1000, h=1002):
    """What a tool that already normalised the keypoints would have stored (values in [-1, 1])."""
    return (view / w * 2 - np.array([1, h / w])).astype(np.float32)


def test_h36m_2d_that_is_already_normalised_is_refused_naming_the_view(tmp_path, h36m_files):
    rng = np.random.default_rng(7)
    pos3d = {"S9": {"Sitting 1": world_poses(rng, 5)}}
    views = [pixels(rng, 5) for _ in range(4)]
    views[2] = _normalised(views[2])
    _, path_2d = _write(tmp_path, pos2d={"S9": {"Sitting 1": views}})
    with pytest.raises(
        DataFormatError,
        match=r"d2.npz, subject S9, action 'Sitting 1', camera 2: every 2D value lies in \[-1, 1\].*"
        r"look already normalised, expected pixels",
    ):
        h36m.read_h36m_2d(path_2d, pos3d)

    # a whole file normalised, met through the dataset loader
    path_3d, _, _, pos2d = h36m_files
    normalised = {s: {a: [_normalised(v) for v in vs] for a, vs in acts.items()} for s, acts in pos2d.items()}
    path_2d = tmp_path / "data_2d_normalised_gt.npz"
    np.savez_compressed(path_2d, positions_2d=normalised)
    message = (r"data_2d_normalised_gt.npz, subject S1, action '.*', camera 0: "
               r".*look already normalised, expected pixels")
    with pytest.raises(DataFormatError, match=message):
        load_h36m(path_3d, path_2d, ["S1"], [], ["S9"])


def test_3dhp_2d_that_is_already_normalised_is_refused_naming_the_sequence(tmp_path, mpi_files):
    train_path, _, _, test = mpi_files
    test = {name: dict(entry) for name, entry in test.items()}
    test["TS5"]["data_2d"] = test["TS5"]["data_2d"] / 1024 - 1  # the fixture's pixels span 0..2048
    bad_test = tmp_path / "data_test_normalised.npz"
    np.savez_compressed(bad_test, data=test)
    message = (r"data_test_normalised.npz, sequence 'TS5' data_2d: every 2D value lies in \[-1, 1\]"
               r".*look already normalised, expected pixels")
    with pytest.raises(DataFormatError, match=message):
        load_3dhp(train_path, bad_test)


def test_extra_subject_without_actions_and_float64_arrays_load(tmp_path, h36m_files):
    _, _, pos3d, pos2d = h36m_files
    pos3d = {s: {a: v.astype(np.float64) for a, v in acts.items()} for s, acts in pos3d.items()}
    pos2d = {s: {a: [v.astype(np.float64) for v in views] for a, views in acts.items()}
             for s, acts in pos2d.items()}
    path_3d, path_2d = tmp_path / "data_3d_extra.npz", tmp_path / "data_2d_extra_gt.npz"
    np.savez_compressed(path_3d, positions_3d={**pos3d, "S7": {}})  # an extra subject with no actions
    np.savez_compressed(path_2d, positions_2d={**pos2d, "S7": {}}, metadata={"num_joints": 17})
    assert h36m.read_h36m_3d(path_3d)["S7"] == {}
    data = load_h36m(path_3d, path_2d, ["S1"], ["S9"], ["S11"])
    assert len(data.train) == 8 and len(data.validation) == 4 and len(data.test) == 4
    assert data.train[0].poses_3d.dtype == np.float32 and data.train[0].keypoints_2d.dtype == np.float32
    reference = load_h36m(*h36m_files[:2], ["S1"], ["S9"], ["S11"])
    np.testing.assert_allclose(data.train[3].poses_3d, reference.train[3].poses_3d, atol=1e-3)
    # an empty subject that a split asks for is an error that says what to do
    message = (r"subjects \['S7'\] are in the train split but have no actions"
               r".*remove them from data.subjects.train")
    with pytest.raises(DataFormatError, match=message):
        load_h36m(path_3d, path_2d, ["S1", "S7"], [], ["S11"])


def test_3dhp_float64_files_load(tmp_path, mpi_files):
    _, _, train, test = mpi_files  # the fixture's arrays are float64
    assert train["S1 Seq1"][0]["0"]["data_3d"].dtype == np.float64
    data = load_3dhp(*mpi_files[:2])
    assert all(seq.poses_3d.dtype == np.float32 for seq in data.train + data.test)


@pytest.mark.parametrize("empty", [[], None])
def test_an_empty_validation_split_gives_an_empty_validation_list(h36m_files, mpi_files, empty):
    path_3d, path_2d, _, _ = h36m_files
    data = load_h36m(path_3d, path_2d, ["S1", "S9"], empty, ["S11"])
    assert data.validation == [] and {s.subject for s in data.train} == {"S1", "S9"}
    assert data.scale() == max(float(np.abs(s.poses_3d).max()) for s in data.train)
    assert data.summary()["validation"]["sequences"] == 0
    mpi = load_3dhp(*mpi_files[:2], validation_subjects=empty)
    assert mpi.validation == [] and len(mpi.train) == 3 and mpi.scale() > 0
