"""Clips per second of the single-process ClipBatches loader (seq2seq, flip augmentation on).

    python benchmarks/bench_loader.py [--frames 81 243] [--total-frames 200000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

from diff3dhpe.data.clips import ClipBatches, seq2seq_clips
from diff3dhpe.data.skeleton import H36M


def synthetic_sequences(total_frames: int, seed: int = 0) -> list[SimpleNamespace]:
    """Sequences of 1,000-3,000 frames (Human3.6M-like takes) adding up to about total_frames."""
    rng = np.random.default_rng(seed)
    sequences, frames = [], 0
    while frames < total_frames:
        n = int(rng.integers(1000, 3000))
        sequences.append(
            SimpleNamespace(
                subject="S1", action="Walking", camera="0",
                keypoints_2d=rng.uniform(-1, 1, size=(n, 17, 2)).astype(np.float32),
                poses_3d=rng.uniform(-1000, 1000, size=(n, 17, 3)).astype(np.float32),
                valid=np.ones(n, dtype=bool),
            )
        )
        frames += n
    return sequences


def clips_per_second(sequences, frames: int, batch_size: int, epochs: int) -> float:
    index = seq2seq_clips([len(s.keypoints_2d) for s in sequences], frames)
    batches = ClipBatches(sequences, index, 1000.0, batch_size, True, 0, True, H36M)
    clips, start = 0, time.perf_counter()
    for epoch in range(epochs):
        batches.set_epoch(epoch)
        for batch in batches:
            clips += batch["x2d"].shape[0]
    return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[81, 243])
    parser.add_argument("--total-frames", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    sequences = synthetic_sequences(args.total_frames)
    total = sum(len(s.keypoints_2d) for s in sequences)
    print(f"{len(sequences)} sequences, {total} frames, batch {args.batch_size}, flip augmentation on")
    for frames in args.frames:
        rate = clips_per_second(sequences, frames, args.batch_size, args.epochs)
        print(f"F={frames:4d}: {rate:10.0f} clips/s  ({rate * frames / 1e6:.2f} M frames/s)")


if __name__ == "__main__":
    main()
