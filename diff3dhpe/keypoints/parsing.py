"""What every format parser shares: its result (``Parsed``), the loaded file (``Content``), the
``Collector`` that turns detections into one array with errors naming the file and frame, and the
undetected-joint rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diff3dhpe.errors import DataFormatError
from diff3dhpe.keypoints.sequence import FrameId

# Keypoints per detection -> layout, for the JSON formats whose joint count names the layout.
LAYOUT_BY_JOINTS = {17: "coco17", 26: "halpe26"}
FORMAT_OF_LAYOUT = {"coco17": "coco", "halpe26": "halpe"}
NUMBER = re.compile(r"\d+")


@dataclass
class Parsed:
    """A file's detections. N detections of K joints; frames in file order (some may hold nobody).

    keypoints: (N, K, 3) float32 x, y, confidence in [0, 1]; undetected joints NaN, NaN, 0.
    frame_of:  (N,) int, index into ``frame_ids``. track_ids: (N,) int or None (no complete ids).
    """

    layout: str
    frame_ids: list[FrameId]
    keypoints: np.ndarray
    frame_of: np.ndarray
    track_ids: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    normalised: bool = False  # MediaPipe: x, y are fractions of the image width / height
    ordered: bool = False  # frame ids are already in frame order (arrays): no spanning by number


@dataclass
class Content:
    kind: str  # 'folder', 'npz', 'npy', 'json', 'csv'
    data: Any = None


def frame_where(source: str, frame_id: FrameId, person: int | None = None) -> str:
    return f"{source}, frame {frame_id!r}" + ("" if person is None else f", person {person}")


def describe(data: Any) -> str:
    if isinstance(data, dict):
        return f"a JSON object with keys {sorted(data)[:8]}"
    if isinstance(data, list):
        if data and isinstance(data[0], dict):
            return f"a JSON list of objects with keys {sorted(data[0])[:8]}"
        return f"a JSON list of {type(data[0]).__name__ if data else 'nothing'}"
    return f"{type(data).__name__}"


def expect(content: Content, kinds: tuple[str, ...], fmt: str, source: str, expected: str) -> None:
    if content.kind not in kinds:
        found = describe(content.data) if content.kind == "json" else f"a {content.kind} file"
        raise DataFormatError(f"{source}: format {fmt!r} expects {expected}; found {found}")


def load_json(path: Path, text: str | None = None) -> Any:
    text = path.read_text(encoding="utf-8-sig") if text is None else text
    if not text.strip():
        raise DataFormatError(f"{path}: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc


def clean_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """(..., K, 3) x, y, confidence as read -> float32, confidence clipped to [0, 1], and a joint written
    as (0, 0) with confidence 0 (how OpenPose and COCO mark it) undetected: NaN, NaN, 0."""
    keypoints = np.array(keypoints, dtype=np.float32)
    keypoints[..., 2] = np.clip(keypoints[..., 2], 0.0, 1.0)
    undetected = (keypoints[..., 0] == 0) & (keypoints[..., 1] == 0) & (keypoints[..., 2] == 0)
    keypoints[undetected, :2] = np.nan
    return keypoints


def track_id(value: Any) -> int | None:
    """A file's track id (AlphaPose idx, MMPose track_id, OpenPose person_id) -> int >= 0, or None."""
    if isinstance(value, (list, tuple)):  # AlphaPose and OpenPose may wrap the id in a list
        value = value[0] if len(value) == 1 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if np.isfinite(value) and float(value).is_integer() and value >= 0:
            return int(value)
    return None


class Collector:
    """Gathers a file's detections, then builds ``Parsed`` with one array conversion.

    ``frame(id)`` records a frame (even one with nobody in it); ``add(id, values, scores, track)``
    adds one person: ``values`` anything of K x 3 numbers (x, y, c), or K x 2 with ``scores`` (K,).
    Where the numbers are not K x 3 finite numbers, the error names the file, frame and person.
    """

    def __init__(self, source: str, layout: str, num_joints: int, what: str):
        self.source, self.layout, self.num_joints, self.what = source, layout, num_joints, what
        self.frame_ids: list[FrameId] = []
        self._index: dict[FrameId, int] = {}
        self.values: list[Any] = []
        self.scores: list[Any] = []
        self.frame_of: list[int] = []
        self.tracks: list[int | None] = []
        self._people: dict[int, int] = {}  # frame index -> people added so far

    def frame(self, frame_id: FrameId) -> int:
        if frame_id not in self._index:
            self._index[frame_id] = len(self.frame_ids)
            self.frame_ids.append(frame_id)
        return self._index[frame_id]

    def add(self, frame_id: FrameId, values: Any, scores: Any = None, track: Any = None) -> None:
        frame = self.frame(frame_id)
        self._people[frame] = self._people.get(frame, 0) + 1
        self.frame_of.append(frame)
        self.values.append(values)
        self.scores.append(scores)
        self.tracks.append(track_id(track))

    def where(self, n: int) -> str:
        """'<file>, frame <id>, person <i>' for detection n (i counts the frame's detections from 0)."""
        frame = self.frame_of[n]
        return frame_where(self.source, self.frame_ids[frame], self.frame_of[:n].count(frame))

    def where_next(self, frame_id: FrameId) -> str:
        """Where the next person added to ``frame_id`` would be, for an error before adding it."""
        return frame_where(self.source, frame_id, self._people.get(self._index.get(frame_id, -1), 0))

    def _array(self, values: list[Any], shape: tuple[int, ...], what: str) -> np.ndarray:
        try:
            array = np.asarray(values, dtype=np.float64).reshape((len(values),) + shape)
        except (TypeError, ValueError):
            for n, value in enumerate(values):  # find the entry that is not shape numbers
                try:
                    np.asarray(value, dtype=np.float64).reshape(shape)
                except (TypeError, ValueError):
                    raise DataFormatError(
                        f"{self.where(n)}: {what} must be {int(np.prod(shape))} numbers {shape}, found "
                        f"{str(value)[:80]}"
                    ) from None
            raise
        bad = ~np.isfinite(array.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            raise DataFormatError(
                f"{self.where(int(np.argmax(bad)))}: {what} holds NaN or infinite values "
                f"({int(bad.sum())} detections do)"
            )
        return array

    def build(self, **options: Any) -> Parsed:
        k = self.num_joints
        if not self.values:
            keypoints = np.zeros((0, k, 3), dtype=np.float32)
        elif self.scores[0] is None:
            keypoints = self._array(self.values, (k, 3), self.what)
        else:
            xy = self._array(self.values, (k, 2), "keypoints")
            scores = self._array(self.scores, (k,), "keypoint_scores")
            keypoints = np.concatenate([xy, scores[..., None]], axis=-1)
        tracks = None if None in self.tracks else np.asarray(self.tracks, dtype=np.int64)
        frame_of = np.asarray(self.frame_of, dtype=np.int64)
        return Parsed(self.layout, self.frame_ids, clean_keypoints(keypoints), frame_of, tracks, **options)
