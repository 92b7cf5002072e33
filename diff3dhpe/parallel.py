"""Independent runs of one pipeline stage on every core: a process pool with one torch thread per worker.

``dvc repro`` runs its stages one after another, and the study's models are small, so one process per
run keeps a single core busy; a stage that trains (or scores) many runs gives each run to a worker
process instead. Every task is a whole run (seeded from its own id), so the outputs do not depend on
the number of workers nor on which worker ran what: ``jobs=1`` and ``jobs=N`` write the same files.

Workers are started with ``spawn`` (no state inherited from the parent: no torch threads, no CUDA
context), configure logging like the CLI and run at most one task at a time. A failed task does not
stop the others: each task writes its own outputs atomically when it finishes, and after all tasks
have ended a ``TaskFailures`` error names every failed item with its error.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

from tqdm import tqdm

from diff3dhpe.errors import ConfigError, Diff3DHPEError

log = logging.getLogger("diff3dhpe.parallel")

T = TypeVar("T")
R = TypeVar("R")

JOBS_ENV = "DIFF3DHPE_JOBS"  # default worker count when --jobs is not given (0 = every core)


class TaskFailures(Diff3DHPEError):
    """Some tasks of a parallel stage failed; the message names each one and its error."""


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity mask: a SLURM allocation, ``taskset``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int | None, tasks: int) -> int:
    """Worker processes for ``tasks`` tasks: ``jobs`` (0 or None: env DIFF3DHPE_JOBS, else every
    available core), never more than the tasks. Raises ConfigError for a negative count."""
    if jobs is None:
        raw = os.environ.get(JOBS_ENV, "0") or "0"
        try:
            jobs = int(raw)
        except ValueError:
            raise ConfigError(f"{JOBS_ENV}={raw!r}: must be a whole number of worker processes "
                              f"(0 = every core)") from None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ConfigError(f"--jobs must be 0 (every core) or a positive number of processes, got {jobs!r}")
    return max(1, min(jobs or available_cores(), tasks))


def _init_worker(log_level: int, threads: int) -> None:
    import torch

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    torch.set_num_threads(threads)


def _failure(item: str, err: Exception) -> str:
    """Log a failed item (with the traceback unless it is a user-facing error) and describe it."""
    expected = isinstance(err, Diff3DHPEError)
    log.error("%s failed: %s: %s", item, type(err).__name__, err, exc_info=None if expected else err)
    return f"{item}: {err}" if expected else f"{item}: {type(err).__name__}: {err}"


def map_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    jobs: int | None = None,
    desc: str = "tasks",
    name: Callable[[T], str] = str,
) -> list[R]:
    """``[fn(item) for item in items]`` on ``resolve_jobs(jobs, len(items))`` worker processes.

    ``fn`` must be a module-level function and ``items`` picklable. Items are started in the given
    order (put the longest first for the shortest wall time); results come back in that order. With
    one worker everything runs in this process (no pool). A tqdm bar counts finished items.

    Raises TaskFailures after every item has ended when any raised, naming each failed item
    (``name(item)``) and its error; the items that succeeded have written their outputs.
    """
    items = list(items)
    if not items:
        return []
    workers = resolve_jobs(jobs, len(items))
    bar = tqdm(total=len(items), desc=desc, unit="run", disable=None)
    results: dict[int, R] = {}
    failures: list[str] = []
    try:
        if workers == 1:
            for i, item in enumerate(items):
                try:
                    results[i] = fn(item)
                except Exception as err:  # noqa: BLE001 - reported with the item's name below
                    failures.append(_failure(name(item), err))
                bar.update()
        else:
            log.info("%s: %d items on %d worker processes", desc, len(items), workers)
            threads = max(1, available_cores() // workers)
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(logging.getLogger().getEffectiveLevel(), threads),
            ) as pool:
                pending: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
                try:
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            i = pending.pop(future)
                            try:
                                results[i] = future.result()
                            except Exception as err:  # noqa: BLE001 - reported with the item's name below
                                failures.append(_failure(name(items[i]), err))
                            bar.update()
                except BaseException:  # Ctrl-C: do not start queued items
                    for future in pending:
                        future.cancel()
                    raise
    finally:
        bar.close()
    if failures:
        raise TaskFailures(
            f"{desc}: {len(failures)} of {len(items)} failed (the others finished and wrote their "
            "outputs):\n  "
            + "\n  ".join(failures)
        )
    return [results[i] for i in range(len(items))]
