"""Independent random streams of the generator, one per (seed, keys...) (DATA.md §3)."""

from __future__ import annotations

import zlib

import numpy as np


def random_stream(seed: int, *keys: str) -> np.random.Generator:
    """The generator's random stream for (seed, keys...), e.g. (0, 'h36m', 'S1', 'Walking 1').

    crc32 makes the string keys stable across runs and Python versions, so one take's data does not
    change when other takes are added or removed. Raises ValueError for a negative or non-integer seed.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), *(zlib.crc32(k.encode()) for k in keys)])
