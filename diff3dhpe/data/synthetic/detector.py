"""A detector-like 2D error model: what turns ground-truth projections into "det" keypoints.

Per-joint jitter of a few pixels (larger at wrists and ankles), correlated in time (AR(1)), a
per-sequence bias, rare gross outliers and left/right limb swaps (DATA.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from diff3dhpe.data.skeleton import NUM_JOINTS

# Per-joint jitter σ in pixels (Human3.6M image scale): extremities are harder to localise.
DETECTOR_SIGMA_PX = np.array([3.0, 3.5, 4.0, 5.5, 3.5, 4.0, 5.5, 3.5, 3.0, 2.5, 3.0,
                              3.0, 4.5, 6.5, 3.0, 4.5, 6.5])
_LIMB_PAIRS = (((1, 2, 3), (4, 5, 6)), ((14, 15, 16), (11, 12, 13)))  # legs, arms: right ↔ left


@dataclass(frozen=True)
class DetectorNoise:
    """Knobs of the detection error model; the defaults give a mean error of ~6 px at 1000 px images."""

    sigma_px: tuple[float, ...] = tuple(DETECTOR_SIGMA_PX)
    correlation: float = 0.9  # AR(1) coefficient per frame at 50 Hz
    bias_px: float = 1.5  # per-sequence systematic offset of each joint
    outlier_rate: float = 0.002  # per joint and frame: start of a gross error
    outlier_px: tuple[float, float] = (25.0, 80.0)
    swap_rate: float = 0.002  # per limb pair and frame: start of a left/right swap
    max_event_frames: int = 8


def detector_noise(gt_2d: np.ndarray, rng: np.random.Generator, model: DetectorNoise | None = None,
                   scale: float = 1.0) -> np.ndarray:
    """Detected keypoints (N, 17, 2) from ground truth (N, 17, 2) px; ``scale`` multiplies σ and offsets."""
    model = model or DetectorNoise()
    n = gt_2d.shape[0]
    sigma = np.asarray(model.sigma_px)[:, None] * scale * rng.uniform(0.8, 1.2)  # (17, 1)
    white = rng.normal(size=(n, NUM_JOINTS, 2))
    rho = model.correlation
    gain = np.sqrt(1 - rho**2)
    # AR(1): e_t = ρ e_{t−1} + √(1−ρ²) w_t, started in its stationary distribution (e_0 = w_0).
    jitter = lfilter([gain], [1.0, -rho], white, axis=0, zi=((1 - gain) * white[:1]))[0]
    det = gt_2d + sigma * jitter + rng.normal(0, model.bias_px * scale, size=(NUM_JOINTS, 2))

    for frame, joint in zip(*np.nonzero(rng.random((n, NUM_JOINTS)) < model.outlier_rate)):
        length = rng.integers(1, model.max_event_frames + 1)
        angle = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(*model.outlier_px) * scale * np.array([np.cos(angle), np.sin(angle)])
        det[frame:frame + length, joint] += offset
    for pair in range(len(_LIMB_PAIRS)):
        right, left = (list(side) for side in _LIMB_PAIRS[pair])
        for frame in np.nonzero(rng.random(n) < model.swap_rate)[0]:
            span = slice(frame, frame + rng.integers(2, model.max_event_frames + 1))
            det[span, right + left] = det[span, left + right]
    return det


def lag1_autocorrelation(errors: np.ndarray) -> float:
    """Lag-1 autocorrelation over time of (N, ...) errors, pooled over the other axes."""
    centred = errors - errors.mean(0)
    return float((centred[1:] * centred[:-1]).sum() / (centred**2).sum())

