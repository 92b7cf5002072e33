"""The synthetic person: skeleton, per-subject bone lengths, joint limits and forward kinematics.

Body frame: x forward, y left, z up; metres; the 17 Human3.6M joints (DATA.md §1, §3). A pose is
given as joint angles (flexion, abduction, twist per joint, degrees), a facing direction (yaw) and a
root path; ``animate`` turns them into world positions with the supporting foot on the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff3dhpe.data.skeleton import H36M, H36M_32_TO_17, NUM_JOINTS
from diff3dhpe.data.synthetic.streams import random_stream

# Rest offsets of every joint from its parent (metres, a 1.70 m adult). Left and right mirror each other.
_REST_OFFSETS = np.array([
    [0.00, 0.00, 0.00],    # 0 pelvis
    [0.00, -0.13, -0.01],  # 1 R hip
    [0.00, 0.00, -0.45],   # 2 R knee (thigh)
    [0.00, 0.00, -0.44],   # 3 R ankle (shin)
    [0.00, 0.13, -0.01],   # 4 L hip
    [0.00, 0.00, -0.45],   # 5 L knee
    [0.00, 0.00, -0.44],   # 6 L ankle
    [0.01, 0.00, 0.23],    # 7 spine
    [0.00, 0.00, 0.25],    # 8 thorax
    [0.05, 0.00, 0.11],    # 9 neck/nose
    [-0.03, 0.00, 0.12],   # 10 head top
    [0.00, 0.15, -0.02],   # 11 L shoulder
    [0.00, 0.00, -0.28],   # 12 L elbow (upper arm)
    [0.00, 0.00, -0.25],   # 13 L wrist (forearm)
    [0.00, -0.15, -0.02],  # 14 R shoulder
    [0.00, 0.00, -0.28],   # 15 R elbow
    [0.00, 0.00, -0.25],   # 16 R wrist
])
_ANKLE_HEIGHT = 0.08  # ankle joint above the floor when the foot is flat, metres (1.70 m adult)
# Bones that share a length: the 16 bones grouped so that left and right stay symmetric.
_BONE_GROUPS = ((1, 4), (2, 5), (3, 6), (7,), (8,), (9,), (10,), (11, 14), (12, 15), (13, 16))
# Joints whose rotation pivots at the parent (the head turns about the neck base, not the nose).
_PIVOT_AT_PARENT = (9,)

FLEX, ABD, TWIST = 0, 1, 2
# Per joint and DOF: sign of the rotation about y (flexion), x (abduction), z (twist) in the body frame.
# Hip/shoulder flexion swings the limb forward (rotation −y); the knee bends backwards (+y);
# abduction and twist mirror between the sides.
_SIGNS = np.ones((NUM_JOINTS, 3))
for _j in (1, 11, 12, 14, 15):
    _SIGNS[_j, FLEX] = -1.0
for _j in (1, 2, 3, 14, 15, 16):
    _SIGNS[_j, ABD] = -1.0
    _SIGNS[_j, TWIST] = -1.0

# Joint limits in degrees, (17, 3, 2): (flexion, abduction, twist) × (low, high). Joints without a
# rotation (ankles, head top, wrists) have zero range. Joint 0 holds the pelvis tilt (pitch, roll, yaw).
JOINT_LIMITS_DEG = np.zeros((NUM_JOINTS, 3, 2))
JOINT_LIMITS_DEG[0] = [[-15, 30], [-10, 10], [-30, 30]]
for _hip in (1, 4):
    JOINT_LIMITS_DEG[_hip] = [[-30, 120], [-20, 45], [-35, 40]]
for _knee in (2, 5):
    JOINT_LIMITS_DEG[_knee] = [[0, 140], [0, 0], [0, 0]]
JOINT_LIMITS_DEG[7] = [[-20, 50], [-25, 25], [-35, 35]]
JOINT_LIMITS_DEG[8] = [[-15, 30], [-15, 15], [-25, 25]]
JOINT_LIMITS_DEG[9] = [[-35, 45], [-30, 30], [-70, 70]]
for _shoulder in (11, 14):
    JOINT_LIMITS_DEG[_shoulder] = [[-60, 170], [-10, 170], [-70, 90]]
for _elbow in (12, 15):
    JOINT_LIMITS_DEG[_elbow] = [[0, 145], [0, 0], [0, 0]]

# The joints that carry each side's limb rotations.
LEFT_SIDE = {"hip": 4, "knee": 5, "shoulder": 11, "elbow": 12}
RIGHT_SIDE = {"hip": 1, "knee": 2, "shoulder": 14, "elbow": 15}

# The 15 of the 32 Human3.6M joints that the 17-joint files drop: each is written as a copy of the
# nearest kept joint (toes/foot sites <- ankle, hand sites <- wrist, duplicated spine/shoulder anchors).
_DROPPED_32_SOURCE_17 = {4: 3, 5: 3, 9: 6, 10: 6, 11: 0, 16: 8, 20: 13, 21: 13, 22: 13, 23: 13, 24: 8,
                         28: 16, 29: 16, 30: 16, 31: 16}


@dataclass
class TakeMotion:
    """One take's motion, independent of who performs it."""

    angles_deg: np.ndarray  # (N, 17, 3) flexion, abduction, twist per joint (joint 0: pelvis tilt)
    yaw: np.ndarray  # (N,) radians, body facing direction in the world xy plane
    root_xy: np.ndarray  # (N, 2) metres


def _axis_rotation(angle: np.ndarray, axis: int) -> np.ndarray:
    """(..., 3, 3) rotations by ``angle`` (...) radians about coordinate axis 0, 1 or 2."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros((*np.shape(angle), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i], R[..., j, j] = c, c
    R[..., i, j], R[..., j, i] = -s, s
    return R


def _local_rotations(angles_deg: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 17, 3, 3) rotation of each joint: R = Rz(twist) Rx(abduction) Ry(flexion), with side signs."""
    rad = np.deg2rad(angles_deg) * _SIGNS
    rad[:, 0, TWIST] += yaw  # the root carries the facing direction
    return _axis_rotation(rad[..., 2], 2) @ _axis_rotation(rad[..., 1], 0) @ _axis_rotation(rad[..., 0], 1)


def forward_kinematics(offsets: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Joint positions (N, 17, 3) relative to the pelvis from offsets (17, 3) and rotations (N, 17, 3, 3).

    A joint's rotation moves the bones to its children (the head chain pivots at the neck base).
    """
    n = local.shape[0]
    pos = np.zeros((n, NUM_JOINTS, 3))
    glob = np.zeros((n, NUM_JOINTS, 3, 3))
    glob[:, 0] = local[:, 0]
    for j in range(1, NUM_JOINTS):
        p = H36M.parents[j]
        glob[:, j] = glob[:, p] @ local[:, j]
        frame = glob[:, j] if j in _PIVOT_AT_PARENT else glob[:, p]
        pos[:, j] = pos[:, p] + frame @ offsets[j]
    return pos


@dataclass(frozen=True)
class SubjectBody:
    """Per-subject anthropometry: bone offsets (17, 3) in metres and the flat-foot ankle height."""

    offsets: np.ndarray
    ankle_height: float

    @property
    def bone_lengths(self) -> np.ndarray:
        """(16,) metres, the bone ending at joint 1..16."""
        return np.linalg.norm(self.offsets[1:], axis=-1)

    @property
    def stature(self) -> float:
        """Standing height (floor to head top) in metres."""
        chain = (1, 2, 3)
        legs = -sum(self.offsets[j, 2] for j in chain)
        upper = sum(self.offsets[j, 2] for j in (7, 8, 9, 10))
        return float(self.ankle_height + legs + upper)


def subject_body(seed: int, subject: str, *, index: int = 0, count: int = 1, height_spread: float = 0.06,
                 dataset: str = "h36m") -> SubjectBody:
    """Bone lengths of one subject: overall scale spread evenly over ``count`` subjects (± height_spread,
    shuffled by the seed, so subjects differ by several %), times a ±3 % factor per bone pair."""
    order = random_stream(seed, dataset, "heights").permutation(count)
    base = 1.0 + (np.linspace(-height_spread, height_spread, count)[order[index]] if count > 1 else 0.0)
    rng = random_stream(seed, dataset, "body", subject)
    scale = base * (1 + rng.uniform(-0.01, 0.01))
    offsets = _REST_OFFSETS * scale
    for group in _BONE_GROUPS:
        offsets[list(group)] *= 1 + rng.uniform(-0.03, 0.03)
    return SubjectBody(offsets=offsets, ankle_height=_ANKLE_HEIGHT * scale)


def animate(body: SubjectBody, motion: TakeMotion) -> np.ndarray:
    """World positions (N, 17, 3) metres: FK, then lift the pelvis so the lower ankle rests on the floor."""
    pos = forward_kinematics(body.offsets, _local_rotations(motion.angles_deg, motion.yaw))
    lowest_ankle = pos[:, [3, 6], 2].min(axis=1)
    root = np.concatenate([motion.root_xy, (body.ankle_height - lowest_ankle)[:, None]], axis=-1)
    return pos + root[:, None, :]


def expand_to_32(positions_17: np.ndarray) -> np.ndarray:
    """(N, 17, 3) → (N, 32, 3): the 17 at ``H36M_32_TO_17``, dropped joints copy a neighbour."""
    out = np.zeros((positions_17.shape[0], 32, 3), dtype=positions_17.dtype)
    out[:, list(H36M_32_TO_17)] = positions_17
    for raw, kept in _DROPPED_32_SOURCE_17.items():
        out[:, raw] = positions_17[:, kept]
    return out
