"""Pictures of a lifted clip: the 2D keypoints beside the 3D skeleton, with per-joint uncertainty.

Every frame shows, on the left, the 2D input in image pixels (y down, axes = the image) and, on the
right, the 3D pose in camera coordinates turned so that up is up:

    plot x = camera x,   plot y = camera z (depth),   plot z = −camera y (camera y points down)

on one equal scale fixed for the whole clip, seen from the camera (``view="fixed"``) or from an
azimuth turning ``ROTATION_DEG_PER_S`` per second of video (``view="rotate"``). Bones are coloured
by side; joint markers are sized and coloured by the per-joint spread in mm (colour bar, scale fixed
for the clip). A counter "frame t / T" sits in the bottom-left corner.

- ``render_video(path.mp4 | path.gif, ...)``: MP4 (H.264) through the ffmpeg binary that the
  imageio-ffmpeg wheel ships; when it is missing, a GIF is written next to the requested file
  (logged) and its path returned. GIF through Pillow.
- ``render_strip(path.png, ...)``: a few frames side by side, for a quick look.

Files are written through ``atomic_open``: a failure leaves neither a file nor half of one. One
matplotlib figure (Agg canvas, no pyplot) serves a whole clip; a frame only moves its artists.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d import art3d
from PIL import Image

from diff3dhpe.atomic import atomic_open
from diff3dhpe.data.camera import image_coordinates
from diff3dhpe.data.skeleton import H36M, JointLayout
from diff3dhpe.errors import ConfigError, ShapeError

log = logging.getLogger("diff3dhpe.render")

VIEWS = ("rotate", "fixed")
VIDEO_SUFFIXES = (".mp4", ".gif")
DEFAULT_SIZE = (1024, 512)  # (width, height) pixels of one frame; H.264 needs even sides
DPI = 64  # a power of two: width / DPI * DPI is exactly width, so frames have the size asked for
FIXED_AZIMUTH = -90.0  # degrees; the viewer stands at −depth, i.e. where the camera is
ELEVATION = 12.0  # degrees above the horizon
ROTATION_DEG_PER_S = 36.0  # "rotate": one turn every 10 s of video
SIDE_COLORS = {"left": "tab:red", "right": "tab:blue", "centre": "0.35"}
UNCERTAINTY_CMAP = "viridis"
MARKER_AREA = (12.0, 170.0)  # pt²: zero spread … the largest spread of the clip
MIN_COLOUR_SCALE_MM = 1.0  # colour bar top when every spread is (near) zero, e.g. one hypothesis


@dataclass(frozen=True)
class _Clip:
    """Checked inputs, in the units the figure draws."""

    keypoints_2d: np.ndarray  # (T, J, 2) pixels, NaN = joint not detected
    poses_3d: np.ndarray  # (T, J, 3) mm in plot axes (x, depth, up)
    uncertainty: np.ndarray | None  # (T, J) mm
    image_size: tuple[float, float]  # (width, height) pixels

    @property
    def num_frames(self) -> int:
        return len(self.poses_3d)


def render_video(
    path: str | Path,
    keypoints_2d,
    poses_3d,
    uncertainty=None,
    *,
    image_size: tuple[float, float],
    normalised: bool = False,
    fps: float = 25,
    view: str = "rotate",
    layout: JointLayout = H36M,
    title: str | None = None,
    max_frames: int | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> Path:
    """Write an MP4 or GIF with one frame per input frame; return the path actually written.

    keypoints_2d: (T, J, 2) pixels, or normalised screen coordinates with ``normalised=True``
    (``data.camera.normalize_screen_coordinates``); a third (confidence) column is ignored and NaN
    joints are not drawn. poses_3d: (T, J, 3) mm, camera coordinates (x right, y down, z forward),
    pelvis-centred. uncertainty: (T, J) per-joint spread in mm, or None. image_size: (width,
    height) of the image the keypoints come from. max_frames: render only the first frames.
    An ``.mp4`` without ffmpeg (``pip install imageio-ffmpeg``) becomes a ``.gif`` beside it.
    """
    path = Path(path)
    suffix = _check_suffix(path, VIDEO_SUFFIXES)
    _check_view(view, fps, size)
    if max_frames is not None and (isinstance(max_frames, bool) or int(max_frames) != max_frames
                                   or max_frames < 1):
        raise ConfigError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    clip = _check_clip(keypoints_2d, poses_3d, uncertainty, image_size, normalised, layout)

    count = clip.num_frames if max_frames is None else min(clip.num_frames, int(max_frames))
    if count < clip.num_frames:
        log.info("rendering the first %d of %d frames (max_frames)", count, clip.num_frames)
    if suffix == ".mp4" and not _ffmpeg_available():
        gif = path.with_suffix(".gif")
        log.warning("ffmpeg is not available (pip install imageio-ffmpeg): writing the GIF %s "
                    "instead of the MP4 %s", gif, path)
        path, suffix = gif, ".gif"

    figure = _SkeletonFigure(clip, layout, size=size, view=view, fps=fps, title=title)
    frames = (figure.frame(t) for t in range(count))
    try:
        if suffix == ".mp4":
            _write_mp4(path, frames, fps=fps, size=size)
        else:
            _write_gif(path, frames, fps=fps)
    finally:
        frames.close()
    log.info("wrote %s (%d frames, %g fps)", path, count, fps)
    return path


def render_strip(
    path: str | Path,
    keypoints_2d,
    poses_3d,
    uncertainty=None,
    *,
    image_size: tuple[float, float],
    normalised: bool = False,
    frames: Sequence[int] | None = None,
    n: int = 4,
    fps: float = 25,
    view: str = "fixed",
    layout: JointLayout = H36M,
    title: str | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> Path:
    """Write a PNG of a few frames side by side (``len(frames)`` × width wide); return its path.

    frames: the frame indices to show; default ``n`` frames evenly spread over the clip. The other
    arguments are those of ``render_video`` (``fps`` only sets the azimuth of ``view="rotate"``).
    """
    path = Path(path)
    _check_suffix(path, (".png",))
    _check_view(view, fps, size)
    clip = _check_clip(keypoints_2d, poses_3d, uncertainty, image_size, normalised, layout)
    indices = _strip_indices(frames, n, clip.num_frames)

    figure = _SkeletonFigure(clip, layout, size=size, view=view, fps=fps, title=title)
    strip = np.concatenate([figure.frame(t) for t in indices], axis=1)  # (H, len(indices)·W, 3)
    with atomic_open(path) as handle:
        Image.fromarray(strip).save(handle, format="PNG")
    log.info("wrote %s (frames %s)", path, ", ".join(map(str, indices)))
    return path


class _SkeletonFigure:
    """One figure for a whole clip; ``frame(t)`` moves the artists to frame t and returns its RGB."""

    def __init__(self, clip: _Clip, layout: JointLayout, *, size: tuple[int, int], view: str,
                 fps: float, title: str | None):
        self.clip, self.view, self.fps = clip, view, fps
        self.size = (int(size[0]), int(size[1]))
        self.children = np.array([j for j, p in enumerate(layout.parents) if p >= 0])
        self.parents = np.array([layout.parents[j] for j in self.children])
        bone_colors = [SIDE_COLORS[_side(layout, j)] for j in self.children]

        width, height = self.size
        self.fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        if title:
            self.fig.text(0.5, 0.975, title, ha="center", va="top", fontsize=14)
        self.counter = self.fig.text(0.01, 0.015, "", ha="left", va="bottom", fontsize=13,
                                     family="monospace")

        # Left: the 2D input on the image's own axes, y down.
        ax2d = self.fig.add_axes((0.06, 0.10, 0.38, 0.78))
        image_w, image_h = clip.image_size
        ax2d.set_xlim(0, image_w)
        ax2d.set_ylim(image_h, 0)
        ax2d.set_aspect("equal", adjustable="box")
        ax2d.set_title("2D keypoints (image px)", fontsize=12)
        ax2d.tick_params(labelsize=10)
        self.bones_2d = LineCollection([], colors=bone_colors, linewidths=2.5)
        ax2d.add_collection(self.bones_2d, autolim=False)
        (self.joints_2d,) = ax2d.plot([], [], "o", color="0.1", markersize=3.5, linestyle="none")
        ax2d.legend(handles=[Line2D([], [], color=SIDE_COLORS[s], lw=2.5, label=s)
                             for s in ("left", "right")], loc="upper right", fontsize=9)

        # Right: the 3D pose, equal scale fixed for the clip.
        self.ax3d = ax3d = self.fig.add_axes((0.47, 0.02, 0.42, 0.90), projection="3d")
        ax3d.set_title("3D pose (camera frame, mm)", fontsize=12)
        centre, half = _cube(clip.poses_3d)
        for axis, c in zip((ax3d.set_xlim3d, ax3d.set_ylim3d, ax3d.set_zlim3d), centre):
            axis(c - half, c + half)
        ax3d.set_box_aspect((1, 1, 1), zoom=1.1)
        ax3d.set_autoscale_on(False)
        for axis, label in zip((ax3d.xaxis, ax3d.yaxis, ax3d.zaxis), ("x", "depth z", "up −y")):
            axis.set_major_locator(MaxNLocator(3))
            axis.set_label_text(label, fontsize=10)
        ax3d.tick_params(labelsize=9)
        self.bones_3d = art3d.Line3DCollection([], colors=bone_colors, linewidths=2.5)
        ax3d.add_collection3d(self.bones_3d, autolim=False)

        joints = layout.num_joints
        if clip.uncertainty is None:
            self.norm = None
            marker_colors = [SIDE_COLORS[_side(layout, j)] for j in range(joints)]
            self.joints_3d = ax3d.scatter(np.zeros(joints), np.zeros(joints), np.zeros(joints),
                                          s=MARKER_AREA[0] * 2, c=marker_colors, depthshade=False,
                                          edgecolors="0.1", linewidths=0.5)
        else:
            top = max(float(clip.uncertainty.max()), MIN_COLOUR_SCALE_MM)
            self.norm = Normalize(0.0, top)
            self.joints_3d = ax3d.scatter(np.zeros(joints), np.zeros(joints), np.zeros(joints),
                                          c=np.zeros(joints), cmap=UNCERTAINTY_CMAP, norm=self.norm,
                                          depthshade=False, edgecolors="0.1", linewidths=0.5)
            bar = self.fig.colorbar(self.joints_3d, cax=self.fig.add_axes((0.91, 0.22, 0.013, 0.56)))
            bar.set_label("per-joint spread (mm): colour and marker size", fontsize=11)
            bar.ax.tick_params(labelsize=10)

    def frame(self, t: int) -> np.ndarray:
        """Draw frame t; (height, width, 3) uint8."""
        keypoints, pose = self.clip.keypoints_2d[t], self.clip.poses_3d[t]  # (J, 2), (J, 3)
        self.bones_2d.set_segments(np.stack([keypoints[self.children], keypoints[self.parents]], 1))
        self.joints_2d.set_data(keypoints[:, 0], keypoints[:, 1])
        self.bones_3d.set_segments(np.stack([pose[self.children], pose[self.parents]], 1))
        if self.norm is not None:
            spread = self.clip.uncertainty[t]  # (J,) mm
            low, high = MARKER_AREA
            self.joints_3d.set_sizes(low + (high - low) * self.norm(spread).filled(0.0))
            self.joints_3d.set_array(spread)
        self.joints_3d.set_offsets(pose[:, :2])
        self.joints_3d.set_3d_properties(pose[:, 2], "z")
        self.ax3d.view_init(elev=ELEVATION, azim=self._azimuth(t))
        self.counter.set_text(f"frame {t + 1} / {self.clip.num_frames}")

        self.fig.canvas.draw()
        rgba = np.asarray(self.fig.canvas.buffer_rgba())
        if rgba.shape[:2] != self.size[::-1]:
            raise RuntimeError(f"matplotlib drew {rgba.shape[1]}×{rgba.shape[0]} pixels, "
                               f"expected {self.size[0]}×{self.size[1]}")
        return np.ascontiguousarray(rgba[..., :3])

    def _azimuth(self, t: int) -> float:
        if self.view == "fixed":
            return FIXED_AZIMUTH
        return FIXED_AZIMUTH + ROTATION_DEG_PER_S * t / self.fps


def _write_gif(path: Path, frames: Iterator[np.ndarray], *, fps: float) -> None:
    """Pillow GIF, looping; each frame gets its own 256-colour palette (plots have few colours)."""
    images = (Image.fromarray(rgb).quantize(256, method=Image.Quantize.FASTOCTREE,
                                            dither=Image.Dither.NONE) for rgb in frames)
    first = next(images)
    # GIF stores delays in 1/100 s: 25 fps is exact, 30 fps plays at 1/0.03 ≈ 33 fps.
    with atomic_open(path) as handle:
        first.save(handle, format="GIF", save_all=True, append_images=images,
                   duration=round(1000 / fps), loop=0)


def _write_mp4(path: Path, frames: Iterable[np.ndarray], *, fps: float, size: tuple[int, int]) -> None:
    """H.264 (yuv420p, plays everywhere) encoded in a private temp folder, then copied atomically."""
    import imageio_ffmpeg

    with tempfile.TemporaryDirectory(prefix="diff3dhpe-render-") as folder:
        encoded = Path(folder) / "clip.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(encoded), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=7,
            macro_block_size=2, ffmpeg_log_level="error", output_params=["-movflags", "+faststart"],
        )
        _send(writer, None, path)  # start ffmpeg
        try:
            for rgb in frames:  # an error while drawing propagates as it is
                _send(writer, rgb, path)
        except BaseException:
            with contextlib.suppress(Exception):
                writer.close()
            raise
        try:
            writer.close()
        except (OSError, RuntimeError) as err:
            raise _encoder_error(path, err) from None
        with encoded.open("rb") as source, atomic_open(path) as handle:
            shutil.copyfileobj(source, handle)


def _send(writer, frame: np.ndarray | None, path: Path) -> None:
    """One frame (None: start) to ffmpeg; its failures (a missing codec, a full disk) as ConfigError."""
    try:
        writer.send(frame)
    except (OSError, RuntimeError, StopIteration) as err:
        raise _encoder_error(path, err) from None


def _encoder_error(path: Path, err: BaseException) -> ConfigError:
    return ConfigError(f"{path}: ffmpeg could not encode the video ({err}); "
                       f"write a .gif instead (--render {path.with_suffix('.gif')})")


def _ffmpeg_available() -> bool:
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return False
    return True


def _check_suffix(path: Path, allowed: tuple[str, ...]) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise ConfigError(f"{path}: cannot render to {suffix or 'a file without suffix'!r}; "
                          f"expected one of {', '.join(allowed)}")
    return suffix


def _check_view(view: str, fps: float, size: tuple[int, int]) -> None:
    if view not in VIEWS:
        raise ConfigError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be a positive number, got {fps!r}")
    if len(size) != 2 or any(int(s) != s or s < 64 or s % 2 for s in size):
        raise ConfigError(f"size must be (width, height), even integers >= 64 pixels, got {size!r}")


def _check_clip(keypoints_2d, poses_3d, uncertainty, image_size, normalised: bool,
                layout: JointLayout) -> _Clip:
    joints = layout.num_joints
    poses = np.asarray(poses_3d, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (joints, 3) or len(poses) == 0:
        raise ShapeError(f"poses_3d has shape {poses.shape}; expected (T, {joints}, 3) with T >= 1 "
                         f"(the {layout.name} layout has {joints} joints)")
    bad = ~np.isfinite(poses).all(axis=2)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise ShapeError(f"poses_3d is NaN or infinite at {int(bad.sum())} joint(s), the first at "
                         f"frame {t}, joint {j} ({layout.joint_names[j]}); fill or drop those frames")
    frames = len(poses)

    keypoints = np.asarray(keypoints_2d, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1] != joints or keypoints.shape[2] not in (2, 3):
        raise ShapeError(f"keypoints_2d has shape {keypoints.shape}; expected (T, {joints}, 2) or "
                         f"(T, {joints}, 3) with confidence (the {layout.name} layout)")
    if len(keypoints) != frames:
        raise ShapeError(f"keypoints_2d has {len(keypoints)} frames but poses_3d has {frames}; "
                         "expected one 3D pose per 2D frame")
    keypoints = keypoints[..., :2]
    if np.isinf(keypoints).any():
        raise ShapeError("keypoints_2d is infinite somewhere; mark a missing joint with NaN")

    if len(image_size) != 2 or not all(math.isfinite(s) and s > 0 for s in image_size):
        raise ConfigError(f"image_size must be (width, height) in pixels, both positive, got "
                          f"{image_size!r}")
    width, height = (float(s) for s in image_size)
    if normalised:
        keypoints = image_coordinates(keypoints, width, height)

    spread = None
    if uncertainty is not None:
        spread = np.asarray(uncertainty, dtype=np.float64)
        if spread.shape != (frames, joints):
            raise ShapeError(f"uncertainty has shape {spread.shape}; expected ({frames}, {joints}): "
                             "one spread in mm per frame and joint")
        if not np.isfinite(spread).all() or (spread < 0).any():
            raise ShapeError("uncertainty must be finite and >= 0 mm (a per-joint spread)")

    up = np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], axis=-1)  # (T, J, 3) x, depth, up
    return _Clip(keypoints_2d=keypoints, poses_3d=up, uncertainty=spread, image_size=(width, height))


def _strip_indices(frames: Sequence[int] | None, n: int, total: int) -> list[int]:
    if frames is None:
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ConfigError(f"n must be a positive integer, got {n!r}")
        return sorted({int(round(i)) for i in np.linspace(0, total - 1, int(n))})
    indices = [int(t) for t in frames]
    if not indices or any(t < 0 or t >= total for t in indices):
        raise ConfigError(f"frames must be indices in [0, {total}), got {list(frames)!r}")
    return indices


def _cube(poses: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and half side of one cube that holds every joint of the clip, with a 10 % margin."""
    centre = (poses.min(axis=(0, 1)) + poses.max(axis=(0, 1))) / 2
    half = float(np.abs(poses - centre).max()) * 1.1
    return centre, max(half, 1.0)


def _side(layout: JointLayout, joint: int) -> str:
    if joint in layout.joints_left:
        return "left"
    if joint in layout.joints_right:
        return "right"
    return "centre"
