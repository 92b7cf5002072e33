"""Camera geometry: quaternions, world/camera transforms, the Human3.6M distortion model, normalisation."""

import numpy as np
import pytest
import torch

from diff3dhpe.data.camera import (
    H36M_CAMERA_IDS,
    H36M_CAMERAS,
    Camera,
    camera_to_world,
    h36m_camera,
    image_coordinates,
    look_at_orientation,
    matrix_to_quaternion,
    normalize_screen_coordinates,
    project_to_2d,
    qinverse,
    qrot,
    quaternion_to_matrix,
    world_to_camera,
)
from diff3dhpe.errors import ShapeError


def random_unit_quaternions(rng, n):
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def test_qrot_rotates_x_to_y_for_a_quarter_turn_about_z():
    q = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(qrot(q, np.array([1.0, 0.0, 0.0])), [0.0, 1.0, 0.0], atol=1e-12)


def test_qrot_matches_the_rotation_matrix_of_the_quaternion():
    rng = np.random.default_rng(0)
    q = random_unit_quaternions(rng, 50)
    v = rng.normal(size=(50, 3))
    expected = np.einsum("nij,nj->ni", quaternion_to_matrix(q), v)
    np.testing.assert_allclose(qrot(q, v), expected, atol=1e-12)
    for single in q[:5]:  # and the matrix → quaternion conversion inverts it (up to the sign of q)
        recovered = matrix_to_quaternion(quaternion_to_matrix(single))
        np.testing.assert_allclose(recovered, single * np.sign(single[0]), atol=1e-12)


def test_qrot_broadcasts_one_quaternion_over_many_points_and_keeps_lengths():
    rng = np.random.default_rng(1)
    q = random_unit_quaternions(rng, 1)[0]
    v = rng.normal(size=(4, 7, 3))
    out = qrot(q, v)
    assert out.shape == (4, 7, 3)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(v, axis=-1), rtol=1e-12)


def test_qinverse_undoes_qrot():
    rng = np.random.default_rng(2)
    q = random_unit_quaternions(rng, 10)
    v = rng.normal(size=(10, 3))
    np.testing.assert_allclose(qrot(qinverse(q), qrot(q, v)), v, atol=1e-12)


def test_world_camera_round_trip_for_every_h36m_camera():
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 2, size=(30, 17, 3))
    for cameras in H36M_CAMERAS.values():
        for cam in cameras:
            X_cam = world_to_camera(X, cam.orientation, cam.translation_m)
            # The table quaternions are unit only to float32 precision: the round trip is exact to
            # ~1e-6 relative (µm here); with a renormalised quaternion it is exact to rounding.
            np.testing.assert_allclose(camera_to_world(X_cam, cam.orientation, cam.translation_m), X,
                                       atol=1e-5)
            q = np.asarray(cam.orientation) / np.linalg.norm(cam.orientation)
            X_back = camera_to_world(world_to_camera(X, q, cam.translation_m), q, cam.translation_m)
            np.testing.assert_allclose(X_back, X, atol=1e-12)


def test_camera_position_maps_to_the_camera_origin():
    cam = h36m_camera("S9", 2)
    np.testing.assert_allclose(world_to_camera(cam.translation_m, cam.orientation, cam.translation_m),
                               np.zeros(3), atol=1e-12)


def test_torch_tensors_give_the_numpy_result():
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(5, 17, 3))
    cam = h36m_camera("S1", 0)
    X_cam_np = world_to_camera(X, cam.orientation, cam.translation_m)
    X_cam_t = world_to_camera(torch.tensor(X), cam.orientation, cam.translation_m)
    assert isinstance(X_cam_t, torch.Tensor)
    np.testing.assert_allclose(X_cam_t.numpy(), X_cam_np, atol=1e-10)
    np.testing.assert_allclose(project_to_2d(X_cam_t, cam).numpy(), project_to_2d(X_cam_np, cam), atol=1e-8)


def test_h36m_tables_have_unit_quaternions_and_the_documented_ids():
    assert set(H36M_CAMERAS) == {"S1", "S5", "S6", "S7", "S8", "S9", "S11"}
    for cameras in H36M_CAMERAS.values():
        assert [c.id for c in cameras] == list(H36M_CAMERA_IDS)
        for cam in cameras:
            assert abs(np.linalg.norm(cam.orientation) - 1) < 1e-6
    # Spot checks against DATA.md §1 (first and last rows, one intrinsic set).
    assert h36m_camera("S1", 0).orientation[0] == 0.1407056450843811
    assert h36m_camera("S11", 3).translation_mm == (-1590.738037109375, -3854.1689453125, 1578.017578125)
    cam2 = h36m_camera("S5", 2)
    assert (cam2.res_w, cam2.res_h, cam2.center) == (1000, 1000, (519.8158569335938, 501.40264892578125))
    assert cam2.tangential_distortion == (0.0014843869721516967, -0.0007599993259645998)
    assert (h36m_camera("S5", 0).res_h, h36m_camera("S5", 3).res_h) == (1002, 1002)


def test_every_h36m_camera_sees_a_person_standing_at_the_origin():
    # A transcription error in an orientation would point the camera away from the capture volume.
    person = np.array([[0.0, 0.0, z] for z in (0.1, 0.9, 1.7)])
    for cameras in H36M_CAMERAS.values():
        for cam in cameras:
            X_cam = world_to_camera(person, cam.orientation, cam.translation_m)
            assert (X_cam[:, 2] > 3.0).all()
            uv = project_to_2d(X_cam, cam)
            assert ((uv > 0) & (uv < [cam.res_w, cam.res_h])).all()
            assert uv[2, 1] < uv[0, 1]  # the head appears above the feet (image y grows downwards)


def test_a_point_on_the_optical_axis_projects_to_the_principal_point():
    cam = h36m_camera("S7", 1)
    np.testing.assert_allclose(project_to_2d(np.array([0.0, 0.0, 4.2]), cam), cam.center, atol=1e-9)


def test_distorted_projection_of_one_point_computed_by_hand():
    cam = h36m_camera("S1", 0)
    fx, fy = cam.focal_length
    cx, cy = cam.center
    k1, k2, k3 = cam.radial_distortion
    p1, p2 = cam.tangential_distortion
    # X/Z = 0.15, Y/Z = -0.1  ->  r² = 0.0325
    r2 = 0.0325
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = p1 * 0.15 + p2 * -0.1
    expected = [(0.15 * (radial + tan) + p1 * r2) * fx + cx, (-0.1 * (radial + tan) + p2 * r2) * fy + cy]
    np.testing.assert_allclose(project_to_2d(np.array([0.3, -0.2, 2.0]), cam), expected, rtol=1e-12)
    # The same numbers from the (9,) intrinsics vector.
    from_vector = project_to_2d(np.array([0.3, -0.2, 2.0]), cam.intrinsics)
    np.testing.assert_allclose(from_vector, expected, rtol=1e-12)


def test_projection_clamps_the_normalised_coordinates_to_unit_range():
    cam = h36m_camera("S6", 3)
    far_off_axis = project_to_2d(np.array([3.0, -5.0, 1.0]), cam)
    at_the_clamp = project_to_2d(np.array([1.0, -1.0, 1.0]), cam)
    np.testing.assert_allclose(far_off_axis, at_the_clamp, rtol=1e-12)


def test_pinhole_camera_without_distortion_is_f_x_over_z_plus_c():
    cam = Camera("t", 2048, 2048, (1000.0, 1030.0), (1500.0, 1490.0), (0.0, 0.0, 0.0), (0.0, 0.0),
                 (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    np.testing.assert_allclose(project_to_2d(np.array([0.4, 0.2, 4.0]), cam), [1150.0, 1104.5], rtol=1e-12)


def test_look_at_camera_sees_its_target_at_the_principal_point_and_up_as_up():
    position, target = np.array([3.0, -2.0, 2.5]), np.array([0.1, 0.2, 1.0])
    q = look_at_orientation(position, target)
    X_cam = world_to_camera(np.stack([target, target + [0, 0, 0.5]]), q, position)
    assert X_cam[0, 2] > 0
    np.testing.assert_allclose(X_cam[0, :2], 0.0, atol=1e-12)
    assert X_cam[1, 1] < 0  # higher in the world = smaller image y
    np.testing.assert_allclose(np.linalg.det(quaternion_to_matrix(q)), 1.0, atol=1e-12)


def test_normalisation_maps_the_image_width_to_minus_one_one_and_round_trips():
    w, h = 1000, 1002
    corners = np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]])
    norm = normalize_screen_coordinates(corners, w, h)
    np.testing.assert_allclose(norm[:, 0], [-1.0, 1.0, 0.0])
    np.testing.assert_allclose(norm[:, 1], [-h / w, h / w, 0.0])  # aspect ratio kept
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1000, size=(3, 17, 2))
    np.testing.assert_allclose(image_coordinates(normalize_screen_coordinates(X, w, h), w, h), X, atol=1e-9)
    assert isinstance(normalize_screen_coordinates(torch.tensor(X), w, h), torch.Tensor)


@pytest.mark.parametrize(
    "call",
    [
        lambda: qrot(np.zeros(3), np.zeros(3)),
        lambda: qrot(np.array([1.0, 0, 0, 0]), np.zeros((5, 2))),
        lambda: world_to_camera(np.zeros((5, 17, 2)), (1, 0, 0, 0), (0, 0, 0)),
        lambda: project_to_2d(np.ones((5, 17, 3)), np.ones(7)),
        lambda: normalize_screen_coordinates(np.zeros((5, 17, 3)), 1000, 1000),
    ],
)
def test_wrong_shapes_raise_shape_error(call):
    with pytest.raises(ShapeError, match=r"\(\.\.\., \d\)"):
        call()


def test_unknown_subject_or_camera_index_is_named_in_the_error():
    with pytest.raises(KeyError, match="S2"):
        h36m_camera("S2", 0)
    with pytest.raises(IndexError, match="0..3"):
        h36m_camera("S1", 4)
    with pytest.raises(ValueError, match="image size"):
        normalize_screen_coordinates(np.zeros((1, 2)), 0, 10)
