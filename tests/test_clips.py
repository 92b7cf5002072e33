"""Clip windows, stitching and the batched loader (METHOD.md §4b, §7)."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from diff3dhpe.data.augment import flip_keypoints
from diff3dhpe.data.clips import (
    ClipBatches,
    ClipIndex,
    apply_valid,
    evenly_spaced,
    seq2frame_clips,
    seq2seq_clips,
    stitch,
)
from diff3dhpe.data.skeleton import H36M, MPI_INF_3DHP
from diff3dhpe.errors import ConfigError, ShapeError

F = 9
LENGTHS = [1, 5, F - 1, F, F + 1, 2 * F - 1, 2 * F, 3 * F, 3 * F + 4, 0, 40]


@dataclass
class Seq:  # duck-typed stand-in for dataset.PoseSequence
    subject: str
    action: str
    camera: str
    keypoints_2d: np.ndarray
    poses_3d: np.ndarray
    valid: np.ndarray


def make_sequences(lengths, seed=0, invalid_every=0):
    rng = np.random.default_rng(seed)
    seqs = []
    for i, n in enumerate(lengths):
        valid = np.ones(n, dtype=bool)
        if invalid_every:
            valid[::invalid_every] = False
        seqs.append(
            Seq(
                f"S{i}", "Walking", "0",
                rng.uniform(-1, 1, size=(n, 17, 2)).astype(np.float32),
                rng.uniform(-900, 900, size=(n, 17, 3)).astype(np.float32),
                valid,
            )
        )
    return seqs


def covered_counts(index, lengths):
    """Slow reference: how often each (sequence, frame) is scored."""
    counts = [np.zeros(n, dtype=int) for n in lengths]
    for c in range(len(index)):
        for j in np.flatnonzero(index.mask[c]):
            counts[index.sequence[c]][index.target_frames[c, j]] += 1
    return counts


@pytest.mark.parametrize("frames", [1, 4, F])
def test_seq2seq_scores_every_frame_exactly_once(frames):
    index = seq2seq_clips(LENGTHS, frames)
    for n, counts in zip(LENGTHS, covered_counts(index, LENGTHS)):
        assert (counts == 1).all(), f"length {n}: {counts}"
    assert index.frames.shape[1] == frames and index.mask.shape == index.frames.shape


def test_seq2seq_windows_by_hand():
    # Length 2F - 1 = 17: windows [0..8] and shifted [8..16] with frame 8 masked in the second.
    index = seq2seq_clips([2 * F - 1], F)
    np.testing.assert_array_equal(index.frames, [np.arange(0, 9), np.arange(8, 17)])
    np.testing.assert_array_equal(index.mask[0], np.ones(9, bool))
    np.testing.assert_array_equal(index.mask[1], np.arange(8, 17) >= 9)
    # Exact multiple: no shift, nothing masked.
    index = seq2seq_clips([2 * F], F)
    np.testing.assert_array_equal(index.frames, [np.arange(0, 9), np.arange(9, 18)])
    assert index.mask.all()
    # F + 1: the second window ends at the sequence end and scores only the last frame.
    index = seq2seq_clips([F + 1], F)
    np.testing.assert_array_equal(index.frames[1], np.arange(1, F + 1))
    np.testing.assert_array_equal(np.flatnonzero(index.mask[1]), [F - 1])


def test_seq2seq_short_sequence_is_edge_padded_and_masked():
    index = seq2seq_clips([3, 1], F)
    assert len(index) == 2
    np.testing.assert_array_equal(index.frames[0], [0, 1, 2, 2, 2, 2, 2, 2, 2])
    np.testing.assert_array_equal(index.mask[0], np.arange(F) < 3)
    np.testing.assert_array_equal(index.frames[1], np.zeros(F))
    np.testing.assert_array_equal(index.mask[1], np.arange(F) == 0)


def test_seq2seq_clip_count_and_sequence_ids():
    index = seq2seq_clips(LENGTHS, F)
    expected = [int(np.ceil(n / F)) for n in LENGTHS]
    np.testing.assert_array_equal(np.bincount(index.sequence, minlength=len(LENGTHS)), expected)
    assert index.sequence.dtype == np.int64 and index.frames.dtype == np.int64


def test_seq2frame_centre_and_edge_padding():
    index = seq2frame_clips([4, 6], 5)
    assert len(index) == 10 and index.mask.shape == (10, 1) and index.mask.all()
    np.testing.assert_array_equal(index.sequence, [0] * 4 + [1] * 6)
    np.testing.assert_array_equal(index.target_frames[:, 0], [0, 1, 2, 3, 0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(index.frames[0], [0, 0, 0, 1, 2])  # (F-1)/2 = 2 frames padded left
    np.testing.assert_array_equal(index.frames[3], [1, 2, 3, 3, 3])
    np.testing.assert_array_equal(index.frames[6], [0, 1, 2, 3, 4])
    for counts in covered_counts(index, [4, 6]):
        assert (counts == 1).all()


def test_bad_clip_arguments_rejected():
    with pytest.raises(ConfigError, match="odd"):
        seq2frame_clips([10], 4)
    with pytest.raises(ConfigError, match="frames"):
        seq2seq_clips([10], 0)
    with pytest.raises(ShapeError, match=">= 0"):
        seq2seq_clips([10, -1], 3)
    with pytest.raises(ShapeError, match="ints"):
        seq2seq_clips([1.5], 3)
    with pytest.raises(ShapeError, match="mask"):
        ClipIndex(np.zeros(2), np.zeros((2, 5)), np.zeros((2, 3), bool))


@pytest.mark.parametrize("builder, frames", [(seq2seq_clips, F), (seq2frame_clips, 5)])
def test_stitch_reconstructs_ground_truth(builder, frames):
    seqs = make_sequences(LENGTHS)
    index = builder(LENGTHS, frames)
    per_clip = np.stack([seqs[s].poses_3d[f] for s, f in zip(index.sequence, index.target_frames)])
    # Poison the frames a clip does not score: stitch must never read them.
    per_clip[~index.mask] = np.nan
    rebuilt = stitch(index, torch.from_numpy(per_clip), LENGTHS)
    assert len(rebuilt) == len(seqs)
    for seq, out in zip(seqs, rebuilt):
        np.testing.assert_array_equal(out, seq.poses_3d)


def test_stitch_detects_gaps_and_double_writes():
    index = seq2seq_clips([20], 8)
    preds = np.zeros((len(index), 8, 17, 3))
    holes = ClipIndex(index.sequence, index.frames, index.mask & (np.arange(8) != 3))
    with pytest.raises(ShapeError, match="not covered"):
        stitch(holes, preds, [20])
    assert np.isnan(stitch(holes, preds, [20], partial=True)[0][3]).all()
    twice = ClipIndex(index.sequence, index.frames, np.ones_like(index.mask))
    with pytest.raises(ShapeError, match="more than one"):
        stitch(twice, preds, [20])
    with pytest.raises(ShapeError, match="predictions"):
        stitch(index, preds[:, :4], [20])


def test_apply_valid_masks_invalid_frames():
    seqs = make_sequences([12, 7], invalid_every=3)
    index = apply_valid(seq2seq_clips([12, 7], 5), [s.valid for s in seqs])
    counts = covered_counts(index, [12, 7])
    for seq, c in zip(seqs, counts):
        np.testing.assert_array_equal(c, seq.valid.astype(int))


def reference_batch(seqs, index, scale, clips, flips, layout):
    """Slow per-clip gather, the loader's specification."""
    xs, ys, ms = [], [], []
    for c, flip in zip(clips, flips):
        seq = seqs[index.sequence[c]]
        x = seq.keypoints_2d[index.frames[c]]
        y = seq.poses_3d[index.target_frames[c]] / scale
        if flip:
            x, y = flip_keypoints(x, layout), flip_keypoints(y, layout)
        xs.append(x)
        ys.append(y)
        ms.append(index.mask[c] & seq.valid[index.target_frames[c]])
    return np.stack(xs), np.stack(ys), np.stack(ms)


@pytest.mark.parametrize("builder, frames", [(seq2seq_clips, F), (seq2frame_clips, 5)])
@pytest.mark.parametrize("flip_augment", [False, True])
def test_loader_matches_slow_reference(builder, frames, flip_augment):
    lengths = [30, 4, 17]
    seqs = make_sequences(lengths, invalid_every=4)
    index = builder(lengths, frames)
    batches = ClipBatches(seqs, index, 1000.0, 5, True, 7, flip_augment, MPI_INF_3DHP)
    assert len(batches) == int(np.ceil(len(index) * (2 if flip_augment else 1) / 5))
    seen = []
    for batch in batches:
        clips, flips = batch["clip"].numpy(), batch["flip"].numpy()
        x, y, m = reference_batch(seqs, index, 1000.0, clips, flips, MPI_INF_3DHP)
        assert batch["x2d"].dtype == torch.float32 and batch["y3d"].dtype == torch.float32
        assert batch["mask"].dtype == torch.bool and batch["clip"].dtype == torch.int64
        assert batch["y3d"].shape[1] == index.output_frames
        np.testing.assert_array_equal(batch["x2d"].numpy(), x)
        np.testing.assert_allclose(batch["y3d"].numpy(), y, rtol=1e-6)
        np.testing.assert_array_equal(batch["mask"].numpy(), m)
        seen += list(zip(clips.tolist(), flips.tolist()))
    # Each clip exactly once per epoch, plus once mirrored with flip augmentation.
    expected = [(c, False) for c in range(len(index))]
    if flip_augment:
        expected += [(c, True) for c in range(len(index))]
    assert sorted(seen) == sorted(expected)


def test_shuffle_deterministic_per_epoch_and_different_between_epochs():
    seqs = make_sequences([200])
    index = seq2seq_clips([200], 3)

    def order(epoch, seed=1):
        batches = ClipBatches(seqs, index, 1.0, 8, True, seed, True, H36M)
        batches.set_epoch(epoch)
        return np.concatenate([b["clip"].numpy() * 2 + b["flip"].numpy() for b in batches])

    np.testing.assert_array_equal(order(0), order(0))
    np.testing.assert_array_equal(order(3), order(3))
    assert not np.array_equal(order(0), order(1))
    assert not np.array_equal(order(0), order(0, seed=2))
    batches = ClipBatches(seqs, index, 1.0, 8, False, 1, False, H36M)
    np.testing.assert_array_equal(np.concatenate([b["clip"].numpy() for b in batches]), np.arange(len(index)))


def test_drop_last_and_batch_sizes():
    seqs = make_sequences([23])
    index = seq2frame_clips([23], 3)
    keep = ClipBatches(seqs, index, 1.0, 5, False, 0, False, None)
    drop = ClipBatches(seqs, index, 1.0, 5, False, 0, False, None, drop_last=True)
    assert len(keep) == 5 and len(drop) == 4
    assert [b["x2d"].shape[0] for b in keep] == [5, 5, 5, 5, 3]
    with pytest.raises(IndexError):
        keep[5]


def test_loader_rejects_bad_input():
    seqs = make_sequences([10])
    index = seq2seq_clips([10], 4)
    with pytest.raises(ShapeError, match="poses_3d"):
        bad = make_sequences([10])
        bad[0].poses_3d = bad[0].poses_3d[:, :16]
        ClipBatches(bad, index, 1.0, 2, False, 0, False, H36M)
    with pytest.raises(ShapeError, match="NaN"):
        bad = make_sequences([10])
        bad[0].keypoints_2d[3, 2, 0] = np.nan
        ClipBatches(bad, index, 1.0, 2, False, 0, False, H36M)
    with pytest.raises(ShapeError, match="outside"):
        ClipBatches(seqs, seq2seq_clips([12], 4), 1.0, 2, False, 0, False, H36M)
    with pytest.raises(ConfigError, match="scale"):
        ClipBatches(seqs, index, 0.0, 2, False, 0, False, H36M)
    with pytest.raises(ConfigError, match="layout"):
        ClipBatches(seqs, index, 1.0, 2, False, 0, True, None)
    with pytest.raises(ConfigError, match="batch_size"):
        ClipBatches(seqs, index, 1.0, 0, False, 0, False, H36M)


def test_gather_mirrors_the_same_with_or_without_the_stacked_copy():
    seqs = make_sequences([25, 6])
    index = seq2seq_clips([25, 6], 5)
    clips, flip = np.arange(len(index)), np.arange(len(index)) % 2 == 0
    stacked = ClipBatches(seqs, index, 100.0, 4, False, 0, True, H36M).gather(clips, flip)
    per_batch = ClipBatches(seqs, index, 100.0, 4, False, 0, False, H36M).gather(clips, flip)
    for key in stacked:
        assert torch.equal(stacked[key], per_batch[key])
    x, y, _ = reference_batch(seqs, index, 100.0, clips, flip, H36M)
    np.testing.assert_array_equal(stacked["x2d"].numpy(), x)


def test_evenly_spaced_keeps_first_and_last_clip_and_at_most_the_limit():
    index = seq2seq_clips([40, 13], 6)
    subset = evenly_spaced(index, 4)
    rows = np.linspace(0, len(index) - 1, 4).round().astype(int)
    assert len(subset) == 4
    assert np.array_equal(subset.frames, index.frames[rows]) and np.array_equal(subset.mask, index.mask[rows])
    assert evenly_spaced(index, 1000) is index
