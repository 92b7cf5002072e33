"""What tables and figures share: reading results/*.csv with checks, names, and the data-source label.

Every table row and figure title says which data its numbers came from. Our runs say it
through, in this order of preference: a ``data_source`` column in the CSV, a
``results/provenance.json`` (``{"data_source": "..."}`` or ``{"h36m": "...", "3dhp": "..."}``),
or a label passed by the caller (``data_label=``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from diff3dhpe.errors import DataFormatError
from diff3dhpe.results import PROVENANCE_FILE, RESULT_COLUMNS, require_unique_keys
from diff3dhpe.variants import BASELINES, DATASET_NAMES, INPUT_NAMES, VARIANTS

# re-exported for report/
__all__ = ["BASELINE_NAMES", "DATASET_NAMES", "INPUT_NAMES", "VARIANT_NAMES", "MissingResultsError"]

# Display names, as the paper writes them (* = regression baseline trained like the diffusion models).
VARIANT_NAMES = {name: variant.label for name, variant in VARIANTS.items()}
# The reference lifters without a network (their own ``variant`` values in metrics.csv, never VARIANTS).
BASELINE_NAMES = {name: baseline.label for name, baseline in BASELINES.items()}


class MissingResultsError(DataFormatError):
    """A table or figure cannot be built because runs or variants are missing from results/."""


def read_results(results_dir: Path, kind: str) -> pd.DataFrame:
    """results/{kind}.csv with its contract columns checked; never an empty frame."""
    path = Path(results_dir) / f"{kind}.csv"
    if not path.is_file():
        raise MissingResultsError(
            f"{path} does not exist; build it first (`diff3dhpe collect --kind {kind}` "
            f"or `snakemake {path}`)" if kind != "ttest" else
            f"{path} does not exist; build it first (`diff3dhpe ttest` or `snakemake {path}`)"
        )
    try:
        frame = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path} is not a readable CSV: {exc}") from exc
    missing = [c for c in RESULT_COLUMNS[kind] if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{path} lacks columns {missing}; expected at least {list(RESULT_COLUMNS[kind])}"
        )
    if frame.empty:
        raise MissingResultsError(f"{path} has a header but no rows; the runs behind it produced nothing")
    require_unique_keys(frame, kind, str(path), "; rebuild it with `diff3dhpe collect`")
    return frame


def require_finite(frame: pd.DataFrame, columns: Iterable[str], path_hint: str) -> None:
    """Fail on NaN / non-numeric values in the columns a table prints."""
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = frame.loc[values.isna() | ~values.between(-1e12, 1e12), "run" if "run" in frame else col]
        if len(bad):
            raise DataFormatError(
                f"{path_hint}: column {col!r} is empty or not a finite number for "
                f"{sorted(set(map(str, bad)))}"
            )


def data_source_labels(results_dir: Path, frames: Iterable[pd.DataFrame] = (),
                       data_label: str | dict[str, str] | None = None) -> dict[str, str]:
    """Map dataset key ('h36m', '3dhp', or '*' for all) to a label such as 'synthetic data (…)'.

    Preference: a ``data_source`` column, then results/provenance.json, then ``data_label``
    (a string for every dataset, or a dict keyed by dataset).
    """
    labels: dict[str, str] = {}
    for frame in frames:
        if "data_source" in frame.columns:
            key_col = "dataset" if "dataset" in frame.columns else None
            subset = [c for c in ("dataset", "data_source") if c in frame.columns]
            for _, row in frame.drop_duplicates(subset=subset).iterrows():
                labels[str(row[key_col]) if key_col else "*"] = str(row["data_source"])
    provenance = Path(results_dir) / PROVENANCE_FILE
    if provenance.is_file():
        try:
            info = json.loads(provenance.read_text())
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{provenance} is not valid JSON: {exc}") from exc
        if not isinstance(info, dict):
            raise DataFormatError(f"{provenance} must hold a JSON object; found {type(info).__name__}")
        if "data_source" in info:
            labels.setdefault("*", str(info["data_source"]))
        for key in DATASET_NAMES:
            if isinstance(info.get(key), str):
                labels.setdefault(key, info[key])
            elif isinstance(info.get(key), dict) and "data_source" in info[key]:
                labels.setdefault(key, str(info[key]["data_source"]))
    if isinstance(data_label, dict):
        for key, value in data_label.items():
            labels.setdefault(key, value)
    elif data_label:
        labels.setdefault("*", data_label)
    return labels


def data_source(labels: dict[str, str], dataset: str) -> str:
    """What our numbers for one dataset were computed on, e.g. 'synthetic data (Human3.6M format)'."""
    return labels.get(dataset) or labels.get("*") or "data source not recorded"


def data_sources(results_dir: Path) -> dict[str, str]:
    """What each dataset's numbers were computed on, as results/provenance.json (``diff3dhpe prepare``)
    records it: {'h36m': 'synthetic data (Human3.6M format, generator seed 0)', '3dhp': ...}, the texts
    the tables' 'ours (...)' rows print; 'data source not recorded' without the file. The captions of
    ``snakemake --report`` read them (workflow/rules/common.smk)."""
    labels = data_source_labels(results_dir)
    return {dataset: data_source(labels, dataset) for dataset in DATASET_NAMES}


def source_label(labels: dict[str, str], dataset: str) -> str:
    """'ours (synthetic data ...)': the Source cell of our rows."""
    return f"ours ({data_source(labels, dataset)})"


def paper_label(dataset: str) -> str:
    return f"paper ({DATASET_NAMES.get(dataset, dataset)})"


def format_mm(value: float) -> str:
    """Millimetres with one decimal, as the paper prints them."""
    return f"{value:.1f}"


def format_mean_sd(mean: float, sd: float | None, n: int) -> str:
    """'41.9 ± 0.6' over several seeds, the bare mean for one."""
    if n > 1 and sd is not None and pd.notna(sd):
        return f"{mean:.1f} ± {sd:.1f}"
    return format_mm(mean)


def format_p(p: float) -> str:
    """p-values: scientific below 1e-3 (8.1e-04), three decimals above."""
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"
