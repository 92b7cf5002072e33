"""MediaPipe Pose landmarks (33, x and y as fractions of the image width / height, visibility).

MediaPipe has no file format of its own; these two are accepted (and written by writers.py):
- CSV, long: ``frame,landmark,x,y[,z][,visibility][,presence][,person]``, one row per landmark
  (landmark = 0..32 or MediaPipe's name, e.g. ``left_wrist``); wide: one row per frame (and person),
  columns ``x_0,y_0,z_0,visibility_0,...`` or ``nose_x,nose_y,nose_z,nose_visibility,...``, optional
  ``frame`` (else the row number) and ``person``. An empty x / y cell = landmark not detected.
- JSON: a list of ``{frame, pose_landmarks: [[{x, y, z, visibility}] * 33, ...one list per person]}``
  (``landmark: [...]`` for a single person, as protobuf's MessageToDict writes it), optionally wrapped
  as ``{image_size: [W, H], frames: [...]}``.
The values stay normalised here (``Parsed.normalised``); the reader multiplies by the image size.
"""

from __future__ import annotations

import re

import numpy as np

from diff3dhpe.errors import DataFormatError
from diff3dhpe.keypoints.layouts import MEDIAPIPE_NAMES
from diff3dhpe.keypoints.parsing import (
    Collector,
    Content,
    Parsed,
    clean_keypoints,
    describe,
    expect,
    frame_where,
)
from diff3dhpe.keypoints.sequence import check_image_size

_LANDMARKS = len(MEDIAPIPE_NAMES)
_FIELDS = ("x", "y", "z", "visibility", "presence")
_WIDE_BY_INDEX = re.compile(r"^(x|y|z|visibility|presence)_(\d+)$")
_MAX_NORMALISED = 2.0  # landmarks may lie a little outside the image; far beyond 1 means pixels


def wide_column(name: str) -> tuple[int, str] | None:
    """A wide-CSV column name -> (landmark index, quantity), e.g. 'x_12' or 'left_wrist_x'; else None."""
    match = _WIDE_BY_INDEX.match(name)
    if match and int(match.group(2)) < _LANDMARKS:
        return int(match.group(2)), match.group(1)
    landmark, _, quantity = name.rpartition("_")
    if landmark in MEDIAPIPE_NAMES and quantity in _FIELDS:
        return MEDIAPIPE_NAMES.index(landmark), quantity
    return None


class _Table:
    """The CSV's rows under its header; columns as numbers, errors naming the file and line."""

    def __init__(self, rows: list[list[str]], source: str):
        self.source = source
        self.header = [name.strip().lower() for name in rows[0]]
        self.rows = rows[1:]
        if set(map(len, self.rows)) - {len(self.header)}:
            line, row = next((n, r) for n, r in enumerate(self.rows, start=2) if len(r) != len(self.header))
            raise DataFormatError(
                f"{source}, line {line}: {len(row)} cells, but the header names {len(self.header)} columns"
            )
        table = np.char.strip(np.asarray(self.rows, dtype=str).reshape(len(self.rows), len(self.header)))
        self.columns = list(table.T)
        self.index = {name: i for i, name in enumerate(self.header)}

    def numbers(self, i: int, frames: np.ndarray | None = None) -> np.ndarray:
        """Column i as float64, NaN for an empty cell; text, NaN or inf written in the file: an error."""
        column = self.columns[i]
        empty = column == ""
        try:
            values = np.where(empty, "nan", column).astype(np.float64)
        except ValueError:
            line = next(n for n, cell in enumerate(column.tolist()) if not _is_number(cell))
            raise DataFormatError(
                f"{self.source}, line {line + 2}: column {self.header[i]!r} expects a number, found "
                f"{column[line]!r}"
            ) from None
        bad = ~np.isfinite(values) & ~empty
        if bad.any():
            line = int(np.argmax(bad))
            frame = "" if frames is None else f" (frame {int(frames[line])})"
            raise DataFormatError(
                f"{self.source}, line {line + 2}{frame}: NaN or infinite value in column {self.header[i]!r}"
            )
        return values

    def whole_numbers(self, name: str, default: np.ndarray) -> np.ndarray:
        if name not in self.index:
            return default
        values = self.numbers(self.index[name])
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            line = int(np.argmax(bad))
            raise DataFormatError(
                f"{self.source}, line {line + 2}: {name} must be a whole number, found "
                f"{self.columns[self.index[name]][line]!r}"
            )
        return values.astype(np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == ""
    return True


def _landmark_indices(column: np.ndarray, source: str) -> np.ndarray:
    names, inverse = np.unique(column, return_inverse=True)
    indices = []
    for line_name in names.tolist():
        if line_name in MEDIAPIPE_NAMES:
            indices.append(MEDIAPIPE_NAMES.index(line_name))
        elif line_name.isdigit() and int(line_name) < _LANDMARKS:
            indices.append(int(line_name))
        else:
            line = int(np.argmax(column == line_name)) + 2
            raise DataFormatError(
                f"{source}, line {line}: landmark must be 0..32 or a MediaPipe landmark name, found "
                f"{line_name!r}"
            )
    return np.asarray(indices, dtype=np.int64)[inverse.reshape(-1)]


def _parsed(
    keypoints: np.ndarray, frame: np.ndarray, person: np.ndarray, frames: np.ndarray, source: str
) -> Parsed:
    """keypoints (D, 33, 3) normalised x, y, visibility ((0, 0, 0) = undetected) of person ``person`` in
    frame ``frame`` (frame numbers); ``frames``: every frame number the file names."""
    too_far = (np.abs(keypoints[..., :2]) > _MAX_NORMALISED).any(axis=(1, 2))
    if too_far.any():
        d = int(np.argmax(too_far))
        raise DataFormatError(
            f"{frame_where(source, int(frame[d]), int(person[d]))}: MediaPipe x, y must be fractions of the "
            f"image width / height (about 0..1), found values up to {np.abs(keypoints[d, :, :2]).max():.4g}; "
            "were they converted to pixels already? (then write them as a Human3.6M-17 .npy / .csv or in "
            "another pixel format)"
        )
    frame_ids, frame_of = np.unique(np.concatenate([frames, frame]), return_inverse=True)
    return Parsed(
        "mediapipe33", frame_ids.tolist(), clean_keypoints(keypoints), frame_of[len(frames):].reshape(-1),
        np.asarray(person, dtype=np.int64), normalised=True,
    )


def _parse_long(table: _Table, source: str) -> Parsed:
    """One row per landmark: frame, [person,] landmark, x, y[, visibility]."""
    if "frame" not in table.index:
        raise DataFormatError(f"{source}: MediaPipe long CSV needs a 'frame' column, found {table.header}")
    rows = len(table.rows)
    frame = table.whole_numbers("frame", np.zeros(rows, dtype=np.int64))
    person = table.whole_numbers("person", np.zeros(rows, dtype=np.int64))
    landmark = _landmark_indices(table.columns[table.index["landmark"]], source)
    x, y = (table.numbers(table.index[name], frame) for name in ("x", "y"))
    visibility = (
        table.numbers(table.index["visibility"], frame) if "visibility" in table.index else np.ones(rows)
    )
    seen = np.isfinite(x) & np.isfinite(y)  # an empty x or y: landmark not detected
    pairs, detection = np.unique(np.column_stack([frame, person])[seen], axis=0, return_inverse=True)
    keypoints = np.zeros((len(pairs), _LANDMARKS, 3))
    visibility = np.where(np.isfinite(visibility), visibility, 1.0)
    keypoints[detection.reshape(-1), landmark[seen]] = np.column_stack([x, y, visibility])[seen]
    return _parsed(keypoints, pairs[:, 0], pairs[:, 1], np.unique(frame), source)


def _parse_wide(table: _Table, source: str) -> Parsed:
    """One row per frame (and person): x_0, y_0, visibility_0, ... or nose_x, nose_y, ..."""
    columns = {i: wide_column(name) for i, name in enumerate(table.header)}
    columns = {i: spec for i, spec in columns.items() if spec is not None}
    if not {quantity for _, quantity in columns.values()} >= {"x", "y"}:
        raise DataFormatError(
            f"{source}: not a MediaPipe CSV: expected columns frame,landmark,x,y,visibility (long) or "
            f"x_0,y_0,visibility_0,... / nose_x,nose_y,... (wide), found {table.header[:8]}"
        )
    rows = len(table.rows)
    frame = table.whole_numbers("frame", np.arange(rows))
    person = table.whole_numbers("person", np.zeros(rows, dtype=np.int64))
    values = {"x": np.full((rows, _LANDMARKS), np.nan), "y": np.full((rows, _LANDMARKS), np.nan),
              "visibility": np.ones((rows, _LANDMARKS))}
    for i, (landmark, quantity) in columns.items():
        if quantity in values:
            column = table.numbers(i, frame)
            values[quantity][:, landmark] = np.where(np.isnan(column), values[quantity][:, landmark], column)
    seen = np.isfinite(values["x"]) & np.isfinite(values["y"])  # (rows, 33)
    keypoints = np.where(seen[..., None], np.stack([values["x"], values["y"], values["visibility"]], -1), 0.0)
    detected = seen.any(axis=1)
    return _parsed(keypoints[detected], frame[detected], person[detected], frame, source)


def _json_landmarks(items: object, where: str) -> list[list[object]]:
    if not isinstance(items, list) or len(items) != _LANDMARKS or not all(
        isinstance(item, dict) and "x" in item and "y" in item for item in items
    ):
        raise DataFormatError(f"{where}: expected {_LANDMARKS} landmarks {{x, y, z, visibility}}")
    return [[item["x"], item["y"], item.get("visibility", 1.0)] for item in items]


def mediapipe_json_frames(data: object) -> tuple[list | None, object]:
    """(the list of frames, the image size entry) of a MediaPipe JSON, or (None, None)."""
    image_size = None
    if isinstance(data, dict) and isinstance(data.get("frames"), list):
        image_size = data.get("image_size")
        data = data["frames"]
    if isinstance(data, list) and data and all(
        isinstance(d, dict) and ("pose_landmarks" in d or "landmark" in d) for d in data
    ):
        return data, image_size
    return None, None


def _parse_json(data: object, source: str) -> Parsed:
    frames, image_size = mediapipe_json_frames(data)
    if frames is None:
        raise DataFormatError(
            f"{source}: format 'mediapipe' expects a JSON list of {{frame, pose_landmarks: [[33 landmarks] "
            f"per person]}} (optionally in {{image_size, frames}}), found {describe(data)}"
        )
    collected = Collector(source, "mediapipe33", _LANDMARKS, "landmarks")
    for index, frame in enumerate(frames):
        frame_id = frame.get("frame", index)
        poses = frame["pose_landmarks"] if "pose_landmarks" in frame else [frame["landmark"]]
        if not isinstance(poses, list):
            raise DataFormatError(f"{frame_where(source, frame_id)}: pose_landmarks must be a list of poses")
        collected.frame(frame_id)
        for landmarks in poses:
            collected.add(frame_id, _json_landmarks(landmarks, collected.where_next(frame_id)))
    size = image_size if image_size is None else check_image_size(
        image_size, f"{source} [image_size]", DataFormatError
    )
    parsed = collected.build(image_size=size, normalised=True)
    too_far = (np.abs(parsed.keypoints[..., :2]) > _MAX_NORMALISED).any(axis=(1, 2))
    if too_far.any():
        raise DataFormatError(
            f"{collected.where(int(np.argmax(too_far)))}: MediaPipe x, y must be fractions of the image "
            "width / height (about 0..1); were they converted to pixels already?"
        )
    return parsed


def parse_mediapipe(content: Content, source: str, **_: object) -> Parsed:
    expect(content, ("json", "csv"), "mediapipe", source, "MediaPipe landmarks as CSV or JSON")
    if content.kind == "json":
        return _parse_json(content.data, source)
    table = _Table(content.data, source)
    if {"landmark", "x", "y"} <= table.index.keys():
        return _parse_long(table, source)
    return _parse_wide(table, source)
