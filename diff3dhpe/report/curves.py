"""Validation curves of trained runs: has each one flattened? (`diff3dhpe report curves`)

Reads the dvclive logs that training writes, ``results/training/<ID>/plots/metrics/val_mpjpe.tsv``
(columns ``step`` = epoch index from 0 and ``val_mpjpe`` in mm, one row per validated epoch;
``diff3dhpe.results.training_curves_dir``), and writes

- ``curves.csv``: one row per run: ``run``, ``variant``, ``epochs`` (the last validated epoch + 1),
  ``validations``, ``first`` / ``final`` / ``best`` validation MPJPE (mm; NaN where training
  diverged) and ``tail_change``, the final value minus the last one validated at or before 80 % of
  the epochs (mm; near 0 = flat, negative = still falling; empty when no validation precedes the last
  fifth, so too few validations to tell);
- ``curves.{png,pdf}``: validation MPJPE against the epoch, one panel per setting (dataset, 2D input,
  F), one line per run, coloured by variant.

Raises MissingResultsError without any curve, DataFormatError for a malformed file (naming it).
Curves are read and the figure is built before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from diff3dhpe.atomic import atomic_write_csv  # noqa: E402
from diff3dhpe.errors import ConfigError, DataFormatError  # noqa: E402
from diff3dhpe.report.common import DATASET_NAMES, INPUT_NAMES, VARIANT_NAMES, MissingResultsError  # noqa: E402
from diff3dhpe.report.figures import save_figure  # noqa: E402
from diff3dhpe.results import TRAINING_DIR  # noqa: E402
from diff3dhpe.variants import VARIANTS, parse_run_id  # noqa: E402

CURVE_FILE = Path("plots") / "metrics" / "val_mpjpe.tsv"  # inside results/training/<ID>/ (dvclive)
TAIL_FRACTION = 0.2  # tail_change compares the final validation with the one at 80 % of the epochs
SUMMARY_COLUMNS = ("run", "variant", "epochs", "validations", "first", "final", "best", "tail_change")
_PALETTE = plt.get_cmap("tab10").colors


def read_curves(results_dir: str | Path) -> dict[str, pd.DataFrame]:
    """{run id: DataFrame(step, val_mpjpe)} for every run under results/training/ with a validation
    curve, in id order (folders whose name is not a run id, e.g. ablation rows, are skipped). Raises
    MissingResultsError when there is none, DataFormatError for a file without the two columns or
    rows, with a step that is not a whole number or with text where a number belongs (``nan``, a
    diverged run, is kept)."""
    root = Path(results_dir) / TRAINING_DIR
    curves = {}
    for path in sorted(root.glob(f"*/{CURVE_FILE.as_posix()}")):
        run_id = path.relative_to(root).parts[0]
        try:
            parse_run_id(run_id)
        except ConfigError:  # not a study run (a hand-named folder): not ours to plot
            continue
        try:
            frame = pd.read_csv(path, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"{path} is not a readable dvclive TSV: {exc}") from exc
        if list(frame.columns) != ["step", "val_mpjpe"] or frame.empty:
            raise DataFormatError(f"{path}: expected columns ['step', 'val_mpjpe'] and at least one row, "
                                  f"found {list(frame.columns)} with {len(frame)} rows")
        values = frame.apply(pd.to_numeric, errors="coerce")
        text = values.isna() & frame.notna()  # read, but not a number (pandas reads "nan" as missing)
        bad = text.any(axis=1) | values["step"].isna() | (values["step"] % 1 != 0)
        if bad.any():
            row = int(bad.idxmax())
            raise DataFormatError(f"{path}: data row {row + 1} is not <whole epoch step> <TAB> <MPJPE mm>: "
                                  f"{frame.iloc[row].tolist()}")
        curves[run_id] = values.astype({"step": int}).sort_values("step", ignore_index=True)
    if not curves:
        raise MissingResultsError(
            f"no validation curves under {root} (*/{CURVE_FILE.as_posix()}): train the runs first "
            "(`diff3dhpe train`; they validate on data.subjects.validation, so that list must not be empty)")
    return curves


def curve_summary(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``curves.csv`` rows (module docstring) of ``read_curves``' output, in its order."""
    rows = []
    for run_id, frame in curves.items():
        epochs = int(frame["step"].iloc[-1]) + 1
        before_tail = frame[frame["step"] <= (epochs - 1) * (1 - TAIL_FRACTION)]
        final = float(frame["val_mpjpe"].iloc[-1])
        # the final validation against one before the last fifth: none there, nothing to tell
        told = 0 < len(before_tail) < len(frame)
        tail_change = final - float(before_tail["val_mpjpe"].iloc[-1]) if told else float("nan")
        rows.append({"run": run_id, "variant": parse_run_id(run_id).variant, "epochs": epochs,
                     "validations": len(frame), "first": float(frame["val_mpjpe"].iloc[0]), "final": final,
                     "best": float(frame["val_mpjpe"].min()), "tail_change": tail_change})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def curves_figure(curves: dict[str, pd.DataFrame]) -> plt.Figure:
    """Validation MPJPE (mm) against the epoch: one panel per (dataset, 2D input, F), one line per run."""
    settings: dict[tuple[str, str, int], list[str]] = {}
    for run_id in curves:
        run = parse_run_id(run_id)
        settings.setdefault((run.dataset, run.input_2d, run.frames), []).append(run_id)
    columns = min(3, len(settings))
    rows = -(-len(settings) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    colours = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(VARIANTS)}
    for ax, ((dataset, input_2d, frames), run_ids) in zip(axes.flat, settings.items()):
        labelled = set()
        for run_id in run_ids:
            variant = parse_run_id(run_id).variant
            frame = curves[run_id]
            ax.plot(frame["step"] + 1, frame["val_mpjpe"], color=colours[variant], linewidth=1,
                    label=None if variant in labelled else VARIANT_NAMES.get(variant, variant))
            labelled.add(variant)
        ax.set_title(f"{DATASET_NAMES[dataset]}, {INPUT_NAMES[input_2d]}, F = {frames}", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("validation MPJPE (mm)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(settings):]:
        ax.set_visible(False)
    fig.suptitle("Validation curves (one line per run and seed)", fontsize=10)
    fig.tight_layout()
    return fig


def write_curves(results_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write ``curves.csv`` and ``curves.{png,pdf}`` (module docstring) into ``out_dir``; return the paths.
    Everything is read and checked before anything is written."""
    curves = read_curves(results_dir)
    summary, fig = curve_summary(curves), curves_figure(curves)
    out_dir = Path(out_dir)
    return [atomic_write_csv(summary.round(2), out_dir / "curves.csv"), *save_figure(fig, out_dir, "curves")]


__all__ = ["curve_summary", "curves_figure", "read_curves", "write_curves"]
