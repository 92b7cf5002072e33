"""The generator's two writers, Human3.6M layout and MPI-INF-3DHP layout, and the data README.

Each take draws its motion from ``random_stream(seed, dataset, subject, action)`` and each camera's
detections from their own stream, so a subject's data does not change when other subjects are added
or removed, and the same arguments always give byte-identical files (DATA.md §3).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from diff3dhpe.atomic import atomic_write_text
from diff3dhpe.baselines import h36m_lifter_check
from diff3dhpe.data.camera import H36M_CAMERAS, Camera, project_to_2d, world_to_camera
from diff3dhpe.data.files import synthetic_files
from diff3dhpe.data.h36m import write_h36m_2d, write_h36m_3d
from diff3dhpe.data.mpi3dhp import write_3dhp_test, write_3dhp_train
from diff3dhpe.data.skeleton import (
    H36M,
    H36M_ACTIONS,
    H36M_FPS,
    H36M_TEST_SUBJECTS,
    H36M_TRAIN_SUBJECTS,
    NUM_JOINTS,
)
from diff3dhpe.data.synthetic.body import SubjectBody, animate, expand_to_32, subject_body
from diff3dhpe.data.synthetic.cameras import ring_cameras
from diff3dhpe.data.synthetic.detector import DetectorNoise, detector_noise, lag1_autocorrelation
from diff3dhpe.data.synthetic.motion import ACTION_STYLES, motion_statistics, take_motion
from diff3dhpe.data.synthetic.streams import random_stream

H36M_SUBJECTS = H36M_TRAIN_SUBJECTS + H36M_TEST_SUBJECTS
TAKES_PER_ACTION = 2
H36M_2D_METADATA = {
    "num_joints": NUM_JOINTS,
    "keypoints_symmetry": [list(H36M.joints_left), list(H36M.joints_right)],
    "layout_name": "h36m",
}
MPI_TRAIN_SUBJECTS = tuple(f"S{k}" for k in range(1, 9))
MPI_TRAIN_CAMERAS = ("0", "1", "2", "4", "5", "6", "7", "8")
MPI_TEST_SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
MPI_TRAIN_FPS = 25
# Outdoor test sequences (TS5, TS6) were filmed at 50 Hz with a 1920×1080 camera.
MPI_TEST_FPS = {"TS1": 25, "TS2": 25, "TS3": 25, "TS4": 25, "TS5": 50, "TS6": 50}
MPI_TEST_RESOLUTION = {ts: (2048, 2048) for ts in ("TS1", "TS2", "TS3", "TS4")} | {
    "TS5": (1920, 1080), "TS6": (1920, 1080)}
# H36M 17-joint index of each MPI-INF-3DHP joint (head top, neck, R shoulder, ..., pelvis, spine, head).
MPI_FROM_H36M = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6, 0, 7, 9)


# ---------------------------------------------------------------------------------------------
# Human3.6M
# ---------------------------------------------------------------------------------------------
def h36m_action_names(groups: Sequence[str] = H36M_ACTIONS, takes: int = TAKES_PER_ACTION) -> list[str]:
    """Sequence names of the generated takes: 'Walking 1', 'Walking 2', ... (DATA.md §3)."""
    return [f"{group} {take}" for group in groups for take in range(1, takes + 1)]


def generate_h36m(out_dir: str | Path, name: str = "synth", seed: int = 0, frames_per_take: int = 200,
                  subjects: Sequence[str] = H36M_SUBJECTS, actions: Sequence[str] = H36M_ACTIONS,
                  detector: DetectorNoise | None = None, lifter_check: bool = True,
                  readme: bool = True) -> dict:
    """Write ``data_3d_<name>.npz``, ``data_2d_<name>_gt.npz`` and ``data_2d_<name>_det.npz``.

    ``frames_per_take`` frames at 50 Hz per take, 2 takes per action group, the 4 real cameras of
    each subject. Returns statistics (also merged into ``README.md`` when ``readme``).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if frames_per_take < 2:
        raise ValueError(f"frames_per_take must be at least 2, got {frames_per_take}")
    unknown = [s for s in subjects if s not in H36M_CAMERAS]
    if unknown or not subjects:
        raise ValueError(f"subjects must be a non-empty subset of {H36M_SUBJECTS}, got {list(subjects)}")
    bad_actions = [a for a in actions if a not in ACTION_STYLES]
    if bad_actions or not actions:
        raise ValueError(f"actions must be a non-empty subset of {H36M_ACTIONS}, got {list(actions)}")

    positions_3d, gt_2d, det_2d = {}, {}, {}
    motion_stats, det_errors, det_autocorr, inside = [], [], [], []
    for subject in subjects:
        body = subject_body(seed, subject, index=H36M_SUBJECTS.index(subject), count=len(H36M_SUBJECTS))
        cameras = H36M_CAMERAS[subject]
        positions_3d[subject], gt_2d[subject], det_2d[subject] = {}, {}, {}
        for action in h36m_action_names(actions):
            motion = take_motion(action.split(" ")[0], random_stream(seed, "h36m", subject, action),
                                 frames_per_take, H36M_FPS, area_radius=1.8)
            world = animate(body, motion)  # (N, 17, 3) m
            motion_stats.append(motion_statistics(world, H36M_FPS))
            positions_3d[subject][action] = expand_to_32(world).astype(np.float32)
            gt_views, det_views = [], []
            for index, camera in enumerate(cameras):
                X_cam = world_to_camera(world, camera.orientation, camera.translation_m)
                gt = project_to_2d(X_cam, camera)
                det_rng = random_stream(seed, "h36m-det", subject, action, str(index))
                det = detector_noise(gt, det_rng, detector)
                gt_views.append(gt.astype(np.float32))
                det_views.append(det.astype(np.float32))
                err = det - gt
                det_errors.append(np.linalg.norm(err, axis=-1).mean())
                det_autocorr.append(lag1_autocorrelation(err))
                inside.append(((gt >= 0) & (gt < [camera.res_w, camera.res_h])).all(-1).mean())
            gt_2d[subject][action], det_2d[subject][action] = gt_views, det_views

    files = synthetic_files(name)["h36m"]
    paths = {role: out_dir / files[role] for role in ("file_3d", "file_2d_gt", "file_2d_det")}
    write_h36m_3d(paths["file_3d"], positions_3d)
    write_h36m_2d(paths["file_2d_gt"], gt_2d, H36M_2D_METADATA)
    write_h36m_2d(paths["file_2d_det"], det_2d, H36M_2D_METADATA)

    statures = {s: round(1000 * subject_body(seed, s, index=H36M_SUBJECTS.index(s),
                                             count=len(H36M_SUBJECTS)).stature) for s in subjects}
    stats = {
        "seed": seed, "subjects": list(subjects), "actions_per_subject": len(actions) * TAKES_PER_ACTION,
        "frames_per_take": frames_per_take, "fps": H36M_FPS,
        "frames_total": frames_per_take * len(subjects) * len(actions) * TAKES_PER_ACTION,
        "stature_mm": statures,
        "max_bone_deviation_mm": max(m["max_bone_deviation_mm"] for m in motion_stats),
        "max_joint_speed_m_s": max(m["max_joint_speed_m_s"] for m in motion_stats),
        "min_joint_height_m": min(m["min_joint_height_m"] for m in motion_stats),
        "det_mean_error_px": float(np.mean(det_errors)),
        "det_error_lag1_autocorrelation": float(np.mean(det_autocorr)),
        "gt_2d_inside_image_fraction": float(np.mean(inside)),
        "file_bytes": {p.name: p.stat().st_size for p in paths.values()},
    }
    if lifter_check:
        stats.update(h36m_lifter_check(positions_3d, gt_2d, det_2d))
    stats["generation_seconds"] = time.perf_counter() - started
    if readme:
        write_data_readme(out_dir, {f"Human3.6M layout ('{name}')": stats})
    return stats


# ---------------------------------------------------------------------------------------------
# MPI-INF-3DHP
# ---------------------------------------------------------------------------------------------
def _mpi_sequence(seed: int, key: tuple[str, ...], body: SubjectBody, n: int, fps: float, area: float):
    """World positions (N, 17, 3) m in the H36M joint order for one 3DHP sequence of a random action."""
    rng = random_stream(seed, "3dhp", *key)
    group = H36M_ACTIONS[rng.integers(len(H36M_ACTIONS))]
    return animate(body, take_motion(group, rng, n, fps, area_radius=area)), group


def _camera_view(world: np.ndarray, camera: Camera) -> dict[str, np.ndarray]:
    """{'data_2d': (N, 17, 2) px, 'data_3d': (N, 17, 3) mm camera coords} in the 3DHP joint order."""
    X_cam = world_to_camera(world, camera.orientation, camera.translation_m)[:, list(MPI_FROM_H36M)]
    return {"data_2d": project_to_2d(X_cam, camera).astype(np.float32),
            "data_3d": (X_cam * 1000).astype(np.float32)}


def _valid_mask(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) bool, mostly True: short invalid stretches at the ends and sometimes in the middle."""
    valid = np.ones(n, dtype=bool)
    valid[: rng.integers(0, max(1, n // 20))] = False
    valid[n - rng.integers(0, max(1, n // 20)):] = False
    if rng.random() < 0.5 and n >= 20:
        start = rng.integers(n // 4, 3 * n // 4)
        valid[start:start + rng.integers(1, max(2, n // 15))] = False
    return valid


def generate_3dhp(out_dir: str | Path, name: str = "synth", seed: int = 0, frames_per_sequence: int = 200,
                  test_frames: int = 200, subjects: Sequence[str] = MPI_TRAIN_SUBJECTS,
                  readme: bool = True) -> dict:
    """Write ``data_train_<name>_3dhp.npz`` and ``data_test_<name>_3dhp.npz`` (P-STMO layout, DATA.md §2).

    Training: 'S<k> Seq<1,2>' of ``frames_per_sequence`` frames at 25 Hz seen by 8 synthetic 2048×2048
    studio cameras; test: TS1..TS6 of ``test_frames`` frames, one camera each, with a ``valid`` mask.
    3D is in camera coordinates, mm, with universal (height-normalised) bone lengths as in univ_annot3.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if min(frames_per_sequence, test_frames) < 2:
        raise ValueError("frames_per_sequence and test_frames must be at least 2")
    studio = ring_cameras(random_stream(seed, "3dhp", "studio"), len(MPI_TRAIN_CAMERAS), (2048, 2048))
    train, motion_stats, actions = {}, [], {}
    for subject in subjects:
        # univ_annot3 rescales every subject to one height: only the proportions differ.
        body = subject_body(seed, subject, dataset="3dhp")
        for seq in ("Seq1", "Seq2"):
            key = f"{subject} {seq}"
            world, actions[key] = _mpi_sequence(seed, (subject, seq), body, frames_per_sequence,
                                                MPI_TRAIN_FPS, area=1.2)
            motion_stats.append(motion_statistics(world, MPI_TRAIN_FPS))
            train[key] = [{cam_id: _camera_view(world, camera)
                           for cam_id, camera in zip(MPI_TRAIN_CAMERAS, studio)}, MPI_TRAIN_FPS]

    test, valid_frames = {}, {}
    for ts in MPI_TEST_SEQUENCES:
        rng = random_stream(seed, "3dhp", "test-camera", ts)
        outdoor = MPI_TEST_RESOLUTION[ts][0] == 1920
        camera = ring_cameras(rng, 1, MPI_TEST_RESOLUTION[ts], radius=(4.5, 6.0) if outdoor else (3.5, 4.5),
                              height=(1.0, 1.6))[0]
        body = subject_body(seed, ts, dataset="3dhp")
        world, actions[ts] = _mpi_sequence(seed, (ts,), body, test_frames, MPI_TEST_FPS[ts], area=1.2)
        motion_stats.append(motion_statistics(world, MPI_TEST_FPS[ts]))
        view = _camera_view(world, camera)
        view["valid"] = _valid_mask(rng, test_frames)
        valid_frames[ts] = int(view["valid"].sum())
        test[ts] = view

    paths = {role: out_dir / file for role, file in synthetic_files(name)["3dhp"].items()}
    write_3dhp_train(paths["train"], train)
    write_3dhp_test(paths["test"], test)
    stats = {
        "seed": seed, "train_sequences": len(train), "train_cameras": len(MPI_TRAIN_CAMERAS),
        "frames_per_sequence": frames_per_sequence, "test_frames": test_frames,
        "valid_test_frames": valid_frames, "actions": actions,
        "max_bone_deviation_mm": max(m["max_bone_deviation_mm"] for m in motion_stats),
        "max_joint_speed_m_s": max(m["max_joint_speed_m_s"] for m in motion_stats),
        "file_bytes": {p.name: p.stat().st_size for p in paths.values()},
        "generation_seconds": time.perf_counter() - started,
    }
    if readme:
        write_data_readme(out_dir, {f"MPI-INF-3DHP layout ('{name}')": stats})
    return stats


# ---------------------------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------------------------
_STATS_FILE = "synthetic_stats.json"
_VOLATILE = ("generation_seconds",)  # wall-clock numbers stay out of the README: it must be reproducible


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    return str(value)


def write_data_readme(out_dir: str | Path, stats: Mapping[str, Mapping]) -> Path:
    """Write ``README.md`` next to the generated files: one section per data set.

    ``stats`` maps a section title to its numbers. Sections written earlier into the same folder (kept in
    ``synthetic_stats.json``) are preserved, so the two generators can each add theirs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sidecar = out_dir / _STATS_FILE
    sections = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    for title, numbers in stats.items():
        sections[title] = {k: v for k, v in numbers.items() if k not in _VOLATILE}
    atomic_write_text(sidecar, json.dumps(sections, indent=1, sort_keys=True) + "\n")
    lines = [
        "# Synthetic data (embedded default)",
        "",
        "Written by `diff3dhpe.data.synthetic` in the real Human3.6M (VideoPose3D) and MPI-INF-3DHP",
        "(P-STMO) formats, deterministic for the seed. Synthetic people: per-subject bone lengths, forward",
        "kinematics of per-action joint-angle trajectories, the real Human3.6M cameras (with distortion);",
        "'det' 2D = ground-truth projection + correlated jitter, outliers and left/right swaps.",
        "The linear-lifter numbers (MPJPE of a least-squares 2D→3D map, train subjects → test subjects)",
        "show that 3D cannot be read off the 2D: compare with the mean-pose baseline.",
        "Units: mm, px, m/s, m; bytes for files.",
    ]
    for title in sorted(sections):
        lines += ["", f"## {title}", "", "| quantity | value |", "|---|---|"]
        lines += [f"| {key} | {_format(value)} |" for key, value in sorted(sections[title].items())]
    return atomic_write_text(out_dir / "README.md", "\n".join(lines) + "\n")
