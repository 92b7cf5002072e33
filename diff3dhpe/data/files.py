"""The names of the standard data files, written once: config, the generator, the raw converters and
``prepare`` all take them from here (DATA.md §1, §2, §3, §5).

- Human3.6M (VideoPose3D): ``data_3d_<name>.npz``, ``data_2d_<name>_<detector>.npz``,
  ``data_2d_<name>_gt.npz``; the release is name 'h36m', detector 'cpn_ft_h36m_dbb'.
- MPI-INF-3DHP (P-STMO): ``data_train_<name>.npz``, ``data_test_<name>.npz``; the release is name '3dhp'.
- The synthetic data set ``<name>``: the Human3.6M files under ``<name>`` with detector 'det', and the
  MPI-INF-3DHP files under ``<name>_3dhp``.

Every function returns a dict {role: file name}; the roles are the keys of params ``data.h36m`` and
``data.mpi3dhp``.
"""

from __future__ import annotations

import re

H36M_ROLES = ("file_3d", "file_2d_det", "file_2d_gt")
MPI3DHP_ROLES = ("train", "test")
ROLES = {"h36m": H36M_ROLES, "3dhp": MPI3DHP_ROLES}

_H36M_3D = re.compile(r"data_3d_(?P<name>.+)\.npz")
_MPI3DHP_TRAIN = re.compile(r"data_train_(?P<name>.+)\.npz")


def h36m_files(name: str, detector: str = "det") -> dict[str, str]:
    """{'file_3d': 'data_3d_<name>.npz', 'file_2d_det': 'data_2d_<name>_<detector>.npz',
    'file_2d_gt': 'data_2d_<name>_gt.npz'} (DATA.md §1, §3)."""
    return {
        "file_3d": f"data_3d_{name}.npz",
        "file_2d_det": f"data_2d_{name}_{detector}.npz",
        "file_2d_gt": f"data_2d_{name}_gt.npz",
    }


def mpi3dhp_files(name: str) -> dict[str, str]:
    """{'train': 'data_train_<name>.npz', 'test': 'data_test_<name>.npz'} (DATA.md §2)."""
    return {"train": f"data_train_{name}.npz", "test": f"data_test_{name}.npz"}


def synthetic_files(name: str) -> dict[str, dict[str, str]]:
    """The generator's files for data set ``name``: {'h36m': {role: file}, '3dhp': {role: file}}
    (DATA.md §3)."""
    return {"h36m": h36m_files(name), "3dhp": mpi3dhp_files(f"{name}_3dhp")}


def h36m_name(file_3d: str) -> str:
    """'data_3d_<name>.npz' -> '<name>', the inverse of ``h36m_files``. ValueError otherwise."""
    return _name_in(file_3d, _H36M_3D, "data_3d_<name>.npz")


def mpi3dhp_name(train_file: str) -> str:
    """'data_train_<name>.npz' -> '<name>', the inverse of ``mpi3dhp_files``. ValueError otherwise."""
    return _name_in(train_file, _MPI3DHP_TRAIN, "data_train_<name>.npz")


def _name_in(file_name: str, pattern: re.Pattern, expected: str) -> str:
    match = pattern.fullmatch(file_name)
    if match is None:
        raise ValueError(f"file name {file_name!r} does not follow the pattern {expected!r}")
    return match["name"]


# The release names (DATA.md §1, §2): the default file names of params data.h36m / data.mpi3dhp.
H36M_RELEASE_FILES = h36m_files("h36m", detector="cpn_ft_h36m_dbb")
MPI3DHP_RELEASE_FILES = mpi3dhp_files("3dhp")
