"""The no-network baselines: the linear lifter is ridge least squares, the mean pose is a plain mean."""

import numpy as np
import pytest

from diff3dhpe.baselines import (
    fit_linear_lifter,
    fit_mean_pose,
    linear_lifter_mpjpe,
    mean_pose_mpjpe,
    window_frames,
)
from diff3dhpe.errors import ShapeError


def sequences(rng, lengths, joints=3):
    """(x2d (N, J, 2), y3d (N, J, 3) mm) pairs with a root offset, so centring matters."""
    return [(rng.normal(size=(n, joints, 2)) + 0.5, rng.normal(scale=100, size=(n, joints, 3)) + 4000)
            for n in lengths]


def closed_form_mpjpe(train, test, window, ridge, stride):
    """Ridge regression written as one np.linalg.lstsq on the stacked system [X; √λ I] w = [Y; 0]."""

    def features(x2d):
        n = len(x2d)
        rel = (x2d - x2d[:, :1]).reshape(n, -1)
        half = window // 2
        neighbours = [rel[min(max(i + k - half, 0), n - 1)] for i in range(n) for k in range(window)]
        return np.concatenate([np.reshape(neighbours, (n, -1)), np.ones((n, 1))], axis=1)

    X = np.concatenate([features(x)[::stride] for x, _ in train])
    Y = np.concatenate([(y - y[:, :1]).reshape(len(y), -1)[::stride] for _, y in train])
    lam = ridge * np.trace(X.T @ X) / X.shape[1]
    A = np.concatenate([X, np.sqrt(lam) * np.eye(X.shape[1])])
    B = np.concatenate([Y, np.zeros((X.shape[1], Y.shape[1]))])
    weights = np.linalg.lstsq(A, B, rcond=None)[0]
    errors = [np.linalg.norm((features(x) @ weights).reshape(y.shape) - (y - y[:, :1]), axis=-1).ravel()
              for x, y in test]
    return np.concatenate(errors).mean()


@pytest.mark.parametrize(("window", "stride"), [(1, 1), (3, 2), (4, 1)])
def test_linear_lifter_mpjpe_equals_closed_form_ridge_least_squares(window, stride):
    rng = np.random.default_rng(0)
    train, test = sequences(rng, (9, 7, 8)), sequences(rng, (5, 6))
    expected = closed_form_mpjpe(train, test, window, ridge=0.1, stride=stride)
    got = linear_lifter_mpjpe(train, test, window=window, ridge=0.1, train_stride=stride)
    assert got == pytest.approx(expected, rel=1e-9)
    assert linear_lifter_mpjpe(iter(train), iter(test), window=window, ridge=0.1, train_stride=stride) == got


def test_linear_lifter_predicts_root_relative_3d_per_frame():
    rng = np.random.default_rng(1)
    train = sequences(rng, (12, 10))
    lifter = fit_linear_lifter(iter(train), window=3)
    pred = lifter.predict(train[0][0])
    assert pred.shape == (12, 3, 3) and lifter.num_joints == 3
    np.testing.assert_array_equal(pred[:, 0], 0.0)  # the root is the origin
    with pytest.raises(ShapeError, match=r"\(N, 3, 2\)"):
        lifter.predict(np.zeros((4, 17, 2)))


def test_window_frames_are_centred_and_clamped_at_the_edges():
    x = np.arange(4.0)[:, None]  # (4, 1)
    np.testing.assert_array_equal(window_frames(x, 3), [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]])


def test_mean_pose_mpjpe_equals_the_hand_computed_value():
    # Two joints; the root sits anywhere (4 m away here): only root-relative poses count.
    root = np.array([0.0, 0.0, 4000.0])
    train_3d = root + np.array([[[0, 0, 0], [0, 0, 10]], [[0, 0, 0], [0, 0, 30]]], dtype=float)  # mean 20
    test_3d = root + np.array([[[0, 0, 0], [0, 0, 20]], [[0, 0, 0], [0, 3, 24]]], dtype=float)
    x2d = np.zeros((2, 2, 2))
    np.testing.assert_array_equal(fit_mean_pose([(x2d, train_3d)]), [[0, 0, 0], [0, 0, 20]])
    # Errors per (frame, joint): 0, 0, 0 and |(0, 3, 4)| = 5, so the mean is 5 / 4.
    assert mean_pose_mpjpe([(x2d, train_3d)], [(x2d, test_3d)]) == 1.25


def test_baselines_need_data_and_matching_shapes():
    rng = np.random.default_rng(2)
    (pair,) = sequences(rng, (5,))
    with pytest.raises(ValueError, match="training sequence"):
        linear_lifter_mpjpe([], [pair])
    with pytest.raises(ValueError, match="test frame"):
        linear_lifter_mpjpe([pair], [])
    with pytest.raises(ValueError, match="training sequence"):
        mean_pose_mpjpe([], [pair])
    with pytest.raises(ValueError, match="window >= 1"):
        fit_linear_lifter([pair], window=0)
    with pytest.raises(ShapeError, match="3D target"):
        linear_lifter_mpjpe([(pair[0], pair[1][:4])], [pair])
    with pytest.raises(ShapeError, match="one count only"):
        fit_linear_lifter([pair, *sequences(rng, (5,), joints=4)])
