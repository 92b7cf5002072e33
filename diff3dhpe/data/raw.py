"""Official raw downloads -> the standard preprocessed files (DATA.md §5).

- Human3.6M: ``<root>/<subject>/MyPoseFeatures/D3_Positions/<Action>.cdf`` (variable ``Pose``, mm)
  -> ``data_3d_<name>.npz`` (world metres, 32 joints) and ``data_2d_<name>_gt.npz`` (the 17 kept
  joints projected through the camera tables, distortion included). Detected 2D (CPN) cannot be
  recomputed: users bring that file.
- MPI-INF-3DHP: ``<root>/S<k>/Seq<k>/annot.mat`` and ``<root>/TS<k>/annot_data.mat`` (MATLAB v7.3)
  -> ``data_train_<name>.npz`` / ``data_test_<name>.npz`` in the P-STMO layout.

File names come from ``diff3dhpe.data.files`` (``h36m_files`` / ``mpi3dhp_files``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from diff3dhpe.data import h36m, mpi3dhp
from diff3dhpe.data.camera import h36m_camera, project_to_2d, world_to_camera
from diff3dhpe.data.files import h36m_files, mpi3dhp_files
from diff3dhpe.data.skeleton import (
    H36M_32_TO_17,
    H36M_TEST_SUBJECTS,
    H36M_TRAIN_SUBJECTS,
    MPI_28_TO_17,
    NUM_JOINTS,
)
from diff3dhpe.errors import DataFormatError

# Peer files use these action names; the raw release spells two of them differently.
_CANONICAL_ACTIONS = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
# The raw S11 'Directions' take is corrupted; the standard files leave it out ('Directions 1' stays).
_SKIPPED_TAKES = {("S11", "Directions")}

# The 14 cameras of the 3DHP training studio; these 8 are the ones peers train on.
MPI_TRAIN_CAMERAS = (0, 1, 2, 4, 5, 6, 7, 8)
MPI_RAW_JOINTS = 28
# Official per-sequence (frame count, fps) of the 3DHP training set (the dataset's
# mpii_get_sequence_info.m): annot.mat can hold more frames than the videos; truncate to these.
MPI_TRAIN_SEQUENCE_INFO: dict[str, tuple[int, float]] = {
    "S1 Seq1": (6416, 25), "S1 Seq2": (12430, 50),
    "S2 Seq1": (6502, 25), "S2 Seq2": (6081, 25),
    "S3 Seq1": (12488, 50), "S3 Seq2": (12283, 50),
    "S4 Seq1": (6171, 25), "S4 Seq2": (6675, 25),
    "S5 Seq1": (12820, 50), "S5 Seq2": (12312, 50),
    "S6 Seq1": (6188, 25), "S6 Seq2": (6145, 25),
    "S7 Seq1": (6239, 25), "S7 Seq2": (6320, 25),
    "S8 Seq1": (6468, 25), "S8 Seq2": (6054, 25),
}


def canonical_action(name: str) -> str:
    """'TakingPhoto 1' -> 'Photo 1', 'WalkingDog' -> 'WalkDog'; other names unchanged."""
    group, space, take = name.partition(" ")
    return _CANONICAL_ACTIONS.get(group, group) + space + take


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


# --------------------------------------------------------------------------------------------
# Human3.6M
# --------------------------------------------------------------------------------------------
def read_h36m_cdf(path: str | Path) -> np.ndarray:
    """One D3_Positions file -> float32 (N, 32, 3) world metres."""
    import cdflib  # optional at import time: only this converter needs it

    path = Path(path)
    try:
        pose = np.asarray(cdflib.CDF(path).varget("Pose"))
    except Exception as exc:  # cdflib raises bare ValueError/OSError/KeyError variants
        raise DataFormatError(
            f"{path}: cannot read CDF variable 'Pose': {type(exc).__name__}: {exc}"
        ) from exc
    values_per_frame = h36m.NUM_RAW_JOINTS * 3
    if pose.size == 0 or pose.shape[-1] != values_per_frame:
        raise DataFormatError(
            f"{path}: variable 'Pose' has shape {pose.shape}; expected (1, N, {values_per_frame}) "
            f"= {h36m.NUM_RAW_JOINTS} joints x 3 mm"
        )
    return (pose.reshape(-1, h36m.NUM_RAW_JOINTS, 3).astype(np.float64) / 1000.0).astype(np.float32)


def project_h36m_gt_2d(subject: str, world_m: np.ndarray) -> list[np.ndarray]:
    """(N, 32, 3) world metres -> the 4 cameras' float32 (N, 17, 2) pixels of the kept joints."""
    kept = world_m[:, list(H36M_32_TO_17)].astype(np.float64)  # (N, 17, 3)
    views = []
    for index in range(h36m.NUM_CAMERAS):
        camera = h36m_camera(subject, index)
        views.append(project_to_2d(world_to_camera(kept, camera.orientation, camera.translation_m), camera)
                     .astype(np.float32))
    return views


def convert_h36m_raw(
    root: str | Path,
    out_dir: str | Path,
    name: str = "h36m",
    subjects: Sequence[str] = H36M_TRAIN_SUBJECTS + H36M_TEST_SUBJECTS,
) -> tuple[Path, Path]:
    """Raw Human3.6M poses -> (data_3d_<name>.npz, data_2d_<name>_gt.npz) in ``out_dir``."""
    root, out_dir = Path(root), Path(out_dir)
    positions_3d: dict[str, dict[str, np.ndarray]] = {}
    for subject in subjects:
        folder = root / subject / "MyPoseFeatures" / "D3_Positions"
        files = sorted(folder.glob("*.cdf"), key=_natural_key)
        if not files:
            raise DataFormatError(f"{folder}: no <Action>.cdf files for subject {subject}")
        positions_3d[subject] = {}
        for file in files:
            if (subject, file.stem) in _SKIPPED_TAKES:
                continue
            action = canonical_action(file.stem)
            if action in positions_3d[subject]:
                raise DataFormatError(f"{file}: {subject} '{action}' appears twice under two spellings")
            positions_3d[subject][action] = read_h36m_cdf(file)

    positions_2d = {
        subject: {action: project_h36m_gt_2d(subject, world) for action, world in actions.items()}
        for subject, actions in positions_3d.items()
    }
    names = h36m_files(name)
    path_3d, path_2d = out_dir / names["file_3d"], out_dir / names["file_2d_gt"]
    h36m.write_h36m_3d(path_3d, positions_3d)
    h36m.write_h36m_2d(path_2d, positions_2d)
    return path_3d, path_2d


# --------------------------------------------------------------------------------------------
# MPI-INF-3DHP
# --------------------------------------------------------------------------------------------
def _cells(value: np.ndarray, where: str) -> list[np.ndarray]:
    """A MATLAB cell array as loaded by scipy ((C, 1) object array) -> list of C arrays."""
    if not isinstance(value, np.ndarray) or value.dtype != object:
        raise DataFormatError(
            f"{where}: expected a cell array (one matrix per camera), found {type(value).__name__}"
        )
    return [np.asarray(cell) for cell in value.reshape(-1)]


def _train_camera_arrays(annot: Mapping, key: str, channels: int, where: str) -> dict[str, np.ndarray]:
    cells = _cells(annot[key], f"{where} '{key}'")
    if len(cells) <= max(MPI_TRAIN_CAMERAS):
        raise DataFormatError(
            f"{where} '{key}': {len(cells)} cameras, expected at least {max(MPI_TRAIN_CAMERAS) + 1}"
        )
    out = {}
    for camera in MPI_TRAIN_CAMERAS:
        cell = cells[camera]
        if cell.ndim != 2 or cell.shape[1] != MPI_RAW_JOINTS * channels:
            raise DataFormatError(
                f"{where} '{key}' camera {camera}: shape {cell.shape}, "
                f"expected (N, {MPI_RAW_JOINTS * channels})"
            )
        joints = cell.reshape(-1, MPI_RAW_JOINTS, channels)  # (N, 28, C)
        out[str(camera)] = joints[:, list(MPI_28_TO_17)].astype(np.float32)
    return out


def read_3dhp_annot(path: str | Path, frames: int | None, fps: float) -> list:
    """One training ``annot.mat`` -> [{camera: {'data_2d', 'data_3d'}}, fps], truncated to ``frames``."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        annot = loadmat(path)
    except Exception as exc:  # scipy raises ValueError/TypeError/MatReadError on damaged files
        raise DataFormatError(f"{path}: cannot read MATLAB file: {type(exc).__name__}: {exc}") from exc
    missing = [key for key in ("annot2", "univ_annot3") if key not in annot]
    if missing:
        found = sorted(k for k in annot if not k.startswith("__"))
        raise DataFormatError(f"{path}: missing variables {missing}; found {found}")
    data_2d = _train_camera_arrays(annot, "annot2", 2, f"{path}")
    data_3d = _train_camera_arrays(annot, "univ_annot3", 3, f"{path}")
    cameras = {}
    for camera in data_2d:
        available = min(data_2d[camera].shape[0], data_3d[camera].shape[0])
        if frames is not None and available < frames:
            raise DataFormatError(
                f"{path} camera {camera}: {available} annotated frames, fewer than the {frames} "
                "frames of the sequence table (pass frame_table to override)"
            )
        keep = available if frames is None else frames
        cameras[camera] = {"data_2d": data_2d[camera][:keep], "data_3d": data_3d[camera][:keep]}
    return [cameras, fps]


def _frames_first(array: np.ndarray, frames: int, channels: int, where: str) -> np.ndarray:
    """HDF5 of a MATLAB C x 17 x 1 x N matrix reads (N, 1, 17, C); accept either order -> (N, 17, C)."""
    squeezed = np.squeeze(np.asarray(array))
    if squeezed.shape == (frames, NUM_JOINTS, channels):
        return squeezed
    if squeezed.shape == (channels, NUM_JOINTS, frames):
        return squeezed.transpose(2, 1, 0)
    raise DataFormatError(
        f"{where}: shape {np.shape(array)}, expected {frames} frames x {NUM_JOINTS} joints x {channels}"
    )


def read_3dhp_test_annot(path: str | Path) -> dict[str, np.ndarray]:
    """One test ``annot_data.mat`` (MATLAB v7.3 / HDF5) -> {'data_2d', 'data_3d', 'valid'}."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as mat:
            missing = [key for key in ("valid_frame", "annot2", "univ_annot3") if key not in mat]
            if missing:
                raise DataFormatError(f"{path}: missing variables {missing}; found {sorted(mat.keys())}")
            valid = np.asarray(mat["valid_frame"]).reshape(-1)
            annot2, annot3 = np.asarray(mat["annot2"]), np.asarray(mat["univ_annot3"])
    except OSError as exc:
        raise DataFormatError(f"{path}: not a readable MATLAB v7.3 (HDF5) file: {exc}") from exc
    frames = valid.shape[0]
    return {
        "data_2d": _frames_first(annot2, frames, 2, f"{path} 'annot2'").astype(np.float32),
        "data_3d": _frames_first(annot3, frames, 3, f"{path} 'univ_annot3'").astype(np.float32),
        "valid": valid != 0,
    }


def convert_3dhp_raw(
    root: str | Path,
    out_dir: str | Path,
    name: str = "3dhp",
    frame_table: Mapping[str, tuple[int | None, float]] | None = None,
) -> tuple[Path | None, Path | None]:
    """Raw MPI-INF-3DHP -> (data_train_<name>.npz, data_test_<name>.npz); None for a part not found.

    ``frame_table`` maps 'S<k> Seq<k>' -> (frames to keep or None for all, fps); default
    ``MPI_TRAIN_SEQUENCE_INFO``.
    """
    root, out_dir = Path(root), Path(out_dir)
    names = mpi3dhp_files(name)
    table = MPI_TRAIN_SEQUENCE_INFO if frame_table is None else frame_table
    train_files = sorted(
        root.glob("S*/Seq*/annot.mat"), key=lambda p: (_natural_key(p.parent.parent), _natural_key(p.parent))
    )
    test_files = sorted(root.glob("TS*/annot_data.mat"), key=lambda p: _natural_key(p.parent))
    if not train_files and not test_files:
        raise DataFormatError(f"{root}: found neither S*/Seq*/annot.mat nor TS*/annot_data.mat")

    train_path = test_path = None
    if train_files:
        train = {}
        for file in train_files:
            sequence = f"{file.parent.parent.name} {file.parent.name}"
            if sequence not in table:
                raise DataFormatError(f"{file}: sequence '{sequence}' not in the frame table {sorted(table)}")
            frames, fps = table[sequence]
            train[sequence] = read_3dhp_annot(file, frames, fps)
        train_path = out_dir / names["train"]
        mpi3dhp.write_3dhp_train(train_path, train)
    if test_files:
        test = {file.parent.name: read_3dhp_test_annot(file) for file in test_files}
        test_path = out_dir / names["test"]
        mpi3dhp.write_3dhp_test(test_path, test)
    return train_path, test_path
