"""`diff3dhpe predict`: anyone's 2D keypoints to 3D: evaluate's numbers, any length, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diff3dhpe.assemble import load_run_dataset, load_trained, predict_sequences
from diff3dhpe.cli import main
from diff3dhpe.data.camera import h36m_camera, image_coordinates
from diff3dhpe.data.dataset import PoseSequence
from diff3dhpe.data.skeleton import H36M
from diff3dhpe.errors import Diff3DHPEError
from diff3dhpe.keypoints import (
    write_coco,
    write_csv,
    write_halpe,
    write_mediapipe_csv,
    write_npy,
    write_openpose,
    write_videopose3d,
)
from diff3dhpe.predict import predict_file, skeleton_height, write_prediction
from diff3dhpe.train import train_run

RUN = "h36m-det-f9-diff3dhpe-m-s0"
FRAMES = 9


@pytest.fixture(scope="module")
def trained(study, tmp_path_factory):
    """A tiny Diff3DHPE-M run and its first test sequence, as pixels of camera 0."""
    runs = tmp_path_factory.mktemp("predict-runs")
    train_run(study["params"], RUN, runs, progress=False)
    dataset = load_run_dataset(study["params"], study["params"].find_run(RUN))
    seq = dataset.test[0]
    camera = h36m_camera(seq.subject, int(seq.camera))
    size = (camera.res_w, camera.res_h)
    pixels = image_coordinates(seq.keypoints_2d.astype(np.float64), *size)
    return {"runs": runs, "seq": seq, "pixels": pixels, "size": size, **study}


def _predict(trained, path, **kwargs):
    return predict_file(path, trained["params"], run=RUN, runs_root=trained["runs"],
                        image_size=trained["size"], **kwargs)


def _evaluate_poses(trained, keypoints_2d: np.ndarray) -> np.ndarray:
    """What `evaluate` predicts for this 2D with the same model (the library path)."""
    model = load_trained(trained["params"], RUN, trained["runs"])
    steps = trained["params"].sampling_steps(model.run)
    seq = PoseSequence("S9", "clip", "0", keypoints_2d, np.zeros((*keypoints_2d.shape[:2], 3), np.float32))
    return predict_sequences(trained["params"], model, [seq], H36M, steps)[0][0]


@pytest.mark.parametrize("writer", [write_npy, write_csv, write_videopose3d])
def test_human36m_formats_give_what_evaluate_predicts_from_the_same_2d(trained, tmp_path, writer):
    path = tmp_path / {write_npy: "kp.npy", write_csv: "kp.csv", write_videopose3d: "kp.npz"}[writer]
    confidence = np.ones((*trained["pixels"].shape[:2], 1))
    kwargs = {"image_size": trained["size"]} if writer is write_videopose3d else {}
    writer(path, np.concatenate([trained["pixels"], confidence], axis=-1), **kwargs)
    prediction = _predict(trained, path)
    expected = _evaluate_poses(trained, trained["seq"].keypoints_2d)
    expected = expected - expected[:, :1]  # predict puts the pelvis at the origin
    assert prediction.poses_3d.shape == (len(trained["seq"]), 17, 3)
    np.testing.assert_allclose(prediction.poses_3d, expected, atol=1e-2)  # mm; the 2D went via pixels
    assert prediction.unit == "mm" and not prediction.up_to_scale


@pytest.mark.parametrize("length", [1, FRAMES - 1, FRAMES, FRAMES + 1, 10 * FRAMES + 3])
def test_every_input_frame_gets_one_pose(trained, tmp_path, length):
    pixels = np.resize(trained["pixels"], (length, 17, 2))  # repeats the clip to any length
    write_npy(tmp_path / "kp.npy", pixels)
    prediction = _predict(trained, tmp_path / "kp.npy")
    assert prediction.poses_3d.shape == (length, 17, 3) and prediction.uncertainty.shape == (length, 17)
    assert np.isfinite(prediction.poses_3d).all()
    np.testing.assert_array_equal(prediction.poses_3d[:, 0], 0)  # pelvis at the origin


def _coco_like(pixels: np.ndarray) -> np.ndarray:
    """COCO-17 keypoints (T, 17, 3) px placed where the H36M joints are (hips, knees, ... copied)."""
    name = {n: i for i, n in enumerate(H36M.joint_names)}
    coco = ["neck_nose", "neck_nose", "neck_nose", "head", "head", "l_shoulder", "r_shoulder", "l_elbow",
            "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"]
    out = pixels[:, [name[j] for j in coco]]
    return np.concatenate([out, np.ones((*out.shape[:2], 1))], axis=-1)


@pytest.mark.parametrize("fmt", ["coco", "halpe", "openpose", "mediapipe"])
def test_detector_formats_run_end_to_end(trained, tmp_path, fmt):
    coco = _coco_like(trained["pixels"])
    if fmt == "coco":
        write_coco(path := tmp_path / "res.json", coco)
    elif fmt == "halpe":  # Halpe-26 = COCO-17 + head, neck, hip, feet
        extra = np.repeat(coco[:, :1], 9, axis=1)
        write_halpe(path := tmp_path / "res.json", np.concatenate([coco, extra], axis=1))
    elif fmt == "openpose":  # BODY_25 from COCO: nose, neck, arms, mid-hip, legs, eyes, ears, feet
        order = [0, 5, 6, 8, 10, 5, 7, 9, 11, 12, 14, 16, 11, 13, 15, 1, 2, 3, 4, 15, 15, 15, 16, 16, 16]
        write_openpose(path := tmp_path / "frames", coco[:, order])
    else:  # MediaPipe 33 (the writer stores x / W, y / H and visibility)
        landmarks = np.repeat(coco[:, :1], 33, axis=1).copy()
        for coco_index, mp_index in zip(range(5, 17), [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]):
            landmarks[:, mp_index] = coco[:, coco_index]
        write_mediapipe_csv(path := tmp_path / "landmarks.csv", landmarks, trained["size"])
    prediction = _predict(trained, path)
    assert prediction.poses_3d.shape == (len(trained["pixels"]), 17, 3)
    assert np.isfinite(prediction.poses_3d).all()


def test_hypotheses_give_a_per_joint_spread_in_mm(trained, tmp_path):
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    one = _predict(trained, tmp_path / "kp.npy")
    five = _predict(trained, tmp_path / "kp.npy", hypotheses=5, aggregate="median")
    np.testing.assert_array_equal(one.uncertainty, 0)
    assert (five.uncertainty > 0).all() and five.hypotheses == 5 and five.aggregate == "median"


def test_height_rescales_the_skeleton(trained, tmp_path):
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    prediction = _predict(trained, tmp_path / "kp.npy", height_mm=1700.0)
    assert skeleton_height(prediction.poses_3d) == pytest.approx(1700.0, rel=1e-5)


def test_output_files_state_units_and_frame(trained, tmp_path):
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    prediction = _predict(trained, tmp_path / "kp.npy", hypotheses=2)
    paths = write_prediction(prediction, tmp_path / "out", ("npz", "csv", "json"))
    with np.load(paths[0]) as npz:
        np.testing.assert_array_equal(npz["poses_3d"], prediction.poses_3d)
        assert str(npz["units"]) == "mm" and "pelvis" in str(npz["coordinates"])
        assert list(npz["joint_names"]) == list(H36M.joint_names)
        meta = json.loads(str(npz["metadata"]))
    assert meta["steps"] == trained["params"].sampling_steps(trained["params"].find_run(RUN))
    assert meta["hypotheses"] == 2 and meta["variant"] == "diff3dhpe-m"
    assert paths[1].read_text().startswith("# units")
    assert json.loads(paths[2].read_text())["coordinates"].startswith("camera coordinates")


def test_cli_render_writes_one_video_frame_per_input_frame(trained, tmp_path, capsys):
    write_npy(tmp_path / "kp.npy", trained["pixels"][:12])
    args = ["predict", str(tmp_path / "kp.npy"), "--params", str(trained["path"]), "--run", RUN,
            "--runs-dir", str(trained["runs"]), "--image-size", *map(str, trained["size"]),
            "--out", str(tmp_path / "out"), "--render", str(tmp_path / "clip.gif")]
    assert main(args) == 0
    assert "12 frames lifted" in capsys.readouterr().out
    with Image.open(tmp_path / "clip.gif") as gif:
        assert gif.n_frames == 12
    assert (tmp_path / "clip_strip.png").is_file() and (tmp_path / "out" / "poses_3d.npz").is_file()


def _bad_inputs(tmp_path: Path, pixels: np.ndarray) -> dict:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "other.json").write_text(json.dumps({"annotations": [], "images": []}))
    outside = pixels.copy()
    outside[3, 5] = [1e6, 1e6]
    nan = pixels.copy()
    nan[4, 2] = np.nan
    missing = np.concatenate([pixels, np.zeros((*pixels.shape[:2], 1))], axis=-1)  # confidence 0 everywhere
    write_npy(tmp_path / "outside.npy", outside)
    np.save(tmp_path / "nan.npy", nan)  # as a user's file would hold it (the writer cleans NaN away)
    write_npy(tmp_path / "nobody.npy", missing)
    return {
        "empty.json": (None, "empty"),
        "other.json": (None, "other.json"),
        "outside.npy": (None, "frame 3"),
        "nan.npy": (None, "frame 4"),
        "nobody.npy": (None, "nobody.npy"),
    }


def test_bad_input_names_the_file_and_frame_and_writes_nothing(trained, tmp_path, capsys):
    for name, (_, message) in _bad_inputs(tmp_path, trained["pixels"]).items():
        out = tmp_path / f"out-{name}"
        args = ["predict", str(tmp_path / name), "--params", str(trained["path"]), "--run", RUN,
                "--runs-dir", str(trained["runs"]), "--image-size", *map(str, trained["size"]),
                "--out", str(out)]
        assert main(args) == 2, name
        err = capsys.readouterr().err
        assert name in err and message in err, err
        assert not out.exists()


def test_missing_image_size_is_asked_for(trained, tmp_path):
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    with pytest.raises(Diff3DHPEError, match="--image-size"):
        predict_file(tmp_path / "kp.npy", trained["params"], run=RUN, runs_root=trained["runs"])


def test_official_weights_without_their_constant_are_labelled_up_to_scale(trained, tmp_path):
    import torch

    from diff3dhpe.models import build_model

    model = build_model("mixste", frames=FRAMES, objective="regression", dim=16, depth=1, heads=2)
    torch.save({"epoch": 1, "model_pos": model.state_dict()}, tmp_path / "release.bin")
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    prediction = predict_file(tmp_path / "kp.npy", trained["params"], checkpoint=tmp_path / "release.bin",
                              image_size=trained["size"])
    assert prediction.up_to_scale and prediction.unit == "normalised (up to scale)"
    assert "up to scale" in prediction.scale
    given = predict_file(tmp_path / "kp.npy", trained["params"], checkpoint=tmp_path / "release.bin",
                         image_size=trained["size"], normalisation=1000.0)
    np.testing.assert_allclose(given.poses_3d, prediction.poses_3d * 1000.0, rtol=1e-5, atol=1e-4)
    assert not given.up_to_scale


def test_a_model_of_another_joint_order_is_refused(trained, tmp_path):
    from diff3dhpe.checkpoints import save_checkpoint
    from diff3dhpe.models import build_model

    model = build_model("mixste", frames=FRAMES, objective="regression", dim=16, depth=1, heads=2)
    state = {"model_config": model.config, "model": model.state_dict(), "scale": 1000.0,
             "variant": "mixste", "run": "3dhp-gt-f9-mixste-s0"}
    save_checkpoint(tmp_path / "model.pt", state)
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    with pytest.raises(Diff3DHPEError, match="trained on 3dhp"):
        predict_file(tmp_path / "kp.npy", trained["params"], checkpoint=tmp_path / "model.pt",
                     image_size=trained["size"])


def test_model_choice_errors_are_clear(trained, tmp_path):
    from diff3dhpe.predict import load_model_for_predict

    with pytest.raises(Diff3DHPEError, match="not found"):
        load_model_for_predict(trained["params"], checkpoint=tmp_path / "nope.pt")
    with pytest.raises(Diff3DHPEError, match="either --run or --checkpoint"):
        load_model_for_predict(trained["params"], run=RUN, checkpoint=tmp_path / "nope.pt")


def test_a_packaged_run_predicts_with_its_own_steps_and_says_where_it_came_from(trained, tmp_path):
    from diff3dhpe.predict import package_model

    paths = package_model(trained["params"], RUN, trained["runs"], tmp_path / "pkg", "params.yaml")
    provenance = json.loads(paths[1].read_text())
    run = trained["params"].find_run(RUN)
    assert provenance["steps"] == trained["params"].sampling_steps(run) and provenance["run"] == RUN
    assert set(provenance["baselines"]) == {"mean pose", "linear lifter, 1 frame", "linear lifter, 9 frames"}
    assert provenance["test"]["mpjpe"] > 0 and "synthetic" in provenance["trained_on"]
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    prediction = predict_file(tmp_path / "kp.npy", trained["params"], checkpoint=paths[0],
                              image_size=trained["size"])
    assert prediction.steps == provenance["steps"]
    by_run = _predict(trained, tmp_path / "kp.npy")
    np.testing.assert_allclose(prediction.poses_3d, by_run.poses_3d, atol=1e-4)


def test_the_example_files_are_what_the_generator_makes(tmp_path):
    from diff3dhpe.keypoints import load_lift_input
    from diff3dhpe.keypoints.examples import CAMERA, FILES, SUBJECT, write_examples

    made = write_examples(tmp_path)
    examples = Path(__file__).resolve().parents[1] / "examples"
    np.testing.assert_array_equal(np.load(made[0]), np.load(examples / FILES[0]))
    camera = h36m_camera(SUBJECT, CAMERA)
    from_npy = load_lift_input(examples / FILES[0], image_size=(camera.res_w, camera.res_h))
    from_npz = load_lift_input(examples / FILES[1])  # the VideoPose3D file stores the image size
    np.testing.assert_allclose(from_npy.x2d, from_npz.x2d, atol=1e-6)
    assert from_npz.image_size == (camera.res_w, camera.res_h)


def test_the_bundled_demo_model_is_small_described_and_beats_the_linear_lifter():
    from diff3dhpe.checkpoints import load_lifter
    from diff3dhpe.predict import DEMO_MODEL, DEMO_PROVENANCE

    provenance = json.loads(DEMO_PROVENANCE.read_text())
    assert DEMO_MODEL.stat().st_size <= 5 * 2**20
    loaded = load_lifter(DEMO_MODEL)
    assert (loaded.variant, loaded.run) == ("diff3dhpe-m", provenance["run"])
    assert loaded.frames == provenance["frames"]
    assert "synthetic" in provenance["trained_on"] and provenance["params"]["data"]["source"] == "synthetic"
    for baseline in ("linear lifter, 1 frame", "linear lifter, 9 frames", "mean pose"):
        assert provenance["test"]["mpjpe"] < provenance["baselines"][baseline]["mpjpe"], baseline


@pytest.mark.slow
def test_the_demo_models_test_score_is_reproduced_from_its_own_recipe(tmp_path):
    """configs/demo.yaml's data, regenerated here, scores the bundled model as its provenance says."""
    import yaml

    from diff3dhpe.config import parse_params
    from diff3dhpe.evaluate import baseline_scores, evaluate_checkpoint
    from diff3dhpe.predict import DEMO_MODEL, DEMO_PROVENANCE
    from diff3dhpe.prepare import prepare_data

    provenance = json.loads(DEMO_PROVENANCE.read_text())
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "demo.yaml").read_text())
    raw["data"]["dir"] = str(tmp_path / "data")
    params = parse_params(raw)
    prepare_data(params, tmp_path / "results")
    evaluation = evaluate_checkpoint(params, DEMO_MODEL)
    assert evaluation.summary["mpjpe"] == pytest.approx(provenance["test"]["mpjpe"], abs=0.05)
    lifter = baseline_scores(params, provenance["run"])["linear lifter, 1 frame"]["mpjpe"]
    assert evaluation.summary["mpjpe"] < lifter


def test_a_bad_setting_names_its_flag(trained, tmp_path):
    write_npy(tmp_path / "kp.npy", trained["pixels"])
    with pytest.raises(Diff3DHPEError, match=r"--hypotheses: 0 is out of range"):
        _predict(trained, tmp_path / "kp.npy", hypotheses=0)
