"""Pose-error metrics (DATA.md §2 and §4) and the Human3.6M per-action protocol.

Poses are arrays (N, J, 3) in millimetres, root-relative; numpy arrays or torch tensors
(converted on entry). Everything is vectorised over frames, accumulated in float64 and
processed in chunks of ``CHUNK_FRAMES`` frames so that millions of frames fit in memory.

Per-frame functions return (N,) arrays; the scalar functions are their means:
- ``mpjpe``    mean Euclidean joint error (Protocol #1).
- ``p_mpjpe``  after per-frame similarity Procrustes alignment (rotation, translation,
               uniform scale; reflections excluded) (Protocol #2).
- ``n_mpjpe``  after the per-frame optimal uniform scale only.
- ``mpjve``    error of first differences over time (mm/frame), within sequences only.
- ``pck``/``auc`` (MPI-INF-3DHP) in percent over the 14 joints ``MPI_PCK_JOINTS``.

Per-action protocol: an evaluator scores each test sequence (subject, action, camera),
builds one record per sequence ``{"action": "Walking 1", "mpjpe": per-frame array, ...}``
(``per_frame_errors`` makes the arrays) and calls ``per_action_table(records)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from diff3dhpe.data.skeleton import H36M_ACTIONS, MPI_PCK_JOINTS, NUM_JOINTS, action_group
from diff3dhpe.errors import ShapeError

CHUNK_FRAMES = 65536
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.arange(31) * 5.0  # 0, 5, ..., 150
METRIC_NAMES = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc")
AVERAGE_ROW = "Average"  # Human3.6M: unweighted mean over action groups; 3DHP: mean of sequence means
ALL_FRAMES_ROW = "All"  # MPI-INF-3DHP: every valid frame pooled (the official MATLAB script's "All" row)


# ---------------------------------------------------------------------- input checks
def _to_numpy(arr, name: str) -> np.ndarray:
    if hasattr(arr, "detach"):  # torch tensor, any device
        arr = arr.detach().cpu().numpy()
    arr = np.asarray(arr)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ShapeError(f"{name} must hold numbers; got dtype {arr.dtype}")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    # One float64 sum is cheap; only when it is not finite do we look for the culprit frame.
    if not np.isfinite(arr.sum(dtype=np.float64)):
        bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
        raise ShapeError(f"{name} contains NaN or inf (first at frame {bad[0] if bad.size else '?'})")


def _check_poses(pred, gt, num_joints: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (pred, gt) pair of (N, J, 3) poses; returns numpy arrays (dtype unchanged)."""
    pred, gt = _to_numpy(pred, "pred"), _to_numpy(gt, "gt")
    for name, arr in (("pred", pred), ("gt", gt)):
        if arr.ndim != 3 or arr.shape[-1] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ShapeError(f"{name} must have shape (N, J, 3) with N, J >= 1; got {arr.shape}")
    if pred.shape != gt.shape:
        raise ShapeError(f"pred shape {pred.shape} differs from gt shape {gt.shape}")
    if num_joints is not None and pred.shape[1] != num_joints:
        raise ShapeError(f"pred/gt must have {num_joints} joints; got {pred.shape[1]}")
    _check_finite(pred, "pred")
    _check_finite(gt, "gt")
    return pred, gt


def _chunks(n: int):
    for start in range(0, n, CHUNK_FRAMES):
        yield slice(start, min(start + CHUNK_FRAMES, n))


def _f64(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float64, copy=False)


# ---------------------------------------------------------------------- per-frame errors
def mpjpe_per_frame(pred, gt) -> np.ndarray:
    """Mean over joints of the Euclidean error, per frame: (N,) mm."""
    pred, gt = _check_poses(pred, gt)
    out = np.empty(len(pred))
    for sl in _chunks(len(pred)):
        out[sl] = np.linalg.norm(_f64(pred[sl]) - _f64(gt[sl]), axis=-1).mean(axis=-1)
    return out


def _similarity_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best s·pred·R + t ≈ gt per frame (R a proper rotation, rows are joints); float64 (n, J, 3).

    With centred P, G and M = PᵀG = U S Vᵀ, tr(P R Gᵀ) is maximal for R = U D Vᵀ,
    D = diag(1, 1, det(U Vᵀ)) (flipping the last singular vector excludes reflections);
    the optimal scale is tr(D S) / ‖P‖².
    """
    pred, gt = _f64(pred), _f64(gt)
    mu_pred, mu_gt = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p, g = pred - mu_pred, gt - mu_gt  # (n, J, 3)
    u, s, vt = np.linalg.svd(np.matmul(p.transpose(0, 2, 1), g))  # (n, 3, 3), (n, 3), (n, 3, 3)
    sign = np.where(np.linalg.det(np.matmul(u, vt)) < 0, -1.0, 1.0)  # (n,)
    u[:, :, -1] *= sign[:, None]
    s[:, -1] *= sign
    rot = np.matmul(u, vt)
    norm_p = np.einsum("njc,njc->n", p, p)
    # A degenerate (all joints equal) prediction aligns to the gt centroid.
    scale = np.divide(s.sum(axis=1), norm_p, out=np.zeros_like(norm_p), where=norm_p > 0)
    return scale[:, None, None] * np.matmul(p, rot) + mu_gt


def procrustes_align(pred, gt) -> np.ndarray:
    """``pred`` similarity-aligned to ``gt`` frame by frame (rotation, translation, uniform scale).

    Reflections are not allowed: a mirrored prediction is fitted by the best proper rotation.
    Returns float64 (N, J, 3).
    """
    pred, gt = _check_poses(pred, gt)
    out = np.empty(pred.shape)
    for sl in _chunks(len(pred)):
        out[sl] = _similarity_align(pred[sl], gt[sl])
    return out


def p_mpjpe_per_frame(pred, gt) -> np.ndarray:
    """MPJPE after per-frame similarity Procrustes alignment (Protocol #2): (N,) mm."""
    pred, gt = _check_poses(pred, gt)
    out = np.empty(len(pred))
    for sl in _chunks(len(pred)):
        g = _f64(gt[sl])
        out[sl] = np.linalg.norm(_similarity_align(pred[sl], g) - g, axis=-1).mean(axis=-1)
    return out


def n_mpjpe_per_frame(pred, gt) -> np.ndarray:
    """MPJPE after scaling pred by the per-frame optimal s = Σ pred·gt / Σ pred·pred: (N,) mm."""
    pred, gt = _check_poses(pred, gt)
    out = np.empty(len(pred))
    for sl in _chunks(len(pred)):
        p, g = _f64(pred[sl]), _f64(gt[sl])
        norm_p = np.einsum("njc,njc->n", p, p)
        dot = np.einsum("njc,njc->n", p, g)
        scale = np.divide(dot, norm_p, out=np.zeros_like(norm_p), where=norm_p > 0)
        out[sl] = np.linalg.norm(scale[:, None, None] * p - g, axis=-1).mean(axis=-1)
    return out


def _check_sequence_ids(sequence_ids, n: int) -> np.ndarray:
    """(N,) ids; each sequence must be one contiguous run of frames in time order."""
    if sequence_ids is None:
        return np.zeros(n, dtype=np.int64)
    ids = _to_numpy(sequence_ids, "sequence_ids")
    if ids.shape != (n,):
        raise ShapeError(f"sequence_ids must have shape ({n},) (one id per frame); got {ids.shape}")
    run_starts = np.r_[True, ids[1:] != ids[:-1]]
    run_ids = ids[run_starts]
    if np.unique(run_ids).size != run_ids.size:
        raise ShapeError(
            "sequence_ids: a sequence appears in two separate runs; the frames of each sequence "
            "must be contiguous and in time order"
        )
    return ids


def mpjve_per_frame(pred, gt, sequence_ids=None) -> np.ndarray:
    """Velocity error per frame: (N,) mm/frame, NaN at the first frame of every sequence.

    Entry i is mean_j ‖(pred_i − pred_{i−1}) − (gt_i − gt_{i−1})‖ when frame i−1 belongs to the
    same sequence (``sequence_ids`` (N,), default: one sequence), so no difference ever spans
    a sequence boundary. Use ``np.nanmean`` (or ``mpjve``) to average.
    """
    pred, gt = _check_poses(pred, gt)
    ids = _check_sequence_ids(sequence_ids, len(pred))
    out = np.full(len(pred), np.nan)
    # Chunks overlap by one frame so that differences across chunk edges are kept.
    for sl in _chunks(len(pred)):
        lo = max(sl.start - 1, 0)
        dp = np.diff(_f64(pred[lo : sl.stop]), axis=0)
        dg = np.diff(_f64(gt[lo : sl.stop]), axis=0)
        err = np.linalg.norm(dp - dg, axis=-1).mean(axis=-1)  # frame lo+1 .. stop-1
        same = ids[lo + 1 : sl.stop] == ids[lo : sl.stop - 1]
        out[lo + 1 : sl.stop] = np.where(same, err, np.nan)
    return out


def pck_per_frame(pred, gt, threshold: float = PCK_THRESHOLD_MM, joints=MPI_PCK_JOINTS) -> np.ndarray:
    """Percent of the scored joints with error strictly below ``threshold`` mm, per frame: (N,)."""
    return _pck_curve(pred, gt, np.array([float(threshold)]), joints)[:, 0]


def auc_per_frame(pred, gt, joints=MPI_PCK_JOINTS) -> np.ndarray:
    """Mean PCK (percent) over the thresholds 0, 5, ..., 150 mm, per frame: (N,)."""
    return _pck_curve(pred, gt, AUC_THRESHOLDS_MM, joints).mean(axis=1)


def _pck_curve(pred, gt, thresholds: np.ndarray, joints) -> np.ndarray:
    """(N, K) percent of scored joints with error < each of the K thresholds."""
    joints = np.asarray(joints, dtype=np.int64)
    if tuple(joints.tolist()) == MPI_PCK_JOINTS:
        pred, gt = _check_poses(pred, gt, num_joints=NUM_JOINTS)  # 3DHP joint order
    else:
        pred, gt = _check_poses(pred, gt)
    if joints.ndim != 1 or joints.size == 0 or joints.min() < 0 or joints.max() >= pred.shape[1]:
        raise ShapeError(
            f"joints must be a non-empty list of indices in [0, {pred.shape[1] - 1}]; got {joints}"
        )
    if not np.all(np.isfinite(thresholds)):
        raise ShapeError(f"PCK threshold must be finite; got {thresholds}")
    out = np.empty((len(pred), thresholds.size))
    for sl in _chunks(len(pred)):
        err = np.linalg.norm(_f64(pred[sl][:, joints]) - _f64(gt[sl][:, joints]), axis=-1)  # (n, K_joints)
        out[sl] = 100.0 * (err[:, :, None] < thresholds).mean(axis=1)
    return out


# ---------------------------------------------------------------------- scalar metrics
def mpjpe(pred, gt) -> float:
    """Mean per-joint position error in mm over all frames and joints (Protocol #1)."""
    return float(mpjpe_per_frame(pred, gt).mean())


def p_mpjpe(pred, gt) -> float:
    """MPJPE after per-frame similarity Procrustes alignment, mm (Protocol #2)."""
    return float(p_mpjpe_per_frame(pred, gt).mean())


def n_mpjpe(pred, gt) -> float:
    """MPJPE after the per-frame optimal scale, mm."""
    return float(n_mpjpe_per_frame(pred, gt).mean())


def mpjve(pred, gt, sequence_ids=None) -> float:
    """Mean velocity error in mm/frame over all within-sequence frame pairs (see ``mpjve_per_frame``)."""
    per_frame = mpjve_per_frame(pred, gt, sequence_ids)
    if np.isnan(per_frame).all():
        raise ShapeError("mpjve needs at least one sequence with two or more frames")
    return float(np.nanmean(per_frame))


def pck(pred, gt, threshold: float = PCK_THRESHOLD_MM, joints=MPI_PCK_JOINTS) -> float:
    """PCK in percent: share of (frame, joint) pairs with error < threshold (strict), 14 3DHP joints."""
    return float(pck_per_frame(pred, gt, threshold, joints).mean())


def auc(pred, gt, joints=MPI_PCK_JOINTS) -> float:
    """Area under the PCK curve in percent: mean PCK over thresholds 0, 5, ..., 150 mm (31 values)."""
    return float(auc_per_frame(pred, gt, joints).mean())


def per_frame_errors(pred, gt, sequence_ids=None) -> dict[str, np.ndarray]:
    """The per-frame arrays an evaluator puts into a ``per_action_table`` record.

    Returns {"mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"} each (N,); mpjve is NaN at sequence starts.
    """
    return {
        "mpjpe": mpjpe_per_frame(pred, gt),
        "p_mpjpe": p_mpjpe_per_frame(pred, gt),
        "n_mpjpe": n_mpjpe_per_frame(pred, gt),
        "mpjve": mpjve_per_frame(pred, gt, sequence_ids),
    }


# ---------------------------------------------------------------------- aggregation
def mean_over_sequences(values: Iterable) -> float:
    """Mean of per-sequence means (MPI-INF-3DHP reports MPJPE this way over TS1-TS6).

    ``values``: one entry per sequence, each a per-frame array (NaN entries ignored) or a scalar.
    """
    means = []
    for i, v in enumerate(values):
        arr = _to_numpy(v, f"values[{i}]").astype(np.float64).ravel()
        if arr.size == 0 or np.isnan(arr).all():
            raise ShapeError(f"values[{i}] (sequence {i}) has no scored frame")
        means.append(np.nanmean(arr))
    if not means:
        raise ShapeError("mean_over_sequences needs at least one sequence")
    return float(np.mean(means))


# MPI-INF-3DHP MPJPE is published two ways (DATA.md §2); both are reported, labelled.
MPJPE_3DHP_CONVENTIONS = {
    "mpjpe_sequence_mean": "mean of the per-sequence means over TS1-TS6 (the release code)",
    "mpjpe_all_frames": "mean over all valid frames of all sequences pooled (the official MATLAB 'All' row)",
}


def mpjpe_3dhp_conventions(per_sequence: Mapping[str, object] | Iterable) -> dict[str, float | int]:
    """MPI-INF-3DHP MPJPE (mm) both ways, from per-frame errors per test sequence (DATA.md §2).

    ``per_sequence``: {'TS1': (N,) per-frame MPJPE in mm, ...} or a list of such arrays, one per
    sequence (``mpjpe_per_frame`` of the scored frames); NaN entries (invalid or unscored frames)
    are left out. Returns ``{"mpjpe_sequence_mean": mean of the per-sequence means (the release
    code), "mpjpe_all_frames": sum over all scored frames / their number (the MATLAB 'All' row),
    "frames_scored": that number}``. The two differ whenever sequences differ in length and error.

    Raises ShapeError: no sequence, a sequence without a scored frame, non-numeric values.
    """
    values = list(per_sequence.values() if isinstance(per_sequence, Mapping) else per_sequence)
    names = list(per_sequence) if isinstance(per_sequence, Mapping) else list(range(len(values)))
    total, frames = 0.0, 0
    for name, value in zip(names, values):
        arr = _to_numpy(value, f"per_sequence[{name!r}]").astype(np.float64).ravel()
        scored = arr[~np.isnan(arr)]
        if scored.size == 0:
            raise ShapeError(f"per_sequence[{name!r}] (sequence {name}) has no scored frame")
        total += float(scored.sum())
        frames += scored.size
    if frames == 0:
        raise ShapeError("mpjpe_3dhp_conventions needs at least one sequence")
    return {
        "mpjpe_sequence_mean": mean_over_sequences(values),
        "mpjpe_all_frames": total / frames,
        "frames_scored": frames,
    }


def _record_sums(record: Mapping, metric: str, index: int) -> tuple[float, int, int]:
    """(sum, count, frames) of one metric in one record, from per-frame arrays or pre-summed fields."""
    where = f"record {index} (action {record.get('action')!r})"
    if metric in record:
        arr = _to_numpy(record[metric], f"{where} {metric!r}").astype(np.float64)
        if arr.ndim != 1:
            raise ShapeError(f"{where}: {metric!r} must be a per-frame 1-D array; got shape {arr.shape}")
        scored = ~np.isnan(arr)
        return float(arr[scored].sum()), int(scored.sum()), arr.size
    if f"{metric}_sum" in record:
        if "frames_scored" not in record:
            raise ShapeError(f"{where}: {metric + '_sum'!r} given without 'frames_scored'")
        frames = int(record["frames_scored"])
        count = int(record.get(f"{metric}_count", frames))
        return float(record[f"{metric}_sum"]), count, frames
    raise ShapeError(f"{where} has neither {metric!r} (per-frame array) nor {metric + '_sum'!r}")


def per_action_table(
    records: Iterable[Mapping] | pd.DataFrame, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Human3.6M per-action protocol (DATA.md §4).

    ``records``: one mapping per scored sequence (one subject, action, camera), with
      - ``"action"``: the raw action name, e.g. "Walking 1"; grouped by ``action_group`` on the
        exact name before the first space ("SittingDown 2" → SittingDown, never Sitting);
      - either per-frame arrays ``"<metric>": (N,)`` (NaN entries, e.g. mpjve's sequence starts,
        are left out of that metric; frames_scored = N),
      - or pre-summed ``"frames_scored"`` and ``"<metric>_sum"`` (optional ``"<metric>_count"``,
        default frames_scored).
    ``metrics``: names to aggregate; default, those of ``METRIC_NAMES`` found in the first record.

    Returns a DataFrame with columns ``action, frames_scored, *metrics``: one row per action group
    (``H36M_ACTIONS`` order, unknown groups after, sorted) holding the frame-weighted mean over its
    sequences and cameras, then the ``"Average"`` row, the unweighted mean over the groups
    (frames_scored = total).
    """
    if isinstance(records, pd.DataFrame):
        records = records.to_dict("records")
    records = list(records)
    if not records:
        raise ShapeError("per_action_table needs at least one record")
    if metrics is None:
        metrics = [m for m in METRIC_NAMES if m in records[0] or f"{m}_sum" in records[0]]
        if not metrics:
            raise ShapeError(f"record 0 has none of the metrics {METRIC_NAMES} (as arrays or '<metric>_sum')")
    metrics = list(metrics)

    groups: dict[str, dict[str, list[float]]] = {}
    for i, record in enumerate(records):
        if "action" not in record:
            raise ShapeError(f"record {i} has no 'action' key")
        acc = groups.setdefault(action_group(str(record["action"])), {"frames": [0.0]})
        frames = set()
        for metric in metrics:
            total, count, n = _record_sums(record, metric, i)
            acc.setdefault(metric, [0.0, 0.0])
            acc[metric][0] += total
            acc[metric][1] += count
            frames.add(n)
        if len(frames) != 1:
            raise ShapeError(f"record {i} (action {record['action']!r}): metrics disagree on the frame count")
        acc["frames"][0] += frames.pop()

    known = [a for a in H36M_ACTIONS if a in groups]
    order = known + sorted(set(groups) - set(known))
    rows = []
    for name in order:
        acc = groups[name]
        row = {"action": name, "frames_scored": int(acc["frames"][0])}
        for metric in metrics:
            total, count = acc[metric]
            row[metric] = total / count if count > 0 else np.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=["action", "frames_scored", *metrics])
    average = {"action": AVERAGE_ROW, "frames_scored": int(table["frames_scored"].sum())}
    average.update({m: float(table[m].mean(skipna=False)) for m in metrics})
    return pd.concat([table, pd.DataFrame([average])], ignore_index=True)
