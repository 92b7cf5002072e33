"""Human3.6M files in the VideoPose3D layout (DATA.md §1).

- ``data_3d_<name>.npz``, key ``positions_3d``: subject -> action -> float32 (N, 32, 3), world metres.
- ``data_2d_<name>_<kind>.npz``, key ``positions_2d``: subject -> action -> list of 4 float32
  (N, 17, 2) pixel arrays (one per camera), and key ``metadata``.

Readers validate everything a later stage relies on and fail with the file, subject, action and
camera that are wrong. Writers produce exactly the layout the readers (and peer code bases) expect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diff3dhpe.data.safe_pickle import load_npz, load_npz_keys, save_npz
from diff3dhpe.data.skeleton import H36M, NUM_JOINTS
from diff3dhpe.errors import DataFormatError

NUM_RAW_JOINTS = 32
NUM_CAMERAS = 4
POSITIONS_3D_KEY = "positions_3d"
POSITIONS_2D_KEY = "positions_2d"
METADATA_KEY = "metadata"
# What VideoPose3D's 17-joint 2D files carry; the symmetry must match skeleton.H36M for flipping.
DEFAULT_2D_METADATA = {
    "num_joints": NUM_JOINTS,
    "keypoints_symmetry": [list(H36M.joints_left), list(H36M.joints_right)],
}

Positions3D = dict[str, dict[str, np.ndarray]]
Positions2D = dict[str, dict[str, list[np.ndarray]]]


def validate_pose_array(array: Any, *, joints: int, channels: int, where: str) -> np.ndarray:
    """Check one (N, joints, channels) float array with no NaN/inf; return it as float32."""
    if not isinstance(array, np.ndarray):
        raise DataFormatError(f"{where}: expected a numpy array, found {type(array).__name__}")
    if array.ndim != 3 or array.shape[1:] != (joints, channels):
        raise DataFormatError(
            f"{where}: expected shape (N, {joints}, {channels}), found {array.shape}"
            + (f" ({array.shape[1]} joints)" if array.ndim == 3 else "")
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise DataFormatError(f"{where}: expected a float array, found dtype {array.dtype}")
    if array.shape[0] == 0:
        raise DataFormatError(f"{where}: sequence has no frames")
    finite = np.isfinite(array)
    if not finite.all():
        frames = np.unique(np.nonzero(~finite)[0])
        raise DataFormatError(
            f"{where}: {int((~finite).sum())} NaN/inf values in {frames.size} frames "
            f"(first frame {frames[0]})"
        )
    return array.astype(np.float32, copy=False)


def check_pixels(array: np.ndarray, where: str) -> None:
    """Refuse 2D keypoints that are already normalised: the files store pixels (DATA.md §1, §2).

    ``array``: (N, J, 2). A real pixel sequence reaches far beyond 1 px, so a sequence whose every
    value lies in [-1, 1] was normalised (or zeroed) before it was written.
    Raises DataFormatError naming ``where`` (file, subject, action, camera).
    """
    largest = float(np.abs(array).max())
    if largest <= 1.0:
        raise DataFormatError(
            f"{where}: every 2D value lies in [-1, 1] (largest |value| {largest:.3g}), so the keypoints "
            f"look already normalised, expected pixels; store image coordinates in pixels (e.g. 0..1000 "
            f"for Human3.6M), the library normalises them with each camera's resolution"
        )


def _load_dict(path: Path, key: str) -> dict:
    value = load_npz(path, key)
    if not isinstance(value, dict):
        raise DataFormatError(f"{path} [key '{key}']: expected a pickled dict, found {type(value).__name__}")
    return value


def _check_positions_3d(positions: Any, source: str) -> Positions3D:
    if not isinstance(positions, Mapping) or not positions:
        raise DataFormatError(f"{source}: expected a non-empty dict subject -> action -> (N, 32, 3) array")
    checked: Positions3D = {}
    for subject, actions in positions.items():
        # a subject without actions is valid (e.g. an extra subject kept as a placeholder); only a
        # subject that a split asks for must have poses (dataset.load_h36m checks that)
        if not isinstance(actions, Mapping):
            raise DataFormatError(
                f"{source}, subject {subject}: expected a dict action -> (N, 32, 3) array, "
                f"found {type(actions).__name__}"
            )
        checked[str(subject)] = {
            str(action): validate_pose_array(
                array, joints=NUM_RAW_JOINTS, channels=3,
                where=f"{source}, subject {subject}, action '{action}'",
            )
            for action, array in actions.items()
        }
    return checked


def _check_cameras(views: Any, where: str) -> list[np.ndarray]:
    if not isinstance(views, (list, tuple)) or len(views) != NUM_CAMERAS:
        found = len(views) if isinstance(views, (list, tuple)) else type(views).__name__
        raise DataFormatError(f"{where}: expected a list of {NUM_CAMERAS} camera arrays, found {found}")
    checked = []
    for camera, view in enumerate(views):
        view = validate_pose_array(view, joints=NUM_JOINTS, channels=2, where=f"{where}, camera {camera}")
        check_pixels(view, f"{where}, camera {camera}")
        checked.append(view)
    return checked


def _check_metadata(metadata: Any, source: str) -> dict:
    if not isinstance(metadata, Mapping):
        raise DataFormatError(f"{source}: metadata must be a dict, found {type(metadata).__name__}")
    if "num_joints" in metadata and metadata["num_joints"] != NUM_JOINTS:
        raise DataFormatError(
            f"{source}: metadata num_joints = {metadata['num_joints']}, expected {NUM_JOINTS}"
        )
    symmetry = metadata.get("keypoints_symmetry")
    if symmetry is not None:
        expected = DEFAULT_2D_METADATA["keypoints_symmetry"]
        if [list(map(int, side)) for side in symmetry] != expected:
            raise DataFormatError(
                f"{source}: keypoints_symmetry {symmetry} differs from the Human3.6M 17-joint order "
                f"{expected}; the joints are in another layout"
            )
    return dict(metadata)


def read_h36m_3d(path: str | Path) -> Positions3D:
    """subject -> action -> float32 (N, 32, 3) world positions in metres (DATA.md §1).

    float32 or float64 arrays are accepted (returned as float32); a subject may have no actions.
    Raises DataFormatError naming the file, subject and action of anything malformed.
    """
    path = Path(path)
    return _check_positions_3d(_load_dict(path, POSITIONS_3D_KEY), f"{path}")


def read_h36m_2d(path: str | Path, positions_3d: Positions3D | None = None) -> tuple[Positions2D, dict]:
    """Read 2D keypoints: (subject -> action -> 4 float32 (N, 17, 2) pixel arrays, metadata).

    With ``positions_3d``, the result is aligned to it: subjects/actions without 3D (e.g. S2-S4 in
    the CPN file) are dropped, each camera is truncated to the 3D length, and a 3D sequence without
    2D is an error. A subject without 3D actions needs no 2D.

    Raises DataFormatError (file, subject, action, camera): malformed arrays, NaN/inf, fewer 2D
    than 3D frames, or a view whose values all lie in [-1, 1] (already normalised, not pixels).
    """
    path = Path(path)
    raw = _load_dict(path, POSITIONS_2D_KEY)
    if METADATA_KEY in load_npz_keys(path):
        metadata = _check_metadata(load_npz(path, METADATA_KEY), f"{path}")
    else:  # home-made files sometimes omit it; the layout is then the standard one
        metadata = dict(DEFAULT_2D_METADATA)
    if positions_3d is None:
        wanted = {subject: list(actions) for subject, actions in raw.items()}
    else:
        wanted = {subject: list(actions) for subject, actions in positions_3d.items()}

    positions: Positions2D = {}
    for subject, actions in wanted.items():
        if not actions and positions_3d is not None:
            positions[subject] = {}  # no 3D poses: nothing to align, the 2D file need not have it
            continue
        if subject not in raw:
            raise DataFormatError(
                f"{path}: subject {subject} has 3D poses but no 2D keypoints; subjects present: {sorted(raw)}"
            )
        if not isinstance(raw[subject], Mapping):
            raise DataFormatError(f"{path}, subject {subject}: expected a dict action -> list of 4 arrays")
        positions[subject] = {}
        for action in actions:
            where = f"{path}, subject {subject}, action '{action}'"
            if action not in raw[subject]:
                raise DataFormatError(
                    f"{where}: 3D poses exist but no 2D keypoints; actions present: {sorted(raw[subject])}"
                )
            views = _check_cameras(raw[subject][action], where)
            if positions_3d is not None:
                length = positions_3d[subject][action].shape[0]
                for camera, view in enumerate(views):
                    if view.shape[0] < length:
                        raise DataFormatError(
                            f"{where}, camera {camera}: {view.shape[0]} 2D frames, fewer than the "
                            f"{length} 3D frames"
                        )
                views = [view[:length] for view in views]
            positions[subject][action] = views
    return positions, metadata


def write_h36m_3d(path: str | Path, positions: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write ``data_3d_*.npz``: subject -> action -> (N, 32, 3) world metres, stored as float32."""
    checked = _check_positions_3d(positions, f"{path} (writing)")
    save_npz(path, **{POSITIONS_3D_KEY: checked})


def write_h36m_2d(
    path: str | Path,
    positions: Mapping[str, Mapping[str, Sequence[np.ndarray]]],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write ``data_2d_*.npz``: subject -> action -> list of 4 (N, 17, 2) pixel arrays + metadata."""
    source = f"{path} (writing)"
    checked: Positions2D = {}
    for subject, actions in positions.items():
        checked[str(subject)] = {
            str(action): _check_cameras(views, f"{source}, subject {subject}, action '{action}'")
            for action, views in actions.items()
        }
    if not checked:
        raise DataFormatError(f"{source}: no subjects to write")
    meta = _check_metadata(DEFAULT_2D_METADATA if metadata is None else metadata, source)
    save_npz(path, **{POSITIONS_2D_KEY: checked, METADATA_KEY: meta})
