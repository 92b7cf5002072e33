"""Small shared helpers of the pipeline: seed derivation, device choice, logging.

Atomic writes live in ``diff3dhpe.atomic``.
"""

from __future__ import annotations

import hashlib
import logging

import torch

from diff3dhpe.errors import ConfigError

log = logging.getLogger("diff3dhpe")


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed determined by ``parts`` only (e.g. (seed, epoch, 'noise')): stable across runs."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def select_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
