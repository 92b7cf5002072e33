"""Clip windows over pose sequences and a fast batched loader (METHOD.md §4b, §7).

A `ClipIndex` says, for every clip, which sequence it reads, which frames (edge-clamped) it feeds the
model and which of its output frames it scores. Building it is vectorised over all sequences; the
loader concatenates every sequence once and gathers a whole batch with one fancy index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from diff3dhpe.data.augment import flip_keypoints
from diff3dhpe.data.skeleton import JointLayout
from diff3dhpe.errors import ConfigError, ShapeError


@dataclass
class ClipIndex:
    """One row per clip. seq2seq: mask (C, F) scores every output frame; seq2frame: mask (C, 1), centre."""

    sequence: np.ndarray  # (C,) int64  which sequence
    frames: np.ndarray  # (C, F) int64  frame index into that sequence (edge-clamped)
    mask: np.ndarray  # (C, F') bool  output frames this clip scores / learns; F' = F or 1

    def __post_init__(self) -> None:
        self.sequence = np.asarray(self.sequence, dtype=np.int64)
        self.frames = np.asarray(self.frames, dtype=np.int64)
        self.mask = np.asarray(self.mask, dtype=bool)
        clips = self.sequence.shape[0] if self.sequence.ndim == 1 else -1
        if (
            clips < 0
            or self.frames.ndim != 2
            or self.frames.shape[0] != clips
            or self.mask.ndim != 2
            or self.mask.shape[0] != clips
            or self.mask.shape[1] not in (self.frames.shape[1], 1)
        ):
            raise ShapeError(
                "ClipIndex expects sequence (C,), frames (C, F) and mask (C, F) or (C, 1); got "
                f"{self.sequence.shape}, {self.frames.shape}, {self.mask.shape}"
            )

    def __len__(self) -> int:
        return int(self.sequence.shape[0])

    @property
    def input_frames(self) -> int:
        return int(self.frames.shape[1])

    @property
    def output_frames(self) -> int:
        return int(self.mask.shape[1])

    @property
    def target_frames(self) -> np.ndarray:
        """(C, F') frame index of every output frame: all frames (seq2seq) or the centre one (seq2frame)."""
        if self.output_frames == self.input_frames:
            return self.frames
        centre = self.input_frames // 2
        return self.frames[:, centre : centre + 1]


def _check_lengths(lengths: Sequence[int] | np.ndarray, frames: int) -> np.ndarray:
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or (lengths.size and not np.issubdtype(lengths.dtype, np.integer)):
        raise ShapeError(f"lengths must be a 1-D sequence of ints, got {lengths!r}")
    lengths = lengths.astype(np.int64)
    if (lengths < 0).any():
        raise ShapeError(f"sequence lengths must be >= 0, got {lengths[lengths < 0].tolist()}")
    if not isinstance(frames, (int, np.integer)) or isinstance(frames, bool) or frames < 1:
        raise ConfigError(f"clip length (frames) must be an int >= 1, got {frames!r}")
    return lengths


def seq2seq_clips(lengths: Sequence[int] | np.ndarray, frames: int) -> ClipIndex:
    """Non-overlapping windows at 0, F, 2F, ...; every frame is scored exactly once.

    The last window is shifted to end at the sequence end and masks the frames its predecessor already
    covers; a sequence shorter than F gets one window, edge-clamped, with the padding masked out.
    Zero-length sequences get no clip.
    """
    lengths = _check_lengths(lengths, frames)
    per_seq = -(-lengths // frames)  # (S,) ceil(N / F) windows
    sequence = np.repeat(np.arange(len(lengths), dtype=np.int64), per_seq)  # (C,)
    first_clip = np.cumsum(per_seq) - per_seq
    window = np.arange(len(sequence), dtype=np.int64) - np.repeat(first_clip, per_seq)  # (C,) i-th of seq
    n = lengths[sequence]  # (C,)
    nominal = window * frames  # first frame this window is responsible for
    start = np.maximum(np.minimum(nominal, n - frames), 0)
    raw = start[:, None] + np.arange(frames, dtype=np.int64)  # (C, F) before clamping
    mask = (raw >= nominal[:, None]) & (raw < n[:, None])
    return ClipIndex(sequence, np.minimum(raw, n[:, None] - 1), mask)


def seq2frame_clips(lengths: Sequence[int] | np.ndarray, frames: int) -> ClipIndex:
    """One clip per frame: a centred window of F (odd) frames, (F-1)/2 edge padding by clamping."""
    lengths = _check_lengths(lengths, frames)
    if frames % 2 == 0:
        raise ConfigError(f"seq2frame clips need an odd number of frames to have a centre, got {frames}")
    sequence = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)  # (C,)
    centre = np.arange(len(sequence), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    offsets = np.arange(frames, dtype=np.int64) - frames // 2
    n = lengths[sequence]
    frame_index = np.clip(centre[:, None] + offsets, 0, n[:, None] - 1)  # (C, F)
    return ClipIndex(sequence, frame_index, np.ones((len(sequence), 1), dtype=bool))


def apply_valid(index: ClipIndex, valid: Sequence[np.ndarray]) -> ClipIndex:
    """A copy of `index` whose mask also excludes frames whose sequence marks them invalid (3DHP test)."""
    flat, offsets = _concat_valid(valid)
    if len(index) and index.sequence.max() >= len(offsets):
        raise ShapeError(f"index refers to sequence {index.sequence.max()} but only {len(offsets)} given")
    rows = offsets[index.sequence][:, None] + index.target_frames
    return ClipIndex(index.sequence, index.frames, index.mask & flat[rows])


def evenly_spaced(index: ClipIndex, limit: int) -> ClipIndex:
    """At most ``limit`` clips spread over the whole index: a deterministic, representative subset
    (rows ``round(linspace(0, C - 1, limit))``), e.g. the clips scored by per-epoch validation."""
    if len(index) <= limit:
        return index
    rows = np.linspace(0, len(index) - 1, limit).round().astype(np.int64)
    return ClipIndex(index.sequence[rows], index.frames[rows], index.mask[rows])


def _concat_valid(valid: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    arrays = [np.asarray(v, dtype=bool).reshape(-1) for v in valid]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=bool)
    return flat, offsets


def stitch(
    index: ClipIndex,
    predictions: np.ndarray | torch.Tensor,
    lengths: Sequence[int] | np.ndarray,
    partial: bool = False,
) -> list[np.ndarray]:
    """Per-clip predictions (C, F', J, 3) -> one (N, J, 3) array per sequence.

    Each masked output frame is written to its sequence frame; a frame written twice is an error, and so
    is a frame never written unless `partial` (then it is NaN, e.g. after `apply_valid`).
    """
    if isinstance(predictions, torch.Tensor):
        predictions = predictions.detach().cpu().numpy()
    predictions = np.asarray(predictions)
    if predictions.ndim < 2 or predictions.shape[:2] != index.mask.shape:
        raise ShapeError(
            f"stitch expects predictions (C, F', ...) matching the clip mask {index.mask.shape}, "
            f"got {predictions.shape}"
        )
    lengths = _check_lengths(lengths, 1)
    if len(index) and index.sequence.max() >= len(lengths):
        raise ShapeError(f"index refers to sequence {index.sequence.max()} but only {len(lengths)} lengths")
    offsets = np.cumsum(lengths) - lengths
    rows = (offsets[index.sequence][:, None] + index.target_frames)[index.mask]  # (K,) flat frame
    total = int(lengths.sum())
    counts = np.bincount(rows, minlength=total)
    if (counts > 1).any():
        raise ShapeError(f"stitch: {int((counts > 1).sum())} frames are scored by more than one clip")
    if not partial and (counts == 0).any():
        raise ShapeError(f"stitch: {int((counts == 0).sum())} of {total} frames are not covered by any clip")
    out = np.full((total,) + predictions.shape[2:], np.nan, dtype=np.result_type(predictions, np.float32))
    out[rows] = predictions[index.mask]
    return np.split(out, np.cumsum(lengths)[:-1])


class ClipBatches:
    """Batches of clips as dicts of tensors, gathered from one contiguous copy of all sequences.

    Yields x2d (B, F, J, 2) float32, y3d (B, F', J, 3) float32 (poses_mm / scale), mask (B, F') bool
    (clip mask AND the sequence's valid frames), clip (B,) int64 ids into `index`, flip (B,) bool.
    With flip_augment every clip also appears mirrored, doubling the epoch. Shuffling is a function of
    (seed, epoch) only. Map-style (`batches[i]`), so a training loop can cap the batches per epoch.
    """

    def __init__(
        self,
        sequences: Sequence,
        index: ClipIndex,
        scale: float,
        batch_size: int,
        shuffle: bool,
        seed: int,
        flip_augment: bool,
        layout: JointLayout | None,
        drop_last: bool = False,
    ) -> None:
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not (isinstance(scale, (int, float, np.floating)) and np.isfinite(scale) and scale > 0):
            raise ConfigError(f"scale must be a finite number > 0 (max |coordinate| in mm), got {scale!r}")
        if flip_augment and layout is None:
            raise ConfigError("flip_augment needs the joint layout (left/right joints) to mirror poses")
        self.index = index
        self.scale = float(scale)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.flip_augment = flip_augment
        self.layout = layout
        self.drop_last = drop_last
        self._x2d, self._y3d, self._valid, self._offsets, self.lengths = self._concatenate(sequences)
        self._check_index()
        self._total = int(self.lengths.sum())
        if flip_augment:
            # Mirrored copy stacked after the originals (rows + total): a flipped clip is then a plain
            # gather instead of a mirroring pass over each batch, at the cost of twice the memory.
            self._x2d = np.concatenate([self._x2d, flip_keypoints(self._x2d, layout)])
            self._y3d = np.concatenate([self._y3d, flip_keypoints(self._y3d, layout)])
        # Epoch items: clip id and flip flag; mirrored copies follow the originals.
        clips = np.arange(len(index), dtype=np.int64)
        self._items_clip = np.concatenate([clips, clips]) if flip_augment else clips
        flags = np.array([False, True]) if flip_augment else np.array([False])
        self._items_flip = np.repeat(flags, len(clips))
        self.set_epoch(0)

    def _concatenate(self, sequences: Sequence) -> tuple[np.ndarray, ...]:
        if len(sequences) == 0:
            raise ShapeError("ClipBatches needs at least one sequence")
        first = np.shape(sequences[0].keypoints_2d)
        j = self.layout.num_joints if self.layout is not None else (first[1] if len(first) == 3 else 17)
        for i, seq in enumerate(sequences):
            x2d, y3d, valid = seq.keypoints_2d, seq.poses_3d, seq.valid
            n = x2d.shape[0] if np.ndim(x2d) == 3 else -1
            name = f"sequence {i} ({getattr(seq, 'subject', '?')} {getattr(seq, 'action', '?')})"
            if n < 0 or x2d.shape != (n, j, 2) or y3d.shape != (n, j, 3) or np.shape(valid) != (n,):
                raise ShapeError(
                    f"{name}: expected keypoints_2d (N, {j}, 2), poses_3d (N, {j}, 3), valid (N,); got "
                    f"{np.shape(x2d)}, {np.shape(y3d)}, {np.shape(valid)}"
                )
            if not np.isfinite(x2d).all():
                raise ShapeError(f"{name}: keypoints_2d contains NaN or inf")
            if not np.isfinite(y3d[np.asarray(valid, dtype=bool)]).all():
                raise ShapeError(f"{name}: poses_3d contains NaN or inf on valid frames")
        lengths = np.array([len(s.keypoints_2d) for s in sequences], dtype=np.int64)
        offsets = np.cumsum(lengths) - lengths
        x2d = np.ascontiguousarray(np.concatenate([s.keypoints_2d for s in sequences]), dtype=np.float32)
        y3d = np.concatenate([s.poses_3d for s in sequences]).astype(np.float32) / np.float32(self.scale)
        np.nan_to_num(y3d, copy=False)  # invalid frames may hold garbage; they are masked, keep them finite
        valid = np.concatenate([np.asarray(s.valid, dtype=bool) for s in sequences])
        return x2d, y3d, valid, offsets, lengths

    def _check_index(self) -> None:
        index = self.index
        if not len(index):
            return
        if index.sequence.min() < 0 or index.sequence.max() >= len(self.lengths):
            raise ShapeError(f"clip index refers to sequences outside 0..{len(self.lengths) - 1}")
        n = self.lengths[index.sequence][:, None]
        if (index.frames < 0).any() or (index.frames >= n).any():
            raise ShapeError(
                "clip index has frame indices outside their sequence (build it from the sequence lengths)"
            )

    def set_epoch(self, epoch: int) -> None:
        """Fix the item order of this epoch: a permutation drawn from (seed, epoch), or the identity."""
        self.epoch = int(epoch)
        items = len(self._items_clip)
        if self.shuffle:
            self._order = np.random.default_rng([self.seed, self.epoch]).permutation(items)
        else:
            self._order = np.arange(items)

    @property
    def num_items(self) -> int:
        """Clips per epoch (twice the index with flip augmentation)."""
        return len(self._items_clip)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_items // self.batch_size
        return -(-self.num_items // self.batch_size)

    def __getitem__(self, batch: int) -> dict[str, torch.Tensor]:
        if not 0 <= batch < len(self):
            raise IndexError(f"batch {batch} out of range 0..{len(self) - 1}")
        items = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        return self.gather(self._items_clip[items], self._items_flip[items])

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for batch in range(len(self)):
            yield self[batch]

    def gather(self, clips: np.ndarray, flip: np.ndarray) -> dict[str, torch.Tensor]:
        """Batch of the given clip ids, mirrored where `flip` is True."""
        index = self.index
        clips = np.asarray(clips, dtype=np.int64)
        flip = np.asarray(flip, dtype=bool)
        base = self._offsets[index.sequence[clips]][:, None]  # (B, 1)
        target_rows = base + index.target_frames[clips]  # (B, F')
        mask = index.mask[clips] & self._valid[target_rows]
        mirrored = self.flip_augment and flip.any()
        if mirrored:
            shift = flip[:, None] * self._total  # rows of the mirrored copy
            base, target_rows = base + shift, target_rows + shift
        x2d = np.take(self._x2d, base + index.frames[clips], axis=0)  # (B, F, J, 2)
        y3d = np.take(self._y3d, target_rows, axis=0)  # (B, F', J, 3)
        if flip.any() and not mirrored:
            if self.layout is None:
                raise ConfigError("mirroring clips needs the joint layout (left/right joints)")
            x2d[flip] = flip_keypoints(x2d[flip], self.layout)
            y3d[flip] = flip_keypoints(y3d[flip], self.layout)
        return {
            "x2d": torch.from_numpy(x2d),
            "y3d": torch.from_numpy(y3d),
            "mask": torch.from_numpy(mask),
            "clip": torch.from_numpy(np.ascontiguousarray(clips, dtype=np.int64)),
            "flip": torch.from_numpy(np.ascontiguousarray(flip, dtype=bool)),
        }

