"""Atomic file writes: readers (and a rerun after a crash) never see half a file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_UMASK = os.umask(0o022)  # read the process umask (only settable, so set it back at once)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync it and ``os.replace`` it onto ``path``.

    On any exception the temp file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)  # as open() would create it (mkstemp: 0600)
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temp_files(path: str | Path) -> list[Path]:
    """Delete temp files that ``atomic_open(path)`` left when its process was killed (SIGKILL, OOM).

    A killed writer cannot clean up after itself; call this when the next owner of ``path`` starts,
    before it writes. Returns the removed paths.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` through ``atomic_open``: readers never see half a file. Returns ``path``."""
    path = Path(path)
    with atomic_open(path, "w", newline="") as handle:
        handle.write(text)
    return path


def atomic_write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """A tidy results CSV: no index, floats at full precision (%.10g), NaN as an empty cell."""
    return atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def atomic_write_json(data: dict, path: str | Path) -> Path:
    """JSON with sorted keys and a trailing newline, written atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
