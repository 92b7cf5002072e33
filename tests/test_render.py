"""diff3dhpe.render: a playable file with one frame per input frame, a strip, clear errors.

The clip is built here from numbers: a standing Human3.6M skeleton (mm, camera coordinates, y down,
facing the camera 4.5 m away) turning about its vertical axis, projected with a pinhole camera.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from diff3dhpe import render
from diff3dhpe.data.camera import normalize_screen_coordinates
from diff3dhpe.errors import ConfigError, ShapeError

T = 12
IMAGE_SIZE = (1000, 1000)
WIDTH, HEIGHT = render.DEFAULT_SIZE
FOCAL_PX, DEPTH_MM = 1000.0, 4500.0

# H36M order: pelvis, r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, spine, thorax, neck_nose, head,
# l_shoulder, l_elbow, l_wrist, r_shoulder, r_elbow, r_wrist. Facing the camera, the person's right
# is on the image's left (x < 0); y points down, z away from the camera.
STANDING_MM = np.array([
    [0, 0, 0], [-130, 0, 0], [-130, 450, 20], [-130, 880, 40], [130, 0, 0], [130, 450, 20],
    [130, 880, 40], [0, -230, 0], [0, -480, 0], [0, -570, -60], [0, -680, 0],
    [170, -450, 0], [210, -200, 0], [220, 30, -40], [-170, -450, 0], [-210, -200, 0], [-220, 30, -40],
], dtype=float)


def turning_clip(frames: int = T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints_2d px (T, 17, 2), poses_3d mm (T, 17, 3), uncertainty mm (T, 17))."""
    angles = np.linspace(0, np.pi / 2, frames)  # a quarter turn about the camera's y axis
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x, y, z = STANDING_MM.T
    poses = np.stack([cos * x + sin * z, np.broadcast_to(y, (frames, len(y))), -sin * x + cos * z], -1)
    depth = poses[..., 2] + DEPTH_MM
    keypoints = FOCAL_PX * poses[..., :2] / depth[..., None] + np.array(IMAGE_SIZE) / 2
    spread = 5 + 0.03 * np.linalg.norm(STANDING_MM, axis=1) + 2.0 * np.arange(frames)[:, None]
    return keypoints, poses, spread


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


def assert_plays_back_as_the_clip(frames: list[np.ndarray]) -> None:
    assert len(frames) == T
    assert all(f.shape == (HEIGHT, WIDTH, 3) for f in frames)
    assert all(f.astype(float).var() > 100 for f in frames), "a blank frame"
    assert all(np.abs(a.astype(int) - b).sum() > 0 for a, b in zip(frames, frames[1:]))


def test_gif_has_one_frame_per_input_frame(tmp_path):
    keypoints, poses, spread = turning_clip()
    path = render.render_video(tmp_path / "clip.gif", keypoints, poses, spread, image_size=IMAGE_SIZE,
                               title="synthetic turn")
    assert path == tmp_path / "clip.gif"
    assert_plays_back_as_the_clip(gif_frames(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]  # no temp file left


def test_mp4_has_one_frame_per_input_frame(tmp_path):
    imageio_ffmpeg = pytest.importorskip(
        "imageio_ffmpeg", reason="imageio-ffmpeg (the packaged ffmpeg) is not installed")
    keypoints, poses, spread = turning_clip()
    path = render.render_video(tmp_path / "clip.mp4", keypoints, poses, spread, image_size=IMAGE_SIZE,
                               view="fixed")
    assert path == tmp_path / "clip.mp4"
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert tuple(meta["size"]) == (WIDTH, HEIGHT)
    frames = [np.frombuffer(raw, np.uint8).reshape(HEIGHT, WIDTH, 3) for raw in reader]
    assert_plays_back_as_the_clip(frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_mp4_without_ffmpeg_falls_back_to_a_gif_beside_it(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(render, "_ffmpeg_available", lambda: False)
    keypoints, poses, _ = turning_clip()
    with caplog.at_level(logging.WARNING, logger="diff3dhpe.render"):
        path = render.render_video(tmp_path / "clip.mp4", keypoints, poses, None, image_size=IMAGE_SIZE)
    assert path == tmp_path / "clip.gif"
    assert "ffmpeg is not available" in caplog.text and "clip.gif" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.gif"]
    assert_plays_back_as_the_clip(gif_frames(path))


def test_max_frames_renders_the_first_frames(tmp_path):
    keypoints, poses, spread = turning_clip()
    path = render.render_video(tmp_path / "clip.gif", keypoints, poses, spread, image_size=IMAGE_SIZE,
                               max_frames=3, size=(256, 128))
    with Image.open(path) as gif:
        assert (gif.n_frames, gif.size) == (3, (256, 128))


def test_strip_is_one_frame_wide_per_shown_frame(tmp_path):
    keypoints, poses, spread = turning_clip()
    path = render.render_strip(tmp_path / "strip.png", keypoints, poses, spread, image_size=IMAGE_SIZE)
    with Image.open(path) as strip:
        assert strip.size == (4 * WIDTH, HEIGHT)
    path = render.render_strip(tmp_path / "three.png", keypoints, poses, None, image_size=IMAGE_SIZE,
                               frames=(0, 5, 11), view="rotate")
    with Image.open(path) as strip:
        assert strip.size == (3 * WIDTH, HEIGHT)


def test_normalised_keypoints_draw_the_same_picture_as_pixels(tmp_path):
    keypoints, poses, spread = turning_clip()
    normalised = normalize_screen_coordinates(keypoints, *IMAGE_SIZE)
    pixels = render.render_strip(tmp_path / "px.png", keypoints, poses, spread, image_size=IMAGE_SIZE,
                                 n=2, size=(256, 128))
    screen = render.render_strip(tmp_path / "norm.png", normalised, poses, spread, image_size=IMAGE_SIZE,
                                 normalised=True, n=2, size=(256, 128))
    with Image.open(pixels) as a, Image.open(screen) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def _bad_inputs():
    keypoints, poses, spread = turning_clip()
    nan_pose = poses.copy()
    nan_pose[4, 13] = np.nan
    return {
        "mismatched T": (ShapeError, "clip.gif", keypoints[:-1], poses, spread, {}),
        "wrong joint count": (ShapeError, "clip.gif", keypoints[:, :16], poses[:, :16], spread[:, :16], {}),
        "NaN in 3D": (ShapeError, "clip.gif", keypoints, nan_pose, spread, {}),
        "uncertainty shape": (ShapeError, "clip.gif", keypoints, poses, spread[:, :5], {}),
        "negative uncertainty": (ShapeError, "clip.gif", keypoints, poses, -spread, {}),
        "unknown suffix": (ConfigError, "clip.avi", keypoints, poses, spread, {}),
        "unknown view": (ConfigError, "clip.gif", keypoints, poses, spread, {"view": "orbit"}),
        "zero fps": (ConfigError, "clip.gif", keypoints, poses, spread, {"fps": 0}),
        "odd frame size": (ConfigError, "clip.gif", keypoints, poses, spread, {"size": (255, 128)}),
        "bad image size": (ConfigError, "clip.gif", keypoints, poses, spread, {"image_size": (0, 10)}),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_input_raises_a_clear_error_and_writes_nothing(tmp_path, case):
    error, name, keypoints, poses, spread, options = _bad_inputs()[case]
    options = {"image_size": IMAGE_SIZE, **options}
    with pytest.raises(error):
        render.render_video(tmp_path / name, keypoints, poses, spread, **options)
    assert list(tmp_path.iterdir()) == []


def test_nan_error_names_the_frame_and_joint(tmp_path):
    keypoints, poses, spread = turning_clip()
    poses[4, 13] = np.nan
    with pytest.raises(ShapeError, match=r"frame 4, joint 13 \(l_wrist\)"):
        render.render_video(tmp_path / "clip.gif", keypoints, poses, spread, image_size=IMAGE_SIZE)


def test_strip_rejects_frames_outside_the_clip_and_other_suffixes(tmp_path):
    keypoints, poses, spread = turning_clip()
    with pytest.raises(ConfigError, match=r"\[0, 12\)"):
        render.render_strip(tmp_path / "s.png", keypoints, poses, spread, image_size=IMAGE_SIZE,
                            frames=(0, 12))
    with pytest.raises(ConfigError, match="expected one of .png"):
        render.render_strip(tmp_path / "s.jpg", keypoints, poses, spread, image_size=IMAGE_SIZE)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_failure_while_rendering_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, suffix):
    if suffix == ".mp4":
        pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (the packaged ffmpeg) is not installed")
    draw = render._SkeletonFigure.frame

    def fail_at_frame_5(self, t):
        if t == 5:
            raise RuntimeError("renderer crashed")
        return draw(self, t)

    monkeypatch.setattr(render._SkeletonFigure, "frame", fail_at_frame_5)
    target = tmp_path / f"clip{suffix}"
    target.write_bytes(b"previous")
    keypoints, poses, spread = turning_clip()
    with pytest.raises(RuntimeError, match="renderer crashed"):
        render.render_video(target, keypoints, poses, spread, image_size=IMAGE_SIZE, size=(256, 128))
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
