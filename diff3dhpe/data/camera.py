"""Camera geometry: Human3.6M camera tables, quaternion rotations, distorted projection, 2D normalisation.

Pure functions on arrays of any leading shape. numpy arrays are the main type; torch tensors work too
(the operations used exist in both), so a model's data pipeline can call these on batches.

Conventions (docs/architecture.md, DATA.md §1):
- a quaternion is (w, x, y, z); ``qrot(q, v) = v + 2 (w (u × v) + u × (u × v))`` with u = (x, y, z);
- a camera's orientation q and position t (world) give ``X_cam = qrot(q⁻¹, X − t)``;
- Human3.6M world coordinates are metres; the tables below store camera positions in millimetres
  (``Camera.translation_mm``) and expose metres as ``Camera.translation_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from diff3dhpe.errors import ShapeError

try:  # torch is a hard dependency of the package, but the geometry itself does not need it
    import torch
except ImportError:  # pragma: no cover
    torch = None


@dataclass(frozen=True)
class Camera:
    """One calibrated camera. Intrinsics in pixels, extrinsics in world coordinates."""

    id: str
    res_w: int
    res_h: int
    center: tuple[float, float]  # (cx, cy) px
    focal_length: tuple[float, float]  # (fx, fy) px
    radial_distortion: tuple[float, float, float]  # (k1, k2, k3)
    tangential_distortion: tuple[float, float]  # (p1, p2)
    orientation: tuple[float, float, float, float]  # (w, x, y, z), camera → world rotation
    translation_mm: tuple[float, float, float]  # camera position in world, millimetres

    @property
    def translation_m(self) -> np.ndarray:
        return np.asarray(self.translation_mm, dtype=np.float64) / 1000.0

    @property
    def intrinsics(self) -> np.ndarray:
        """(9,) float64: fx, fy, cx, cy, k1, k2, k3, p1, p2 (the layout ``project_to_2d`` also accepts)."""
        return np.array(
            [*self.focal_length, *self.center, *self.radial_distortion, *self.tangential_distortion],
            dtype=np.float64,
        )


# ---------------------------------------------------------------------------------------------
# Human3.6M tables (DATA.md §1), transcribed digit for digit.
# ---------------------------------------------------------------------------------------------
H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

# idx -> (w, h, (cx, cy), (fx, fy), (k1, k2, k3), (p1, p2)); the same for every subject.
_H36M_INTRINSICS = (
    (1000, 1002, (512.54150390625, 515.4514770507812), (1145.0494384765625, 1143.7811279296875),
     (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
     (-0.0009756988729350269, -0.00142447161488235)),
    (1000, 1000, (508.8486328125, 508.0649108886719), (1149.6756591796875, 1147.5916748046875),
     (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
     (-0.0016190266469493508, -0.0027408944442868233)),
    (1000, 1000, (519.8158569335938, 501.40264892578125), (1149.1407470703125, 1148.7989501953125),
     (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
     (0.0014843869721516967, -0.0007599993259645998)),
    (1000, 1002, (514.9682006835938, 501.88201904296875), (1145.5113525390625, 1144.77392578125),
     (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
     (-0.0005872055771760643, -0.0018133620033040643)),
)

# subject -> 4 × (orientation (w, x, y, z), position in world mm), camera order as above.
_H36M_EXTRINSICS = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}

H36M_CAMERAS: dict[str, tuple[Camera, ...]] = {
    subject: tuple(
        Camera(
            id=H36M_CAMERA_IDS[idx], res_w=w, res_h=h, center=c, focal_length=f,
            radial_distortion=k, tangential_distortion=p, orientation=q, translation_mm=t,
        )
        for idx, ((w, h, c, f, k, p), (q, t)) in enumerate(zip(_H36M_INTRINSICS, extrinsics))
    )
    for subject, extrinsics in _H36M_EXTRINSICS.items()
}


def h36m_camera(subject: str, index: int) -> Camera:
    """Camera ``index`` (0..3, the order of the 2D files) of Human3.6M ``subject`` ('S1', 'S5', ...)."""
    if subject not in H36M_CAMERAS:
        raise KeyError(f"no Human3.6M cameras for subject {subject!r}; known: {sorted(H36M_CAMERAS)}")
    if not 0 <= index < len(H36M_CAMERA_IDS):
        raise IndexError(f"Human3.6M camera index must be 0..3, got {index}")
    return H36M_CAMERAS[subject][index]


# ---------------------------------------------------------------------------------------------
# Quaternions and rigid transforms
# ---------------------------------------------------------------------------------------------
def _is_torch(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _as_array(x, like=None):
    """numpy stays numpy (float), torch stays torch; a table tuple follows the type/device of ``like``."""
    if _is_torch(x):
        return x
    if like is not None and _is_torch(like):
        return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=like.dtype, device=like.device)
    arr = np.asarray(x)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64)


def _check_last_dim(x, size: int, name: str) -> None:
    if x.ndim == 0 or x.shape[-1] != size:
        raise ShapeError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")


def _cross(a, b):
    if _is_torch(a):
        a, b = torch.broadcast_tensors(a, b)
        return torch.linalg.cross(a, b, dim=-1)
    return np.cross(a, b)


def qrot(q, v):
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4) = (w, x, y, z); leading shapes broadcast."""
    q = _as_array(q, like=v)
    v = _as_array(v, like=q)
    _check_last_dim(q, 4, "quaternion q")
    _check_last_dim(v, 3, "vector v")
    w, u = q[..., :1], q[..., 1:]
    uv = _cross(u, v)
    return v + 2 * (w * uv + _cross(u, uv))


def qinverse(q):
    """Inverse of a unit quaternion (..., 4): the conjugate (w, −x, −y, −z)."""
    q = _as_array(q)
    _check_last_dim(q, 4, "quaternion q")
    sign = _as_array([1.0, -1.0, -1.0, -1.0], like=q)
    return q * sign


def quaternion_to_matrix(q) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4) (numpy), so that R @ v == qrot(q, v)."""
    q = np.asarray(q, dtype=np.float64)
    _check_last_dim(q, 4, "quaternion q")
    w, x, y, z = np.moveaxis(q, -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def matrix_to_quaternion(R) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w ≥ 0 of one rotation matrix (3, 3) (numpy)."""
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise ShapeError(f"rotation matrix must have shape (3, 3), got {R.shape}")
    # Shepperd's method: pick the largest of the four squared components for numerical stability.
    trace = np.trace(R)
    candidates = np.array([trace, R[0, 0], R[1, 1], R[2, 2]])
    i = int(np.argmax(candidates))
    if i == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif i == 1:
        s = 2.0 * np.sqrt(1.0 + R[0, 0] - R[1, 1] - R[2, 2])
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif i == 2:
        s = 2.0 * np.sqrt(1.0 + R[1, 1] - R[0, 0] - R[2, 2])
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + R[2, 2] - R[0, 0] - R[1, 1])
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    return q if q[0] >= 0 else -q


def world_to_camera(X, orientation, translation):
    """World points X (..., 3) → camera coordinates: qrot(q⁻¹, X − t).

    ``translation`` is the camera position in the units of X (metres for Human3.6M world coordinates:
    pass ``camera.translation_m``).
    """
    X = _as_array(X)
    _check_last_dim(X, 3, "points X")
    q = _as_array(orientation, like=X)
    t = _as_array(translation, like=X)
    _check_last_dim(t, 3, "camera translation")
    return qrot(qinverse(q), X - t)


def camera_to_world(X_cam, orientation, translation):
    """Inverse of ``world_to_camera``: qrot(q, X_cam) + t."""
    X_cam = _as_array(X_cam)
    _check_last_dim(X_cam, 3, "points X_cam")
    q = _as_array(orientation, like=X_cam)
    t = _as_array(translation, like=X_cam)
    _check_last_dim(t, 3, "camera translation")
    return qrot(q, X_cam) + t


def look_at_orientation(position, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Orientation (w, x, y, z) of a camera at ``position`` looking at ``target``.

    Camera axes follow the image convention: +z along the viewing direction, +x to the image right,
    +y to the image bottom (so world ``up`` appears upwards in the image).
    """
    position, target, up = (np.asarray(a, dtype=np.float64) for a in (position, target, up))
    forward = target - position
    if np.linalg.norm(forward) == 0:
        raise ValueError("camera position and look-at target coincide")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("viewing direction is parallel to the up vector; pick another up")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    # Columns are the camera axes expressed in world coordinates: the camera → world rotation.
    return matrix_to_quaternion(np.stack([right, down, forward], axis=1))


# ---------------------------------------------------------------------------------------------
# Projection and 2D normalisation
# ---------------------------------------------------------------------------------------------
def project_to_2d(X_cam, camera):
    """Pixel coordinates (..., 2) of camera-space points X_cam (..., 3) with the Human3.6M distortion model.

    ``camera`` is a ``Camera`` or intrinsics (..., 9) = fx, fy, cx, cy, k1, k2, k3, p1, p2 (broadcast over
    the points' leading axes). Exactly the model the standard GT 2D files were made with (DATA.md §1):
    p = clamp(X/Z, −1, 1); r² = |p|²; radial = 1 + k1 r² + k2 r⁴ + k3 r⁶; tan = p1 p_x + p2 p_y;
    p' = p (radial + tan) + (p1, p2) r²; pixel = p' (fx, fy) + (cx, cy). Points must lie in front (Z > 0).
    """
    X_cam = _as_array(X_cam)
    _check_last_dim(X_cam, 3, "camera-space points X_cam")
    params = camera.intrinsics if isinstance(camera, Camera) else camera
    params = _as_array(params, like=X_cam)
    _check_last_dim(params, 9, "camera intrinsics")
    focal, center = params[..., 0:2], params[..., 2:4]
    k1, k2, k3 = params[..., 4:5], params[..., 5:6], params[..., 6:7]
    tangential = params[..., 7:9]

    p = (X_cam[..., :2] / X_cam[..., 2:3]).clip(-1, 1)
    r2 = p[..., 0:1] ** 2 + p[..., 1:2] ** 2
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    tan = tangential[..., 0:1] * p[..., 0:1] + tangential[..., 1:2] * p[..., 1:2]
    distorted = p * (radial + tan) + tangential * r2
    return distorted * focal + center


def normalize_screen_coordinates(X, w: float, h: float):
    """Pixels (..., 2) → normalised screen coordinates X / w · 2 − [1, h / w]: x ∈ [−1, 1], aspect kept."""
    X = _as_array(X)
    _check_last_dim(X, 2, "2D keypoints")
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got w={w}, h={h}")
    offset = _as_array([1.0, h / w], like=X)
    return X / w * 2 - offset


def image_coordinates(X, w: float, h: float):
    """Inverse of ``normalize_screen_coordinates``: (X + [1, h / w]) · w / 2 pixels."""
    X = _as_array(X)
    _check_last_dim(X, 2, "2D keypoints")
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got w={w}, h={h}")
    offset = _as_array([1.0, h / w], like=X)
    return (X + offset) * w / 2
