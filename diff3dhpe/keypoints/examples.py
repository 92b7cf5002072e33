"""The example keypoint files of ``examples/``, made from the embedded synthetic data.

    python -m diff3dhpe.keypoints.examples examples/

Writes one synthetic person walking (subject S9, 'Walking 1', camera 0, detector-noise 2D, 4 s at
50 Hz) in two input formats of ``diff3dhpe predict``: a Human3.6M-17 ``.npy`` (T, 17, 3) of pixels
plus confidence, and a VideoPose3D custom 2D ``.npz`` (which also stores the image size).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from diff3dhpe.data.camera import h36m_camera
from diff3dhpe.data.h36m import read_h36m_2d, read_h36m_3d
from diff3dhpe.data.synthetic import generate_h36m
from diff3dhpe.keypoints.writers import write_npy, write_videopose3d

SUBJECT, ACTION, CAMERA, FRAMES = "S9", "Walking", 0, 200
FILES = ("walking_h36m17.npy", "walking_videopose3d.npz")


def write_examples(out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Generate the clip with the synthetic generator (seed ``seed``) and write ``FILES`` into
    ``out_dir``; returns their paths. Confidence is 1 (the detector-noise model has none)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        generate_h36m(tmp, name="example", seed=seed, frames_per_take=FRAMES, subjects=[SUBJECT],
                      actions=[ACTION], lifter_check=False, readme=False)
        positions_3d = read_h36m_3d(Path(tmp) / "data_3d_example.npz")
        positions_2d, _ = read_h36m_2d(Path(tmp) / "data_2d_example_det.npz", positions_3d)
    pixels = positions_2d[SUBJECT][f"{ACTION} 1"][CAMERA]  # (T, 17, 2)
    camera = h36m_camera(SUBJECT, CAMERA)
    keypoints = np.concatenate([pixels, np.ones((*pixels.shape[:2], 1))], axis=-1).astype(np.float32)
    paths = [out / name for name in FILES]
    write_npy(paths[0], keypoints)
    write_videopose3d(paths[1], keypoints, (camera.res_w, camera.res_h), video="walking")
    return paths


if __name__ == "__main__":
    for path in write_examples(sys.argv[1] if len(sys.argv) > 1 else "examples"):
        print(path)
