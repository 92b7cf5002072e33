"""The results contract (EXPERIMENTS.md §3): columns of every tidy CSV, the files of each run, collect.

One home for: the columns and row keys of ``results/{metrics,robustness,steps,ttest}.csv``, the
summary row names (defined in ``diff3dhpe.metrics``), where a
run keeps its files (``runs/<ID>/…``, ``results/per_run/<kind>/<ID>.csv``) and how the per-run CSVs
become one file (``collect``). Every writer goes through ``diff3dhpe.atomic``, so a failed command
leaves earlier results intact.

Summary rows of ``metrics.csv`` (the ``action`` column):

- ``Average`` (``AVERAGE``), every dataset. Human3.6M: the unweighted mean over the 15 action groups
  (each group frame-weighted over its sequences). MPI-INF-3DHP: MPJPE, P-MPJPE, N-MPJPE and MPJVE are
  the mean of the six per-sequence means (TS1-TS6), as the release code reports MPJPE; PCK and AUC are
  pooled over all valid frames.
- ``All`` (``ALL_FRAMES``), MPI-INF-3DHP only: every metric pooled over all valid frames of all
  sequences (the official MATLAB evaluation script's "All" row); PCK and AUC equal ``Average``'s.
  The two MPJPEs differ whenever the sequences differ in length and error.

Baseline rows of ``metrics.csv`` (EXPERIMENTS.md §5): the reference lifters without a network
(``diff3dhpe.variants.BASELINES``: ``mean-pose``, ``linear-lifter``), written by `diff3dhpe baselines`
into one file per result kind (``BASELINES_FILES``, ``baselines_path``): ``results/per_run/baselines.csv``
with the same columns and summary rows as a trained run's, and ``results/per_run/baselines_robustness.csv``
with robustness.csv's columns (the sweep's setting under each corruption level). Per row:

- ``run`` = ``baseline-<dataset>-<input_2d>-f<frames>-<baseline>`` (``BaselineSpec.id``, e.g.
  ``baseline-h36m-det-f9-linear-lifter``): never a run id (no ``-s<seed>``; ``parse_run_id`` refuses it);
- ``variant`` = the baseline's name; ``frames`` = its window F (1 for the mean pose and the per-frame
  linear lifter); ``seed`` and ``steps`` empty (deterministic closed-form fits, no sampler).

``collect`` for ``metrics`` and ``robustness`` appends the rows of the params' baselines
(``Params.baseline_runs``, ``Params.robustness_baseline_runs``) after the runs' rows; without the
file it warns and collects the runs alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.metrics import ALL_FRAMES_ROW as ALL_FRAMES
from diff3dhpe.metrics import AVERAGE_ROW as AVERAGE

log = logging.getLogger("diff3dhpe.results")

if TYPE_CHECKING:
    import pandas as pd

    from diff3dhpe.config import Params
    from diff3dhpe.variants import RunSpec

__all__ = [
    "ALL_FRAMES",
    "AVERAGE",
    "BASELINES_FILES",
    "CHECKPOINTS_DIR",
    "CHECKPOINT_FILE",
    "CHECKPOINT_RESULT_FILES",
    "TRAINING_DIR",
    "MODEL_FILE",
    "PROVENANCE_FILE",
    "RESULT_COLUMNS",
    "RESULT_KEYS",
    "RESULT_KINDS",
    "baselines_path",
    "checkpoint_result_dir",
    "checkpoint_run_name",
    "collect",
    "evaluate_summary_path",
    "model_path",
    "run_dir",
    "require_unique_keys",
    "run_result_path",
    "training_curves_dir",
]

# Column contract of EXPERIMENTS.md §3 (mm; pck/auc in percent, 3DHP rows only).
RESULT_COLUMNS = {
    "metrics": (
        "run", "dataset", "variant", "frames", "input_2d", "seed", "steps", "action", "frames_scored",
        "mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc",
    ),
    "robustness": ("run", "variant", "seed", "corruption", "level", "mpjpe", "p_mpjpe"),
    "steps": ("run", "variant", "pde", "steps", "mpjpe", "p_mpjpe", "seconds_per_clip"),
    "ttest": (
        "comparison", "frames", "input_2d", "metric", "n_a", "mean_a", "sd_a", "n_b", "mean_b", "sd_b",
        "t", "df", "p_value", "test",
    ),
}

# One row per measurement: these columns identify a row (a repeated key means a broken collect).
RESULT_KEYS = {
    "metrics": ("run", "action"),
    "robustness": ("run", "corruption", "level"),
    "steps": ("run", "steps"),
    "ttest": ("comparison", "frames", "input_2d", "metric", "test"),
}

# Per-run results: which runs each kind is made for, and by which CLI command.
RESULT_KINDS = ("metrics", "robustness", "steps")
RUN_KIND_OF_RESULT = {"metrics": "train", "robustness": "robustness", "steps": "steps"}
COMMAND_OF_RESULT = {"metrics": "evaluate", "robustness": "robustness", "steps": "steps"}

# The baselines without a network (`diff3dhpe baselines`): one file per result kind with that kind's
# columns, beside the per-run folders (no run id can be "baselines").
BASELINES_FILES = {"metrics": "per_run/baselines.csv", "robustness": "per_run/baselines_robustness.csv"}

# Files of one run, under runs/<ID>/.
CHECKPOINT_FILE = "checkpoint.pt"  # resume state, written after every epoch
MODEL_FILE = "model.pt"  # the selected weights, written when training is done
# Per-run files outside runs/ (which is the train stage's output, so nothing else may write there):
TRAINING_DIR = "training"  # results/training/<ID>/: dvclive curves (loss, val_mpjpe, lr, seconds)
PROVENANCE_FILE = "provenance.json"  # results/provenance.json: which data the numbers come from
# beside a packaged model.pt (`diff3dhpe package`): what it was trained on, its S and test scores
MODEL_PROVENANCE_FILE = "provenance.json"

# `diff3dhpe evaluate --checkpoint FILE` writes these into results/checkpoints/<file stem>/ (or --out).
CHECKPOINTS_DIR = "checkpoints"
CHECKPOINT_RESULT_FILES = {
    "metrics": "metrics.csv",  # columns of results/metrics.csv; run = checkpoint_run_name(FILE)
    "markdown": "table.md",  # the paper's Table 1, 2 or 3 layout, the paper's row beside ours
    "latex": "table.tex",
    "summary": "summary.json",  # what was evaluated how: variant, F, S, normalisation, frames/s
}


def run_dir(runs_root: str | Path, run_id: str) -> Path:
    """runs/<ID>/: checkpoint.pt and model.pt, written by `diff3dhpe train` only."""
    return Path(runs_root) / run_id


def training_curves_dir(results_root: str | Path, run_id: str) -> Path:
    """results/training/<ID>/: the run's dvclive log (metrics.json, plots/metrics/**.tsv per epoch)."""
    return Path(results_root) / TRAINING_DIR / run_id


def evaluate_summary_path(results_root: str | Path, run_id: str) -> Path:
    """results/per_run/evaluate/<ID>.json: the run's test MPJPE, P-MPJPE, S and seconds per clip."""
    return Path(results_root) / "per_run" / "evaluate" / f"{run_id}.json"


def model_path(runs_root: str | Path, run_id: str) -> Path:
    """runs/<ID>/model.pt, the trained weights that evaluate, the sweeps and predict load."""
    return run_dir(runs_root, run_id) / MODEL_FILE


def run_result_path(results_root: str | Path, kind: str, run_id: str) -> Path:
    """Per-run tidy CSV: results/per_run/<kind>/<ID>.csv (kind: metrics | robustness | steps).

    One folder per kind (not runs/<ID>/) so each collect stage depends on exactly its own inputs.
    """
    if kind not in RESULT_KINDS:
        raise ConfigError(f"result kind must be one of {', '.join(RESULT_KINDS)}, got {kind!r}")
    return Path(results_root) / "per_run" / kind / f"{run_id}.csv"


def baselines_path(results_root: str | Path, kind: str = "metrics") -> Path:
    """The rows of the study's baselines for one result kind (``BASELINES_FILES``):
    results/per_run/baselines.csv (metrics.csv rows) or results/per_run/baselines_robustness.csv
    (robustness.csv rows). ConfigError for a kind without baselines (steps: they have no sampler)."""
    if kind not in BASELINES_FILES:
        raise ConfigError(f"baselines exist for {', '.join(BASELINES_FILES)} results only, not {kind!r}")
    return Path(results_root) / BASELINES_FILES[kind]


def checkpoint_run_name(checkpoint: str | Path) -> str:
    """The ``run`` column of a checkpoint's metrics rows: 'checkpoint:<file name>'."""
    return f"checkpoint:{Path(checkpoint).name}"


def checkpoint_result_dir(results_root: str | Path, checkpoint: str | Path) -> Path:
    """results/checkpoints/<file stem>/, where ``evaluate --checkpoint FILE`` writes by default."""
    return Path(results_root) / CHECKPOINTS_DIR / Path(checkpoint).stem


def collect(params: Params, kind: str, results_root: str | Path) -> tuple[pd.DataFrame, list[RunSpec]]:
    """Concatenate the per-run CSVs of ``kind`` in run order: (table, runs).

    ``metrics`` and ``robustness``: then the rows of the params' baselines (``Params.baseline_runs``,
    ``Params.robustness_baseline_runs``) from ``baselines_path(results_root, kind)`` when it exists (a
    warning when it, or a baseline in it, is missing; rows of baselines no longer in params are left
    out). Raises ConfigError naming every run whose file is missing and the command that makes it;
    DataFormatError for a baselines file without the contract columns or rows that repeat a key
    (``RESULT_KEYS``).
    """
    import pandas as pd

    if kind not in RESULT_KINDS:
        raise ConfigError(f"result kind must be one of {', '.join(RESULT_KINDS)}, got {kind!r}")
    runs = params.runs(RUN_KIND_OF_RESULT[kind])
    paths = [run_result_path(results_root, kind, run.id) for run in runs]
    missing = [run.id for run, path in zip(runs, paths) if not path.is_file()]
    if missing:
        raise ConfigError(
            f"cannot collect {kind}: {len(missing)} of {len(runs)} runs have no {kind} file yet: "
            f"{', '.join(missing)}. Run `diff3dhpe {COMMAND_OF_RESULT[kind]} --run ID` for each "
            f"(or `dvc repro`)"
        )
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    if kind in BASELINES_FILES:
        baselines = _baseline_rows(params, results_root, kind)
        if len(baselines):
            table = pd.concat([table, baselines], ignore_index=True)
        # regression runs and baselines have no S, baselines no seed: keep the columns integer
        for column in {"metrics": ("seed", "steps"), "robustness": ("seed",)}[kind]:
            table[column] = table[column].astype("Int64")
    require_unique_keys(table, kind, f"cannot collect {kind}")
    return table, runs


def require_unique_keys(table: pd.DataFrame, kind: str, where: str, advice: str = "") -> None:
    """Raise DataFormatError when rows of a ``kind`` table repeat its key (``RESULT_KEYS``), naming
    ``where``, how many rows and the first repeated key; ``advice`` is appended (how to fix it)."""
    keys = list(RESULT_KEYS[kind])
    repeated = table[table.duplicated(keys, keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        raise DataFormatError(f"{where}: {len(repeated)} rows repeat the key {keys}, e.g. "
                              f"{[first[c] for c in keys]}{advice}")


def _baseline_rows(params: Params, results_root: str | Path, kind: str) -> pd.DataFrame:
    """The rows of the params' baselines in ``baselines_path(results_root, kind)`` (empty, with a
    warning, without it)."""
    import pandas as pd

    path = baselines_path(results_root, kind)
    columns = list(RESULT_COLUMNS[kind])
    specs = params.baseline_runs() if kind == "metrics" else params.robustness_baseline_runs()
    expected = [spec.id for spec in specs]
    if not path.is_file():
        if expected:
            log.warning("%s not found: %s has no baseline rows; run `diff3dhpe baselines` to add the "
                        "mean pose and linear lifters", path, kind)
        return pd.DataFrame(columns=columns)
    rows = pd.read_csv(path)
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise DataFormatError(f"{path} lacks columns {missing}; rebuild it with `diff3dhpe baselines`")
    absent = [name for name in expected if name not in set(rows["run"])]
    if absent:
        log.warning("%s lacks baselines %s; rebuild it with `diff3dhpe baselines`", path, ", ".join(absent))
    stale = sorted(set(rows["run"]) - set(expected))
    if stale:
        log.info("%s: leaving out baselines no longer in params: %s", path, ", ".join(stale))
    rows = rows[rows["run"].isin(expected)][columns]
    if kind == "robustness":  # made for other levels: its lines would not match the models' points
        levels = set(params.sweeps.robustness.levels())
        for run, group in rows.groupby("run", sort=False):
            found = set(zip(group["corruption"], group["level"].astype(float)))
            if found != levels:
                raise DataFormatError(
                    f"{path}: {run} has the corruption levels {sorted(found)}, but sweeps.robustness asks "
                    f"for {sorted(levels)}; rebuild it with `diff3dhpe baselines`")
    return rows
