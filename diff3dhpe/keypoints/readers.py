"""Read 2D keypoint files of the common detectors into one ``Keypoints2D`` (docs/keypoints.md).

``read_keypoints(path, format=None, image_size=None, person=0, video=None)`` detects the format from
the content (a folder, a zip, a .npy header, JSON, CSV), or takes it by name (``FORMATS``):

- ``coco``: COCO results JSON ``[{image_id, category_id, keypoints, score}]`` -> coco17
- ``halpe``: AlphaPose results JSON, the same list with 26 keypoints and track ``idx`` -> halpe26
- ``mmpose``: MMPoseInferencer ``pred_out_dir`` JSON -> coco17 / halpe26 (COCO-WholeBody: its first 17)
- ``openpose``: a folder of per-frame JSON, ``people[i].pose_keypoints_2d`` -> body25
  (those four: detector_json.py)
- ``mediapipe``: Pose landmarks as CSV (long or wide) or JSON, x, y normalised -> mediapipe33
  (mediapipe.py)
- ``videopose3d``: VideoPose3D custom 2D npz (``positions_2d``, ``metadata``) -> h36m17 or coco17
  by its ``layout_name``; ``npy``, ``csv``: (T, 17, 2 or 3) pixels[, confidence] -> h36m17 (arrays.py)

Frames: integer frame numbers (COCO ``image_id``, the number in an AlphaPose image name or an
OpenPose file name, MMPose ``frame_id``) span every frame from the first to the last; a number with
no detection is a frame with no person. Several people: tracks.py chooses one.
Errors (DataFormatError, naming the file and, where it applies, the frame): missing or empty file,
content of another format, NaN / infinite values, wrong joint counts, no person in any frame.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.keypoints import arrays, detector_json, mediapipe
from diff3dhpe.keypoints.parsing import (
    FORMAT_OF_LAYOUT,
    LAYOUT_BY_JOINTS,
    NUMBER,
    Content,
    Parsed,
    describe,
    load_json,
)
from diff3dhpe.keypoints.sequence import FrameId, Keypoints2D, check_image_size
from diff3dhpe.keypoints.tracks import select_person

FORMATS = ("coco", "halpe", "mmpose", "openpose", "mediapipe", "videopose3d", "npy", "csv")
FORMAT_ALIASES = {
    "coco17": "coco", "halpe26": "halpe", "alphapose": "halpe", "body25": "openpose",
    "mediapipe33": "mediapipe", "vp3d": "videopose3d",
}
_PARSERS: dict[str, Callable[..., Parsed]] = {
    "coco": detector_json.parse_coco,
    "halpe": detector_json.parse_halpe,
    "mmpose": detector_json.parse_mmpose,
    "openpose": detector_json.parse_openpose,
    "mediapipe": mediapipe.parse_mediapipe,
    "videopose3d": arrays.parse_videopose3d,
    "npy": arrays.parse_npy,
    "csv": arrays.parse_csv,
}
# Integer frame ids spanning more than this many frames per frame present are not one video's frames.
_MAX_SPAN_PER_FRAME = 10


def _frame_number(frame_id: FrameId) -> int | None:
    if isinstance(frame_id, (int, np.integer)) and not isinstance(frame_id, bool):
        return int(frame_id)
    if isinstance(frame_id, str):
        numbers = NUMBER.findall(Path(frame_id).stem)
        return int(numbers[-1]) if numbers else None
    return None


def _arrange_frames(parsed: Parsed, source: str) -> tuple[list[FrameId], np.ndarray]:
    """Frame ids in frame order, and where each of the file's frames goes in it (index array).

    Integer frame numbers span every frame from the first to the last; otherwise file order.
    """
    ids = parsed.frame_ids
    numbers = [_frame_number(frame_id) for frame_id in ids]
    if parsed.ordered or None in numbers or len(set(numbers)) != len(numbers):
        return list(ids), np.arange(len(ids))  # order of first appearance
    first, last = min(numbers), max(numbers)
    span = last - first + 1
    if span > _MAX_SPAN_PER_FRAME * len(ids):
        raise DataFormatError(
            f"{source}: frame ids run from {first} to {last} ({span} frames) but only {len(ids)} of them "
            "appear; expected the consecutive frame numbers of one video (is this a results file of an "
            "image data set?)"
        )
    frame_ids: list[FrameId] = list(range(first, last + 1))
    for frame_id, number in zip(ids, numbers):
        frame_ids[number - first] = frame_id  # keep the file's own id ('12.jpg') where there is one
    return frame_ids, np.asarray(numbers, dtype=np.int64) - first


# ---------------------------------------------------------------------------------------------
# Loading, detection, the public reader
# ---------------------------------------------------------------------------------------------
def _load(path: Path) -> Content:
    if path.is_dir():
        return Content("folder", detector_json.openpose_files(path))
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file or folder")
    with open(path, "rb") as fp:
        head = fp.read(8)
    if not head:
        raise DataFormatError(f"{path}: the file is empty")
    if head.startswith(b"PK"):
        return Content("npz", path)
    if head.startswith(b"\x93NUMPY"):
        return Content("npy", path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataFormatError(f"{path}: neither JSON, CSV, .npy nor .npz (binary content)") from None
    stripped = text.strip()
    if not stripped:
        raise DataFormatError(f"{path}: the file is empty")
    if stripped[0] in "[{":
        data = load_json(path, text)
        if data in ([], {}):
            raise DataFormatError(
                f"{path}: the file holds no keypoints (an empty JSON {type(data).__name__})"
            )
        return Content("json", data)
    rows = [row for row in csv.reader(io.StringIO(stripped)) if len(row) > 1 or (row and row[0].strip())]
    return Content("csv", rows)


def _detect(content: Content, source: str) -> str:
    if content.kind in ("folder", "npz", "npy"):
        return {"folder": "openpose", "npz": "videopose3d", "npy": "npy"}[content.kind]
    data = content.data
    if content.kind == "csv":
        header = [cell.strip().lower() for cell in data[0]]
        wide = [mediapipe.wide_column(name) for name in header if name not in ("frame", "person")]
        all_wide = bool(wide) and None not in wide and {"x", "y"} <= {quantity for _, quantity in wide}
        is_mediapipe = {"landmark", "x", "y"} <= set(header) or all_wide
        return "mediapipe" if is_mediapipe else "csv"
    if detector_json.is_detection_list(data):
        values = data[0]["keypoints"]
        count = len(values) // 3 if isinstance(values, list) else -1
        if count in LAYOUT_BY_JOINTS:
            return FORMAT_OF_LAYOUT[LAYOUT_BY_JOINTS[count]]
        raise DataFormatError(
            f"{source}: a list of detections with {count} keypoints each; expected 17 (COCO) or 26 (Halpe)"
        )
    if detector_json.is_mmpose(data):
        return "mmpose"
    if isinstance(data, dict) and "people" in data:
        return "openpose"
    if mediapipe.mediapipe_json_frames(data)[0] is not None:
        return "mediapipe"
    hint = " (COCO ground-truth annotations, not detection results)" if isinstance(data, dict) and {
        "annotations", "images"} <= data.keys() else ""
    raise DataFormatError(
        f"{source}: JSON of an unknown layout{hint}: found {describe(data)}; expected COCO / AlphaPose "
        "results, MMPose predictions, an OpenPose frame or MediaPipe landmarks (docs/keypoints.md)"
    )


def canonical_format(name: str) -> str:
    """A format name or alias ('alphapose', 'body25', 'vp3d', ...) -> one of FORMATS."""
    key = name.strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ConfigError(
            f"unknown keypoint format {name!r}; known: {list(FORMATS)} (aliases {sorted(FORMAT_ALIASES)})"
        )
    return key


def detect_format(path: str | Path) -> str:
    """The format (one of FORMATS) of a keypoint file or folder, read from its content."""
    path = Path(path)
    return _detect(_load(path), str(path))


def _image_size(from_file: tuple[int, int] | None, given: Any, source: str) -> tuple[int, int] | None:
    given = None if given is None else check_image_size(given, "image_size")
    if from_file is not None and given is not None and from_file != given:
        raise ConfigError(
            f"{source}: the file gives image size {from_file[0]}x{from_file[1]} but {given[0]}x{given[1]} "
            "was passed; drop --image-size or fix the file"
        )
    return from_file if from_file is not None else given


def read_keypoints(
    path: str | Path,
    format: str | None = None,
    *,
    image_size: tuple[int, int] | None = None,
    person: int = 0,
    video: str | None = None,
) -> Keypoints2D:
    """One person's 2D keypoints from a file (or an OpenPose folder), in pixels, in the file's layout.

    format: one of FORMATS (or an alias); None detects it from the content.
    image_size: (W, H) pixels when the file does not hold it (only VideoPose3D npz and a MediaPipe
        JSON with 'image_size' do). MediaPipe landmarks need it to become pixels: without it a
        ConfigError asks for --image-size W H. Elsewhere it may stay None until ``make_lift_input``.
    person: which track when several people appear: 0 = the most confident (tracks.py).
    video: the entry of a VideoPose3D npz holding several videos.
    """
    path = Path(path)
    source = str(path)
    fmt = canonical_format(format) if format is not None else None
    content = _load(path)
    fmt = fmt or _detect(content, source)
    parsed = _PARSERS[fmt](content, source, video=video)
    size = _image_size(parsed.image_size, image_size, source)
    frame_ids, position = _arrange_frames(parsed, source)
    if not frame_ids:
        raise DataFormatError(f"{source}: the file holds no frames")
    frame_of = position[parsed.frame_of]
    xy, confidence = select_person(
        parsed.keypoints, frame_of, parsed.track_ids, len(frame_ids), person, source
    )
    if parsed.normalised:
        if size is None:
            raise ConfigError(
                f"{source}: MediaPipe landmarks are fractions of the image size; pass the video's size "
                "with --image-size W H (image_size=(W, H))"
            )
        xy = (xy * np.asarray(size, dtype=np.float32)).astype(np.float32)
    return Keypoints2D(xy, confidence, parsed.layout, size, source, tuple(frame_ids))
