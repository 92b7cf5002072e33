"""2D keypoint files in (diff3dhpe.keypoints, docs/keypoints.md): formats, one person, the table to
Human3.6M-17, missing joints as the dropout corruption writes them, interpolated empty frames, errors
that name the file and the frame."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from diff3dhpe.data.augment import corrupt_dropout
from diff3dhpe.data.camera import normalize_screen_coordinates
from diff3dhpe.data.skeleton import H36M
from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.keypoints import (
    CONVERSION_TABLE,
    LAYOUTS,
    WRITERS,
    Keypoints2D,
    conversion_table_markdown,
    detect_format,
    load_lift_input,
    make_lift_input,
    read_keypoints,
    to_h36m17,
    write_coco,
    write_halpe,
    write_mmpose,
    write_npy,
    write_openpose,
)

IMAGE = (1000, 800)  # (W, H) px
PACKAGE = Path(__file__).resolve().parents[1] / "diff3dhpe" / "keypoints"


def person(layout: str, frames: int, seed: int, centre=(500.0, 400.0), confidence=(0.6, 1.0)) -> np.ndarray:
    """(T, K, 3): a body-sized cloud of joints drifting smoothly inside the image; x, y px, confidence."""
    rng = np.random.default_rng(seed)
    joints = len(LAYOUTS[layout])
    pose = rng.uniform([-80, -200], [80, 200], (joints, 2))
    drift = np.linspace(0, 1, frames)[:, None, None] * rng.uniform(-60, 60, 2)
    xy = np.asarray(centre) + pose + drift + rng.normal(0, 2, (frames, joints, 2))
    return np.concatenate([xy, rng.uniform(*confidence, (frames, joints, 1))], axis=-1)


def in_memory(keypoints: np.ndarray, layout: str) -> Keypoints2D:
    """(T, K, 3) x, y, confidence of ``layout`` as Keypoints2D, no file involved."""
    frames = tuple(range(keypoints.shape[0]))
    return Keypoints2D(keypoints[..., :2].astype(np.float32), keypoints[..., 2].astype(np.float32), layout,
                       IMAGE, "in-memory", frames)


def table_formulas(keypoints: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The conversion table applied by hand: each H36M joint = mean of its sources, confidence = min."""
    names = LAYOUTS[layout]
    xy = np.zeros((keypoints.shape[0], 17, 2))
    confidence = np.zeros((keypoints.shape[0], 17))
    for j, joint in enumerate(H36M.joint_names):
        sources = [names.index(name) for name in CONVERSION_TABLE[layout][joint]]
        xy[:, j] = keypoints[:, sources, :2].mean(axis=1)
        confidence[:, j] = keypoints[:, sources, 2].min(axis=1)
    return xy, confidence


# (writer, its layout, file name, writer options, format detected, image size stored in the file)
FORMAT_CASES = [
    ("coco", "coco17", "results.json", {}, "coco", False),
    ("halpe", "halpe26", "alphapose-results.json", {}, "halpe", False),
    ("mmpose", "coco17", "mmpose-video.json", {}, "mmpose", False),
    ("mmpose", "halpe26", "mmpose-halpe.json", {}, "mmpose", False),
    ("openpose", "body25", "openpose_json", {}, "openpose", False),
    ("mediapipe_csv", "mediapipe33", "landmarks.csv", {"image_size": IMAGE}, "mediapipe", False),
    ("mediapipe_csv", "mediapipe33", "wide.csv", {"image_size": IMAGE, "wide": True}, "mediapipe", False),
    ("mediapipe_json", "mediapipe33", "landmarks.json", {"image_size": IMAGE}, "mediapipe", True),
    ("videopose3d", "h36m17", "data_2d_custom.npz", {"image_size": IMAGE}, "videopose3d", True),
    ("videopose3d", "coco17", "data_2d_coco.npz", {"image_size": IMAGE, "layout": "coco17"}, "videopose3d",
     True),
    ("npy", "h36m17", "keypoints.npy", {}, "npy", False),
    ("csv", "h36m17", "keypoints.csv", {}, "csv", False),
]


def write_case(tmp_path: Path, case, keypoints) -> Path:
    writer, _layout, name, options, _fmt, _sized = case
    path = tmp_path / name
    WRITERS[writer](path, keypoints, **options)
    return path


@pytest.mark.parametrize("case", FORMAT_CASES, ids=[f"{c[0]}-{c[2]}" for c in FORMAT_CASES])
def test_each_format_converts_to_the_table_formulas_applied_to_the_originals(tmp_path, case):
    _writer, layout, _name, _options, fmt, sized = case
    original = person(layout, frames=6, seed=1)
    path = write_case(tmp_path, case, original)

    assert detect_format(path) == fmt
    keypoints = read_keypoints(path, image_size=None if sized else IMAGE)
    assert keypoints.layout == layout and keypoints.image_size == IMAGE
    assert keypoints.frame_ids[0] in (0, "0.jpg") and len(keypoints) == 6
    converted = to_h36m17(keypoints)

    expected_xy, expected_confidence = table_formulas(original, layout)
    np.testing.assert_allclose(converted.xy, expected_xy, atol=1e-3)  # px
    np.testing.assert_allclose(converted.confidence, expected_confidence, atol=1e-6)
    # named explicitly, the reader gives the same keypoints
    forced = read_keypoints(path, fmt, image_size=None if sized else IMAGE)
    np.testing.assert_array_equal(forced.xy, keypoints.xy)


def test_trunk_joints_are_midpoints_of_hips_and_shoulders():
    keypoints = person("coco17", frames=3, seed=2)
    xy, confidence = table_formulas(keypoints, "coco17")
    names = LAYOUTS["coco17"]
    joint = {name: keypoints[:, names.index(name), :2] for name in names}
    pelvis = (joint["l_hip"] + joint["r_hip"]) / 2
    thorax = (joint["l_shoulder"] + joint["r_shoulder"]) / 2
    converted = to_h36m17(in_memory(keypoints, "coco17"))
    index = H36M.joint_names.index
    np.testing.assert_allclose(converted.xy[:, index("pelvis")], pelvis, atol=1e-3)
    np.testing.assert_allclose(converted.xy[:, index("thorax")], thorax, atol=1e-3)
    np.testing.assert_allclose(converted.xy[:, index("spine")], (pelvis + thorax) / 2, atol=1e-3)
    np.testing.assert_allclose(converted.xy[:, index("neck_nose")], joint["nose"], atol=1e-3)
    np.testing.assert_allclose(converted.xy, xy, atol=1e-3)
    hips = keypoints[:, [names.index("l_hip"), names.index("r_hip")], 2]
    np.testing.assert_allclose(converted.confidence[:, index("pelvis")], hips.min(axis=1), atol=1e-6)
    np.testing.assert_allclose(converted.confidence, confidence, atol=1e-6)


def test_halpe_head_is_its_head_top_point_elsewhere_the_middle_of_the_ears():
    assert CONVERSION_TABLE["halpe26"]["head"] == ("head",)
    for layout in ("coco17", "body25", "mediapipe33"):
        assert CONVERSION_TABLE[layout]["head"] == ("l_ear", "r_ear")


def test_lift_input_is_the_converted_pixels_normalised(tmp_path):
    original = person("body25", frames=5, seed=3)
    write_openpose(tmp_path / "op", original)
    lift = load_lift_input(tmp_path / "op", image_size=IMAGE)
    expected_xy, expected_confidence = table_formulas(original, "body25")
    assert lift.x2d.shape == (5, 17, 2) and lift.x2d.dtype == np.float32
    np.testing.assert_allclose(lift.x2d, normalize_screen_coordinates(expected_xy, *IMAGE), atol=1e-5)
    np.testing.assert_allclose(lift.confidence, expected_confidence, atol=1e-6)
    assert not lift.interpolated.any() and not lift.missing.any() and lift.image_size == IMAGE


def test_docs_conversion_table_is_generated_from_the_table():
    text = (Path(__file__).resolve().parents[1] / "docs" / "keypoints.md").read_text()
    start = text.index("-->\n", text.index("<!-- conversion table")) + len("-->\n")
    assert text[start: text.index("<!-- end of conversion table -->")] == conversion_table_markdown()


# ---------------------------------------------------------------------------------------------
# Format detection and forced formats
# ---------------------------------------------------------------------------------------------
WRONG_FORMATS = [
    ("coco", "results.json", "halpe"),
    ("coco", "results.json", "mmpose"),
    ("halpe", "alphapose-results.json", "coco"),
    ("openpose", "openpose_json", "coco"),
    ("mmpose", "mmpose-video.json", "openpose"),
    ("mediapipe_csv", "landmarks.csv", "csv"),
    ("npy", "keypoints.npy", "csv"),
    ("videopose3d", "data_2d_custom.npz", "npy"),
    ("csv", "keypoints.csv", "mediapipe"),
]


@pytest.mark.parametrize("writer, name, forced", WRONG_FORMATS)
def test_a_forced_wrong_format_is_an_error_naming_the_file(tmp_path, writer, name, forced):
    case = next(c for c in FORMAT_CASES if c[0] == writer and c[2] == name)
    path = write_case(tmp_path, case, person(case[1], frames=3, seed=4))
    with pytest.raises(DataFormatError, match=str(path)):
        read_keypoints(path, forced, image_size=IMAGE)


def test_an_unknown_format_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown keypoint format 'detectron'"):
        read_keypoints(tmp_path / "x.json", "detectron")


def test_aliases_name_the_same_readers(tmp_path):
    write_halpe(tmp_path / "a.json", person("halpe26", frames=2, seed=5))
    a = read_keypoints(tmp_path / "a.json", "alphapose")
    b = read_keypoints(tmp_path / "a.json", "halpe")
    np.testing.assert_array_equal(a.xy, b.xy)


def test_mmpose_image_prediction_and_wholebody_keep_the_coco_body(tmp_path):
    body = person("coco17", frames=1, seed=6)
    write_mmpose(tmp_path / "image.json", body, video=False)
    assert read_keypoints(tmp_path / "image.json").layout == "coco17"
    wholebody = np.concatenate([body[0], np.full((116, 3), 0.5) + [300, 300, 0]])  # 133 keypoints
    instance = {"keypoints": wholebody[:, :2].tolist(), "keypoint_scores": wholebody[:, 2].tolist()}
    (tmp_path / "wholebody.json").write_text(json.dumps([{"frame_id": 0, "instances": [instance]}]))
    keypoints = read_keypoints(tmp_path / "wholebody.json")
    assert keypoints.layout == "coco17"
    np.testing.assert_allclose(keypoints.xy[0], body[0, :, :2], atol=1e-3)


# ---------------------------------------------------------------------------------------------
# Several people
# ---------------------------------------------------------------------------------------------
def two_people(frames=6):
    sure = person("coco17", frames, seed=7, centre=(300, 400), confidence=(0.8, 1.0))
    unsure = person("coco17", frames, seed=8, centre=(700, 400), confidence=(0.3, 0.6))
    return sure, unsure


def shuffled_coco(path: Path, people, seed=0) -> None:
    """COCO results with the detections in random order: the file order tells nothing about identity."""
    write_coco(path, people)
    entries = json.loads(path.read_text())
    np.random.default_rng(seed).shuffle(entries)
    path.write_text(json.dumps(entries))


def test_the_most_confident_person_is_chosen_by_default_and_person_1_is_the_next(tmp_path):
    sure, unsure = two_people()
    shuffled_coco(tmp_path / "results.json", [unsure, sure])
    chosen = read_keypoints(tmp_path / "results.json", image_size=IMAGE)
    np.testing.assert_allclose(chosen.xy, sure[..., :2], atol=1e-3)
    other = read_keypoints(tmp_path / "results.json", image_size=IMAGE, person=1)
    np.testing.assert_allclose(other.xy, unsure[..., :2], atol=1e-3)
    with pytest.raises(ConfigError, match="person=2 asked for, but the file holds 2 track"):
        read_keypoints(tmp_path / "results.json", image_size=IMAGE, person=2)


def test_without_track_ids_people_are_linked_by_box_centre_across_a_gap(tmp_path):
    sure, unsure = two_people()
    sure[2, :, :2] = np.nan  # the sure person is not detected in frame 2
    shuffled_coco(tmp_path / "results.json", [unsure, sure], seed=1)
    chosen = read_keypoints(tmp_path / "results.json", image_size=IMAGE)
    assert chosen.present.tolist() == [True, True, False, True, True, True]
    np.testing.assert_allclose(chosen.xy[[0, 1, 3, 4, 5]], sure[[0, 1, 3, 4, 5], :, :2], atol=1e-3)


def test_track_ids_in_the_file_decide_identity(tmp_path):
    sure, unsure = two_people()
    # the two people swap places between frames 2 and 3: linking by position would follow the place,
    # AlphaPose's idx follows the person
    sure[3:, :, 0] += 400
    unsure[3:, :, 0] -= 400
    feet_and_head = person("halpe26", 6, seed=9)[:, 17:]  # Halpe's extra joints, the same for both
    people = [np.concatenate([p, feet_and_head], axis=1) for p in (sure, unsure)]
    write_halpe(tmp_path / "tracked.json", people)
    chosen = read_keypoints(tmp_path / "tracked.json", image_size=IMAGE)
    np.testing.assert_allclose(chosen.xy[:, :17], sure[..., :2], atol=1e-3)


# ---------------------------------------------------------------------------------------------
# Missing joints and empty frames
# ---------------------------------------------------------------------------------------------
def test_a_low_confidence_joint_is_written_as_the_dropout_corruption_writes_a_dropped_joint(tmp_path):
    original = person("h36m17", frames=4, seed=10)
    wrist = H36M.joint_names.index("l_wrist")
    original[1, wrist, 2] = 0.1  # below the 0.3 threshold
    write_npy(tmp_path / "k.npy", original)
    lift = load_lift_input(tmp_path / "k.npy", image_size=IMAGE)

    clean = normalize_screen_coordinates(original[..., :2], *IMAGE).astype(np.float32)
    dropped = corrupt_dropout(clean, 1.0, rng=0)  # what the robustness study feeds for a dropped joint
    np.testing.assert_array_equal(lift.x2d[1, wrist], dropped[1, wrist])
    assert lift.missing[1, wrist] and lift.missing.sum() == 1 and not lift.interpolated.any()
    keep = ~lift.missing
    np.testing.assert_allclose(lift.x2d[keep], clean[keep], atol=1e-5)
    # a higher threshold drops more; threshold 0 drops nothing
    assert load_lift_input(tmp_path / "k.npy", image_size=IMAGE, threshold=0.0).missing.sum() == 0


def test_a_derived_joint_is_missing_when_one_of_its_sources_is_unsure():
    keypoints = person("coco17", frames=3, seed=11)
    keypoints[0, LAYOUTS["coco17"].index("l_hip"), 2] = 0.05
    lift = make_lift_input(in_memory(keypoints, "coco17"))
    missing = {H36M.joint_names[j] for j in np.flatnonzero(lift.missing[0])}
    assert missing == {"pelvis", "l_hip", "spine"}
    assert not lift.missing[1:].any()


def test_a_frame_without_the_person_is_interpolated_linearly_and_flagged(tmp_path):
    original = person("coco17", frames=5, seed=12)
    original[2, :, :2] = np.nan  # no detection in frame 2: image_id 2 is absent from the file
    write_coco(tmp_path / "results.json", original)
    assert 2 not in {entry["image_id"] for entry in json.loads((tmp_path / "results.json").read_text())}
    lift = load_lift_input(tmp_path / "results.json", image_size=IMAGE)

    assert lift.interpolated.tolist() == [False, False, True, False, False]
    np.testing.assert_allclose(lift.x2d[2], (lift.x2d[1] + lift.x2d[3]) / 2, atol=1e-6)
    assert (lift.confidence[2] == 0).all() and not lift.missing.any()
    assert lift.frame_ids == (0, 1, 2, 3, 4)


def test_empty_frames_at_the_ends_hold_the_nearest_seen_pose_and_each_joint_uses_its_own_neighbours(tmp_path):
    original = person("body25", frames=6, seed=13)
    original[[0, 3], :, :2] = np.nan  # frames 0 and 3: people: []
    wrist = LAYOUTS["body25"].index("l_wrist")
    original[2, wrist, 2] = 0.0  # l_wrist unsure in frame 2: frame 3 interpolates it from frames 1 and 4
    write_openpose(tmp_path / "op", original)
    lift = load_lift_input(tmp_path / "op", image_size=IMAGE)

    assert lift.interpolated.tolist() == [True, False, False, True, False, False]
    np.testing.assert_allclose(lift.x2d[0], lift.x2d[1], atol=1e-6)
    h36m_wrist = H36M.joint_names.index("l_wrist")
    before, after = lift.x2d[1, h36m_wrist], lift.x2d[4, h36m_wrist]  # seen in frames 1 and 4
    np.testing.assert_allclose(lift.x2d[3, h36m_wrist], before + (after - before) * 2 / 3, atol=1e-5)
    assert lift.missing[2, h36m_wrist] and not lift.missing[3, h36m_wrist]


# ---------------------------------------------------------------------------------------------
# Bad input: each error names the file (and the frame where there is one)
# ---------------------------------------------------------------------------------------------
def test_an_empty_file_is_an_error_naming_it(tmp_path):
    for name, text in (("empty.json", ""), ("blank.csv", "\n  \n"), ("list.json", "[]")):
        (tmp_path / name).write_text(text)
        with pytest.raises(DataFormatError, match=f"{tmp_path / name}: the file"):
            read_keypoints(tmp_path / name, image_size=IMAGE)


def test_a_json_of_another_format_is_an_error_naming_it(tmp_path):
    path = tmp_path / "person_keypoints_val2017.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(DataFormatError, match=rf"{path}: JSON of an unknown layout \(COCO ground-truth"):
        read_keypoints(path, image_size=IMAGE)
    path.write_text(json.dumps([{"name": "a", "value": 1}]))
    with pytest.raises(DataFormatError, match=f"{path}: JSON of an unknown layout"):
        read_keypoints(path, image_size=IMAGE)


def test_keypoints_outside_the_image_are_an_error_naming_file_frame_and_joint(tmp_path):
    original = person("coco17", frames=5, seed=14)
    original[3, LAYOUTS["coco17"].index("r_ankle"), :2] = (500, 2000)  # image is 800 px high
    write_coco(tmp_path / "results.json", original)
    expected = r"results.json, frame 3 \(index 3\): joint r_ankle at \(500.0, 2000.0\) px lies outside"
    with pytest.raises(DataFormatError, match=expected):
        load_lift_input(tmp_path / "results.json", image_size=IMAGE)
    # a small margin is allowed, and unsure joints are not checked (they are dropped anyway)
    original[3, LAYOUTS["coco17"].index("r_ankle")] = (500, 830, 0.9)
    write_coco(tmp_path / "results.json", original)
    load_lift_input(tmp_path / "results.json", image_size=IMAGE)


def test_already_normalised_keypoints_are_an_error(tmp_path):
    original = person("h36m17", frames=3, seed=15)
    original[..., :2] = normalize_screen_coordinates(original[..., :2], *IMAGE)
    write_npy(tmp_path / "k.npy", original)
    with pytest.raises(DataFormatError, match="look normalised already"):
        load_lift_input(tmp_path / "k.npy", image_size=IMAGE)


def test_nan_in_the_file_is_an_error_naming_file_and_frame(tmp_path):
    original = person("coco17", frames=4, seed=16)
    write_coco(tmp_path / "results.json", original)
    entries = json.loads((tmp_path / "results.json").read_text())
    entries[2]["keypoints"][4] = float("nan")
    (tmp_path / "results.json").write_text(json.dumps(entries))  # json writes NaN
    with pytest.raises(DataFormatError, match=r"results.json, frame 2, person 0: keypoints holds NaN"):
        read_keypoints(tmp_path / "results.json", image_size=IMAGE)

    array = person("h36m17", frames=6, seed=17).astype(np.float32)
    array[4, 7, 0] = np.nan
    np.save(tmp_path / "k.npy", array)
    with pytest.raises(DataFormatError, match=r"k.npy, frame 4: NaN or infinite value at joint 7 \(spine\)"):
        read_keypoints(tmp_path / "k.npy")

    rows = [",".join(["1.5"] * 51)] * 3
    rows[1] = rows[1].replace("1.5", "nan", 1)
    (tmp_path / "k.csv").write_text("\n".join(rows))
    with pytest.raises(DataFormatError, match="k.csv, frame 1: NaN"):
        read_keypoints(tmp_path / "k.csv")


def test_a_missing_image_size_asks_for_it(tmp_path):
    write_coco(tmp_path / "results.json", person("coco17", frames=3, seed=18))
    keypoints = read_keypoints(tmp_path / "results.json")
    assert keypoints.image_size is None
    with pytest.raises(ConfigError, match=r"results.json: the image size is needed .* --image-size W H"):
        make_lift_input(keypoints)
    WRITERS["mediapipe_csv"](tmp_path / "landmarks.csv", person("mediapipe33", 3, 19), IMAGE)
    with pytest.raises(ConfigError, match=r"landmarks.csv: MediaPipe landmarks .* --image-size W H"):
        read_keypoints(tmp_path / "landmarks.csv")


def test_an_image_size_contradicting_the_file_is_an_error(tmp_path):
    WRITERS["videopose3d"](tmp_path / "v.npz", person("h36m17", 3, 20), IMAGE)
    assert read_keypoints(tmp_path / "v.npz", image_size=IMAGE).image_size == IMAGE
    with pytest.raises(ConfigError, match=r"v.npz: the file gives image size 1000x800 but 1920x1080"):
        read_keypoints(tmp_path / "v.npz", image_size=(1920, 1080))


def test_a_person_missing_in_every_frame_is_an_error_naming_the_file(tmp_path):
    original = person("body25", frames=3, seed=21)
    original[..., :2] = np.nan
    write_openpose(tmp_path / "op", original)
    with pytest.raises(DataFormatError, match=f"{tmp_path / 'op'}: no person detected in any of its 3"):
        read_keypoints(tmp_path / "op", image_size=IMAGE)

    unsure = person("h36m17", frames=3, seed=22, confidence=(0.05, 0.2))
    write_npy(tmp_path / "unsure.npy", unsure)
    with pytest.raises(DataFormatError, match=r"unsure.npy: the person is missing in every one of its 3"):
        load_lift_input(tmp_path / "unsure.npy", image_size=IMAGE)


def test_frame_ids_of_an_image_data_set_are_refused(tmp_path):
    entries = [{"image_id": image_id, "category_id": 1, "keypoints": [500.0, 400.0, 0.9] * 17, "score": 0.9}
               for image_id in (139, 285, 581781)]
    (tmp_path / "val2017_results.json").write_text(json.dumps(entries))
    with pytest.raises(DataFormatError, match="frame ids run from 139 to 581781"):
        read_keypoints(tmp_path / "val2017_results.json", image_size=IMAGE)


def test_a_wrong_joint_count_names_the_frame_and_suggests_the_format(tmp_path):
    write_halpe(tmp_path / "a.json", person("halpe26", frames=2, seed=23))
    with pytest.raises(DataFormatError, match=r"a.json, frame '0.jpg', person 0: .* 78 \(that is halpe26"):
        read_keypoints(tmp_path / "a.json", "coco")


# ---------------------------------------------------------------------------------------------
# The house plan: floor 1, next to data/
# ---------------------------------------------------------------------------------------------
ALLOWED = {
    "diff3dhpe.errors", "diff3dhpe.data.skeleton", "diff3dhpe.data.camera", "diff3dhpe.data.safe_pickle",
}
STANDARD_LIBRARY = {
    "__future__", "collections", "csv", "dataclasses", "io", "json", "math", "pathlib", "re", "typing",
}


def test_the_keypoints_package_imports_only_errors_geometry_safe_pickle_and_numpy():
    # examples.py (writes examples/) also uses the synthetic generator and the data readers
    for path in (p for p in PACKAGE.glob("*.py") if p.name != "examples.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                if module.startswith("diff3dhpe"):
                    assert module in ALLOWED or module.startswith("diff3dhpe.keypoints"), (path.name, module)
                else:
                    assert module.split(".")[0] in STANDARD_LIBRARY | {"numpy"}, (path.name, module)
