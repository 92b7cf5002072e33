"""How varied are the poses of a data set, and how far are its test poses from its training poses?

Issue 16 asks whether the synthetic generator gives too little variety across subjects, takes and
cameras (which would favour a linear lifter and regression over diffusion). For each split of the
Human3.6M-format data of a params file this prints, on root-relative 3D poses in mm (camera frame):

- ``pca_dims_90`` / ``_95`` / ``_99``: principal components needed for 90 / 95 / 99 % of the variance
  (fitted on that split): a low number means the poses live in a small linear subspace;
- ``joint_sd_mm``: the mean per-joint standard deviation around the split's mean pose;
- ``nn_to_train_mm``: the mean over (sub-sampled) frames of the distance to the nearest TRAINING pose
  (MPJPE-style mean over joints), so test-vs-train novelty can be compared with validation-vs-train;
- ``linear_residual_mm``: the MPJPE left after the best linear map from the split's own root-relative
  2D (one frame) to its 3D, fitted on that split itself: how linear the 2D→3D relation is at all.

    python -m benchmarks.data_variety --params params.yaml --input-2d det
"""

from __future__ import annotations

import argparse

import numpy as np

from diff3dhpe.assemble import load_dataset
from diff3dhpe.baselines import fit_linear_lifter
from diff3dhpe.config import load_params


def _root_relative(sequences, root: int) -> np.ndarray:
    poses = np.concatenate([seq.poses_3d for seq in sequences]).astype(np.float64)
    return poses - poses[:, root : root + 1]


def _pca_dims(poses: np.ndarray, fractions=(0.90, 0.95, 0.99)) -> list[int]:
    flat = poses.reshape(len(poses), -1)
    flat = flat - flat.mean(0)
    variance = np.linalg.svd(flat, compute_uv=False) ** 2
    cumulative = np.cumsum(variance) / variance.sum()
    return [int(np.searchsorted(cumulative, f) + 1) for f in fractions]


def _nearest_mpjpe(queries: np.ndarray, reference: np.ndarray, chunk: int = 16) -> float:
    best = []
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        # (q, r) mean joint distance; reference is sub-sampled by the caller to keep this small
        d = np.linalg.norm(q[:, None] - reference[None], axis=-1).mean(-1)
        best.append(d.min(1))
    return float(np.concatenate(best).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--input-2d", default="det", choices=["det", "gt"])
    parser.add_argument("--max-frames", type=int, default=1000,
                        help="frames sampled per split for the nearest-neighbour distances")
    args = parser.parse_args(argv)
    data = load_dataset(load_params(args.params), "h36m", args.input_2d)
    root = data.layout.root
    rng = np.random.default_rng(0)
    train = _root_relative(data.train, root)
    reference = train[rng.choice(len(train), min(len(train), 4 * args.max_frames), replace=False)]
    print(f"{args.params} ({args.input_2d} 2D): root-relative 3D, mm")
    print(f"{'split':<11}{'frames':>8}{'pca_dims_90/95/99':>19}{'joint_sd_mm':>13}{'nn_to_train_mm':>16}"
          f"{'linear_residual_mm':>20}")
    for split, sequences in data.splits().items():
        if not sequences:
            continue
        poses = _root_relative(sequences, root)
        dims = _pca_dims(poses)
        sd = float(np.sqrt(((poses - poses.mean(0)) ** 2).sum(-1).mean(0)).mean())
        sample = poses[rng.choice(len(poses), min(len(poses), args.max_frames), replace=False)]
        nn = _nearest_mpjpe(sample, reference) if split != "train" else float("nan")
        pairs = [(seq.keypoints_2d, seq.poses_3d) for seq in sequences]
        lifter = fit_linear_lifter(pairs, window=1)
        residual = np.concatenate([
            np.linalg.norm((p := lifter.predict(x2d)) - p[:, root : root + 1]
                           - (y - y[:, root : root + 1]), axis=-1).reshape(-1)
            for x2d, y in pairs
        ]).mean()
        print(f"{split:<11}{len(poses):>8}{'/'.join(map(str, dims)):>19}{sd:>13.1f}{nn:>16.1f}"
              f"{residual:>20.1f}")


if __name__ == "__main__":
    main()
