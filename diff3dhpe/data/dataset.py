"""The in-memory dataset every stage trains and evaluates on (docs/architecture.md).

Files store world metres (Human3.6M) or camera millimetres (3DHP) and pixels; here everything is
turned into the library's units once: 3D root-relative camera coordinates in millimetres, 2D
normalised screen coordinates, float32, one ``PoseSequence`` per (subject, action, camera).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diff3dhpe.data import h36m, mpi3dhp
from diff3dhpe.data.camera import h36m_camera, normalize_screen_coordinates, world_to_camera
from diff3dhpe.data.skeleton import H36M, H36M_32_TO_17, MPI_INF_3DHP, NUM_JOINTS, JointLayout
from diff3dhpe.errors import DataFormatError, ShapeError


@dataclass
class PoseSequence:
    """One continuous recording seen by one camera.

    Human3.6M: subject 'S9', action 'Walking 1', camera '0'..'3' (index into the 2D file's list).
    3DHP training: subject 'S1', action 'Seq1', camera '0'..'8'; test: subject = action = 'TS1', camera ''.
    """

    subject: str
    action: str
    camera: str
    keypoints_2d: np.ndarray  # (N, 17, 2) float32, normalised screen coords
    poses_3d: np.ndarray  # (N, 17, 3) float32, mm, root-relative camera coords
    valid: np.ndarray | None = None  # (N,) bool; frames that are scored / used; None -> all

    def __post_init__(self) -> None:
        frames = self.keypoints_2d.shape[0]
        if self.keypoints_2d.shape[1:] != (NUM_JOINTS, 2) or self.poses_3d.shape != (frames, NUM_JOINTS, 3):
            raise ShapeError(
                f"{self.name}: expected keypoints_2d (N, {NUM_JOINTS}, 2) and poses_3d (N, {NUM_JOINTS}, 3), "
                f"got {self.keypoints_2d.shape} and {self.poses_3d.shape}"
            )
        self.valid = np.ones(frames, dtype=bool) if self.valid is None else np.asarray(self.valid, dtype=bool)
        if self.valid.shape != (frames,):
            raise ShapeError(f"{self.name}: valid must have shape ({frames},), got {self.valid.shape}")

    @property
    def name(self) -> str:
        return " / ".join(part for part in (self.subject, self.action, self.camera) if part)

    def __len__(self) -> int:
        return self.keypoints_2d.shape[0]


@dataclass
class PoseDataset:
    layout: JointLayout
    train: list[PoseSequence]
    validation: list[PoseSequence]
    test: list[PoseSequence]

    def scale(self) -> float:
        """Max |coordinate| (mm) over train + validation 3D: the normaliser of the 3D targets."""
        sequences = self.train + self.validation
        if not sequences:
            raise DataFormatError("cannot compute the 3D scale: no train or validation sequences")
        return float(max(np.abs(seq.poses_3d).max() for seq in sequences))

    def summary(self) -> dict[str, dict[str, object]]:
        """Counts per split, for logs: sequences, frames, valid frames, subjects."""
        return {
            split: {
                "sequences": len(sequences),
                "frames": int(sum(len(seq) for seq in sequences)),
                "valid_frames": int(sum(seq.valid.sum() for seq in sequences)),
                "subjects": sorted({seq.subject for seq in sequences}),
            }
            for split, sequences in self.splits().items()
        }

    def splits(self) -> dict[str, list[PoseSequence]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def _root_relative_mm(poses: np.ndarray, root: int, to_mm: float) -> np.ndarray:
    """(N, 17, 3) in any unit -> float32 mm with the root joint exactly 0 (subtracted in float64)."""
    poses = np.asarray(poses, dtype=np.float64) * to_mm
    return (poses - poses[:, root : root + 1]).astype(np.float32)


def _check_splits(train: Sequence[str], validation: Sequence[str], test: Sequence[str]) -> None:
    leaked = set(train) & (set(validation) | set(test))
    if leaked:
        raise DataFormatError(f"subjects {sorted(leaked)} are in the training split and in validation/test")


def load_h36m(
    path_3d: str | Path,
    path_2d: str | Path,
    train_subjects: Sequence[str] | None,
    validation_subjects: Sequence[str] | None,
    test_subjects: Sequence[str] | None,
    *,
    max_frames: int | None = None,
    actions: Iterable[str] | None = None,
) -> PoseDataset:
    """Human3.6M (VideoPose3D files) -> PoseDataset; one sequence per (subject, action, camera).

    ``actions`` keeps only those action groups (e.g. {'Walking'}); ``max_frames`` truncates every
    sequence (quick runs). 3D: 32 -> 17 joints, world -> camera, root-relative, metres -> mm.
    An empty (or None) split gives an empty list, e.g. ``validation_subjects=[]`` when training on
    all five training subjects (the paper's protocol). Subjects the splits do not name are never
    read further, so an extra subject with no actions is fine; float64 files are fine.

    Raises DataFormatError (DATA.md §1): a subject in two splits; a named subject missing from the
    3D file or present without any action; any 2D/3D format error of ``h36m.read_h36m_2d`` /
    ``read_h36m_3d`` (including 2D that is already normalised instead of pixels).
    """
    train_subjects, validation_subjects, test_subjects = (
        list(subjects or ()) for subjects in (train_subjects, validation_subjects, test_subjects)
    )
    _check_splits(train_subjects, validation_subjects, test_subjects)
    positions_3d = h36m.read_h36m_3d(path_3d)
    wanted = [*train_subjects, *validation_subjects, *test_subjects]
    missing = [subject for subject in wanted if subject not in positions_3d]
    if missing:
        raise DataFormatError(f"{path_3d}: subjects {missing} not found; present: {sorted(positions_3d)}")
    for split, subjects in (("train", train_subjects), ("validation", validation_subjects),
                            ("test", test_subjects)):
        empty = [subject for subject in subjects if not positions_3d[subject]]
        if empty:
            raise DataFormatError(
                f"{path_3d}: subjects {empty} are in the {split} split but have no actions in the file; "
                f"remove them from data.subjects.{split} or add their poses"
            )
    positions_3d = {subject: positions_3d[subject] for subject in dict.fromkeys(wanted)}
    if actions is not None:
        groups = set(actions)
        positions_3d = {
            subject: {name: arr for name, arr in seqs.items() if name.split(" ")[0] in groups}
            for subject, seqs in positions_3d.items()
        }
    positions_2d, _ = h36m.read_h36m_2d(path_2d, positions_3d)

    def sequences(subjects: Sequence[str]) -> list[PoseSequence]:
        out = []
        for subject in subjects:
            for action, world_m in positions_3d[subject].items():  # (N, 32, 3) metres
                world_m = world_m[:max_frames, list(H36M_32_TO_17)].astype(np.float64)  # (N, 17, 3)
                for index, pixels in enumerate(positions_2d[subject][action]):
                    try:
                        camera = h36m_camera(subject, index)
                    except KeyError as exc:
                        raise DataFormatError(f"{path_3d}: {exc.args[0]}") from None
                    cam_m = world_to_camera(world_m, camera.orientation, camera.translation_m)
                    keypoints = normalize_screen_coordinates(pixels[:max_frames].astype(np.float64),
                                                             camera.res_w, camera.res_h)
                    out.append(PoseSequence(
                        subject=subject, action=action, camera=str(index),
                        keypoints_2d=keypoints.astype(np.float32),
                        poses_3d=_root_relative_mm(cam_m, H36M.root, 1000.0),
                    ))
        return out

    train, validation = sequences(train_subjects), sequences(validation_subjects)
    return PoseDataset(H36M, train, validation, sequences(test_subjects))


def _matches(sequence: str, selectors: set[str]) -> bool:
    """'S8 Seq1' is selected by 'S8' (whole subject) or by 'S8 Seq1'."""
    return sequence in selectors or sequence.split(" ")[0] in selectors


def load_3dhp(
    train_path: str | Path,
    test_path: str | Path,
    validation_subjects: Sequence[str] | None = (),
    *,
    max_frames: int | None = None,
) -> PoseDataset:
    """MPI-INF-3DHP (P-STMO files) -> PoseDataset.

    Training: one sequence per ('S<k> Seq<k>', camera), all frames valid; ``validation_subjects``
    ('S8' or 'S8 Seq2') moves sequences from train to validation; empty (or None) leaves the
    validation list empty. Test: TS1..TS6 with the file's valid mask. Root = pelvis (joint 14); 2D
    normalised with each sequence's resolution.

    Raises DataFormatError (DATA.md §2): unknown validation selectors; any format error of
    ``mpi3dhp.read_3dhp_train`` / ``read_3dhp_test`` (including 2D that is already normalised).
    """
    validation_subjects = list(validation_subjects or ())
    train_data = mpi3dhp.read_3dhp_train(train_path)
    test_data = mpi3dhp.read_3dhp_test(test_path)
    selectors = set(validation_subjects)
    unknown = [s for s in selectors if not any(_matches(seq, {s}) for seq in train_data)]
    if unknown:
        raise DataFormatError(
            f"{train_path}: validation subjects {unknown} not found; sequences present: {sorted(train_data)}"
        )

    def make(subject: str, action: str, camera: str, entry: dict, width: int, height: int) -> PoseSequence:
        valid = entry.get("valid")
        return PoseSequence(
            subject=subject, action=action, camera=camera,
            keypoints_2d=normalize_screen_coordinates(
                entry["data_2d"][:max_frames].astype(np.float64), width, height
            ).astype(np.float32),
            poses_3d=_root_relative_mm(entry["data_3d"][:max_frames], MPI_INF_3DHP.root, 1.0),
            valid=None if valid is None else valid[:max_frames],
        )

    train, validation = [], []
    for sequence, (cameras, _fps) in train_data.items():
        subject, _, action = sequence.partition(" ")
        width, height = mpi3dhp.resolution(sequence)
        split = validation if _matches(sequence, selectors) else train
        split.extend(make(subject, action, camera, entry, width, height) for camera, entry in cameras.items())
    test = [
        make(sequence, sequence, "", entry, *mpi3dhp.resolution(sequence))
        for sequence, entry in test_data.items()
    ]
    return PoseDataset(MPI_INF_3DHP, train, validation, test)
