"""The input side of ``diff3dhpe predict``: anyone's 2D keypoint files -> the lifting's 2D input.

    keypoints = read_keypoints("alphapose-results.json", image_size=(1920, 1080))  # Keypoints2D, px
    h36m = to_h36m17(keypoints)                                                    # the table
    lift = make_lift_input(keypoints)            # LiftInput: (T, 17, 2) normalised, missing, interpolated
    lift = load_lift_input(path, image_size=(1920, 1080), person=0, threshold=0.3)  # both at once

Formats, person choice, the conversion table and the missing-joint rule: docs/keypoints.md.
Floor 1 (docs/architecture.md): imports errors, data.skeleton / camera / safe_pickle and numpy only.
"""

from diff3dhpe.keypoints.layouts import (
    CONVERSION_TABLE,
    LAYOUTS,
    conversion_indices,
    conversion_table_markdown,
)
from diff3dhpe.keypoints.lift_input import (
    DEFAULT_CONFIDENCE_THRESHOLD,
    DEFAULT_IMAGE_MARGIN,
    MISSING_JOINT,
    LiftInput,
    load_lift_input,
    make_lift_input,
)
from diff3dhpe.keypoints.readers import FORMATS, canonical_format, detect_format, read_keypoints
from diff3dhpe.keypoints.sequence import Keypoints2D, to_h36m17
from diff3dhpe.keypoints.tracks import rank_tracks
from diff3dhpe.keypoints.writers import (
    WRITERS,
    write_coco,
    write_csv,
    write_halpe,
    write_mediapipe_csv,
    write_mediapipe_json,
    write_mmpose,
    write_npy,
    write_openpose,
    write_videopose3d,
)

__all__ = [
    "CONVERSION_TABLE", "DEFAULT_CONFIDENCE_THRESHOLD", "DEFAULT_IMAGE_MARGIN", "FORMATS", "LAYOUTS",
    "MISSING_JOINT", "WRITERS", "Keypoints2D", "LiftInput", "canonical_format",
    "conversion_indices", "conversion_table_markdown", "detect_format", "load_lift_input",
    "make_lift_input", "rank_tracks", "read_keypoints", "to_h36m17", "write_coco", "write_csv",
    "write_halpe", "write_mediapipe_csv", "write_mediapipe_json", "write_mmpose", "write_npy",
    "write_openpose", "write_videopose3d",
]
