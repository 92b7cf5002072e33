"""The embedded default data set: synthetic people written in the real Human3.6M / MPI-INF-3DHP formats.

Licence-restricted data cannot ship, so ``dvc repro`` runs on data made here (DATA.md §3). The point is
that the learning problem stays a real one:

- a kinematic skeleton with per-subject bone lengths (constant in time) and forward kinematics;
- per-action joint-angle trajectories (gait cycles, sit-down / stand-up, arm and head gestures, idle
  sway, turning) that are smooth, clipped to joint limits, with the supporting foot on the floor;
- the 4 real Human3.6M cameras with their exact distortion for the ground-truth 2D, and a detector-like
  error model (temporally correlated jitter, outliers, left/right swaps) for the "det" 2D;
- random poses seen from several viewpoints, so 3D cannot be read off one frame's 2D (see
  ``linear_lifter_mpjpe``, whose numbers go into the data README).

Every take draws from its own random stream keyed by (seed, subject, action), so a subject's data does
not change when other subjects are added or removed.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from diff3dhpe.data.camera import (
    H36M_CAMERAS,
    Camera,
    look_at_orientation,
    normalize_screen_coordinates,
    project_to_2d,
    world_to_camera,
)
from diff3dhpe.data.skeleton import (
    H36M,
    H36M_32_TO_17,
    H36M_ACTIONS,
    H36M_FPS,
    H36M_TEST_SUBJECTS,
    H36M_TRAIN_SUBJECTS,
    NUM_JOINTS,
)
from diff3dhpe.errors import ShapeError

H36M_SUBJECTS = H36M_TRAIN_SUBJECTS + H36M_TEST_SUBJECTS
TAKES_PER_ACTION = 2
H36M_2D_METADATA = {
    "num_joints": NUM_JOINTS,
    "keypoints_symmetry": [list(H36M.joints_left), list(H36M.joints_right)],
    "layout_name": "h36m",
}
MPI_TRAIN_SUBJECTS = tuple(f"S{k}" for k in range(1, 9))
MPI_TRAIN_CAMERAS = ("0", "1", "2", "4", "5", "6", "7", "8")
MPI_TEST_SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
MPI_TRAIN_FPS = 25
# Outdoor test sequences (TS5, TS6) were filmed at 50 Hz with a 1920×1080 camera.
MPI_TEST_FPS = {"TS1": 25, "TS2": 25, "TS3": 25, "TS4": 25, "TS5": 50, "TS6": 50}
MPI_TEST_RESOLUTION = {ts: (2048, 2048) for ts in ("TS1", "TS2", "TS3", "TS4")} | {
    "TS5": (1920, 1080), "TS6": (1920, 1080)}
# H36M 17-joint index of each MPI-INF-3DHP joint (head top, neck, R shoulder, ..., pelvis, spine, head).
MPI_FROM_H36M = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6, 0, 7, 9)

# The 15 of the 32 Human3.6M joints that the 17-joint files drop: each is written as a copy of the
# nearest kept joint (toes/foot sites <- ankle, hand sites <- wrist, duplicated spine/shoulder anchors).
_DROPPED_32_SOURCE_17 = {4: 3, 5: 3, 9: 6, 10: 6, 11: 0, 16: 8, 20: 13, 21: 13, 22: 13, 23: 13, 24: 8,
                         28: 16, 29: 16, 30: 16, 31: 16}

# ---------------------------------------------------------------------------------------------
# Skeleton: rest offsets of every joint from its parent, body frame x forward, y left, z up (metres,
# a 1.70 m adult). Left and right sides mirror each other.
# ---------------------------------------------------------------------------------------------
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
_LIMITS = np.zeros((NUM_JOINTS, 3, 2))
_LIMITS[0] = [[-15, 30], [-10, 10], [-30, 30]]
for _hip in (1, 4):
    _LIMITS[_hip] = [[-30, 120], [-20, 45], [-35, 40]]
for _knee in (2, 5):
    _LIMITS[_knee] = [[0, 140], [0, 0], [0, 0]]
_LIMITS[7] = [[-20, 50], [-25, 25], [-35, 35]]
_LIMITS[8] = [[-15, 30], [-15, 15], [-25, 25]]
_LIMITS[9] = [[-35, 45], [-30, 30], [-70, 70]]
for _shoulder in (11, 14):
    _LIMITS[_shoulder] = [[-60, 170], [-10, 170], [-70, 90]]
for _elbow in (12, 15):
    _LIMITS[_elbow] = [[0, 145], [0, 0], [0, 0]]

# The joints that carry each side's limb rotations.
LEFT_SIDE = {"hip": 4, "knee": 5, "shoulder": 11, "elbow": 12}
RIGHT_SIDE = {"hip": 1, "knee": 2, "shoulder": 14, "elbow": 15}


# ---------------------------------------------------------------------------------------------
# Random streams and smooth signals
# ---------------------------------------------------------------------------------------------
def _rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent stream per (seed, keys...): crc32 makes string keys stable across runs."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), *(zlib.crc32(k.encode()) for k in keys)])


def _smooth_noise(rng, n: int, shape: tuple[int, ...], fps: float, max_hz: float, waves: int = 4):
    """(n, *shape) zero-mean noise of unit standard deviation: a sum of random slow sinusoids."""
    t = np.arange(n) / fps
    freqs = rng.uniform(0.05, max_hz, size=(waves, *shape))
    phases = rng.uniform(0, 2 * np.pi, size=(waves, *shape))
    amps = rng.normal(size=(waves, *shape))
    amps *= np.sqrt(2.0 / np.maximum((amps**2).sum(0, keepdims=True), 1e-12))
    arg = 2 * np.pi * freqs[None] * t.reshape(-1, *([1] * (len(shape) + 1))) + phases[None]
    return (amps[None] * np.sin(arg)).sum(1)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _keyframes(rng, n: int, fps: float, sample: Callable, hold_s=(1.0, 3.0), blend_s=(0.4, 0.9)):
    """(n, D) track that holds random targets ``sample(rng, k) -> (k, D)`` and blends between them.

    Segments last ``hold_s`` seconds; the first ``blend_s`` seconds of each move smoothly (smoothstep)
    from the previous target, so the track is C¹ and never jumps.
    """
    starts = [0]
    while starts[-1] < n:
        starts.append(starts[-1] + max(1, int(rng.uniform(*hold_s) * fps)))
    starts = np.array(starts[:-1])
    targets = np.asarray(sample(rng, len(starts)), dtype=np.float64)  # (K, D)
    blends = rng.uniform(*blend_s, size=len(starts)) * fps
    frame = np.arange(n)
    seg = np.searchsorted(starts, frame, side="right") - 1
    previous = targets[np.maximum(seg - 1, 0)]
    weight = np.where(seg > 0, _smoothstep((frame - starts[seg]) / blends[seg]), 1.0)
    return previous + (targets[seg] - previous) * weight[:, None]


def _sit_level(rng, n: int, fps: float, mode: str) -> np.ndarray:
    """(n,) 0 = standing, 1 = seated; smooth sit-down / stand-up transitions of 1.2-2 s."""
    t = np.arange(n)
    duration = rng.uniform(1.2, 2.0) * fps
    if mode == "seated":
        level = np.ones(n)
        if rng.random() < 0.35:  # stands up at the end of the take
            start = rng.uniform(0.5, 0.8) * n
            level -= _smoothstep((t - start) / duration)
        return level
    if mode == "sit_down":
        start = rng.uniform(0.1, 0.4) * n
        level = _smoothstep((t - start) / duration)
        if rng.random() < 0.5:
            up = start + duration + rng.uniform(0.2, 0.4) * n
            level -= _smoothstep((t - up) / (rng.uniform(1.2, 2.0) * fps))
        return level
    return np.zeros(n)


# ---------------------------------------------------------------------------------------------
# Arm gestures: (shoulder flexion, abduction, twist, elbow flexion, wave amplitude) in degrees
# ---------------------------------------------------------------------------------------------
_ARM_FAMILIES = {
    "rest": ((-10, 5, -10, 5, 0), (15, 15, 10, 25, 0)),
    "lap": ((10, 0, -30, 60, 0), (30, 15, 0, 90, 0)),
    "gesture": ((10, 10, -30, 30, 0), (70, 50, 40, 100, 0)),
    "point": ((50, 10, -20, 0, 0), (100, 60, 20, 25, 0)),
    "to_ear": ((10, 30, -10, 130, 0), (35, 60, 30, 145, 0)),
    "to_mouth": ((20, 5, -40, 125, 0), (45, 25, -10, 145, 0)),
    "table": ((20, 5, -30, 60, 0), (45, 20, 0, 100, 0)),
    "wave": ((20, 80, -20, 70, 25), (60, 130, 20, 90, 40)),
    "camera": ((40, 20, -40, 100, 0), (70, 40, -20, 130, 0)),
    "reach": ((40, 0, -20, 0, 0), (100, 30, 20, 40, 0)),
    "hips": ((-10, 35, 40, 90, 0), (10, 50, 70, 110, 0)),
    "crossed": ((20, 0, -60, 110, 0), (35, 10, -40, 130, 0)),
    "leash": ((20, 5, -5, 20, 0), (40, 20, 5, 50, 0)),
    "pose": ((-40, 0, -50, 0, 0), (160, 150, 70, 140, 0)),
}


def _arm_sampler(families: Mapping[str, float]) -> Callable:
    names = list(families)
    probs = np.array([families[k] for k in names], dtype=np.float64)
    probs /= probs.sum()

    def sample(rng, k):
        chosen = rng.choice(len(names), size=k, p=probs)
        low = np.array([_ARM_FAMILIES[names[c]][0] for c in chosen], dtype=np.float64)
        high = np.array([_ARM_FAMILIES[names[c]][1] for c in chosen], dtype=np.float64)
        return rng.uniform(low, high)

    return sample


@dataclass(frozen=True)
class _ActionStyle:
    locomotion: str  # "walk" | "wander" | "still"
    posture: str  # "stand" | "seated" | "sit_down"
    primary_arm: Mapping[str, float]
    other_arm: Mapping[str, float]
    hold_s: tuple[float, float] = (1.0, 2.5)
    wander_m: float = 0.35  # amplitude of slow root drift when not walking
    head_deg: float = 12.0  # amplitude of head turning
    torso_deg: float = 6.0  # amplitude of torso sway
    speed_m_s: tuple[float, float] = (1.0, 1.5)


_STYLES = {
    "Directions": _ActionStyle("wander", "stand", {"rest": .4, "point": .4, "gesture": .2},
                               {"rest": .7, "gesture": .3}, head_deg=30),
    "Discussion": _ActionStyle("wander", "stand", {"gesture": .6, "rest": .2, "hips": .1, "crossed": .1},
                               {"gesture": .5, "rest": .3, "hips": .2}, torso_deg=10, head_deg=20),
    "Eating": _ActionStyle("still", "seated", {"to_mouth": .4, "table": .6}, {"table": .7, "to_mouth": .3},
                           hold_s=(0.8, 2.0), wander_m=0.0),
    "Greeting": _ActionStyle("wander", "stand", {"wave": .35, "reach": .3, "rest": .35},
                             {"rest": .7, "gesture": .3}, torso_deg=10),
    "Phoning": _ActionStyle("wander", "stand", {"to_ear": .85, "rest": .15}, {"rest": .5, "gesture": .3,
                            "hips": .2}, hold_s=(1.5, 4.0), head_deg=20),
    "Photo": _ActionStyle("wander", "stand", {"camera": .6, "rest": .4}, {"camera": .6, "rest": .4},
                          torso_deg=10),
    "Posing": _ActionStyle("still", "stand", {"pose": 1.0}, {"pose": 1.0}, hold_s=(1.2, 2.5), wander_m=0.1,
                           torso_deg=12),
    "Purchases": _ActionStyle("wander", "stand", {"reach": .5, "rest": .3, "gesture": .2},
                              {"rest": .6, "reach": .4}),
    "Sitting": _ActionStyle("still", "seated", {"lap": .5, "gesture": .3, "crossed": .1, "to_mouth": .1},
                            {"lap": .6, "gesture": .3, "crossed": .1}, wander_m=0.0),
    "SittingDown": _ActionStyle("still", "sit_down", {"lap": .5, "rest": .3, "gesture": .2},
                                {"lap": .6, "rest": .4}, wander_m=0.05),
    "Smoking": _ActionStyle("wander", "stand", {"to_mouth": .45, "rest": .35, "gesture": .2},
                            {"rest": .6, "crossed": .2, "hips": .2}, hold_s=(0.8, 2.0)),
    "Waiting": _ActionStyle("still", "stand", {"rest": .5, "crossed": .2, "hips": .2, "gesture": .1},
                            {"rest": .5, "crossed": .2, "hips": .2, "gesture": .1}, hold_s=(1.5, 3.5),
                            wander_m=0.15),
    "WalkDog": _ActionStyle("walk", "stand", {"leash": 1.0}, {"rest": 1.0}, speed_m_s=(0.7, 1.1),
                            head_deg=20, torso_deg=8),
    "Walking": _ActionStyle("walk", "stand", {"rest": 1.0}, {"rest": 1.0}, speed_m_s=(0.9, 1.4)),
    "WalkTogether": _ActionStyle("walk", "stand", {"rest": 1.0}, {"rest": 1.0}, speed_m_s=(0.8, 1.2),
                                 head_deg=15),
}


# ---------------------------------------------------------------------------------------------
# One take: joint angles, root path and yaw
# ---------------------------------------------------------------------------------------------
@dataclass
class _TakeMotion:
    angles_deg: np.ndarray  # (N, 17, 3) flexion, abduction, twist per joint (joint 0: pelvis tilt)
    yaw: np.ndarray  # (N,) radians, body facing direction in the world xy plane
    root_xy: np.ndarray  # (N, 2) metres


def _walk_path(rng, speed: np.ndarray, fps: float, area_radius: float):
    """Root xy and heading along a random ellipse around the origin, travelled at ``speed`` (N,) m/s."""
    a, b = rng.uniform(0.6, 0.9) * area_radius, rng.uniform(0.4, 0.7) * area_radius
    rotation, direction = rng.uniform(0, 2 * np.pi), rng.choice([-1.0, 1.0])
    centre = rng.uniform(-0.15, 0.15, size=2) * area_radius
    u = np.linspace(0, 2 * np.pi, 4097)
    ellipse = np.stack([a * np.cos(u), b * np.sin(u)], axis=-1)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ellipse, axis=0), axis=-1))])
    travelled = np.concatenate([[0.0], np.cumsum(speed[1:]) / fps])
    position = (rng.uniform(0, arc[-1]) + direction * travelled) % arc[-1]
    u_t = np.interp(position, arc, u)
    c, s = np.cos(rotation), np.sin(rotation)
    rot = np.array([[c, -s], [s, c]])
    xy = np.stack([a * np.cos(u_t), b * np.sin(u_t)], -1) @ rot.T + centre
    tangent = direction * np.stack([-a * np.sin(u_t), b * np.cos(u_t)], -1) @ rot.T
    return xy, np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0]))


def _take_motion(group: str, rng: np.random.Generator, n: int, fps: float, area_radius: float) -> _TakeMotion:
    style = _STYLES[group]
    ang = np.zeros((n, NUM_JOINTS, 3))
    noise = _smooth_noise(rng, n, (NUM_JOINTS, 3), fps, max_hz=0.6)  # idle sway, unit std
    primary, other = (LEFT_SIDE, RIGHT_SIDE) if rng.random() < 0.5 else (RIGHT_SIDE, LEFT_SIDE)

    # Standing legs: slight knee bend, weight shifts (hip abduction), small twists.
    for side in (LEFT_SIDE, RIGHT_SIDE):
        ang[:, side["hip"], FLEX] = 2 + 4 * noise[:, side["hip"], FLEX]
        ang[:, side["hip"], ABD] = 3 + 3 * noise[:, side["hip"], ABD]
        ang[:, side["hip"], TWIST] = 5 * noise[:, side["hip"], TWIST]
        ang[:, side["knee"], FLEX] = 3 + 6 * np.abs(noise[:, side["knee"], FLEX])
    if group == "Posing":  # one leg at a time takes a held pose; the other supports
        leg = _keyframes(rng, n, fps, lambda r, k: r.uniform([-15, 0, -20, 0], [60, 35, 30, 70], (k, 4)),
                         hold_s=style.hold_s)
        ang[:, primary["hip"]] += leg[:, :3]
        ang[:, primary["knee"], FLEX] += leg[:, 3]
    if group == "Photo":  # occasional crouch for a low shot
        crouch = _keyframes(rng, n, fps, lambda r, k: np.where(r.random((k, 1)) < 0.7, 0.0,
                                                                 r.uniform(0.3, 0.8, (k, 1))))[:, 0]
        for side in (LEFT_SIDE, RIGHT_SIDE):
            ang[:, side["hip"], FLEX] += 70 * crouch
            ang[:, side["knee"], FLEX] += 100 * crouch
        ang[:, 7, FLEX] += 20 * crouch

    # Torso and head: sway around an action-specific posture.
    ang[:, 0, :] = [2, 0, 0] + np.array([3, 2, 4]) * noise[:, 0]
    ang[:, 7, :] = [3, 0, 0] + style.torso_deg * noise[:, 7] * [1.0, 0.5, 1.0]
    ang[:, 8, :] = [2, 0, 0] + 0.5 * style.torso_deg * noise[:, 8]
    ang[:, 9, :] = [5, 0, 0] + style.head_deg * noise[:, 9] * [0.6, 0.3, 1.0]
    if group == "Purchases":  # bending down to reach things
        ang[:, 7, FLEX] += _keyframes(rng, n, fps, lambda r, k: np.where(
            r.random((k, 1)) < 0.5, r.uniform(0, 10, (k, 1)), r.uniform(25, 50, (k, 1))))[:, 0]
    if group == "Greeting":  # bows
        ang[:, 7, FLEX] += _keyframes(rng, n, fps, lambda r, k: np.where(
            r.random((k, 1)) < 0.6, 0.0, r.uniform(10, 30, (k, 1))))[:, 0]

    # Arms: held gestures with smooth transitions, waving adds an elbow oscillation.
    for side, families in ((primary, style.primary_arm), (other, style.other_arm)):
        track = _keyframes(rng, n, fps, _arm_sampler(families), hold_s=style.hold_s)  # (N, 5)
        wave = track[:, 4] * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * np.arange(n) / fps
                                    + rng.uniform(0, 2 * np.pi))
        ang[:, side["shoulder"]] = track[:, :3] + 4 * noise[:, side["shoulder"]]
        ang[:, side["elbow"], FLEX] = track[:, 3] + wave + 4 * noise[:, side["elbow"], FLEX]

    # Sitting: blend standing legs into seated ones; the torso leans forward while the weight moves.
    sit = _sit_level(rng, n, fps, style.posture)[:, None]
    if style.posture != "stand":
        deep = style.posture == "sit_down"
        seat_hip = rng.uniform(100, 115) if deep else rng.uniform(82, 98)
        seat_knee = rng.uniform(105, 125) if deep else rng.uniform(75, 105)
        for side in (LEFT_SIDE, RIGHT_SIDE):
            seated = np.stack([seat_hip + 4 * noise[:, side["hip"], FLEX],
                               rng.uniform(3, 15) + 4 * noise[:, side["hip"], ABD],
                               rng.uniform(-10, 15) + 5 * noise[:, side["hip"], TWIST]], -1)
            ang[:, side["hip"]] = (1 - sit) * ang[:, side["hip"]] + sit * seated
            knee = seat_knee + rng.uniform(-10, 10) + 6 * noise[:, side["knee"], FLEX]
            ang[:, side["knee"], FLEX] = (1 - sit[:, 0]) * ang[:, side["knee"], FLEX] + sit[:, 0] * knee
        ang[:, 7, FLEX] += sit[:, 0] * rng.uniform(0, 25 if deep else 12) + 120 * (sit * (1 - sit))[:, 0]

    # Root path and facing direction.
    if style.locomotion == "walk":
        speed = rng.uniform(*style.speed_m_s) * (1 + 0.12 * _smooth_noise(rng, n, (), fps, max_hz=0.3))
        root_xy, heading = _walk_path(rng, speed, fps, area_radius)
        # One gait cycle (two steps) covers ~1.3 m; the phase integrates the cadence. A ±20° hip swing
        # then moves the stance foot backwards at about the walking speed, so it stays put on the floor.
        phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(speed / 1.3) / fps
        stride = np.clip(speed / 1.3, 0.6, 1.3)  # knees and arms move more when faster
        arm_swing = rng.uniform(10, 25) * (0.5 if group == "WalkTogether" else 1.0)
        for side, offset in ((RIGHT_SIDE, 0.0), (LEFT_SIDE, np.pi)):
            phi = phase + offset
            ang[:, side["hip"], FLEX] = 8 + 20 * np.sin(phi) + 2 * noise[:, side["hip"], FLEX]
            ang[:, side["hip"], ABD] = 3 + 2 * np.cos(phi)
            # The knee flexes up to ~60° in swing, when the hip moves forward (sin φ rising).
            ang[:, side["knee"], FLEX] = 5 + 55 * stride * (0.5 + 0.5 * np.cos(phi - 0.3)) ** 2
            if not (group == "WalkDog" and side is primary):  # arms swing against the same-side leg
                ang[:, side["shoulder"], FLEX] = 5 - arm_swing * stride * np.sin(phi)
                ang[:, side["shoulder"], ABD] = 8 + 2 * noise[:, side["shoulder"], ABD]
                ang[:, side["elbow"], FLEX] = 20 + 10 * (0.5 - 0.5 * np.sin(phi))
        ang[:, 0, TWIST] += 5 * np.sin(phase)  # pelvis rotates with the stride, thorax counter-rotates
        ang[:, 7, TWIST] -= 5 * np.sin(phase)
        ang[:, 0, FLEX] += 4
        if group == "WalkDog":
            ang[:, 7, FLEX] += rng.uniform(10, 20)
            ang[:, 9, FLEX] += rng.uniform(10, 25)
        if group == "WalkTogether":  # talking to the partner walking alongside
            ang[:, 9, TWIST] += rng.choice([-1, 1]) * rng.uniform(15, 40)
        yaw = heading
    else:
        centre = rng.uniform(-1, 1, size=2) * 0.5 * area_radius
        root_xy = centre + style.wander_m * _smooth_noise(rng, n, (2,), fps, max_hz=0.15)
        root_xy *= 1 - 0.9 * sit  # seated people stay on their chair
        yaw0 = rng.uniform(0, 2 * np.pi)
        turns = _keyframes(rng, n, fps, lambda r, k: np.cumsum(r.normal(0, 1.0, (k, 1)), axis=0),
                           hold_s=(1.5, 4.0), blend_s=(0.8, 1.4))[:, 0]
        yaw = yaw0 + turns * (1 - 0.8 * sit[:, 0]) + 0.1 * _smooth_noise(rng, n, (), fps, max_hz=0.3)
    radius = np.linalg.norm(root_xy, axis=-1, keepdims=True)
    root_xy = root_xy * np.minimum(1.0, area_radius / np.maximum(radius, 1e-9))

    low, high = _LIMITS[..., 0], _LIMITS[..., 1]
    return _TakeMotion(angles_deg=np.clip(ang, low, high), yaw=yaw, root_xy=root_xy)


# ---------------------------------------------------------------------------------------------
# Forward kinematics
# ---------------------------------------------------------------------------------------------
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
    order = _rng(seed, dataset, "heights").permutation(count)
    base = 1.0 + (np.linspace(-height_spread, height_spread, count)[order[index]] if count > 1 else 0.0)
    rng = _rng(seed, dataset, "body", subject)
    scale = base * (1 + rng.uniform(-0.01, 0.01))
    offsets = _REST_OFFSETS * scale
    for group in _BONE_GROUPS:
        offsets[list(group)] *= 1 + rng.uniform(-0.03, 0.03)
    return SubjectBody(offsets=offsets, ankle_height=_ANKLE_HEIGHT * scale)


def animate(body: SubjectBody, motion: _TakeMotion) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------
# Detector-like 2D error model
# ---------------------------------------------------------------------------------------------
# Per-joint jitter σ in pixels (Human3.6M image scale): extremities are harder to localise.
DETECTOR_SIGMA_PX = np.array([3.0, 3.5, 4.0, 5.5, 3.5, 4.0, 5.5, 3.5, 3.0, 2.5, 3.0,
                              3.0, 4.5, 6.5, 3.0, 4.5, 6.5])
_LIMB_PAIRS = (((1, 2, 3), (4, 5, 6)), ((14, 15, 16), (11, 12, 13)))  # legs, arms: right ↔ left


@dataclass(frozen=True)
class DetectorNoise:
    """Knobs of the detection error model; the defaults give a mean error of ~6 px at 1000 px images."""

    sigma_px: tuple[float, ...] = tuple(DETECTOR_SIGMA_PX)
    correlation: float = 0.9  # AR(1) coefficient per frame at 50 Hz
    bias_px: float = 1.5  # per-sequence systematic offset of each joint
    outlier_rate: float = 0.002  # per joint and frame: start of a gross error
    outlier_px: tuple[float, float] = (25.0, 80.0)
    swap_rate: float = 0.002  # per limb pair and frame: start of a left/right swap
    max_event_frames: int = 8


def detector_noise(gt_2d: np.ndarray, rng: np.random.Generator, model: DetectorNoise | None = None,
                   scale: float = 1.0) -> np.ndarray:
    """Detected keypoints (N, 17, 2) from ground truth (N, 17, 2) px; ``scale`` multiplies σ and offsets."""
    model = model or DetectorNoise()
    n = gt_2d.shape[0]
    sigma = np.asarray(model.sigma_px)[:, None] * scale * rng.uniform(0.8, 1.2)  # (17, 1)
    white = rng.normal(size=(n, NUM_JOINTS, 2))
    rho = model.correlation
    gain = np.sqrt(1 - rho**2)
    # AR(1): e_t = ρ e_{t−1} + √(1−ρ²) w_t, started in its stationary distribution (e_0 = w_0).
    jitter = lfilter([gain], [1.0, -rho], white, axis=0, zi=((1 - gain) * white[:1]))[0]
    det = gt_2d + sigma * jitter + rng.normal(0, model.bias_px * scale, size=(NUM_JOINTS, 2))

    for frame, joint in zip(*np.nonzero(rng.random((n, NUM_JOINTS)) < model.outlier_rate)):
        length = rng.integers(1, model.max_event_frames + 1)
        angle = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(*model.outlier_px) * scale * np.array([np.cos(angle), np.sin(angle)])
        det[frame:frame + length, joint] += offset
    for pair in range(len(_LIMB_PAIRS)):
        right, left = (list(side) for side in _LIMB_PAIRS[pair])
        for frame in np.nonzero(rng.random(n) < model.swap_rate)[0]:
            span = slice(frame, frame + rng.integers(2, model.max_event_frames + 1))
            det[span, right + left] = det[span, left + right]
    return det


# ---------------------------------------------------------------------------------------------
# Statistics used by tests and the data README
# ---------------------------------------------------------------------------------------------
def motion_statistics(positions: np.ndarray, fps: float) -> dict[str, float]:
    """Physical plausibility of one sequence of world positions (N, 17, 3) in metres, z up, floor z = 0.

    Returns the largest deviation of any bone from its mean length (mm), the fastest joint (m/s),
    the lowest joint height (m), the share of standing frames (pelvis above the lower ankle by more
    than 80 % of the leg length) and the highest "support foot" (lower ankle) in those frames (m).
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3):
        raise ShapeError(f"positions must be (N, {NUM_JOINTS}, 3) metres, got {positions.shape}")
    if not np.isfinite(positions).all():
        raise ShapeError("positions contain NaN or infinite values")
    parents = np.array(H36M.parents[1:])
    lengths = np.linalg.norm(positions[:, 1:] - positions[:, parents], axis=-1)  # (N, 16)
    deviation = np.abs(lengths - lengths.mean(0)).max() * 1000
    speed = np.linalg.norm(np.diff(positions, axis=0), axis=-1) * fps if len(positions) > 1 else np.zeros(1)
    leg = lengths[:, [1, 2]].sum(1).mean()  # thigh + shin (bones ending at R knee, R ankle)
    support = positions[:, [3, 6], 2].min(axis=1)
    standing = positions[:, 0, 2] - support > 0.8 * leg
    return {
        "max_bone_deviation_mm": float(deviation),
        "max_joint_speed_m_s": float(speed.max()),
        "min_joint_height_m": float(positions[..., 2].min()),
        "standing_fraction": float(standing.mean()),
        "max_support_foot_height_standing_m": float(support[standing].max()) if standing.any() else np.nan,
        "min_support_foot_height_m": float(support.min()),
    }


def _windowed(x: np.ndarray, window: int) -> np.ndarray:
    """(N, D) → (N, window·D): each frame with its neighbours, edge-clamped."""
    n = x.shape[0]
    idx = np.clip(np.arange(n)[:, None] + np.arange(window)[None] - window // 2, 0, n - 1)
    return x[idx].reshape(n, -1)


def linear_lifter_mpjpe(train: Iterable[tuple[np.ndarray, np.ndarray]],
                        test: Iterable[tuple[np.ndarray, np.ndarray]],
                        window: int = 1, ridge: float = 1e-4, train_stride: int = 1) -> float:
    """MPJPE (mm) of a ridge-regularised linear map from 2D to 3D, fitted on ``train``, scored on ``test``.

    Each item is one sequence: 2D (N, 17, 2) normalised screen coordinates and 3D (N, 17, 3) mm camera
    coordinates; both are made root-relative. ``window`` frames centred on each frame form the input.
    A high error means 3D cannot be read off 2D by a linear map: the depth ambiguity is real.
    ``train_stride`` fits on every k-th training frame only (neighbouring frames are near duplicates).
    """
    def features(x2d):
        rel = (x2d - x2d[:, :1]).reshape(len(x2d), -1)
        return np.concatenate([_windowed(rel, window), np.ones((len(x2d), 1))], axis=1)

    # Normal equations accumulated over chunks of ~16k frames: few large matrix products (small ones are
    # slow under BLAS threading on a busy machine) without holding all features in memory.
    gram, cross, chunk_x, chunk_y = 0.0, 0.0, [], []

    def accumulate():
        nonlocal gram, cross
        X, Y = np.concatenate(chunk_x), np.concatenate(chunk_y)
        gram, cross = gram + X.T @ X, cross + X.T @ Y
        chunk_x.clear(), chunk_y.clear()

    for x2d, y3d in train:
        chunk_x.append(features(np.asarray(x2d, dtype=np.float64))[::train_stride])
        chunk_y.append((y3d - y3d[:, :1]).reshape(len(y3d), -1).astype(np.float64)[::train_stride])
        if sum(len(c) for c in chunk_x) >= 16384:
            accumulate()
    if chunk_x:
        accumulate()
    if np.ndim(gram) == 0:
        raise ValueError("linear_lifter_mpjpe needs at least one training sequence")
    gram += ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
    weights = np.linalg.solve(gram, cross)
    total, count = 0.0, 0
    for x2d, y3d in test:
        pred = (features(np.asarray(x2d, dtype=np.float64)) @ weights).reshape(len(y3d), NUM_JOINTS, 3)
        err = np.linalg.norm(pred - (y3d - y3d[:, :1]), axis=-1)
        total, count = total + err.sum(), count + err.size
    return float(total / count)


def _lag1_autocorrelation(errors: np.ndarray) -> float:
    """Lag-1 autocorrelation over time of (N, ...) errors, pooled over the other axes."""
    centred = errors - errors.mean(0)
    return float((centred[1:] * centred[:-1]).sum() / (centred**2).sum())


# ---------------------------------------------------------------------------------------------
# Human3.6M
# ---------------------------------------------------------------------------------------------
def h36m_action_names(groups: Sequence[str] = H36M_ACTIONS, takes: int = TAKES_PER_ACTION) -> list[str]:
    return [f"{group} {take}" for group in groups for take in range(1, takes + 1)]


def generate_h36m(out_dir: str | Path, name: str = "synth", seed: int = 0, frames_per_take: int = 200,
                  subjects: Sequence[str] = H36M_SUBJECTS, actions: Sequence[str] = H36M_ACTIONS,
                  detector: DetectorNoise | None = None, lifter_check: bool = True,
                  readme: bool = True) -> dict:
    """Write ``data_3d_<name>.npz``, ``data_2d_<name>_gt.npz`` and ``data_2d_<name>_det.npz``.

    ``frames_per_take`` frames at 50 Hz per take, 2 takes per action group, the 4 real cameras of
    each subject. Returns statistics (also merged into ``README.md`` when ``readme``).
    """
    from diff3dhpe.data.h36m import write_h36m_2d, write_h36m_3d

    started = time.perf_counter()
    out_dir = Path(out_dir)
    if frames_per_take < 2:
        raise ValueError(f"frames_per_take must be at least 2, got {frames_per_take}")
    unknown = [s for s in subjects if s not in H36M_CAMERAS]
    if unknown or not subjects:
        raise ValueError(f"subjects must be a non-empty subset of {H36M_SUBJECTS}, got {list(subjects)}")
    bad_actions = [a for a in actions if a not in _STYLES]
    if bad_actions or not actions:
        raise ValueError(f"actions must be a non-empty subset of {H36M_ACTIONS}, got {list(actions)}")

    positions_3d, gt_2d, det_2d = {}, {}, {}
    motion_stats, det_errors, det_autocorr, inside = [], [], [], []
    for subject in subjects:
        body = subject_body(seed, subject, index=H36M_SUBJECTS.index(subject), count=len(H36M_SUBJECTS))
        cameras = H36M_CAMERAS[subject]
        positions_3d[subject], gt_2d[subject], det_2d[subject] = {}, {}, {}
        for action in h36m_action_names(actions):
            motion = _take_motion(action.split(" ")[0], _rng(seed, "h36m", subject, action),
                                  frames_per_take, H36M_FPS, area_radius=1.8)
            world = animate(body, motion)  # (N, 17, 3) m
            motion_stats.append(motion_statistics(world, H36M_FPS))
            positions_3d[subject][action] = expand_to_32(world).astype(np.float32)
            gt_views, det_views = [], []
            for index, camera in enumerate(cameras):
                X_cam = world_to_camera(world, camera.orientation, camera.translation_m)
                gt = project_to_2d(X_cam, camera)
                det = detector_noise(gt, _rng(seed, "h36m-det", subject, action, str(index)), detector)
                gt_views.append(gt.astype(np.float32))
                det_views.append(det.astype(np.float32))
                err = det - gt
                det_errors.append(np.linalg.norm(err, axis=-1).mean())
                det_autocorr.append(_lag1_autocorrelation(err))
                inside.append(((gt >= 0) & (gt < [camera.res_w, camera.res_h])).all(-1).mean())
            gt_2d[subject][action], det_2d[subject][action] = gt_views, det_views

    paths = {"3d": out_dir / f"data_3d_{name}.npz", "2d_gt": out_dir / f"data_2d_{name}_gt.npz",
             "2d_det": out_dir / f"data_2d_{name}_det.npz"}
    write_h36m_3d(paths["3d"], positions_3d)
    write_h36m_2d(paths["2d_gt"], gt_2d, H36M_2D_METADATA)
    write_h36m_2d(paths["2d_det"], det_2d, H36M_2D_METADATA)

    statures = {s: round(1000 * subject_body(seed, s, index=H36M_SUBJECTS.index(s),
                                             count=len(H36M_SUBJECTS)).stature) for s in subjects}
    stats = {
        "seed": seed, "subjects": list(subjects), "actions_per_subject": len(actions) * TAKES_PER_ACTION,
        "frames_per_take": frames_per_take, "fps": H36M_FPS,
        "frames_total": frames_per_take * len(subjects) * len(actions) * TAKES_PER_ACTION,
        "stature_mm": statures,
        "max_bone_deviation_mm": max(m["max_bone_deviation_mm"] for m in motion_stats),
        "max_joint_speed_m_s": max(m["max_joint_speed_m_s"] for m in motion_stats),
        "min_joint_height_m": min(m["min_joint_height_m"] for m in motion_stats),
        "det_mean_error_px": float(np.mean(det_errors)),
        "det_error_lag1_autocorrelation": float(np.mean(det_autocorr)),
        "gt_2d_inside_image_fraction": float(np.mean(inside)),
        "file_bytes": {p.name: p.stat().st_size for p in paths.values()},
    }
    if lifter_check:
        stats.update(h36m_lifter_check(positions_3d, gt_2d, det_2d))
    stats["generation_seconds"] = time.perf_counter() - started
    if readme:
        write_data_readme(out_dir, {f"Human3.6M layout ('{name}')": stats})
    return stats


def _h36m_lifter_sequences(positions_3d, positions_2d, subjects):
    """(normalised 2D, camera-space 3D mm) per sequence and camera, for ``linear_lifter_mpjpe``."""
    for subject in subjects:
        for action, world32 in positions_3d[subject].items():
            world = world32[:, list(H36M_32_TO_17)].astype(np.float64)
            for camera, x2d in zip(H36M_CAMERAS[subject], positions_2d[subject][action]):
                X_cam = world_to_camera(world, camera.orientation, camera.translation_m) * 1000
                yield normalize_screen_coordinates(x2d, camera.res_w, camera.res_h), X_cam


def h36m_lifter_check(positions_3d, gt_2d, det_2d) -> dict[str, float]:
    """Depth-ambiguity check: linear lifter MPJPE (mm), train subjects → test subjects (falls back to
    a split of the subjects present when the standard split is not)."""
    subjects = list(positions_3d)
    train = [s for s in subjects if s in H36M_TRAIN_SUBJECTS] or subjects[:-1]
    test = [s for s in subjects if s not in train] or subjects[-1:]
    if not train:
        return {}

    def mpjpe(source, window):
        return linear_lifter_mpjpe(_h36m_lifter_sequences(positions_3d, source, train),
                                   _h36m_lifter_sequences(positions_3d, source, test), window=window,
                                   train_stride=4)

    mean_pose = _mean_pose_mpjpe(_h36m_lifter_sequences(positions_3d, gt_2d, train),
                                 _h36m_lifter_sequences(positions_3d, gt_2d, test))
    return {
        "lifter_mean_pose_mpjpe_mm": mean_pose,
        "lifter_linear_gt_1frame_mpjpe_mm": mpjpe(gt_2d, 1),
        "lifter_linear_gt_9frames_mpjpe_mm": mpjpe(gt_2d, 9),
        "lifter_linear_det_1frame_mpjpe_mm": mpjpe(det_2d, 1),
        "lifter_linear_det_9frames_mpjpe_mm": mpjpe(det_2d, 9),
    }


def _mean_pose_mpjpe(train, test) -> float:
    """MPJPE (mm) of always predicting the mean root-relative training pose: the no-information baseline."""
    poses = [y - y[:, :1] for _, y in train]
    mean = np.concatenate(poses).mean(0)
    errors = [np.linalg.norm(y - y[:, :1] - mean, axis=-1).ravel() for _, y in test]
    return float(np.concatenate(errors).mean())


# ---------------------------------------------------------------------------------------------
# MPI-INF-3DHP
# ---------------------------------------------------------------------------------------------
def _ring_cameras(rng, count: int, size: tuple[int, int], radius=(3.5, 4.5), height=(0.3, 2.6),
                  focal=(1450.0, 1550.0)) -> list[Camera]:
    """Pinhole cameras spread around the capture area, each looking at a point near the pelvis height."""
    w, h = size
    azimuths = (rng.uniform(0, 2 * np.pi) + np.arange(count) * 2 * np.pi / count
                + rng.uniform(-0.2, 0.2, count))
    cameras = []
    for k, azimuth in enumerate(azimuths):
        r = rng.uniform(*radius)
        position = np.array([r * np.cos(azimuth), r * np.sin(azimuth), rng.uniform(*height)])
        target = np.array([*rng.uniform(-0.2, 0.2, 2), rng.uniform(0.8, 1.1)])
        f = rng.uniform(*focal)
        cameras.append(Camera(
            id=str(k), res_w=w, res_h=h, center=(w / 2 + rng.uniform(-15, 15), h / 2 + rng.uniform(-15, 15)),
            focal_length=(f, f * rng.uniform(0.998, 1.002)), radial_distortion=(0.0, 0.0, 0.0),
            tangential_distortion=(0.0, 0.0), orientation=tuple(look_at_orientation(position, target)),
            translation_mm=tuple(position * 1000),
        ))
    return cameras


def _mpi_sequence(seed: int, key: tuple[str, ...], body: SubjectBody, n: int, fps: float, area: float):
    """World positions (N, 17, 3) m in the H36M joint order for one 3DHP sequence of a random action."""
    rng = _rng(seed, "3dhp", *key)
    group = H36M_ACTIONS[rng.integers(len(H36M_ACTIONS))]
    return animate(body, _take_motion(group, rng, n, fps, area_radius=area)), group


def _camera_view(world: np.ndarray, camera: Camera) -> dict[str, np.ndarray]:
    """{'data_2d': (N, 17, 2) px, 'data_3d': (N, 17, 3) mm camera coords} in the 3DHP joint order."""
    X_cam = world_to_camera(world, camera.orientation, camera.translation_m)[:, list(MPI_FROM_H36M)]
    return {"data_2d": project_to_2d(X_cam, camera).astype(np.float32),
            "data_3d": (X_cam * 1000).astype(np.float32)}


def _valid_mask(rng, n: int) -> np.ndarray:
    """(n,) bool, mostly True: short invalid stretches at the ends and sometimes in the middle."""
    valid = np.ones(n, dtype=bool)
    valid[: rng.integers(0, max(1, n // 20))] = False
    valid[n - rng.integers(0, max(1, n // 20)):] = False
    if rng.random() < 0.5 and n >= 20:
        start = rng.integers(n // 4, 3 * n // 4)
        valid[start:start + rng.integers(1, max(2, n // 15))] = False
    return valid


def generate_3dhp(out_dir: str | Path, name: str = "synth", seed: int = 0, frames_per_sequence: int = 200,
                  test_frames: int = 200, subjects: Sequence[str] = MPI_TRAIN_SUBJECTS,
                  readme: bool = True) -> dict:
    """Write ``data_train_<name>_3dhp.npz`` and ``data_test_<name>_3dhp.npz`` (P-STMO layout, DATA.md §2).

    Training: 'S<k> Seq<1,2>' of ``frames_per_sequence`` frames at 25 Hz seen by 8 synthetic 2048×2048
    studio cameras; test: TS1..TS6 of ``test_frames`` frames, one camera each, with a ``valid`` mask.
    3D is in camera coordinates, mm, with universal (height-normalised) bone lengths as in univ_annot3.
    """
    from diff3dhpe.data.mpi3dhp import write_3dhp_test, write_3dhp_train

    started = time.perf_counter()
    out_dir = Path(out_dir)
    if min(frames_per_sequence, test_frames) < 2:
        raise ValueError("frames_per_sequence and test_frames must be at least 2")
    studio = _ring_cameras(_rng(seed, "3dhp", "studio"), len(MPI_TRAIN_CAMERAS), (2048, 2048))
    train, motion_stats, actions = {}, [], {}
    for subject in subjects:
        # univ_annot3 rescales every subject to one height: only the proportions differ.
        body = subject_body(seed, subject, dataset="3dhp")
        for seq in ("Seq1", "Seq2"):
            key = f"{subject} {seq}"
            world, actions[key] = _mpi_sequence(seed, (subject, seq), body, frames_per_sequence,
                                                MPI_TRAIN_FPS, area=1.2)
            motion_stats.append(motion_statistics(world, MPI_TRAIN_FPS))
            train[key] = [{cam_id: _camera_view(world, camera)
                           for cam_id, camera in zip(MPI_TRAIN_CAMERAS, studio)}, MPI_TRAIN_FPS]

    test, valid_frames = {}, {}
    for ts in MPI_TEST_SEQUENCES:
        rng = _rng(seed, "3dhp", "test-camera", ts)
        outdoor = MPI_TEST_RESOLUTION[ts][0] == 1920
        camera = _ring_cameras(rng, 1, MPI_TEST_RESOLUTION[ts], radius=(4.5, 6.0) if outdoor else (3.5, 4.5),
                               height=(1.0, 1.6))[0]
        body = subject_body(seed, ts, dataset="3dhp")
        world, actions[ts] = _mpi_sequence(seed, (ts,), body, test_frames, MPI_TEST_FPS[ts], area=1.2)
        motion_stats.append(motion_statistics(world, MPI_TEST_FPS[ts]))
        view = _camera_view(world, camera)
        view["valid"] = _valid_mask(rng, test_frames)
        valid_frames[ts] = int(view["valid"].sum())
        test[ts] = view

    paths = {"train": out_dir / f"data_train_{name}_3dhp.npz", "test": out_dir / f"data_test_{name}_3dhp.npz"}
    write_3dhp_train(paths["train"], train)
    write_3dhp_test(paths["test"], test)
    stats = {
        "seed": seed, "train_sequences": len(train), "train_cameras": len(MPI_TRAIN_CAMERAS),
        "frames_per_sequence": frames_per_sequence, "test_frames": test_frames,
        "valid_test_frames": valid_frames, "actions": actions,
        "max_bone_deviation_mm": max(m["max_bone_deviation_mm"] for m in motion_stats),
        "max_joint_speed_m_s": max(m["max_joint_speed_m_s"] for m in motion_stats),
        "file_bytes": {p.name: p.stat().st_size for p in paths.values()},
        "generation_seconds": time.perf_counter() - started,
    }
    if readme:
        write_data_readme(out_dir, {f"MPI-INF-3DHP layout ('{name}')": stats})
    return stats


# ---------------------------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------------------------
_STATS_FILE = "synthetic_stats.json"
_VOLATILE = ("generation_seconds",)  # wall-clock numbers stay out of the README: it must be reproducible


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    return str(value)


def write_data_readme(out_dir: str | Path, stats: Mapping[str, Mapping]) -> Path:
    """Write ``README.md`` next to the generated files: one section per data set.

    ``stats`` maps a section title to its numbers. Sections written earlier into the same folder (kept in
    ``synthetic_stats.json``) are preserved, so the two generators can each add theirs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sidecar = out_dir / _STATS_FILE
    sections = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    for title, numbers in stats.items():
        sections[title] = {k: v for k, v in numbers.items() if k not in _VOLATILE}
    sidecar.write_text(json.dumps(sections, indent=1, sort_keys=True) + "\n")
    lines = [
        "# Synthetic data (embedded default)",
        "",
        "Written by `diff3dhpe.data.synthetic` in the real Human3.6M (VideoPose3D) and MPI-INF-3DHP",
        "(P-STMO) formats, deterministic for the seed. Synthetic people: per-subject bone lengths, forward",
        "kinematics of per-action joint-angle trajectories, the real Human3.6M cameras (with distortion);",
        "'det' 2D = ground-truth projection + correlated jitter, outliers and left/right swaps.",
        "The linear-lifter numbers (MPJPE of a least-squares 2D→3D map, train subjects → test subjects)",
        "show that 3D cannot be read off the 2D: compare with the mean-pose baseline.",
        "Units: mm, px, m/s, m; bytes for files.",
    ]
    for title in sorted(sections):
        lines += ["", f"## {title}", "", "| quantity | value |", "|---|---|"]
        lines += [f"| {key} | {_format(value)} |" for key, value in sorted(sections[title].items())]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path
