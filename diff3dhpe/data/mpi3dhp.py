"""MPI-INF-3DHP files in the P-STMO layout (DATA.md §2).

- ``data_train_<name>3dhp.npz``, key ``data``: 'S{1..8} Seq{1,2}' -> [cameras, fps], cameras being
  {'0','1','2','4','5','6','7','8' -> {'data_2d': (N, 17, 2) px, 'data_3d': (N, 17, 3) mm}}.
- ``data_test_<name>3dhp.npz``, key ``data``: 'TS1'..'TS6' -> {'data_2d', 'data_3d', 'valid' (N,)}.

3D is ``univ_annot3`` in camera coordinates, millimetres. Readers return the same nesting as the
file (validated, float32; ``valid`` as bool), writers take it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diff3dhpe.data.h36m import check_pixels, validate_pose_array
from diff3dhpe.data.safe_pickle import load_npz, save_npz
from diff3dhpe.data.skeleton import NUM_JOINTS
from diff3dhpe.errors import DataFormatError

DATA_KEY = "data"
TRAIN_CAMERAS = ("0", "1", "2", "4", "5", "6", "7", "8")
TEST_SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
TRAIN_RESOLUTION = (2048, 2048)
# (w, h) of the test videos: TS5/TS6 were filmed outdoors with another camera.
TEST_RESOLUTION = {"TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
                   "TS5": (1920, 1080), "TS6": (1920, 1080)}

# {'0': {'data_2d': ..., 'data_3d': ...}, ...}
TrainCameras = dict[str, dict[str, np.ndarray]]
TrainData = dict[str, list]  # sequence -> [TrainCameras, fps]
TestData = dict[str, dict[str, np.ndarray]]


def resolution(sequence: str) -> tuple[int, int]:
    """(w, h) in pixels of a 3DHP sequence: 'S1 Seq1' (training) or 'TS1'..'TS6' (test)."""
    if sequence in TEST_RESOLUTION:
        return TEST_RESOLUTION[sequence]
    if sequence.startswith("S"):
        return TRAIN_RESOLUTION
    raise DataFormatError(
        f"unknown MPI-INF-3DHP sequence '{sequence}': expected 'S<k> Seq<k>' or one of {TEST_SEQUENCES}"
    )


def _check_pair(entry: Any, where: str) -> dict[str, np.ndarray]:
    """{'data_2d': (N, 17, 2), 'data_3d': (N, 17, 3)} with equal N."""
    if not isinstance(entry, Mapping) or not {"data_2d", "data_3d"} <= entry.keys():
        found = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
        raise DataFormatError(f"{where}: expected a dict with 'data_2d' and 'data_3d', found {found}")
    data_2d = validate_pose_array(entry["data_2d"], joints=NUM_JOINTS, channels=2, where=f"{where} data_2d")
    data_3d = validate_pose_array(entry["data_3d"], joints=NUM_JOINTS, channels=3, where=f"{where} data_3d")
    if data_2d.shape[0] != data_3d.shape[0]:
        raise DataFormatError(
            f"{where}: data_2d has {data_2d.shape[0]} frames but data_3d has {data_3d.shape[0]}"
        )
    check_pixels(data_2d, f"{where} data_2d")
    return {"data_2d": data_2d, "data_3d": data_3d}


def _check_train(data: Any, source: str) -> TrainData:
    if not isinstance(data, Mapping) or not data:
        raise DataFormatError(f"{source}: expected a non-empty dict 'S<k> Seq<k>' -> [cameras, fps]")
    checked: TrainData = {}
    for sequence, value in data.items():
        where = f"{source}, sequence '{sequence}'"
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not isinstance(value[0], Mapping):
            raise DataFormatError(f"{where}: expected [dict camera -> {{data_2d, data_3d}}, fps]")
        cameras, fps = value
        try:
            fps = float(fps)
        except (TypeError, ValueError):
            raise DataFormatError(f"{where}: fps must be a number, found {fps!r}") from None
        if not fps > 0:
            raise DataFormatError(f"{where}: fps must be positive, found {fps}")
        if not cameras:
            raise DataFormatError(f"{where}: no cameras")
        unknown = sorted(set(map(str, cameras)) - set(TRAIN_CAMERAS))
        if unknown:
            raise DataFormatError(f"{where}: unknown cameras {unknown}; expected keys among {TRAIN_CAMERAS}")
        checked[str(sequence)] = [
            {str(cam): _check_pair(entry, f"{where}, camera {cam}") for cam, entry in cameras.items()},
            fps,
        ]
    return checked


def _check_valid(valid: Any, frames: int, where: str) -> np.ndarray:
    valid = np.asarray(valid).reshape(-1)  # some tools store (N, 1)
    if valid.shape[0] != frames:
        raise DataFormatError(f"{where}: 'valid' has {valid.shape[0]} entries for {frames} frames")
    if valid.dtype != bool and not np.isin(valid, (0, 1)).all():
        raise DataFormatError(
            f"{where}: 'valid' must hold booleans or 0/1, found values {np.unique(valid)[:5]}"
        )
    if not valid.any():
        raise DataFormatError(f"{where}: no valid frames")
    return valid.astype(bool)


def _check_test(data: Any, source: str) -> TestData:
    if not isinstance(data, Mapping) or not data:
        raise DataFormatError(f"{source}: expected a non-empty dict 'TS<k>' -> {{data_2d, data_3d, valid}}")
    checked: TestData = {}
    for sequence, entry in data.items():
        where = f"{source}, sequence '{sequence}'"
        if sequence not in TEST_SEQUENCES:
            raise DataFormatError(f"{where}: unknown test sequence; expected one of {TEST_SEQUENCES}")
        pair = _check_pair(entry, where)
        if "valid" not in entry:
            raise DataFormatError(f"{where}: missing 'valid'; keys present: {sorted(entry)}")
        pair["valid"] = _check_valid(entry["valid"], pair["data_2d"].shape[0], where)
        checked[sequence] = pair
    return checked


def read_3dhp_train(path: str | Path) -> TrainData:
    """'S<k> Seq<k>' -> [{camera: {'data_2d': (N,17,2) px, 'data_3d': (N,17,3) mm}}, fps] (DATA.md §2).

    float32 or float64 arrays are accepted (returned as float32). Raises DataFormatError naming the
    file, sequence and camera of anything malformed, including 2D that is already normalised.
    """
    path = Path(path)
    return _check_train(load_npz(path, DATA_KEY), f"{path}")


def read_3dhp_test(path: str | Path) -> TestData:
    """'TS<k>' -> {'data_2d': (N,17,2) px, 'data_3d': (N,17,3) mm, 'valid': (N,) bool} (DATA.md §2).

    Raises DataFormatError naming the file and sequence of anything malformed (as the training reader).
    """
    path = Path(path)
    return _check_test(load_npz(path, DATA_KEY), f"{path}")


def write_3dhp_train(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write ``data_train_*3dhp.npz`` from 'S<k> Seq<k>' -> [cameras, fps] (the file's own nesting)."""
    checked = _check_train(data, f"{path} (writing)")
    save_npz(path, **{DATA_KEY: checked})


def write_3dhp_test(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write ``data_test_*3dhp.npz`` from 'TS<k>' -> {'data_2d', 'data_3d', 'valid'}."""
    checked = _check_test(data, f"{path} (writing)")
    save_npz(path, **{DATA_KEY: checked})
