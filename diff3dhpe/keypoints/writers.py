"""Write 2D keypoints in each format ``readers`` reads: for tests, round trips and the examples.

Every writer takes ``keypoints``: one person as an array (T, K, 2|3) (x px, y px[, confidence]), or
several people as a list of such arrays (same T and K). A frame where a person's x, y are all NaN is
a frame without that person (left out of the file); a single NaN joint is written as undetected
(0, 0, confidence 0). Without a confidence channel every joint gets confidence 1.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diff3dhpe.data.safe_pickle import save_npz
from diff3dhpe.errors import ShapeError
from diff3dhpe.keypoints.layouts import LAYOUTS, MEDIAPIPE_NAMES
from diff3dhpe.keypoints.sequence import check_image_size

KeypointArrays = np.ndarray | Sequence[np.ndarray]


def _people(keypoints: KeypointArrays, layout: str) -> list[np.ndarray]:
    """-> list of (T, K, 3) float64 arrays, one per person, confidence 1 where none was given."""
    people = [keypoints] if isinstance(keypoints, np.ndarray) and keypoints.ndim == 3 else list(keypoints)
    joints = len(LAYOUTS[layout])
    out = []
    for person in people:
        person = np.asarray(person, dtype=np.float64)
        if person.ndim != 3 or person.shape[1] != joints or person.shape[2] not in (2, 3):
            raise ShapeError(f"{layout} keypoints must be (T, {joints}, 2|3) per person, got {person.shape}")
        if person.shape[2] == 2:
            person = np.concatenate([person, np.ones(person.shape[:2] + (1,))], axis=2)
        out.append(person)
    if not out or len({person.shape[0] for person in out}) != 1:
        raise ShapeError(f"every person needs the same number of frames, got {[p.shape for p in out]}")
    return out


def _frame_people(people: list[np.ndarray], t: int) -> list[np.ndarray]:
    """The people present in frame t, each (K, 3), undetected joints as (0, 0, 0)."""
    present = []
    for person in people:
        keypoints = person[t].copy()
        missing = ~np.isfinite(keypoints[:, :2]).all(axis=-1)
        if missing.all():
            continue
        keypoints[missing] = 0.0
        present.append(keypoints)
    return present


def _box_xyxy(keypoints: np.ndarray) -> list[float]:
    detected = keypoints[:, 2] > 0
    points = keypoints[detected, :2] if detected.any() else keypoints[:, :2]
    return [*points.min(axis=0).tolist(), *points.max(axis=0).tolist()]


def _write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data))


def _write_detection_list(path, keypoints, layout, image_id, track_ids: bool) -> None:
    people = _people(keypoints, layout)
    entries = []
    for t in range(people[0].shape[0]):
        for index, person in enumerate(people):
            found = _frame_people([person], t)
            if not found:
                continue
            entry = {
                "image_id": image_id(t),
                "category_id": 1,
                "keypoints": found[0].reshape(-1).tolist(),
                "score": float(found[0][:, 2].mean()),
            }
            if track_ids:
                x1, y1, x2, y2 = _box_xyxy(found[0])
                entry.update(box=[x1, y1, x2 - x1, y2 - y1], idx=index)
            entries.append(entry)
    _write_json(path, entries)


def write_coco(path: str | Path, keypoints: KeypointArrays) -> None:
    """COCO results JSON (17 joints), ``image_id`` = frame index."""
    _write_detection_list(path, keypoints, "coco17", lambda t: t, track_ids=False)


def write_halpe(path: str | Path, keypoints: KeypointArrays, *, track_ids: bool = True) -> None:
    """AlphaPose results JSON (Halpe-26), ``image_id`` = '<frame>.jpg', ``idx`` = the person's index."""
    _write_detection_list(path, keypoints, "halpe26", lambda t: f"{t}.jpg", track_ids)


def write_mmpose(path: str | Path, keypoints: KeypointArrays, *, video: bool = True) -> None:
    """MMPoseInferencer predictions JSON (17 or 26 joints): a list of {frame_id, instances} for a video,
    or (``video=False``, one frame) the list of instances of an image."""
    first = keypoints if isinstance(keypoints, np.ndarray) and keypoints.ndim == 3 else keypoints[0]
    layout = {17: "coco17", 26: "halpe26"}.get(np.shape(first)[1], "coco17")
    people = _people(keypoints, layout)
    frames = []
    for t in range(people[0].shape[0]):
        instances = [
            {
                "keypoints": found[:, :2].tolist(),
                "keypoint_scores": found[:, 2].tolist(),
                "bbox": [_box_xyxy(found)],
                "bbox_score": 1.0,
            }
            for found in _frame_people(people, t)
        ]
        frames.append({"frame_id": t, "instances": instances})
    if not video:
        if len(frames) != 1:
            raise ShapeError(f"an MMPose image prediction holds one frame, got {len(frames)}")
        _write_json(path, frames[0]["instances"])
        return
    _write_json(path, frames)


def write_openpose(folder: str | Path, keypoints: KeypointArrays, *, name: str = "video") -> None:
    """OpenPose BODY_25 output: ``folder/<name>_<frame:012d>_keypoints.json``, one file per frame."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    people = _people(keypoints, "body25")
    for t in range(people[0].shape[0]):
        entries = [
            {
                "person_id": [-1],
                "pose_keypoints_2d": found.reshape(-1).tolist(),
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
            }
            for found in _frame_people(people, t)
        ]
        _write_json(folder / f"{name}_{t:012d}_keypoints.json", {"version": 1.3, "people": entries})


def _normalised(found: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    out = found.copy()
    out[:, :2] /= np.asarray(image_size, dtype=np.float64)
    return out


def write_mediapipe_csv(
    path: str | Path, keypoints: KeypointArrays, image_size: tuple[int, int], *, wide: bool = False
) -> None:
    """MediaPipe Pose landmarks as CSV, x / W and y / H, z = 0, visibility = confidence.

    long (default): ``frame,person,landmark,x,y,z,visibility``, one row per landmark;
    wide: ``frame,person,nose_x,nose_y,nose_z,nose_visibility,...``, one row per frame and person.
    """
    image_size = check_image_size(image_size, "image_size")
    people = _people(keypoints, "mediapipe33")
    with open(path, "w", newline="") as fp:
        writer = csv.writer(fp)
        if wide:
            quantities = ("x", "y", "z", "visibility")
            writer.writerow(["frame", "person"] + [f"{n}_{q}" for n in MEDIAPIPE_NAMES for q in quantities])
        else:
            writer.writerow(["frame", "person", "landmark", "x", "y", "z", "visibility"])
        for t in range(people[0].shape[0]):
            for index, person in enumerate(people):
                found = _frame_people([person], t)
                if not found:
                    continue
                landmarks = _normalised(found[0], image_size).tolist()  # Python floats: repr round-trips
                if wide:
                    writer.writerow([t, index] + [v for x, y, c in landmarks for v in (x, y, 0.0, c)])
                    continue
                for landmark, (x, y, c) in enumerate(landmarks):
                    writer.writerow([t, index, landmark, x, y, 0.0, c])


def write_mediapipe_json(
    path: str | Path, keypoints: KeypointArrays, image_size: tuple[int, int], *, store_image_size: bool = True
) -> None:
    """MediaPipe Pose landmarks as JSON: ``{image_size: [W, H], frames: [{frame, pose_landmarks}]}``
    (``store_image_size=False``: the bare list of frames, so readers need the size passed)."""
    image_size = check_image_size(image_size, "image_size")
    people = _people(keypoints, "mediapipe33")
    frames = []
    for t in range(people[0].shape[0]):
        poses = [
            [{"x": x, "y": y, "z": 0.0, "visibility": c} for x, y, c in landmarks.tolist()]
            for landmarks in (_normalised(found, image_size) for found in _frame_people(people, t))
        ]
        frames.append({"frame": t, "pose_landmarks": poses})
    _write_json(path, {"image_size": list(image_size), "frames": frames} if store_image_size else frames)


def _single(keypoints: KeypointArrays, layout: str) -> np.ndarray:
    """One person as a (T, K, 3) array: absent frames and undetected joints become (0, 0, 0)."""
    people = _people(keypoints, layout)
    if len(people) != 1:
        raise ShapeError(f"array formats hold one person, got {len(people)}")
    person = people[0].copy()
    person[~np.isfinite(person[..., :2]).all(axis=-1)] = 0.0
    return person


def write_videopose3d(
    path: str | Path,
    keypoints: np.ndarray,
    image_size: tuple[int, int],
    *,
    video: str = "video",
    layout: str = "h36m17",
    confidence: bool = True,
) -> None:
    """VideoPose3D custom 2D npz: positions_2d = {video: {'custom': [(T, 17, 3|2)]}} and metadata with
    layout_name ('h36m' or 'coco'), num_joints, keypoints_symmetry, video_metadata {video: {w, h}}."""
    width, height = check_image_size(image_size, "image_size")
    names = {"h36m17": "h36m", "coco17": "coco"}
    if layout not in names:
        raise ShapeError(f"VideoPose3D custom files hold 'h36m17' or 'coco17' keypoints, got {layout!r}")
    array = _single(keypoints, layout).astype(np.float32)
    joints = LAYOUTS[layout]
    metadata = {
        "layout_name": names[layout],
        "num_joints": len(joints),
        "keypoints_symmetry": [
            [i for i, n in enumerate(joints) if n.startswith("l_")],
            [i for i, n in enumerate(joints) if n.startswith("r_")],
        ],
        "video_metadata": {video: {"w": width, "h": height}},
    }
    custom = array if confidence else array[..., :2]
    save_npz(path, positions_2d={video: {"custom": [custom]}}, metadata=metadata)


def write_npy(path: str | Path, keypoints: np.ndarray, *, confidence: bool = True) -> None:
    """(T, 17, 3) (or (T, 17, 2) without confidence) float32 Human3.6M joints in pixels."""
    array = _single(keypoints, "h36m17").astype(np.float32)
    with open(path, "wb") as fp:  # a file object keeps numpy from appending '.npy'
        np.save(fp, array if confidence else array[..., :2])


def write_csv(
    path: str | Path, keypoints: np.ndarray, *, confidence: bool = True, header: bool = True
) -> None:
    """One row per frame: x0, y0, c0, x1, ... (51 numbers; 34 without confidence); the optional header
    names them ``pelvis_x, pelvis_y, pelvis_c, r_hip_x, ...``."""
    array = _single(keypoints, "h36m17")
    channels = ("x", "y", "c") if confidence else ("x", "y")
    array = array[..., : len(channels)]
    with open(path, "w", newline="") as fp:
        writer = csv.writer(fp)
        if header:
            writer.writerow([f"{joint}_{c}" for joint in LAYOUTS["h36m17"] for c in channels])
        for row in array.reshape(array.shape[0], -1):
            writer.writerow(row.tolist())


WRITERS = {
    "coco": write_coco,
    "halpe": write_halpe,
    "mmpose": write_mmpose,
    "openpose": write_openpose,
    "mediapipe_csv": write_mediapipe_csv,
    "mediapipe_json": write_mediapipe_json,
    "videopose3d": write_videopose3d,
    "npy": write_npy,
    "csv": write_csv,
}
