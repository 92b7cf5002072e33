"""Several people per frame -> one track.

Tracks are the file's own track ids where every detection carries one (AlphaPose ``idx``, MMPose
``track_id``, OpenPose ``person_id`` when not -1, the MediaPipe CSV ``person`` column); otherwise
detections are linked greedily frame to frame: the closest (track, detection) pair by the centre of
the box around the detected joints is linked first, then the next closest, as long as the centre
moved less than the larger of the two boxes' diagonals; a detection left over starts a new track.
A track's last box is used however many frames ago it was seen.

Tracks are ranked by their summed confidence (over the frames where the track is present, the mean
confidence of its K joints); ``person=0`` is the most confident track, ``person=1`` the next, ...
"""

from __future__ import annotations

import math

import numpy as np

from diff3dhpe.errors import ConfigError, DataFormatError


def boxes(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """keypoints (N, K, 3) -> centre (N, 2) and diagonal (N,) px (at least 1) of each detection's joints."""
    detected = np.isfinite(keypoints[..., :2]).all(axis=-1)[..., None]  # (N, K, 1)
    low = np.where(detected, keypoints[..., :2], np.inf).min(axis=1)
    high = np.where(detected, keypoints[..., :2], -np.inf).max(axis=1)
    return (low + high) / 2, np.maximum(np.linalg.norm(high - low, axis=-1), 1.0)


def _tracks_from_ids(frame_of: np.ndarray, track_ids: np.ndarray, score: np.ndarray) -> list[np.ndarray]:
    # the same id twice in one frame: keep the more confident detection
    order = np.lexsort((-score, frame_of, track_ids))
    first = np.ones(order.size, dtype=bool)
    first[1:] = (np.diff(track_ids[order]) != 0) | (np.diff(frame_of[order]) != 0)
    kept = order[first]
    return [kept[track_ids[kept] == track] for track in np.unique(track_ids[kept])]


def _tracks_by_linking(frame_of: np.ndarray, centre: np.ndarray, size: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(frame_of, kind="stable")
    starts = np.flatnonzero(np.diff(frame_of[order], prepend=-1))
    boxes_of = np.column_stack([centre, size]).tolist()  # per detection: centre x, y, diagonal
    tracks: list[list[int]] = []
    last: list[list[float]] = []  # per track: its box where last seen
    for detections in np.split(order, starts[1:]):
        detections = detections.tolist()
        pairs = sorted(
            (distance, i, j)
            for i, (tx, ty, ts) in enumerate(last)
            for j, (x, y, s) in enumerate(boxes_of[d] for d in detections)
            if (distance := math.hypot(x - tx, y - ty)) <= max(ts, s)
        )
        linked_tracks, linked = set(), set()
        for _distance, i, j in pairs:
            if i not in linked_tracks and j not in linked:
                tracks[i].append(detections[j])
                last[i] = boxes_of[detections[j]]
                linked_tracks.add(i)
                linked.add(j)
        for j, detection in enumerate(detections):
            if j not in linked:
                tracks.append([detection])
                last.append(boxes_of[detection])
    return [np.asarray(track) for track in tracks]


def rank_tracks(
    keypoints: np.ndarray, frame_of: np.ndarray, track_ids: np.ndarray | None = None
) -> list[np.ndarray]:
    """Detections (N, K, 3) in frames ``frame_of`` (N,) -> tracks (arrays of detection indices, one per
    frame at most), most confident first (ties: the one seen first). Detections with no joint are dropped."""
    present = np.flatnonzero(np.isfinite(keypoints[..., :2]).all(axis=-1).any(axis=-1))
    keypoints, frame_of = keypoints[present], frame_of[present]
    score = keypoints[..., 2].mean(axis=-1)  # (N,) mean confidence of the detection's joints
    if track_ids is not None:
        tracks = _tracks_from_ids(frame_of, track_ids[present], score)
    else:
        tracks = _tracks_by_linking(frame_of, *boxes(keypoints))
    tracks.sort(key=lambda track: (-float(score[track].sum()), int(frame_of[track].min())))
    return [present[track] for track in tracks]


def select_person(
    keypoints: np.ndarray,
    frame_of: np.ndarray,
    track_ids: np.ndarray | None,
    num_frames: int,
    person: int,
    source: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``person``-th most confident track as xy (T, K, 2) px (NaN where absent), confidence (T, K).

    Raises DataFormatError naming ``source`` when no frame has a person, ConfigError when ``person``
    is not one of the tracks found.
    """
    if not (isinstance(person, (int, np.integer)) and not isinstance(person, bool) and person >= 0):
        raise ConfigError(f"person must be a track rank >= 0 (0 = most confident), got {person!r}")
    tracks = rank_tracks(keypoints, frame_of, track_ids)
    if not tracks:
        raise DataFormatError(f"{source}: no person detected in any of its {num_frames} frames")
    if person >= len(tracks):
        raise ConfigError(
            f"{source}: person={person} asked for, but the file holds {len(tracks)} track(s) "
            f"(person=0 is the most confident, up to person={len(tracks) - 1})"
        )
    chosen = tracks[person]
    xy = np.full((num_frames, keypoints.shape[1], 2), np.nan, dtype=np.float32)
    confidence = np.zeros((num_frames, keypoints.shape[1]), dtype=np.float32)
    xy[frame_of[chosen]] = keypoints[chosen, :, :2]
    confidence[frame_of[chosen]] = keypoints[chosen, :, 2]
    return xy, confidence
