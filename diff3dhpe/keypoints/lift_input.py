"""From one person's 2D keypoints to what the lifting models consume (``LiftInput``).

1. Checks, on the file's own joints that reach the confidence threshold: the image size is known,
   the points are pixels (not already normalised) and lie inside the image up to a margin.
2. ``to_h36m17``: the conversion table (layouts.CONVERSION_TABLE); derived joints take the minimum
   confidence of their sources.
3. A joint below the confidence threshold is MISSING and is written exactly as the robustness study's
   joint dropout writes a dropped joint (``data.augment.corrupt_dropout``): normalised (0, 0).
4. A frame where no joint reaches the threshold (no person detected, or only unsure points) is
   interpolated linearly in time, joint by joint, between the nearest frames where that joint was
   seen (held constant before the first / after the last); ``interpolated`` flags those frames and
   their confidence is 0. A joint never seen in any frame stays missing.
5. Pixels -> normalised screen coordinates ``X / w * 2 - [1, h / w]`` (camera.normalize_screen_coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diff3dhpe.data.camera import normalize_screen_coordinates
from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.keypoints.readers import read_keypoints
from diff3dhpe.keypoints.sequence import FrameId, Keypoints2D, to_h36m17

DEFAULT_CONFIDENCE_THRESHOLD = 0.3
DEFAULT_IMAGE_MARGIN = 0.1  # fraction of the width / height a keypoint may lie outside the image
# A missing joint, in normalised screen coordinates: what corrupt_dropout writes for a dropped joint.
MISSING_JOINT = (0.0, 0.0)


@dataclass(frozen=True)
class LiftInput:
    """2D input of the lifting, Human3.6M-17 joints (skeleton.H36M order), T frames.

    x2d:          (T, 17, 2) float32 normalised screen coordinates; MISSING_JOINT where ``missing``.
    confidence:   (T, 17) float32 in [0, 1] (min over a derived joint's sources; 0 in interpolated frames).
    interpolated: (T,) bool, frames filled in by interpolation over time.
    missing:      (T, 17) bool, joints written as MISSING_JOINT.
    image_size:   (W, H) pixels the normalisation used (``camera.image_coordinates`` inverts it).
    source, frame_ids: the file and its frames' ids; layout: the layout the file was in.
    """

    x2d: np.ndarray
    confidence: np.ndarray
    interpolated: np.ndarray
    missing: np.ndarray
    image_size: tuple[int, int]
    source: str
    frame_ids: tuple[FrameId, ...]
    layout: str

    def __len__(self) -> int:
        return self.x2d.shape[0]


def _check_settings(threshold: float, margin: float) -> None:
    if not (isinstance(threshold, (int, float, np.floating)) and 0 <= threshold <= 1):
        raise ConfigError(f"confidence threshold must be a number in [0, 1], got {threshold!r}")
    if not (isinstance(margin, (int, float, np.floating)) and 0 <= margin < np.inf):
        raise ConfigError(
            f"image margin must be a finite number >= 0 (a fraction of the image), got {margin!r}"
        )


def _check_pixels(keypoints: Keypoints2D, used: np.ndarray, margin: float) -> None:
    """The used joints are pixels inside the image (up to ``margin``); DataFormatError naming the frame."""
    if not used.any():
        return
    width, height = keypoints.image_size
    points = keypoints.xy[used]  # (N, 2)
    if np.abs(points).max() <= 1.0:
        raise DataFormatError(
            f"{keypoints.source}: every keypoint lies in [-1, 1], so they look normalised already; "
            "expected pixels (x in 0..W, y in 0..H)"
        )
    low = np.array([-margin * width, -margin * height])
    high = np.array([(1 + margin) * width, (1 + margin) * height])
    outside = used & ((keypoints.xy < low) | (keypoints.xy > high)).any(axis=-1)
    if outside.any():
        t, j = np.argwhere(outside)[0]
        x, y = keypoints.xy[t, j]
        raise DataFormatError(
            f"{keypoints.source}, {keypoints.frame_name(t)}: joint {keypoints.joint_names[j]} at "
            f"({x:.1f}, {y:.1f}) px lies outside the {width}x{height} image (margin {margin:.0%}); "
            f"{int(outside.any(axis=1).sum())} frames have such joints. Wrong --image-size, or "
            "coordinates not in pixels?"
        )


def _interpolate(px: np.ndarray, seen: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``frames`` (indices) of px (T, J, 2) joint by joint from the frames where ``seen`` (T, J).

    Returns the filled pixels and (T, J) bool: which (frame, joint) got a value.
    """
    px = px.copy()
    filled = np.zeros(seen.shape, dtype=bool)
    times = np.arange(px.shape[0])
    for j in range(px.shape[1]):
        known = times[seen[:, j]]
        if known.size == 0:
            continue  # never seen: stays missing
        for c in range(2):
            px[frames, j, c] = np.interp(frames, known, px[known, j, c])
        filled[frames, j] = True
    return px, filled


def make_lift_input(
    keypoints: Keypoints2D,
    *,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    margin: float = DEFAULT_IMAGE_MARGIN,
) -> LiftInput:
    """Keypoints of any layout -> LiftInput (the steps in the module docstring).

    threshold: joints with confidence below it are missing. margin: how far outside the image (as a
    fraction of its width / height) a used keypoint may lie before it is an error.
    Raises ConfigError without an image size, DataFormatError (naming file and frame) for points
    outside the image or already normalised, and when no frame has a joint above the threshold.
    """
    _check_settings(threshold, margin)
    if keypoints.image_size is None:
        raise ConfigError(
            f"{keypoints.source}: the image size is needed to normalise the keypoints and the file does not "
            "give it; pass --image-size W H (image_size=(W, H))"
        )
    used = np.isfinite(keypoints.xy).all(axis=-1) & (keypoints.confidence >= threshold)  # (T, K)
    _check_pixels(keypoints, used, margin)

    h36m = to_h36m17(keypoints)
    seen = np.isfinite(h36m.xy).all(axis=-1) & (h36m.confidence >= threshold)  # (T, 17)
    empty = ~seen.any(axis=1)  # (T,)
    if empty.all():
        raise DataFormatError(
            f"{keypoints.source}: the person is missing in every one of its {len(keypoints)} frames "
            f"(no joint with confidence >= {threshold})"
        )
    px, filled = _interpolate(h36m.xy, seen, np.flatnonzero(empty))
    present = seen | filled  # (T, 17)
    width, height = h36m.image_size
    x2d = normalize_screen_coordinates(np.where(present[..., None], px, 0.0), width, height)
    x2d = np.where(present[..., None], x2d, np.asarray(MISSING_JOINT)).astype(np.float32)
    confidence = np.where(empty[:, None], 0.0, h36m.confidence).astype(np.float32)
    return LiftInput(
        x2d=x2d,
        confidence=confidence,
        interpolated=empty,
        missing=~present,
        image_size=h36m.image_size,
        source=keypoints.source,
        frame_ids=keypoints.frame_ids,
        layout=keypoints.layout,
    )


def load_lift_input(
    path: str | Path,
    format: str | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    person: int = 0,
    video: str | None = None,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    margin: float = DEFAULT_IMAGE_MARGIN,
) -> LiftInput:
    """``read_keypoints`` then ``make_lift_input``: a keypoint file -> the lifting's input."""
    keypoints = read_keypoints(path, format, image_size=image_size, person=person, video=video)
    return make_lift_input(keypoints, threshold=threshold, margin=margin)
