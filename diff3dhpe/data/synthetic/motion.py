"""Action styles and one take's motion: joint-angle trajectories, root path and facing direction.

Each of the 15 Human3.6M action groups (DATA.md §3) has a style: locomotion (gait cycles at varying
speed, slow wandering, or standing still), posture (standing, seated, sit-down / stand-up transitions)
and arm / head / torso gestures held for a while and blended smoothly. ``take_motion`` draws one take
from a random stream; ``motion_statistics`` measures the physical plausibility of the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from diff3dhpe.data.skeleton import H36M, NUM_JOINTS
from diff3dhpe.data.synthetic.body import (
    ABD,
    FLEX,
    JOINT_LIMITS_DEG,
    LEFT_SIDE,
    RIGHT_SIDE,
    TWIST,
    TakeMotion,
)
from diff3dhpe.errors import ShapeError


# ---------------------------------------------------------------------------------------------
# Smooth signals
# ---------------------------------------------------------------------------------------------
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
class ActionStyle:
    """How one action group moves; arm families map a gesture name of ``_ARM_FAMILIES`` to its weight."""

    locomotion: str  # "walk" | "wander" | "still"
    posture: str  # "stand" | "seated" | "sit_down"
    primary_arm: Mapping[str, float]
    other_arm: Mapping[str, float]
    hold_s: tuple[float, float] = (1.0, 2.5)
    wander_m: float = 0.35  # amplitude of slow root drift when not walking
    head_deg: float = 12.0  # amplitude of head turning
    torso_deg: float = 6.0  # amplitude of torso sway
    speed_m_s: tuple[float, float] = (1.0, 1.5)


ACTION_STYLES = {
    "Directions": ActionStyle("wander", "stand", {"rest": .4, "point": .4, "gesture": .2},
                              {"rest": .7, "gesture": .3}, head_deg=30),
    "Discussion": ActionStyle("wander", "stand", {"gesture": .6, "rest": .2, "hips": .1, "crossed": .1},
                              {"gesture": .5, "rest": .3, "hips": .2}, torso_deg=10, head_deg=20),
    "Eating": ActionStyle("still", "seated", {"to_mouth": .4, "table": .6}, {"table": .7, "to_mouth": .3},
                          hold_s=(0.8, 2.0), wander_m=0.0),
    "Greeting": ActionStyle("wander", "stand", {"wave": .35, "reach": .3, "rest": .35},
                            {"rest": .7, "gesture": .3}, torso_deg=10),
    "Phoning": ActionStyle("wander", "stand", {"to_ear": .85, "rest": .15}, {"rest": .5, "gesture": .3,
                           "hips": .2}, hold_s=(1.5, 4.0), head_deg=20),
    "Photo": ActionStyle("wander", "stand", {"camera": .6, "rest": .4}, {"camera": .6, "rest": .4},
                         torso_deg=10),
    "Posing": ActionStyle("still", "stand", {"pose": 1.0}, {"pose": 1.0}, hold_s=(1.2, 2.5), wander_m=0.1,
                          torso_deg=12),
    "Purchases": ActionStyle("wander", "stand", {"reach": .5, "rest": .3, "gesture": .2},
                             {"rest": .6, "reach": .4}),
    "Sitting": ActionStyle("still", "seated", {"lap": .5, "gesture": .3, "crossed": .1, "to_mouth": .1},
                           {"lap": .6, "gesture": .3, "crossed": .1}, wander_m=0.0),
    "SittingDown": ActionStyle("still", "sit_down", {"lap": .5, "rest": .3, "gesture": .2},
                               {"lap": .6, "rest": .4}, wander_m=0.05),
    "Smoking": ActionStyle("wander", "stand", {"to_mouth": .45, "rest": .35, "gesture": .2},
                           {"rest": .6, "crossed": .2, "hips": .2}, hold_s=(0.8, 2.0)),
    "Waiting": ActionStyle("still", "stand", {"rest": .5, "crossed": .2, "hips": .2, "gesture": .1},
                           {"rest": .5, "crossed": .2, "hips": .2, "gesture": .1}, hold_s=(1.5, 3.5),
                           wander_m=0.15),
    "WalkDog": ActionStyle("walk", "stand", {"leash": 1.0}, {"rest": 1.0}, speed_m_s=(0.7, 1.1),
                           head_deg=20, torso_deg=8),
    "Walking": ActionStyle("walk", "stand", {"rest": 1.0}, {"rest": 1.0}, speed_m_s=(0.9, 1.4)),
    "WalkTogether": ActionStyle("walk", "stand", {"rest": 1.0}, {"rest": 1.0}, speed_m_s=(0.8, 1.2),
                                head_deg=15),
}


# ---------------------------------------------------------------------------------------------
# One take: joint angles, root path and yaw
# ---------------------------------------------------------------------------------------------
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


def take_motion(group: str, rng: np.random.Generator, n: int, fps: float, area_radius: float) -> TakeMotion:
    """One take of action ``group`` (a key of ``ACTION_STYLES``): ``n`` frames at ``fps`` drawn from ``rng``.

    The root stays within ``area_radius`` metres of the origin; angles are clipped to the joint limits.
    Raises KeyError for an unknown group.
    """
    style = ACTION_STYLES[group]
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

    low, high = JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1]
    return TakeMotion(angles_deg=np.clip(ang, low, high), yaw=yaw, root_xy=root_xy)


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

