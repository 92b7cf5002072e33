"""Flip augmentation and 2D corruptions (METHOD.md §3, §7; EXPERIMENTS.md Fig. 6)."""

import numpy as np
import pytest
import torch

from diff3dhpe.data.augment import (
    corrupt,
    corrupt_dropout,
    corrupt_gaussian,
    corruption_rng,
    flip_keypoints,
)
from diff3dhpe.data.skeleton import H36M, MPI_INF_3DHP
from diff3dhpe.errors import ConfigError, ShapeError

LAYOUTS = [H36M, MPI_INF_3DHP]


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.name)
@pytest.mark.parametrize("channels", [2, 3])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_flip_twice_is_identity(layout, channels, backend):
    arr = np.random.default_rng(0).normal(size=(3, 5, 17, channels)).astype(np.float32)
    if backend == "torch":
        arr = torch.from_numpy(arr)
    once = flip_keypoints(arr, layout)
    twice = flip_keypoints(once, layout)
    assert type(once) is type(arr) and once.dtype == arr.dtype and once.shape == arr.shape
    assert not np.allclose(np.asarray(once), np.asarray(arr))
    np.testing.assert_array_equal(np.asarray(twice), np.asarray(arr))


@pytest.mark.parametrize(
    "layout, left_hip, right_hip", [(H36M, 4, 1), (MPI_INF_3DHP, 11, 8)], ids=["h36m", "3dhp"]
)
def test_flip_mirrors_left_hip_onto_right_hip(layout, left_hip, right_hip):
    assert layout.joint_names[left_hip] == "l_hip" and layout.joint_names[right_hip] == "r_hip"
    pose = np.random.default_rng(1).normal(size=(17, 3))
    flipped = flip_keypoints(pose, layout)
    # The new right hip is where the left hip was, mirrored in x; y and z unchanged.
    np.testing.assert_array_equal(flipped[right_hip], pose[left_hip] * [-1, 1, 1])
    np.testing.assert_array_equal(flipped[left_hip], pose[right_hip] * [-1, 1, 1])
    # A centre joint (root) stays in place, only mirrored.
    np.testing.assert_array_equal(flipped[layout.root], pose[layout.root] * [-1, 1, 1])


def test_flip_torch_keeps_gradient_path_and_leading_shape():
    x = torch.randn(2, 4, 6, 17, 2, requires_grad=True)
    flip_keypoints(x, H36M).sum().backward()
    assert x.grad.shape == x.shape


def test_flip_rejects_wrong_joint_count():
    with pytest.raises(ShapeError, match="17"):
        flip_keypoints(np.zeros((5, 16, 2)), H36M)


def test_gaussian_same_seed_same_draws_and_level_matches():
    x = np.zeros((400, 17, 2), dtype=np.float32)
    a = corrupt_gaussian(x, 0.05, corruption_rng(3, "gaussian", 0.05))
    b = corrupt_gaussian(x, 0.05, corruption_rng(3, "gaussian", 0.05))
    c = corrupt_gaussian(x, 0.05, corruption_rng(4, "gaussian", 0.05))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.dtype == np.float32
    assert abs(a.std() - 0.05) < 0.002 and abs(a.mean()) < 0.002


def test_corruption_rng_depends_on_kind_and_level():
    draw = lambda kind, level: corruption_rng(0, kind, level).random(4)  # noqa: E731
    np.testing.assert_array_equal(draw("dropout", 0.1), draw("dropout", 0.1))
    assert not np.array_equal(draw("dropout", 0.1), draw("dropout", 0.2))
    assert not np.array_equal(draw("dropout", 0.1), draw("gaussian", 0.1))


def test_zero_levels_are_identity():
    x = np.random.default_rng(2).normal(size=(10, 17, 2)).astype(np.float32)
    np.testing.assert_array_equal(corrupt_gaussian(x, 0.0, 0), x)
    np.testing.assert_array_equal(corrupt_dropout(x, 0.0, 0), x)
    xt = torch.from_numpy(x)
    assert torch.equal(corrupt_gaussian(xt, 0, 0), xt) and torch.equal(corrupt_dropout(xt, 0, 0), xt)


@pytest.mark.parametrize("rate", [0.1, 0.4, 0.8])
def test_dropout_rate_empirical_and_whole_joints_zeroed(rate):
    x = np.random.default_rng(5).uniform(0.1, 1.0, size=(1000, 17, 2)).astype(np.float32)
    out = corrupt_dropout(x, rate, corruption_rng(0, "dropout", rate))
    dropped = (out == 0).all(axis=-1)  # (N, J)
    kept = (out == x).all(axis=-1)
    assert (dropped | kept).all()  # a joint is either untouched or fully (0, 0)
    # 17,000 Bernoulli draws: 5 standard deviations is < 0.02.
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / dropped.size)


def test_dropout_rate_one_drops_everything_and_torch_matches_numpy():
    x = np.ones((7, 17, 2), dtype=np.float32)
    assert (corrupt_dropout(x, 1.0, 0) == 0).all()
    out_np = corrupt_dropout(x, 0.5, corruption_rng(9, "dropout", 0.5))
    out_t = corrupt_dropout(torch.from_numpy(x), 0.5, corruption_rng(9, "dropout", 0.5))
    np.testing.assert_array_equal(out_t.numpy(), out_np)
    out_np = corrupt(x, "gaussian", 0.1, corruption_rng(9, "gaussian", 0.1))
    out_t = corrupt(torch.from_numpy(x), "gaussian", 0.1, corruption_rng(9, "gaussian", 0.1))
    np.testing.assert_allclose(out_t.numpy(), out_np)


@pytest.mark.parametrize("sigma", [-0.1, float("nan"), float("inf"), "0.1"])
def test_bad_sigma_rejected(sigma):
    with pytest.raises(ConfigError, match="sigma"):
        corrupt_gaussian(np.zeros((2, 17, 2)), sigma, 0)


@pytest.mark.parametrize("rate", [-0.01, 1.5, float("nan")])
def test_bad_rate_rejected(rate):
    with pytest.raises(ConfigError, match="rate"):
        corrupt_dropout(np.zeros((2, 17, 2)), rate, 0)


def test_bad_kind_seed_and_shape_rejected():
    with pytest.raises(ConfigError, match="kind"):
        corruption_rng(0, "blur", 0.1)
    with pytest.raises(ConfigError, match="kind"):
        corrupt(np.zeros((2, 17, 2)), "blur", 0.1, 0)
    with pytest.raises(ConfigError, match="seed"):
        corruption_rng(-1, "gaussian", 0.1)
    with pytest.raises(ConfigError, match="rng"):
        corrupt_gaussian(np.zeros((2, 17, 2)), 0.1, "seed")
    with pytest.raises(ShapeError, match="J, 2"):
        corrupt_gaussian(np.zeros((2, 17, 3)), 0.1, 0)
