"""The release's normalisation constant: what official weights must be decoded with (METHOD.md §8a).

The official code bases divide root-relative camera-frame 3D poses by one scalar s, computed from
the data files every run and stored nowhere:

- Human3.6M: s = max |coordinate| over ALL subjects of ``data_3d_h36m.npz`` (test subjects
  included), all 32 joints, each subject's four cameras (world -> camera with the extrinsics of
  ``diff3dhpe.data.camera``), pelvis (joint 0) subtracted, in METRES;
- MPI-INF-3DHP: s = max |coordinate| over every sequence (every camera, every frame) of BOTH
  ``data_train_3dhp.npz`` and ``data_test_3dhp.npz``, the 17 joints as stored, pelvis (joint 14)
  subtracted, in MILLIMETRES.

A normalised prediction p of an official model therefore decodes to millimetres as
``p · s · 1000`` (Human3.6M, s in metres) or ``p · s`` (3DHP, s in mm); ``release_scale_mm``
gives that factor, the value our pipeline uses in place of its own ``PoseDataset.scale()``
(training subjects only, 17 joints, mm), which is the right decoder for our models only.

The release computes in float32; these functions compute in float64, so values agree to float32
rounding (about 1e-7 relative).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diff3dhpe.data import h36m, mpi3dhp
from diff3dhpe.data.camera import H36M_CAMERA_IDS, H36M_CAMERAS, world_to_camera
from diff3dhpe.data.skeleton import MPI_INF_3DHP
from diff3dhpe.errors import DataFormatError

H36M_RELEASE_ROOT = 0  # pelvis in the 32-joint layout of data_3d_h36m.npz
# the unit s is expressed in, and its size in millimetres
RELEASE_SCALE_UNIT = {"h36m": "m", "3dhp": "mm"}
RELEASE_UNIT_MM = {"h36m": 1000.0, "3dhp": 1.0}


def _max_abs_root_relative(poses: np.ndarray, root: int) -> float:
    """max |X - X[:, root]| of (N, J, 3) poses, in their own unit (float64)."""
    poses = np.asarray(poses, dtype=np.float64)
    return float(np.abs(poses - poses[:, root : root + 1]).max())


def release_scale_h36m(path_3d: str | Path) -> float:
    """The release constant s of Human3.6M, in METRES (the unit the release divides by).

    ``path_3d``: ``data_3d_h36m.npz`` (key ``positions_3d``: subject -> action -> (N, 32, 3) world
    metres, DATA.md §1). Every subject and action in the file counts, seen through each of the
    subject's 4 cameras: ``max |X_cam - X_cam[:, 0]|`` over frames, all 32 joints and x, y, z.
    Subjects without actions are skipped. Decode a normalised prediction p with
    ``p * release_scale_mm("h36m", s)`` = p · s · 1000 mm. Source: METHOD.md §8a, DATA.md §1.

    Raises DataFormatError: unreadable or malformed file (see ``h36m.read_h36m_3d``); a subject
    with poses but no camera extrinsics in ``diff3dhpe.data.camera``; no frames at all.
    """
    positions = h36m.read_h36m_3d(path_3d)
    scale = None
    for subject, actions in positions.items():
        if not actions:
            continue
        if subject not in H36M_CAMERAS:
            raise DataFormatError(
                f"{path_3d}, subject {subject}: has {len(actions)} actions but no Human3.6M camera "
                f"extrinsics (known subjects: {sorted(H36M_CAMERAS)}); the release constant is taken in "
                f"every subject's camera frames, so remove the subject from the file or add its cameras"
            )
        for world in actions.values():  # (N, 32, 3) metres
            for index in range(len(H36M_CAMERA_IDS)):
                camera = H36M_CAMERAS[subject][index]
                cam = world_to_camera(world.astype(np.float64), camera.orientation, camera.translation_m)
                value = _max_abs_root_relative(cam, H36M_RELEASE_ROOT)
                scale = value if scale is None else max(scale, value)
    if scale is None:
        raise DataFormatError(f"{path_3d}: no poses in any subject; cannot compute the release constant")
    return scale


def release_scale_3dhp(train_path: str | Path, test_path: str | Path) -> float:
    """The release constant s of MPI-INF-3DHP, in MILLIMETRES (the unit the release divides by).

    ``train_path`` / ``test_path``: ``data_train_3dhp.npz`` / ``data_test_3dhp.npz`` (key ``data``,
    DATA.md §2; 3D ``univ_annot3`` camera coordinates in mm, 17 joints, pelvis = joint 14). Every
    training sequence and camera and every test sequence (all frames, valid or not) counts:
    ``max |X - X[:, 14]|`` over frames, the 17 joints and x, y, z. Decode a normalised prediction p
    with ``p * release_scale_mm("3dhp", s)`` = p · s mm. Source: METHOD.md §8a, DATA.md §2.

    Raises DataFormatError: unreadable or malformed files (see ``mpi3dhp.read_3dhp_train`` /
    ``read_3dhp_test``).
    """
    root = MPI_INF_3DHP.root
    train = mpi3dhp.read_3dhp_train(train_path)
    test = mpi3dhp.read_3dhp_test(test_path)
    values = [
        _max_abs_root_relative(entry["data_3d"], root)
        for cameras, _fps in train.values()
        for entry in cameras.values()
    ]
    values += [_max_abs_root_relative(entry["data_3d"], root) for entry in test.values()]
    return max(values)


def release_scale_mm(dataset: str, scale: float) -> float:
    """The release constant in millimetres: the factor that decodes a normalised prediction to mm.

    ``dataset``: 'h36m' (``scale`` in metres, as ``release_scale_h36m`` returns it: s · 1000) or
    '3dhp' (``scale`` in mm: s). Use it where our pipeline uses ``PoseDataset.scale()``.

    Raises ValueError: unknown dataset or a scale that is not a positive finite number.
    """
    if dataset not in RELEASE_UNIT_MM:
        known = sorted(RELEASE_UNIT_MM)
        raise ValueError(f"release_scale_mm: dataset must be one of {known}, got {dataset!r}")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"release_scale_mm: scale must be a positive finite number, got {scale!r}")
    return float(scale) * RELEASE_UNIT_MM[dataset]
