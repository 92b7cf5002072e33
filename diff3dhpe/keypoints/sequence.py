"""``Keypoints2D``: one person's 2D keypoints over a video, in pixels, in the layout of the file read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff3dhpe.errors import ConfigError, ShapeError
from diff3dhpe.keypoints.layouts import check_layout, convert_arrays

FrameId = int | str


def check_image_size(image_size, where: str, error: type[Exception] = ConfigError) -> tuple[int, int]:
    """(W, H) as two positive ints; ``error`` (ConfigError for an option, DataFormatError for a file's
    entry) naming ``where`` otherwise."""
    try:
        width, height = image_size
        if not (float(width) > 0 and float(height) > 0 and float(width).is_integer()
                and float(height).is_integer()):
            raise ValueError
    except (TypeError, ValueError):
        raise error(
            f"{where}: image size must be two positive whole numbers (W, H), got {image_size!r}"
        ) from None
    return int(width), int(height)


@dataclass(frozen=True)
class Keypoints2D:
    """One person's keypoints, T frames of K joints of ``layout`` (layouts.LAYOUTS).

    xy:          (T, K, 2) float32 pixels, image x right, y down; NaN where the joint or the whole
                 person is missing in that frame.
    confidence:  (T, K) float32 in [0, 1]; 0 wherever xy is NaN.
    layout:      'coco17', 'halpe26', 'body25', 'mediapipe33' or 'h36m17'.
    image_size:  (W, H) pixels, or None when neither the file nor the caller gave it.
    source:      the file (or folder) read, for error messages.
    frame_ids:   (T,) the frames' ids as the file names them (image_id, frame_id, the number in an
                 OpenPose file name, the row index of an array).
    """

    xy: np.ndarray
    confidence: np.ndarray
    layout: str
    image_size: tuple[int, int] | None
    source: str
    frame_ids: tuple[FrameId, ...]

    def __post_init__(self) -> None:
        names = check_layout(self.layout)
        frames = len(self.frame_ids)
        if self.xy.shape != (frames, len(names), 2) or self.confidence.shape != (frames, len(names)):
            raise ShapeError(
                f"{self.source}: layout {self.layout!r} with {frames} frames expects xy "
                f"({frames}, {len(names)}, 2) and confidence ({frames}, {len(names)}), "
                f"got {self.xy.shape} and {self.confidence.shape}"
            )
        if self.image_size is not None:
            object.__setattr__(self, "image_size", check_image_size(self.image_size, self.source))

    @property
    def joint_names(self) -> tuple[str, ...]:
        return check_layout(self.layout)

    @property
    def present(self) -> np.ndarray:
        """(T,) bool: the person was detected in the frame (at least one joint has coordinates)."""
        return np.isfinite(self.xy).all(axis=-1).any(axis=-1)

    def __len__(self) -> int:
        return len(self.frame_ids)

    def frame_name(self, t: int) -> str:
        """'frame <id> (index t)' for error messages."""
        return f"frame {self.frame_ids[t]!r} (index {t})"


def to_h36m17(keypoints: Keypoints2D) -> Keypoints2D:
    """The same person in the 17 Human3.6M joints, by layouts.CONVERSION_TABLE.

    A derived joint is the mean of its source joints (NaN if any source is missing) and its
    confidence the minimum of theirs. Pixels, image size, source and frame ids are kept.
    """
    xy, confidence = convert_arrays(keypoints.xy, keypoints.confidence, keypoints.layout)
    confidence = np.where(np.isfinite(xy).all(axis=-1), confidence, 0).astype(np.float32)
    return Keypoints2D(xy, confidence, "h36m17", keypoints.image_size, keypoints.source, keypoints.frame_ids)
