"""Synthetic camera rigs: pinhole cameras on a ring around the capture area (the 3DHP-like studio).

The Human3.6M layout uses the 4 real cameras of DATA.md §1 instead (``H36M_CAMERAS``).
"""

from __future__ import annotations

import numpy as np

from diff3dhpe.data.camera import Camera, look_at_orientation


def ring_cameras(rng: np.random.Generator, count: int, size: tuple[int, int], radius=(3.5, 4.5),
                 height=(0.3, 2.6), focal=(1450.0, 1550.0)) -> list[Camera]:
    """``count`` pinhole cameras of ``size`` (width, height) px spread evenly (with jitter) in azimuth.

    Each stands ``radius`` metres from the origin at ``height`` metres and looks at a point near pelvis
    height; focal lengths in px from ``focal``, no distortion. Draws from ``rng`` in a fixed order.
    """
    w, h = size
    azimuths = (rng.uniform(0, 2 * np.pi) + np.arange(count) * 2 * np.pi / count
                + rng.uniform(-0.2, 0.2, count))
    cameras = []
    for k, azimuth in enumerate(azimuths):
        r = rng.uniform(*radius)
        position = np.array([r * np.cos(azimuth), r * np.sin(azimuth), rng.uniform(*height)])
        target = np.array([*rng.uniform(-0.2, 0.2, 2), rng.uniform(0.8, 1.1)])
        f = rng.uniform(*focal)
        cameras.append(Camera(
            id=str(k), res_w=w, res_h=h, center=(w / 2 + rng.uniform(-15, 15), h / 2 + rng.uniform(-15, 15)),
            focal_length=(f, f * rng.uniform(0.998, 1.002)), radial_distortion=(0.0, 0.0, 0.0),
            tangential_distortion=(0.0, 0.0), orientation=tuple(look_at_orientation(position, target)),
            translation_mm=tuple(position * 1000),
        ))
    return cameras

