"""Array formats: VideoPose3D's custom 2D npz, and (T, 17, 2|3) Human3.6M joints as .npy or CSV.

A frame is one row of the array; a joint (0, 0) with confidence 0 is undetected, a frame with no
detected joint has no person. NaN / inf anywhere is an error naming the frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diff3dhpe.data.safe_pickle import load_npz, load_npz_keys
from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.keypoints.layouts import LAYOUTS
from diff3dhpe.keypoints.parsing import Content, Parsed, clean_keypoints, describe, expect
from diff3dhpe.keypoints.sequence import check_image_size


def _parse_array(array: np.ndarray, layout: str, source: str) -> Parsed:
    joints = len(LAYOUTS[layout])
    if not isinstance(array, np.ndarray):
        raise DataFormatError(f"{source}: expected an array (T, {joints}, 2|3), found {type(array).__name__}")
    if array.ndim != 3 or array.shape[1] != joints or array.shape[2] not in (2, 3):
        raise DataFormatError(
            f"{source}: expected an array (T, {joints}, 2) or (T, {joints}, 3) of {layout} joints, "
            f"found shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise DataFormatError(f"{source}: the array has no frames")
    if not np.issubdtype(array.dtype, np.number):
        raise DataFormatError(f"{source}: expected numbers, found dtype {array.dtype}")
    bad = ~np.isfinite(array)
    if bad.any():
        frame, joint = np.argwhere(bad)[0][:2]
        raise DataFormatError(
            f"{source}, frame {frame}: NaN or infinite value at joint {joint} ({LAYOUTS[layout][joint]}); "
            f"{int(bad.any(axis=(1, 2)).sum())} frames hold NaN/inf"
        )
    if array.shape[2] == 2:
        array = np.concatenate([array, np.ones(array.shape[:2] + (1,))], axis=2)
    keypoints = clean_keypoints(array)
    detected = np.flatnonzero(np.isfinite(keypoints[..., :2]).all(axis=-1).any(axis=-1))  # frames with anyone
    one_track = np.zeros(detected.size, dtype=np.int64)
    return Parsed(layout, list(range(array.shape[0])), keypoints[detected], detected, one_track, ordered=True)


_VP3D_LAYOUTS = {"h36m": "h36m17", "coco": "coco17"}


def parse_videopose3d(content: Content, source: str, video: str | None = None, **_: Any) -> Parsed:
    expect(content, ("npz",), "videopose3d", source, "a VideoPose3D custom 2D .npz")
    path = content.data
    keys = load_npz_keys(path)
    if "positions_2d" not in keys:
        raise DataFormatError(
            f"{source}: no key 'positions_2d' (a VideoPose3D 2D file); keys present: {keys}"
        )
    positions = load_npz(path, "positions_2d")
    metadata = load_npz(path, "metadata") if "metadata" in keys else {}
    if not isinstance(positions, dict) or not positions:
        raise DataFormatError(f"{source} [positions_2d]: expected a dict video -> {{'custom': [array]}}")
    if video is None:
        if len(positions) != 1:
            raise ConfigError(
                f"{source}: holds {len(positions)} videos {sorted(positions)}; choose one with video="
            )
        video = next(iter(positions))
    if video not in positions:
        raise ConfigError(f"{source}: no video {video!r}; videos present: {sorted(positions)}")
    entry = positions[video]
    custom = entry.get("custom") if isinstance(entry, dict) else None
    if not (isinstance(custom, (list, tuple)) and len(custom) == 1):
        raise DataFormatError(
            f"{source} [positions_2d][{video!r}]: expected {{'custom': [one array (T, J, 2|3)]}}, "
            f"found {describe(entry)}"
        )
    if not isinstance(metadata, dict):
        raise DataFormatError(f"{source} [metadata]: expected a dict, found {type(metadata).__name__}")
    layout_name = metadata.get("layout_name", "h36m")
    if layout_name not in _VP3D_LAYOUTS:
        raise DataFormatError(
            f"{source} [metadata]: layout_name {layout_name!r} is not supported; expected one of "
            f"{sorted(_VP3D_LAYOUTS)}"
        )
    parsed = _parse_array(entry["custom"][0], _VP3D_LAYOUTS[layout_name], f"{source} [{video!r}]")
    video_metadata = metadata.get("video_metadata") or {}
    size = video_metadata.get(video) if isinstance(video_metadata, dict) else None
    if size is not None:
        if not (isinstance(size, dict) and "w" in size and "h" in size):
            raise DataFormatError(f"{source} [metadata][video_metadata][{video!r}]: expected {{'w', 'h'}}")
        where = f"{source} [metadata][video_metadata][{video!r}]"
        parsed.image_size = check_image_size((size["w"], size["h"]), where, DataFormatError)
    return parsed


def parse_npy(content: Content, source: str, **_: Any) -> Parsed:
    expect(content, ("npy",), "npy", source, "a .npy array (T, 17, 2|3)")
    try:
        array = np.load(content.data, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataFormatError(f"{source}: cannot be read as a plain .npy array: {exc}") from exc
    return _parse_array(array, "h36m17", source)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_csv(content: Content, source: str, **_: Any) -> Parsed:
    expect(content, ("csv",), "csv", source, "a CSV of one frame per row, x0,y0[,c0],x1,y1[,c1],...")
    rows = content.data
    if not all(_is_number(cell) for cell in rows[0]):
        rows = rows[1:]  # a header row
    if not rows:
        raise DataFormatError(f"{source}: the CSV has a header but no frames")
    widths = {len(row) for row in rows}
    if len(widths) != 1 or widths.pop() not in (34, 51):
        raise DataFormatError(
            f"{source}: expected 34 (17 joints x [x, y]) or 51 (x [x, y, c]) numbers per row, found rows of "
            f"{sorted({len(row) for row in rows})} values"
        )
    try:
        array = np.asarray(rows, dtype=str).astype(np.float64)
    except ValueError:
        t = next(t for t, row in enumerate(rows) if not all(_is_number(cell) for cell in row))
        raise DataFormatError(f"{source}, frame {t}: non-numeric value in {rows[t][:6]}...") from None
    return _parse_array(array.reshape(len(rows), 17, -1), "h36m17", source)
