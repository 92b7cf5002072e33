"""Reference 2D→3D lifters without a network: the floor every trained model has to beat.

- mean pose: always predict the mean root-relative training pose (it ignores the 2D entirely);
- linear lifter: a ridge-regularised least-squares linear map from the root-relative 2D of an F-frame
  window (centred on the frame, edge-clamped) to the root-relative 3D of that frame.

Every function takes sequences of pairs ``(x2d, y3d)``: x2d (N, J, 2) normalised screen coordinates
(``normalize_screen_coordinates``), y3d (N, J, 3) millimetres in camera coordinates. Both are made
relative to joint 0 (the root) here, so any root offset is fine. ``train`` and ``test`` are any
iterables of such pairs (one item per sequence and camera). Results are MPJPE in mm, the mean over
every joint and frame of ``test`` (DATA.md §4, Protocol #1).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from diff3dhpe.data.camera import H36M_CAMERAS, normalize_screen_coordinates, world_to_camera
from diff3dhpe.data.skeleton import H36M_32_TO_17, H36M_TRAIN_SUBJECTS
from diff3dhpe.errors import ShapeError

Pair = tuple[np.ndarray, np.ndarray]  # (x2d (N, J, 2) normalised, y3d (N, J, 3) mm)

# The normal equations are accumulated over chunks of at least this many frames: a few large matrix
# products instead of one per sequence, without holding every feature row in memory at once.
_CHUNK_FRAMES = 16384


def _checked_pair(x2d, y3d) -> Pair:
    """x2d as float64 (N, J, 2), y3d as given (N, J, 3); ShapeError naming the mismatch."""
    x2d, y3d = np.asarray(x2d, dtype=np.float64), np.asarray(y3d)
    if x2d.ndim != 3 or x2d.shape[-1] != 2:
        raise ShapeError(f"2D input must be (N, J, 2) normalised coordinates, got {x2d.shape}")
    if y3d.shape != (*x2d.shape[:2], 3):
        raise ShapeError(f"3D target must be (N, J, 3) = {(*x2d.shape[:2], 3)} mm to match the 2D, "
                         f"got {y3d.shape}")
    return x2d, y3d


def window_frames(x: np.ndarray, window: int) -> np.ndarray:
    """(N, D) → (N, window·D): each frame with its ``window`` neighbours (centred), edge-clamped."""
    n = x.shape[0]
    idx = np.clip(np.arange(n)[:, None] + np.arange(window)[None] - window // 2, 0, n - 1)
    return x[idx].reshape(n, -1)


def _features(x2d: np.ndarray, window: int) -> np.ndarray:
    """(N, J, 2) → (N, window·J·2 + 1): the root-relative 2D window and a constant 1 (the bias)."""
    rel = (x2d - x2d[:, :1]).reshape(len(x2d), -1)
    return np.concatenate([window_frames(rel, window), np.ones((len(x2d), 1))], axis=1)


@dataclass(frozen=True)
class LinearLifter:
    """A fitted linear lifter: root-relative 3D = [2D window, 1] @ weights."""

    weights: np.ndarray  # (window·J·2 + 1, J·3)
    window: int

    @property
    def num_joints(self) -> int:
        return self.weights.shape[1] // 3

    def predict(self, x2d: np.ndarray) -> np.ndarray:
        """(N, J, 2) normalised 2D → (N, J, 3) mm, root-relative. ShapeError for another joint count."""
        x2d = np.asarray(x2d, dtype=np.float64)
        if x2d.ndim != 3 or x2d.shape[1:] != (self.num_joints, 2):
            raise ShapeError(f"2D input must be (N, {self.num_joints}, 2) normalised coordinates, "
                             f"got {x2d.shape}")
        return (_features(x2d, self.window) @ self.weights).reshape(len(x2d), self.num_joints, 3)


def fit_linear_lifter(train: Iterable[Pair], window: int = 1, ridge: float = 1e-4,
                      train_stride: int = 1) -> LinearLifter:
    """Least squares from ``window`` frames of 2D to the 3D of the centre frame, fitted on ``train``.

    Ridge regularisation adds ``ridge`` × (mean diagonal of XᵀX) to the diagonal (the root's own 2D
    is always 0 after centring, so some regularisation is needed). ``train_stride`` fits on every
    k-th frame only (neighbouring frames are near duplicates). Raises ValueError without training
    frames or for a window / stride below 1 or a negative ridge, ShapeError for mismatched arrays.
    """
    if window < 1 or train_stride < 1 or ridge < 0:
        raise ValueError(f"need window >= 1, train_stride >= 1 and ridge >= 0, got window={window}, "
                         f"train_stride={train_stride}, ridge={ridge}")
    gram, cross, chunk_x, chunk_y = 0.0, 0.0, [], []

    def accumulate():
        nonlocal gram, cross
        X, Y = np.concatenate(chunk_x), np.concatenate(chunk_y)
        gram, cross = gram + X.T @ X, cross + X.T @ Y
        chunk_x.clear(), chunk_y.clear()

    joints = None
    for x2d, y3d in train:
        x2d, y3d = _checked_pair(x2d, y3d)
        if joints is not None and x2d.shape[1] != joints:
            raise ShapeError(f"training sequences have {joints} and {x2d.shape[1]} joints; one count only")
        joints = x2d.shape[1]
        chunk_x.append(_features(x2d, window)[::train_stride])
        chunk_y.append((y3d - y3d[:, :1]).reshape(len(y3d), -1).astype(np.float64)[::train_stride])
        if sum(len(c) for c in chunk_x) >= _CHUNK_FRAMES:
            accumulate()
    if chunk_x:
        accumulate()
    if np.ndim(gram) == 0:
        raise ValueError("the linear lifter needs at least one training sequence")
    gram += ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
    return LinearLifter(weights=np.linalg.solve(gram, cross), window=window)


def linear_lifter_mpjpe(train: Iterable[Pair], test: Iterable[Pair], window: int = 1, ridge: float = 1e-4,
                        train_stride: int = 1) -> float:
    """MPJPE (mm) on ``test`` of the linear lifter fitted on ``train`` (see ``fit_linear_lifter``).

    A high error means 3D cannot be read off 2D by a linear map: the depth ambiguity is real.
    Raises ValueError without training or test frames, ShapeError for mismatched arrays.
    """
    lifter = fit_linear_lifter(train, window=window, ridge=ridge, train_stride=train_stride)
    total, count = 0.0, 0
    for x2d, y3d in test:
        x2d, y3d = _checked_pair(x2d, y3d)
        err = np.linalg.norm(lifter.predict(x2d) - (y3d - y3d[:, :1]), axis=-1)
        total, count = total + err.sum(), count + err.size
    if count == 0:
        raise ValueError("linear_lifter_mpjpe needs at least one test frame")
    return float(total / count)


def fit_mean_pose(train: Iterable[Pair]) -> np.ndarray:
    """(J, 3) mm: the mean root-relative 3D pose over every training frame. ValueError without frames."""
    poses = [y - y[:, :1] for _, y in (_checked_pair(x, y) for x, y in train)]
    if not poses:
        raise ValueError("the mean-pose baseline needs at least one training sequence")
    return np.concatenate(poses).mean(0)


def mean_pose_mpjpe(train: Iterable[Pair], test: Iterable[Pair]) -> float:
    """MPJPE (mm) on ``test`` of always predicting the mean training pose: the no-information baseline.

    Raises ValueError without training or test frames, ShapeError for mismatched arrays.
    """
    mean = fit_mean_pose(train)
    errors = [np.linalg.norm(y - y[:, :1] - mean, axis=-1).ravel()
              for _, y in (_checked_pair(x, y) for x, y in test)]
    if not errors:
        raise ValueError("mean_pose_mpjpe needs at least one test sequence")
    return float(np.concatenate(errors).mean())


# ---------------------------------------------------------------------------------------------
# On Human3.6M-layout dictionaries (the generator's detector check)
# ---------------------------------------------------------------------------------------------
def h36m_camera_sequences(positions_3d: Mapping, positions_2d: Mapping, subjects: Sequence[str]
                          ) -> Iterator[Pair]:
    """One (normalised 2D (N, 17, 2), camera coordinates (N, 17, 3) mm) pair per sequence and camera.

    ``positions_3d``: subject → action → (N, 32, 3) world metres; ``positions_2d``: subject → action →
    4 camera views (N, 17, 2) px, in the order of ``H36M_CAMERAS`` (DATA.md §1). Lazy: a generator.
    """
    for subject in subjects:
        for action, world32 in positions_3d[subject].items():
            world = world32[:, list(H36M_32_TO_17)].astype(np.float64)
            for camera, x2d in zip(H36M_CAMERAS[subject], positions_2d[subject][action]):
                X_cam = world_to_camera(world, camera.orientation, camera.translation_m) * 1000
                yield normalize_screen_coordinates(x2d, camera.res_w, camera.res_h), X_cam


def h36m_lifter_check(positions_3d: Mapping, gt_2d: Mapping, det_2d: Mapping) -> dict[str, float]:
    """Depth-ambiguity check on Human3.6M-layout dicts (see ``h36m_camera_sequences``): MPJPE (mm) of the
    mean pose and of the linear lifter (1 and 9 frames, ground-truth and detected 2D), train subjects →
    test subjects. Falls back to a split of the subjects present when the standard split is not;
    returns {} with a single subject. Keys 'lifter_mean_pose_mpjpe_mm', 'lifter_linear_<gt|det>_<1frame|
    9frames>_mpjpe_mm'.
    """
    subjects = list(positions_3d)
    train = [s for s in subjects if s in H36M_TRAIN_SUBJECTS] or subjects[:-1]
    test = [s for s in subjects if s not in train] or subjects[-1:]
    if not train:
        return {}

    def mpjpe(source, window):
        return linear_lifter_mpjpe(h36m_camera_sequences(positions_3d, source, train),
                                   h36m_camera_sequences(positions_3d, source, test), window=window,
                                   train_stride=4)

    mean_pose = mean_pose_mpjpe(h36m_camera_sequences(positions_3d, gt_2d, train),
                                h36m_camera_sequences(positions_3d, gt_2d, test))
    return {
        "lifter_mean_pose_mpjpe_mm": mean_pose,
        "lifter_linear_gt_1frame_mpjpe_mm": mpjpe(gt_2d, 1),
        "lifter_linear_gt_9frames_mpjpe_mm": mpjpe(gt_2d, 9),
        "lifter_linear_det_1frame_mpjpe_mm": mpjpe(det_2d, 1),
        "lifter_linear_det_9frames_mpjpe_mm": mpjpe(det_2d, 9),
    }
