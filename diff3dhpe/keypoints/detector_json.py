"""The detectors' JSON formats: COCO / AlphaPose results, MMPose inferencer predictions, OpenPose.

Each ``parse_*`` takes the loaded ``Content`` and returns ``Parsed``: per frame id, the people in it.
Layouts and field names are documented in readers.py and docs/keypoints.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diff3dhpe.errors import DataFormatError
from diff3dhpe.keypoints.layouts import LAYOUTS
from diff3dhpe.keypoints.parsing import (
    FORMAT_OF_LAYOUT,
    LAYOUT_BY_JOINTS,
    NUMBER,
    Collector,
    Content,
    Parsed,
    describe,
    expect,
    frame_where,
    load_json,
)
from diff3dhpe.keypoints.sequence import FrameId

WHOLEBODY_JOINTS = 133  # COCO-WholeBody (MMPose 'wholebody'): its first 17 keypoints are COCO's


def is_detection_list(data: Any) -> bool:
    return (
        isinstance(data, list) and bool(data)
        and all(isinstance(d, dict) and "image_id" in d and "keypoints" in d for d in data)
    )


def _parse_detection_list(content: Content, source: str, layout: str, fmt: str) -> Parsed:
    expected = (
        f"a JSON list of {{image_id, category_id, keypoints: [x, y, c] * {len(LAYOUTS[layout])}, score}} "
        "detections"
    )
    expect(content, ("json",), fmt, source, expected)
    data = content.data
    if not is_detection_list(data):
        raise DataFormatError(f"{source}: format {fmt!r} expects {expected}; found {describe(data)}")
    num_joints = len(LAYOUTS[layout])
    collected = Collector(source, layout, num_joints, "keypoints")
    for entry in data:
        frame_id = entry["image_id"]
        if not isinstance(frame_id, (int, str)):
            raise DataFormatError(f"{source}: image_id must be an int or a string, found {frame_id!r}")
        if entry.get("category_id", 1) != 1:  # 1 = person in COCO; anything else is not a body
            collected.frame(frame_id)
            continue
        values = entry["keypoints"]
        count = len(values) if isinstance(values, list) else -1
        if count != 3 * num_joints:
            other = LAYOUT_BY_JOINTS.get(count // 3) if count % 3 == 0 else None
            hint = f" (that is {other}: use format {FORMAT_OF_LAYOUT[other]!r})" if other else ""
            raise DataFormatError(
                f"{collected.where_next(frame_id)}: format {fmt!r} expects {3 * num_joints} "
                f"keypoint numbers ({num_joints} joints x [x, y, c]), found {count}{hint}"
            )
        collected.add(frame_id, values, track=entry.get("idx"))
    return collected.build()


def parse_coco(content: Content, source: str, **_: Any) -> Parsed:
    return _parse_detection_list(content, source, "coco17", "coco")


def parse_halpe(content: Content, source: str, **_: Any) -> Parsed:
    return _parse_detection_list(content, source, "halpe26", "halpe")


# ---------------------------------------------------------------------------------------------
# MMPose inferencer predictions
# ---------------------------------------------------------------------------------------------
def _is_mmpose_instance(item: Any) -> bool:
    return isinstance(item, dict) and "keypoints" in item and "keypoint_scores" in item


def is_mmpose(data: Any) -> bool:
    if not isinstance(data, list) or not data:
        return False
    video = all(isinstance(d, dict) and "frame_id" in d and "instances" in d for d in data)
    return video or all(_is_mmpose_instance(d) for d in data)


def parse_mmpose(content: Content, source: str, **_: Any) -> Parsed:
    expected = (
        "MMPoseInferencer predictions: a JSON list of {frame_id, instances} (video) or of instances "
        "{keypoints: [[x, y]] * K, keypoint_scores: [c] * K} (image)"
    )
    expect(content, ("json",), "mmpose", source, expected)
    data = content.data
    if not is_mmpose(data):
        raise DataFormatError(f"{source}: format 'mmpose' expects {expected}; found {describe(data)}")
    video = "frame_id" in data[0]
    per_frame = [(d["frame_id"], d["instances"]) for d in data] if video else [(0, data)]
    first = next((i for _, instances in per_frame if isinstance(instances, list) for i in instances), None)
    count = len(first["keypoint_scores"]) if _is_mmpose_instance(first) else 17
    kept = 17 if count == WHOLEBODY_JOINTS else count
    if kept not in LAYOUT_BY_JOINTS:
        raise DataFormatError(
            f"{source}: {count} keypoints per instance; expected 17 (COCO), 26 (Halpe) or "
            f"{WHOLEBODY_JOINTS} (COCO-WholeBody)"
        )
    collected = Collector(source, LAYOUT_BY_JOINTS[kept], count, "keypoints")
    for frame_id, instances in per_frame:
        if not isinstance(instances, list) or not all(_is_mmpose_instance(i) for i in instances):
            raise DataFormatError(
                f"{frame_where(source, frame_id)}: 'instances' must be a list of "
                "{keypoints, keypoint_scores} objects"
            )
        collected.frame(frame_id)
        for instance in instances:
            scores, track = instance["keypoint_scores"], instance.get("track_id")
            collected.add(frame_id, instance["keypoints"], scores, track)
    parsed = collected.build()
    parsed.keypoints = parsed.keypoints[:, :kept]  # COCO-WholeBody: its first 17 are COCO's body
    return parsed


# ---------------------------------------------------------------------------------------------
# OpenPose BODY_25: a folder of per-frame JSON files
# ---------------------------------------------------------------------------------------------
def _add_openpose_frame(collected: Collector, frame_id: FrameId, data: Any, where: str) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise DataFormatError(
            f"{where}: expected an OpenPose frame {{people: [{{pose_keypoints_2d: [...]}}]}}, "
            f"found {describe(data)}"
        )
    collected.frame(frame_id)
    for index, person in enumerate(data["people"]):
        values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        count = len(values) if isinstance(values, list) else -1
        if count != 75:
            extra = " (54 = the COCO-18 model; only BODY_25 is supported)" if count == 54 else ""
            raise DataFormatError(
                f"{where}, person {index}: pose_keypoints_2d must hold 75 numbers (BODY_25 x [x, y, c]), "
                f"found {count}{extra}"
            )
        collected.add(frame_id, values, track=person.get("person_id"))


def parse_openpose(content: Content, source: str, **_: Any) -> Parsed:
    expected = "a folder of OpenPose per-frame JSON files (or one such file) with 'people'"
    expect(content, ("folder", "json"), "openpose", source, expected)
    collected = Collector(source, "body25", 25, "pose_keypoints_2d")
    if content.kind == "json":  # a single frame file
        _add_openpose_frame(collected, 0, content.data, frame_where(source, 0))
    else:
        for number, path in content.data:
            _add_openpose_frame(collected, number, load_json(path), f"{path} (frame {number})")
    return collected.build()


def openpose_files(folder: Path) -> list[tuple[int, Path]]:
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise DataFormatError(f"{folder}: folder holds no .json files (expected OpenPose per-frame JSON)")
    numbered = []
    for path in paths:
        numbers = NUMBER.findall(path.stem)
        if not numbers:
            raise DataFormatError(f"{path}: OpenPose frame files need the frame number in their name")
        numbered.append((int(numbers[-1]), path))
    seen: dict[int, Path] = {}
    for number, path in numbered:
        if number in seen:
            raise DataFormatError(
                f"{folder}: frame number {number} appears twice ({seen[number].name}, {path.name})"
            )
        seen[number] = path
    return sorted(numbered)
