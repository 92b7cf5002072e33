"""The 2D keypoint layouts this package reads, and the ONE table that turns each into Human3.6M-17.

Joint names are written the same way in every layout (``l_`` / ``r_`` = the person's left / right),
so a recipe reads the same whatever detector produced the points. The table (``CONVERSION_TABLE``)
maps each of the 17 Human3.6M joints (``skeleton.H36M`` order) to the source joints it is the mean
of: one name = copied, two = midpoint, four = mean of four. A derived joint's confidence is the
minimum of its sources' confidences (a midpoint is only as sure as its least sure end).

``conversion_table_markdown()`` renders the table; docs/keypoints.md holds that rendering (a test
keeps the two equal), so the table itself lives only here.
"""

from __future__ import annotations

import numpy as np

from diff3dhpe.data.skeleton import H36M
from diff3dhpe.errors import ShapeError

# COCO keypoints (COCO results, MMPose, AlphaPose `--format coco`), in file order.
COCO17 = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
# Halpe-26 body keypoints (AlphaPose's default body model): COCO's 17, then head top, neck, hip, feet.
HALPE26 = COCO17 + (
    "head", "neck", "hip", "l_big_toe", "r_big_toe", "l_small_toe", "r_small_toe", "l_heel", "r_heel",
)
# OpenPose BODY_25, in `pose_keypoints_2d` order.
BODY25 = (
    "nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "mid_hip",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear",
    "l_big_toe", "l_small_toe", "l_heel", "r_big_toe", "r_small_toe", "r_heel",
)
# MediaPipe Pose landmarks 0..32 (its own names: "left_eye_inner", "mouth_left", ... see MEDIAPIPE_NAMES).
MEDIAPIPE33 = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer", "l_ear",
    "r_ear", "l_mouth", "r_mouth", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist",
    "r_wrist", "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb", "l_hip", "r_hip",
    "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel", "l_foot_index", "r_foot_index",
)


def _mediapipe_name(name: str) -> str:
    """'l_eye_inner' -> 'left_eye_inner', 'l_mouth' -> 'mouth_left': MediaPipe's own landmark names."""
    side, _, part = name.partition("_")
    if side not in ("l", "r"):
        return name
    side = "left" if side == "l" else "right"
    return f"mouth_{side}" if part == "mouth" else f"{side}_{part}"


# The names MediaPipe itself gives landmarks 0..32 (accepted as CSV column prefixes).
MEDIAPIPE_NAMES = tuple(_mediapipe_name(name) for name in MEDIAPIPE33)

LAYOUTS: dict[str, tuple[str, ...]] = {
    "coco17": COCO17,
    "halpe26": HALPE26,
    "body25": BODY25,
    "mediapipe33": MEDIAPIPE33,
    "h36m17": H36M.joint_names,
}

# What every body layout shares: limbs copied; trunk joints as midpoints of the hips / shoulders;
# neck_nose is the nose (Human3.6M's joint 9 sits at nose height); head is the middle of the ears
# (no layout but Halpe has a head-top point).
_LIMBS = ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
_BODY_RECIPE: dict[str, tuple[str, ...]] = {
    **{f"{side}_{limb}": (f"{side}_{limb}",) for side in ("l", "r") for limb in _LIMBS},
    "pelvis": ("l_hip", "r_hip"),
    "thorax": ("l_shoulder", "r_shoulder"),
    "spine": ("l_hip", "r_hip", "l_shoulder", "r_shoulder"),  # = midpoint of pelvis and thorax
    "neck_nose": ("nose",),
    "head": ("l_ear", "r_ear"),
}

# H36M joint -> source joints averaged, per source layout. THE conversion table.
CONVERSION_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "coco17": _BODY_RECIPE,
    "halpe26": {**_BODY_RECIPE, "head": ("head",)},  # Halpe's head-top point
    "body25": _BODY_RECIPE,
    "mediapipe33": _BODY_RECIPE,
    "h36m17": {name: (name,) for name in H36M.joint_names},
}


def check_layout(layout: str) -> tuple[str, ...]:
    """Joint names of ``layout``; ShapeError naming the known layouts otherwise."""
    if layout not in LAYOUTS:
        raise ShapeError(f"unknown keypoint layout {layout!r}; known layouts: {sorted(LAYOUTS)}")
    return LAYOUTS[layout]


def conversion_indices(layout: str) -> list[tuple[int, ...]]:
    """For each of the 17 H36M joints (in order), the indices of its source joints in ``layout``."""
    names = check_layout(layout)
    recipe = CONVERSION_TABLE[layout]
    return [tuple(names.index(source) for source in recipe[joint]) for joint in H36M.joint_names]


def convert_arrays(xy: np.ndarray, confidence: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Apply the table: xy (T, K, 2), confidence (T, K) of ``layout`` -> (T, 17, 2), (T, 17).

    A derived joint is the mean of its sources (NaN if any source is NaN), its confidence the minimum.
    """
    names = check_layout(layout)
    if xy.ndim != 3 or xy.shape[1:] != (len(names), 2) or confidence.shape != xy.shape[:2]:
        raise ShapeError(
            f"layout {layout!r} expects xy (T, {len(names)}, 2) and confidence (T, {len(names)}), "
            f"got {xy.shape} and {confidence.shape}"
        )
    sources = conversion_indices(layout)
    out_xy = np.stack([xy[:, list(idx)].mean(axis=1) for idx in sources], axis=1)  # (T, 17, 2)
    out_conf = np.stack([confidence[:, list(idx)].min(axis=1) for idx in sources], axis=1)  # (T, 17)
    return out_xy.astype(np.float32), out_conf.astype(np.float32)


def _formula(layout: str, joint: str) -> str:
    names = LAYOUTS[layout]
    parts = [f"{source} ({names.index(source)})" for source in CONVERSION_TABLE[layout][joint]]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return f"mid({', '.join(parts)})"
    return f"mean({', '.join(parts)})"


def conversion_table_markdown() -> str:
    """The conversion table as a Markdown table: one row per H36M joint, one column per layout.

    Cells name the source joints with their index in the source layout: a single name is copied,
    ``mid(a, b)`` is the midpoint, ``mean(...)`` the mean of four.
    """
    layouts = [name for name in CONVERSION_TABLE if name != "h36m17"]
    lines = [
        "| # | Human3.6M joint | " + " | ".join(layouts) + " |",
        "|---|---|" + "---|" * len(layouts),
    ]
    for index, joint in enumerate(H36M.joint_names):
        cells = " | ".join(_formula(layout, joint) for layout in layouts)
        lines.append(f"| {index} | {joint} | {cells} |")
    return "\n".join(lines) + "\n"
