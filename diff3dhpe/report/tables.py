"""The paper's Tables 1-4 and the t-test table, from results/*.csv, as CSV, Markdown, LaTeX and HTML.

Each table holds two kinds of rows, told apart by the ``Source`` column: ``ours (<data>)``
computed from results/*.csv, and ``paper (<dataset>)`` copied from the paper
(diff3dhpe/resources/paper_results.csv). Paper rows keep the paper's own frame counts F,
which may differ from ours; the two are never mixed in one cell. Where results/metrics.csv holds
baseline rows (`diff3dhpe baselines`: the mean pose and the linear lifter, no network), Tables 1-4
show them as a block of labelled ``ours`` rows (Method 'Mean pose (no network)', 'Linear lifter (no
network)'; F = the lifter's window) and a note naming the best baseline and which of our trained
models beat it (``baseline_verdict``); without them the tables are built as before. A table
whose inputs are missing raises MissingResultsError naming the missing runs or variants.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from diff3dhpe.atomic import atomic_write_text
from diff3dhpe.data.skeleton import H36M_ACTIONS
from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.report import TABLE_FORMATS, TABLE_NAMES
from diff3dhpe.report.common import (
    BASELINE_NAMES,
    DATASET_NAMES,
    INPUT_NAMES,
    VARIANT_NAMES,
    MissingResultsError,
    data_source,
    data_source_labels,
    format_mean_sd,
    format_mm,
    format_p,
    paper_label,
    read_results,
    require_finite,
    source_label,
)
from diff3dhpe.report.paper import paper_method_rows, paper_results, paper_steps
from diff3dhpe.results import ALL_FRAMES, AVERAGE

ACTION_COLUMNS = (*H36M_ACTIONS, AVERAGE)
PER_ACTION_COLUMNS = ("Protocol", "Source", "Method", "F", "S", "Seeds", *ACTION_COLUMNS)
METRIC_NAMES = {"mpjpe": "MPJPE (mm)", "p_mpjpe": "P-MPJPE (mm)"}
# Table 3 prints MPI-INF-3DHP's MPJPE both ways (diff3dhpe.results): the paper's number is the first.
TABLE3_COLUMNS = ("Source", "Method", "F", "S", "Seeds", "PCK (%)", "AUC (%)",
                  "MPJPE, mean of sequences (mm)", "MPJPE, all frames (mm)")
TABLE3_NOTE = ("MPJPE, mean of sequences = the mean of the per-sequence means over TS1-TS6 (the release "
               "code's number, the one the paper reports; the 'Average' row of metrics.csv); MPJPE, all "
               "frames = every valid frame pooled (the official MATLAB script's 'All' row). PCK and AUC are "
               "pooled over all valid frames.")
MISSING = "-"
BASELINE_NOTE = ("Rows '(no network)' are baselines (`diff3dhpe baselines`): the mean training pose and a "
                 "least-squares linear map from an F-frame window of root-relative 2D to 3D, fitted on the "
                 "training subjects and scored with the same protocol; deterministic (Seeds '-'). Any "
                 "trained lifter must beat them.")


@dataclass
class Table:
    """A table as rows of display strings; written identically to CSV, Markdown, LaTeX and HTML."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    block_starts: list[int] = field(default_factory=list)  # rows that open a block (a rule above)
    generated_by: str = "`diff3dhpe report tables` from results/*.csv"  # the LaTeX / HTML header says so

    def add_block(self, rows: list[list[str]]) -> None:
        if rows:
            self.block_starts.append(len(self.rows))
            self.rows.extend(rows)


# ----------------------------------------------------------------------------- aggregation helpers


def _steps_cell(steps: object) -> str:
    """S, or '-' for regression models (no sampler: steps empty or 0)."""
    if steps is None or pd.isna(steps) or int(steps) == 0:
        return MISSING
    return str(int(steps))


def _ours(metrics: pd.DataFrame, dataset: str, inputs: Sequence[str],
          variants: Sequence[str]) -> pd.DataFrame:
    rows = metrics[
        (metrics["dataset"] == dataset) & metrics["input_2d"].isin(inputs) & metrics["variant"].isin(variants)
    ].copy()
    rows["steps"] = pd.to_numeric(rows["steps"], errors="coerce").fillna(0).astype(int)
    return rows


def _missing_variants(rows: pd.DataFrame, variants: Sequence[str], by: Sequence[str]) -> list[str]:
    """'variant (frames=81, input_2d=det)' for each variant absent from a group (each F × input present)."""
    if rows.empty:
        return [f"{variant} (any)" for variant in variants]
    missing = []
    for key, group in rows.groupby(list(by)):
        key = key if isinstance(key, tuple) else (key,)
        where = ", ".join(f"{k}={v}" for k, v in zip(by, key))
        missing += [f"{variant} ({where})" for variant in variants if variant not in set(group["variant"])]
    return missing


def _raise_missing(what: str, missing: list[str]) -> None:
    if missing:
        raise MissingResultsError(
            f"{what}: results/metrics.csv lacks runs of {missing}; train and evaluate them "
            "(`diff3dhpe runs --kind train` lists the study's run ids) and collect again"
        )


def _require_actions(rows: pd.DataFrame, actions: Sequence[str], what: str) -> None:
    missing = {
        run: sorted(set(actions) - set(group["action"])) for run, group in rows.groupby("run")
    }
    missing = {run: acts for run, acts in missing.items() if acts}
    if missing:
        raise MissingResultsError(f"{what}: runs lack action rows in results/metrics.csv: {missing}")


def _seed_mean(rows: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """Mean, sd (ddof=1) and count over seeds of ``metric`` per ``keys``."""
    grouped = rows.groupby(keys, sort=False)[metric]
    out = grouped.agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"mean": "mean", "std": "sd", "count": "n"})


def _variant_order(variants: Sequence[str]) -> Callable[[str], int]:
    return lambda v: variants.index(v) if v in variants else len(variants)


# ----------------------------------------------------------------------------- baselines


def _baselines(metrics: pd.DataFrame, dataset: str, inputs: Sequence[str]) -> pd.DataFrame:
    """The baseline rows (variant in ``BASELINE_NAMES``) of ``dataset`` and ``inputs``; possibly empty."""
    rows = metrics[(metrics["dataset"] == dataset) & metrics["input_2d"].isin(inputs)
                   & metrics["variant"].isin(BASELINE_NAMES)].copy()
    require_finite(rows[rows["action"] == AVERAGE], ("mpjpe",), f"baselines of {dataset} results/metrics.csv")
    return rows


def _baseline_method(variant: str) -> str:
    return f"{BASELINE_NAMES[variant]} (no network)"


def _baseline_groups(rows: pd.DataFrame) -> list[tuple[pd.Series, pd.DataFrame]]:
    """(first row, rows) per baseline: by 2D input (``INPUT_NAMES`` order), ``BASELINE_NAMES`` order,
    window F."""
    order, inputs = _variant_order(list(BASELINE_NAMES)), _variant_order(list(INPUT_NAMES))
    groups = [(group.iloc[0], group) for _, group in rows.groupby("run", sort=False)]
    return sorted(groups, key=lambda g: (inputs(g[0]["input_2d"]), order(g[0]["variant"]),
                                         int(g[0]["frames"])))


def baseline_verdict(ours: pd.DataFrame, baselines: pd.DataFrame, where: str = "") -> str | None:
    """A note line: the best baseline (lowest 'Average' MPJPE among ``baselines``) and which of our
    trained models (``ours``: metrics rows, grouped by variant, F and S, seed means of 'Average' MPJPE)
    beat it (strictly lower MPJPE) and which do not. None without baseline rows. ``where`` follows
    'Best baseline' (e.g. ' (detected 2D)')."""
    average = baselines[baselines["action"] == AVERAGE]
    if average.empty:
        return None
    best = average.loc[pd.to_numeric(average["mpjpe"]).idxmin()]
    trained = ours[(ours["action"] == AVERAGE) & ~ours["variant"].isin(BASELINE_NAMES)].copy()
    trained["steps"] = pd.to_numeric(trained["steps"], errors="coerce").fillna(0).astype(int)
    stats = _seed_mean(trained, ["variant", "frames", "steps"], "mpjpe")
    order = _variant_order(list(VARIANT_NAMES))
    beaten, not_beaten = [], []
    for _, row in sorted(stats.iterrows(), key=lambda kv: (order(kv[1]["variant"]), kv[1]["frames"],
                                                           kv[1]["steps"])):
        steps = f", S={int(row['steps'])}" if int(row["steps"]) else ""
        text = (f"{VARIANT_NAMES.get(row['variant'], row['variant'])} (F={int(row['frames'])}{steps}): "
                f"{format_mm(row['mean'])} mm")
        (beaten if row["mean"] < float(best["mpjpe"]) else not_beaten).append(text)
    return (f"Best baseline{where}: {BASELINE_NAMES[best['variant']]} F={int(best['frames'])}, "
            f"{format_mm(float(best['mpjpe']))} mm MPJPE (Average); "
            f"beaten by: {', '.join(beaten) or 'none'}; not beaten by: {', '.join(not_beaten) or 'none'}.")


def _baseline_notes(ours: pd.DataFrame, baselines: pd.DataFrame, where: str = "") -> list[str]:
    """``BASELINE_NOTE`` and the verdict line when there are baseline rows; [] otherwise."""
    verdict = baseline_verdict(ours, baselines, where)
    return [BASELINE_NOTE, verdict] if verdict else []


# ----------------------------------------------------------------------------- Tables 1 and 2


def _paper_action_row(name: str, metric: str, method: str, frames: int, rows: pd.DataFrame) -> list[str]:
    """One published row in the per-action layout: Protocol, Source, Method, F, S, Seeds, actions ...
    (actions the paper does not give, e.g. Table 4's Average-only rows, are '-')."""
    cells = rows.set_index("action")["value"]
    steps = paper_steps(name, method, int(frames), rows["steps"].iloc[0])
    seeds = str(int(rows["seeds"].iloc[0]))
    return [METRIC_NAMES[metric], paper_label("h36m"), method, str(frames), _steps_cell(steps), seeds,
            *(format_mm(cells[a]) if a in cells else MISSING for a in ACTION_COLUMNS)]


def _paper_action_blocks(name: str, metric: str, paper: pd.DataFrame) -> list[list[list[str]]]:
    """Published rows of ``paper`` (one table's rows) for ``metric``: one block per F, methods in the
    paper's order."""
    if paper.empty:
        return []
    block = paper[paper["metric"] == metric]
    blocks = []
    for frames in sorted(block["frames"].unique()):
        rows = block[block["frames"] == frames]
        blocks.append([
            _paper_action_row(name, metric, method, int(frames), rows[rows["method"] == method])
            for method in dict.fromkeys(rows["method"])
        ])
    return blocks


def _our_action_blocks(ours: pd.DataFrame, metric: str, variants: Sequence[str], our_label: str,
                       method_names: dict[str, str] | None = None) -> list[list[list[str]]]:
    """Our rows in the per-action layout, cells = means over seeds: one block per F, variants in the
    order of ``variants``. ``method_names`` overrides the Method cell of a variant."""
    names = {**VARIANT_NAMES, **(method_names or {})}
    stats = _seed_mean(ours, ["variant", "frames", "steps", "action"], metric)
    order = _variant_order(variants)
    blocks = []
    for frames in sorted(ours["frames"].unique()):
        rows = []
        here = stats[stats["frames"] == frames]
        for (variant, steps), cells in sorted(here.groupby(["variant", "steps"]), key=lambda kv: (
                order(kv[0][0]), kv[0][1])):
            cells = cells.set_index("action")
            rows.append([
                METRIC_NAMES[metric], our_label, names[variant], str(int(frames)), _steps_cell(steps),
                str(int(cells["n"].max())),
                *(format_mm(cells.loc[a, "mean"]) if a in cells.index else MISSING for a in ACTION_COLUMNS),
            ])
        blocks.append(rows)
    return blocks


def _baseline_action_block(baselines: pd.DataFrame, metric: str, our_label: str) -> list[list[str]]:
    """Baseline rows in the per-action layout: one per baseline and window F; S and Seeds '-'."""
    rows = []
    for first, group in _baseline_groups(baselines):
        cells = group.set_index("action")[metric]
        rows.append([METRIC_NAMES[metric], our_label, _baseline_method(first["variant"]),
                     str(int(first["frames"])), MISSING, MISSING,
                     *(format_mm(cells[a]) if a in cells.index and pd.notna(cells[a]) else MISSING
                       for a in ACTION_COLUMNS)])
    return rows


def _per_action_table(name: str, metrics: pd.DataFrame, labels: dict[str, str], input_2d: str,
                      metric_names: Sequence[str], title: str) -> Table:
    variants = ("mixste", "diff3dhpe-m")
    what = f"{name} (Human3.6M, {INPUT_NAMES[input_2d]})"
    ours = _ours(metrics, "h36m", [input_2d], variants)
    _raise_missing(what, _missing_variants(ours, variants, by=["frames"]))
    _require_actions(ours, ACTION_COLUMNS, what)
    require_finite(ours, metric_names, f"{what} results/metrics.csv")
    baselines = _baselines(metrics, "h36m", [input_2d])
    paper = paper_results(name)
    table = Table(name, title, list(PER_ACTION_COLUMNS))
    our_label = source_label(labels, "h36m")
    for metric in metric_names:
        for block in _paper_action_blocks(name, metric, paper):
            table.add_block(block)
        for block in _our_action_blocks(ours, metric, variants, our_label):
            table.add_block(block)
        table.add_block(_baseline_action_block(baselines, metric, our_label))
    our_frames = sorted(int(f) for f in ours["frames"].unique())
    paper_frames = sorted(int(f) for f in paper["frames"].unique())
    table.notes = [
        f"Rows 'ours' are computed on {data_source(labels, 'h36m')} (F = {', '.join(map(str, our_frames))}); "
        f"rows 'paper' are the published Human3.6M numbers at the paper's F = "
        f"{', '.join(map(str, paper_frames))}.",
        "Cells of 'ours' are means over the seeds counted in 'Seeds'; Average = unweighted mean over the "
        "15 action groups (as evaluated).",
        *_baseline_notes(ours, baselines),
    ]
    return table


def table1(metrics: pd.DataFrame, labels: dict[str, str]) -> Table:
    return _per_action_table(
        "table1", metrics, labels, "det", ("mpjpe", "p_mpjpe"),
        "Table 1: per-action MPJPE (Protocol #1) and P-MPJPE (Protocol #2), detected 2D input, "
        "Human3.6M layout",
    )


def table2(metrics: pd.DataFrame, labels: dict[str, str]) -> Table:
    return _per_action_table(
        "table2", metrics, labels, "gt", ("mpjpe",),
        "Table 2: per-action MPJPE (Protocol #1), ground-truth 2D input, Human3.6M layout",
    )


# ----------------------------------------------------------------------------- Table 3


def _paper_table3_rows(paper: pd.DataFrame) -> list[list[str]]:
    """Published Table 3 rows (one per method and F) in the Table 3 layout; all-frames MPJPE '-'."""
    rows = []
    for (method, frames), found in paper.groupby(["method", "frames"], sort=False):
        value = found.set_index("metric")["value"]
        steps = paper_steps("table3", method, frames, None)
        rows.append([
            paper_label("3dhp"), method, str(frames), _steps_cell(steps), str(int(found["seeds"].iloc[0])),
            format_mm(value["pck"]), format_mm(value["auc"]), format_mm(value["mpjpe"]), MISSING,
        ])
    return rows


def _our_table3_rows(ours: pd.DataFrame, our_label: str, what: str,
                     method_names: dict[str, str] | None = None) -> list[list[str]]:
    """Our rows in the Table 3 layout, mean ± sd over seeds: PCK, AUC and the sequence-mean MPJPE from
    the 'Average' rows, the all-frames MPJPE from the 'All' rows ('-' for runs scored before it existed)."""
    names = {**VARIANT_NAMES, **(method_names or {})}
    average = ours[ours["action"] == AVERAGE]
    missing = sorted(set(ours["run"]) - set(average["run"]))
    if missing:
        raise MissingResultsError(f"{what}: runs {missing} have no 'Average' row in results/metrics.csv")
    require_finite(average, ("pck", "auc", "mpjpe"), f"{what} results/metrics.csv")
    every = ours[ours["action"] == ALL_FRAMES]
    order = _variant_order(list(VARIANT_NAMES))
    keys = ["variant", "frames", "input_2d", "steps"]
    stats = {m: _seed_mean(average, keys, m).set_index(keys) for m in ("pck", "auc", "mpjpe")}
    pooled = _seed_mean(every, keys, "mpjpe").set_index(keys) if len(every) else None
    rows = []
    for key in sorted(stats["mpjpe"].index, key=lambda k: (order(k[0]), k[1], k[2], k[3])):
        variant, frames, input_2d, steps = key
        method = names.get(variant, variant)
        if input_2d != "gt":
            method += f" ({INPUT_NAMES[input_2d]})"
        n = int(stats["mpjpe"].loc[key, "n"])
        all_frames = MISSING
        if pooled is not None and key in pooled.index:
            found = pooled.loc[key]
            all_frames = format_mean_sd(found["mean"], found["sd"], int(found["n"]))
        rows.append([
            our_label, method, str(int(frames)), _steps_cell(steps), str(n),
            *(format_mean_sd(stats[m].loc[key, "mean"], stats[m].loc[key, "sd"], n)
              for m in ("pck", "auc", "mpjpe")),
            all_frames,
        ])
    return rows


def _baseline_table3_rows(baselines: pd.DataFrame, our_label: str) -> list[list[str]]:
    """Baseline rows in the Table 3 layout: PCK, AUC, sequence-mean MPJPE ('Average'), all-frames MPJPE
    ('All', '-' when absent); S and Seeds '-'."""
    rows = []
    for first, group in _baseline_groups(baselines):
        cells = group.set_index("action")
        average = cells.loc[AVERAGE] if AVERAGE in cells.index else None
        method = _baseline_method(first["variant"])
        if first["input_2d"] != "gt":
            method += f" ({INPUT_NAMES[first['input_2d']]})"

        def cell(row, metric):
            return MISSING if row is None or pd.isna(row[metric]) else format_mm(row[metric])

        every = cells.loc[ALL_FRAMES] if ALL_FRAMES in cells.index else None
        rows.append([our_label, method, str(int(first["frames"])), MISSING, MISSING, cell(average, "pck"),
                     cell(average, "auc"), cell(average, "mpjpe"), cell(every, "mpjpe")])
    return rows


def table3(metrics: pd.DataFrame, labels: dict[str, str]) -> Table:
    what = "table3 (MPI-INF-3DHP)"
    baselines = _baselines(metrics, "3dhp", list(INPUT_NAMES))
    ours = metrics[(metrics["dataset"] == "3dhp") & ~metrics["variant"].isin(BASELINE_NAMES)].copy()
    ours["steps"] = pd.to_numeric(ours["steps"], errors="coerce").fillna(0).astype(int)
    if "diff3dhpe-m" not in set(ours["variant"]):
        raise MissingResultsError(
            f"{what}: results/metrics.csv has no MPI-INF-3DHP (dataset=3dhp) runs of diff3dhpe-m; "
            f"found variants {sorted(set(ours['variant']))}"
        )
    table = Table("table3", "Table 3: PCK@150 mm, AUC and MPJPE, ground-truth 2D input, MPI-INF-3DHP layout",
                  list(TABLE3_COLUMNS))
    table.add_block(_paper_table3_rows(paper_results("table3")))
    table.add_block(_our_table3_rows(ours, source_label(labels, "3dhp"), what))
    table.add_block(_baseline_table3_rows(baselines, source_label(labels, "3dhp")))
    table.notes = [
        f"Rows 'ours' are computed on {data_source(labels, '3dhp')}; rows 'paper' are the published "
        "MPI-INF-3DHP numbers at the paper's F. PCK counts joints closer than 150 mm over 14 joints; "
        "AUC averages PCK over thresholds 0-150 mm.",
        TABLE3_NOTE,
        *_baseline_notes(ours, baselines),
    ]
    return table


# ----------------------------------------------------------------------------- one run (a checkpoint)

# The paper's table for each setting (dataset, 2D input) of a single evaluated model.
PAPER_TABLE_OF_SETTING = {("h36m", "det"): "table1", ("h36m", "gt"): "table2", ("3dhp", "gt"): "table3"}


def _paper_rows_of(table: str, variant: str, frames: int) -> pd.DataFrame:
    """The published rows of ``variant`` in ``table`` ('paper_method_rows'), at F = ``frames`` when the
    paper has that F, else at every F the paper gives."""
    rows = paper_method_rows(table, variant)
    same = rows[rows["frames"] == frames]
    return same if len(same) else rows


def run_table(rows: pd.DataFrame, our_label: str, notes: Sequence[str] = (),
              method: str | None = None) -> Table:
    """One model's metrics rows (e.g. a checkpoint's) in the layout of the paper's table for its setting.

    ``rows``: metrics.csv rows of one run (columns ``RESULT_COLUMNS['metrics']``; one dataset, 2D
    input, F, variant and S). Human3.6M detected 2D -> Table 1 (MPJPE and P-MPJPE per action),
    Human3.6M GT 2D -> Table 2 (MPJPE per action), MPI-INF-3DHP -> Table 3 (PCK, AUC, both MPJPEs).
    Beside ours (Source ``our_label``), the paper's published rows of the same method
    (``paper_method_rows``), labelled ``paper (<dataset>)``, at our F when the paper has it, else at the
    paper's F; for Tables 1-2 also Table 4's Average-only row of the variant's own label (the authors'
    retrained MixSTE* / PoseFormer*, DDIM-M, Diff3DHPE-P) unless the main table has that name.
    Actions missing from ``rows`` (a quick look) are '-'. ``notes`` are added under the table; ``method``
    names our row (default: the variant's label, e.g. 'Diff3DHPE-M').

    Raises DataFormatError: rows of several settings, or no rows.
    """
    settings = rows[["dataset", "input_2d", "frames", "variant"]].drop_duplicates()
    if len(settings) != 1:
        raise DataFormatError(
            f"run_table needs the rows of one model; got settings {settings.to_dict('records')}"
        )
    dataset, input_2d, frames, variant = settings.iloc[0]
    frames = int(frames)
    name = PAPER_TABLE_OF_SETTING[(dataset, input_2d)]
    ours = rows.copy()
    ours["steps"] = pd.to_numeric(ours["steps"], errors="coerce").fillna(0).astype(int)
    method = {variant: method or VARIANT_NAMES[variant]}
    if name == "table3":
        table = Table("table3", "Table 3 layout: PCK@150 mm, AUC and MPJPE, ground-truth 2D input, "
                      "MPI-INF-3DHP layout", list(TABLE3_COLUMNS))
        table.add_block(_paper_table3_rows(_paper_rows_of("table3", variant, frames)))
        table.add_block(_our_table3_rows(ours, our_label, "run_table", method))
        table.notes = [*notes, TABLE3_NOTE]
        return table
    metric_names = ("mpjpe", "p_mpjpe") if name == "table1" else ("mpjpe",)
    title = ("Table 1 layout: per-action MPJPE (Protocol #1) and P-MPJPE (Protocol #2), detected 2D input"
             if name == "table1" else "Table 2 layout: per-action MPJPE (Protocol #1), ground-truth 2D input")
    table = Table(name, f"{title}, Human3.6M layout", list(PER_ACTION_COLUMNS))
    paper = _paper_rows_of(name, variant, frames)
    # Table 4 (Average only) names the variants as we do: the authors' retrained MixSTE* / PoseFormer*,
    # DDIM-M, Diff3DHPE-P; added unless the main table has the same name
    label = VARIANT_NAMES[variant]
    ablation = paper_results("table4")
    ablation = ablation[(ablation["method"] == label) & (ablation["input_2d"] == input_2d)
                        & (ablation["seeds"] == 1) & ~ablation["method"].isin(set(paper["method"]))]
    same = ablation[ablation["frames"] == frames]
    ablation = (same if len(same) else ablation).assign(action=AVERAGE)
    for metric in metric_names:
        published = _paper_action_blocks(name, metric, paper)
        for block in published + _paper_action_blocks("table4", metric, ablation):
            table.add_block(block)
        for block in _our_action_blocks(ours, metric, [variant], our_label, method):
            table.add_block(block)
    if paper.empty and ablation.empty:
        notes = [*notes, f"The paper publishes no Human3.6M numbers for {VARIANT_NAMES[variant]}."]
    table.notes = [*notes, "Average = unweighted mean over the action groups scored (all 15 in the "
                           "protocol)."]
    return table


# ----------------------------------------------------------------------------- Table 4


ABLATION_BLOCKS = (
    ("MixSTE", ("mixste", "ddim-m", "diff3dhpe-m"), ("mixste", "diff3dhpe-m")),
    ("PoseFormer", ("poseformer", "diff3dhpe-p"), ("poseformer", "diff3dhpe-p")),
)
PAPER_BACKBONE = {"MixSTE*": "MixSTE", "DDIM-M": "MixSTE", "Diff3DHPE-M": "MixSTE",
                  "PoseFormer*": "PoseFormer", "Diff3DHPE-P": "PoseFormer"}


def table4(metrics: pd.DataFrame, labels: dict[str, str]) -> Table:
    what = "table4 (ablation, Human3.6M)"
    average = metrics[(metrics["dataset"] == "h36m") & (metrics["action"] == AVERAGE)]
    columns = ["Source", "Backbone", "Method", "F", "2D input", "S", "Seeds", "MPJPE (mm)", "P-MPJPE (mm)"]
    table = Table("table4", "Table 4: ablation (objective, sampler, backbone), Human3.6M layout; "
                  "mean ± sd over seeds where Seeds > 1", columns)

    paper = paper_results("table4")
    sds = paper[paper["metric"].str.endswith("_sd")]
    values = paper[~paper["metric"].str.endswith("_sd")]
    paper_rows = []
    for (method, frames, input_2d, seeds), rows in values.groupby(
            ["method", "frames", "input_2d", "seeds"], sort=False):
        cells = []
        for metric in ("mpjpe", "p_mpjpe"):
            sd = sds[(sds["metric"] == f"{metric}_sd") & (sds["method"] == method) & (sds["frames"] == frames)
                     & (sds["input_2d"] == input_2d) & (sds["seeds"] == seeds)]["value"]
            mean = rows[rows["metric"] == metric]["value"].iloc[0]
            cells.append(format_mean_sd(mean, sd.iloc[0] if len(sd) else None, int(seeds)))
        paper_rows.append([paper_label("h36m"), PAPER_BACKBONE[method], method, str(frames),
                           INPUT_NAMES[input_2d], _steps_cell(rows["steps"].iloc[0]), str(seeds), *cells])
    table.add_block(paper_rows)

    our_label = source_label(labels, "h36m")
    missing = [] if "ddim-m" in set(average["variant"]) else ["ddim-m (any)"]
    for _, variants, required in ABLATION_BLOCKS:
        missing += _missing_variants(_ours(average, "h36m", ["det", "gt"], variants), required,
                                     by=["frames", "input_2d"])
    _raise_missing(what, missing)
    for backbone, variants, _ in ABLATION_BLOCKS:
        ours = _ours(average, "h36m", ["det", "gt"], variants)
        require_finite(ours, ("mpjpe", "p_mpjpe"), f"{what} results/metrics.csv")
        keys = ["frames", "input_2d", "variant", "steps"]
        mpjpe = _seed_mean(ours, keys, "mpjpe")
        p_mpjpe = _seed_mean(ours, keys, "p_mpjpe").set_index(keys)
        order = _variant_order(variants)
        mpjpe = mpjpe.assign(_order=mpjpe["variant"].map(order)).sort_values(
            ["frames", "input_2d", "_order", "steps"])
        our_rows = []
        for _, row in mpjpe.iterrows():
            key = tuple(row[k] for k in keys)
            n = int(row["n"])
            our_rows.append([
                our_label, backbone, VARIANT_NAMES[row["variant"]], str(int(row["frames"])),
                INPUT_NAMES[row["input_2d"]], _steps_cell(row["steps"]), str(n),
                format_mean_sd(row["mean"], row["sd"], n),
                format_mean_sd(p_mpjpe.loc[key, "mean"], p_mpjpe.loc[key, "sd"], n),
            ])
        table.add_block(our_rows)
    baselines = _baselines(average, "h36m", ["det", "gt"])
    require_finite(baselines, ("mpjpe", "p_mpjpe"), f"{what} baselines of results/metrics.csv")
    table.add_block([
        [our_label, MISSING, _baseline_method(first["variant"]), str(int(first["frames"])),
         INPUT_NAMES[first["input_2d"]], MISSING, MISSING, format_mm(first["mpjpe"]),
         format_mm(first["p_mpjpe"])]
        for first, _ in _baseline_groups(baselines)
    ])
    trained = _ours(average, "h36m", ["det", "gt"], [v for _, block, _ in ABLATION_BLOCKS for v in block])
    verdicts = [baseline_verdict(trained[trained["input_2d"] == input_2d],
                                 baselines[baselines["input_2d"] == input_2d], f" ({INPUT_NAMES[input_2d]})")
                for input_2d in INPUT_NAMES]
    verdicts = [verdict for verdict in verdicts if verdict]
    table.notes = [
        f"Rows 'ours' are computed on {data_source(labels, 'h36m')}; rows 'paper' are the published "
        "Human3.6M numbers at the paper's F (detected 2D = CPN detections in the paper).",
        "MixSTE* and PoseFormer* are regression baselines trained with the same L2 loss; DDIM-M is the "
        "ε-prediction model sampled with standard DDIM; S = reverse sampling steps.",
        *([BASELINE_NOTE, *verdicts] if verdicts else []),
    ]
    return table


# ----------------------------------------------------------------------------- t-test table


def _comparison_name(comparison: str) -> str:
    """'mixste vs diff3dhpe-m' -> 'MixSTE* vs Diff3DHPE-M' (names as in the paper)."""
    parts = [part.strip() for part in str(comparison).replace("-vs-", " vs ").split(" vs ")]
    return " vs ".join(VARIANT_NAMES.get(part, part) for part in parts)


def ttest_table(ttest: pd.DataFrame, labels: dict[str, str]) -> Table:
    what = "ttest table"
    keys = ["comparison", "frames", "input_2d", "metric"]
    incomplete = [
        ", ".join(f"{k}={v}" for k, v in zip(keys, key)) + f": has {sorted(set(group['test']))}"
        for key, group in ttest.groupby(keys) if set(group["test"]) != {"student", "welch"}
    ]
    if incomplete:
        raise MissingResultsError(
            f"{what}: results/ttest.csv must hold one 'student' and one 'welch' row per comparison; "
            f"{incomplete}"
        )
    require_finite(ttest, ("n_a", "mean_a", "n_b", "mean_b"), f"{what} results/ttest.csv")
    columns = ["Source", "Comparison", "F", "2D input", "Metric", "Test", "n A", "A (mm)", "n B", "B (mm)",
               "t", "df", "p"]
    table = Table("ttest", "Two-sample t-tests over seeds (A vs B), Human3.6M layout", columns)
    paper = paper_results("ttest")
    table.add_block([
        [paper_label("h36m"), row["method"], str(row["frames"]), INPUT_NAMES[row["input_2d"]],
         METRIC_NAMES["mpjpe"], "student", str(row["seeds"]), MISSING, str(row["seeds"]), MISSING, MISSING,
         MISSING, format_p(row["value"])]
        for _, row in paper.iterrows()
    ])

    def num(value: float, fmt: str) -> str:
        return MISSING if pd.isna(value) else format(value, fmt)

    our_label = source_label(labels, "h36m")
    ordered = ttest.assign(_test=ttest["test"].map({"student": 0, "welch": 1})).sort_values(
        [*keys, "_test"])
    table.add_block([
        [our_label, _comparison_name(row["comparison"]), str(int(row["frames"])),
         INPUT_NAMES.get(row["input_2d"], row["input_2d"]), METRIC_NAMES.get(row["metric"], row["metric"]),
         row["test"], str(int(row["n_a"])), format_mean_sd(row["mean_a"], row["sd_a"], int(row["n_a"])),
         str(int(row["n_b"])), format_mean_sd(row["mean_b"], row["sd_b"], int(row["n_b"])),
         num(row["t"], ".2f"), num(row["df"], ".1f"),
         MISSING if pd.isna(row["p_value"]) else format_p(row["p_value"])]
        for _, row in ordered.iterrows()
    ])
    table.notes = [
        f"Rows 'ours' are computed on {data_source(labels, 'h36m')}; rows 'paper' give the published "
        "p-values "
        "(Student's t-test over 5 seeds, Human3.6M, the paper's F).",
        "student = pooled-variance t-test (the paper's); welch = unequal-variance t-test.",
    ]
    return table


# ----------------------------------------------------------------------------- writers


def _markdown_escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def to_markdown(table: Table) -> str:
    numeric = [all(_looks_numeric(r[i]) for r in table.rows) for i in range(len(table.columns))]
    lines = [f"**{table.title}**", ""]
    lines += [f"> {note}" for note in table.notes] + [""]
    lines.append("| " + " | ".join(_markdown_escape(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    lines += ["| " + " | ".join(_markdown_escape(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "ε": r"$\varepsilon$", "–": "--", "—": "---"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for char, latex in _LATEX_UNICODE.items():
        out = out.replace(char, latex)
    return out


def to_latex(table: Table) -> str:
    """A booktabs table; every row has len(columns) cells, blocks are separated by \\midrule."""
    align = "".join("r" if all(_looks_numeric(r[i]) for r in table.rows) else "l"
                    for i in range(len(table.columns)))
    caption = latex_escape(" ".join([table.title, *table.notes]))
    lines = [
        f"% Generated by {table.generated_by}; do not edit by hand.",
        "% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{caption}}}",
        rf"\label{{tab:{table.name}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in table.columns) + r" \\",
    ]
    for i, row in enumerate(table.rows):
        if i in table.block_starts:
            lines.append(r"\midrule")
        lines.append(" & ".join(latex_escape(c) for c in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


_HTML_STYLE = ("body{font:13px/1.4 sans-serif;margin:1em;background:#fff;color:#000}"
               "table{border-collapse:collapse}th,td{padding:2px 8px;white-space:nowrap}"
               "thead th{border-bottom:2px solid #444}"
               "tr.block td{border-top:1px solid #999}td.num{text-align:right}p.note{max-width:60em}")


def _html_text(text: str) -> str:
    return html.escape(text, quote=False)


def to_html(table: Table) -> str:
    """A standalone page (what `snakemake --report` shows): the title, the table, then its notes."""
    numeric = [all(_looks_numeric(r[i]) for r in table.rows) for i in range(len(table.columns))]
    rows = []
    for i, row in enumerate(table.rows):
        opens_block = ' class="block"' if i in table.block_starts and i > 0 else ""
        cells = "".join(('<td class="num">' if numeric[j] else "<td>") + _html_text(cell) + "</td>"
                        for j, cell in enumerate(row))
        rows.append(f"<tr{opens_block}>{cells}</tr>")
    lines = [
        "<!DOCTYPE html>",
        f"<!-- Generated by {_html_text(table.generated_by)}; do not edit by hand. -->",
        '<html><head><meta charset="utf-8">',
        f"<title>{_html_text(table.title)}</title><style>{_HTML_STYLE}</style></head><body>",
        f"<h3>{_html_text(table.title)}</h3>",
        f'<table id="{table.name}">',
        "<thead><tr>" + "".join(f"<th>{_html_text(c)}</th>" for c in table.columns) + "</tr></thead>",
        "<tbody>", *rows, "</tbody></table>",
        *(f'<p class="note">{_html_text(note)}</p>' for note in table.notes),
        "</body></html>",
    ]
    return "\n".join(lines) + "\n"


def _looks_numeric(cell: str) -> bool:
    head = cell.split(" ± ")[0]
    try:
        float(head)
    except ValueError:
        return cell == MISSING
    return True


def render_table(table: Table, fmt: str) -> str:
    """The text of ``table`` in one of ``TABLE_FORMATS`` ('csv', 'md', 'tex', 'html')."""
    widths = {len(row) for row in table.rows}
    if not table.rows or widths != {len(table.columns)}:
        raise AssertionError(f"{table.name}: {len(table.rows)} rows with widths {widths}, "
                             f"expected {len(table.columns)}")  # a bug here, not bad input
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return buffer.getvalue()
    if fmt == "md":
        return to_markdown(table)
    if fmt == "tex":
        return to_latex(table)
    if fmt == "html":
        return to_html(table)
    raise ValueError(f"table format must be one of {TABLE_FORMATS}, got {fmt!r}")


def write_table(table: Table, out_dir: Path, *, stem: str | None = None,
                formats: Sequence[str] = TABLE_FORMATS) -> list[Path]:
    """Write ``table`` as ``<stem>.<fmt>`` (stem: the table's name) for each format, each file atomically
    (``diff3dhpe.atomic``): all texts are rendered before the first file is written. Returns the paths."""
    texts = {fmt: render_table(table, fmt) for fmt in formats}
    out_dir = Path(out_dir)
    return [atomic_write_text(out_dir / f"{stem or table.name}.{fmt}", text) for fmt, text in texts.items()]


# ----------------------------------------------------------------------------- entry point


BUILDERS: dict[str, tuple[str, Callable[[pd.DataFrame, dict[str, str]], Table]]] = {
    "table1": ("metrics", table1),
    "table2": ("metrics", table2),
    "table3": ("metrics", table3),
    "table4": ("metrics", table4),
    "ttest": ("ttest", ttest_table),
}


def build_tables(results_dir: Path, subset: Sequence[str] | None = None,
                 data_label: str | dict[str, str] | None = None) -> list[Table]:
    """Build the requested tables (all by default) without writing them."""
    names = list(subset) if subset else list(TABLE_NAMES)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        raise ConfigError(f"unknown table names {unknown}; choose from {list(TABLE_NAMES)}")
    inputs = {kind: read_results(results_dir, kind) for kind in dict.fromkeys(BUILDERS[n][0] for n in names)}
    labels = data_source_labels(results_dir, inputs.values(), data_label)
    return [BUILDERS[name][1](inputs[BUILDERS[name][0]], labels) for name in names]


def write_tables(results_dir: Path, out_dir: Path, subset: Sequence[str] | None = None,
                 data_label: str | dict[str, str] | None = None) -> list[Path]:
    """Write table{1,2,3,4} and ttest as .csv, .md, .tex and .html under ``out_dir``; return the paths.

    All requested tables are built before any is written, so a missing input leaves no partial set.
    """
    tables = build_tables(Path(results_dir), subset, data_label)
    return [path for table in tables for path in write_table(table, Path(out_dir))]


__all__ = ["TABLE_NAMES", "DATASET_NAMES", "Table", "baseline_verdict", "build_tables", "render_table",
           "run_table", "to_html", "to_latex", "to_markdown", "write_table", "write_tables"]
