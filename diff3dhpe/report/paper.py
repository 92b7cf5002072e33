"""The paper's published numbers (diff3dhpe/resources/paper_results.csv), for rows printed beside ours.

The file is a tidy table of numbers copied from the paper: table, metric, method, frames,
input_2d, steps, seeds, action, value. It names detected 2D ``cpn`` (the paper used CPN
detections); our CSVs call detected 2D ``det``, so ``cpn`` is mapped to ``det`` on load.
These numbers are Human3.6M / MPI-INF-3DHP results and are never mixed into our cells.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

from diff3dhpe.errors import DataFormatError

PAPER_COLUMNS = ("table", "metric", "method", "frames", "input_2d", "steps", "seeds", "action", "value")
PAPER_INPUT_TO_OURS = {"cpn": "det", "gt": "gt"}


@lru_cache(maxsize=1)
def _load() -> pd.DataFrame:
    with resources.files("diff3dhpe").joinpath("resources", "paper_results.csv").open("r") as fh:
        frame = pd.read_csv(fh, dtype={"steps": "Int64"})
    missing = [c for c in PAPER_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"packaged paper_results.csv lacks columns {missing}")
    unknown = set(frame["input_2d"]) - set(PAPER_INPUT_TO_OURS)
    if unknown:
        raise DataFormatError(f"packaged paper_results.csv has unknown input_2d values {sorted(unknown)}")
    frame["input_2d"] = frame["input_2d"].map(PAPER_INPUT_TO_OURS)
    frame["frames"] = frame["frames"].astype(int)
    frame["seeds"] = frame["seeds"].astype(int)
    return frame


def paper_results(table: str | None = None) -> pd.DataFrame:
    """All published numbers, or those of one table ('table1' … 'table4', 'ttest'); a copy."""
    frame = _load()
    if table is not None:
        frame = frame[frame["table"] == table]
        if frame.empty:
            raise DataFormatError(f"packaged paper_results.csv has no rows for {table!r}")
    return frame.copy()


def paper_methods(table: str, metric: str, frames: int) -> list[str]:
    """Methods of one paper table block in the order the paper lists them."""
    frame = paper_results(table)
    frame = frame[(frame["metric"] == metric) & (frame["frames"] == frames)]
    return list(dict.fromkeys(frame["method"]))


# Sampling steps S behind the paper's Diff3DHPE-M rows (EXPERIMENTS.md §2); the CSV leaves them empty
# in Tables 1-3 because the paper states them in the text.
PAPER_STEPS = {
    ("table1", 81): 9, ("table1", 243): 5, ("table2", 81): 5, ("table2", 243): 6, ("table3", 27): 7,
}


def paper_steps(table: str, method: str, frames: int, steps: object) -> int | None:
    """S of a paper row: the CSV's value, else the one the text gives for Diff3DHPE-M."""
    if steps is not None and not pd.isna(steps):
        return int(steps)
    if method == "Diff3DHPE-M":
        return PAPER_STEPS.get((table, frames))
    return None


# The paper's name for the model a variant is, in its Tables 1-3 (matched ignoring case: the paper
# writes "Poseformer" in Tables 1-2 and "PoseFormer" in Table 3). Table 4 uses the variants' labels
# (``diff3dhpe.variants.VARIANTS[...].label``: MixSTE*, DDIM-M, Diff3DHPE-P, ...).
PAPER_METHODS = {"diff3dhpe-m": "Diff3DHPE-M", "mixste": "MixSTE", "poseformer": "PoseFormer"}


def paper_method_rows(table: str, variant: str) -> pd.DataFrame:
    """The published rows of the model ``variant`` is in ``table`` ('table1' … 'table3'); empty when the
    paper lists no such model there (e.g. DDIM-M, Diff3DHPE-P: Table 4 only)."""
    frame = paper_results(table)
    method = PAPER_METHODS.get(variant)
    if method is None:
        return frame.iloc[0:0]
    return frame[frame["method"].str.lower() == method.lower()]
