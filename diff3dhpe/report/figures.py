"""The paper's Figs. 3, 5 and 6 as PNG and PDF (matplotlib, Agg backend).

- Fig. 3: loss weight w_t over t, paper form 1 + min(k_t, 2) and release form
  min(1 + ᾱ/sqrt(1 − ᾱ), 3), computed by ``diff3dhpe.diffusion.Diffusion`` (no data needed).
- Fig. 5: MPJPE against the number of reverse steps S, with and without PDE attention
  (results/steps.csv), and the sampling time per clip.
- Fig. 6: MPJPE against Gaussian noise σ and against the joint drop rate, Diff3DHPE-M vs
  MixSTE* (results/robustness.csv); error bars = sd over seeds where there are several; black lines:
  the baselines without a network of the models' setting on the same corrupted 2D, when present.
Each title names the data the numbers came from. Missing inputs raise MissingResultsError.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from diff3dhpe.diffusion import Diffusion  # noqa: E402
from diff3dhpe.errors import ConfigError, DataFormatError  # noqa: E402
from diff3dhpe.report import FIGURE_FORMATS, FIGURE_NAMES  # noqa: E402
from diff3dhpe.report.common import (  # noqa: E402
    DATASET_NAMES,
    INPUT_NAMES,
    VARIANT_NAMES,
    MissingResultsError,
    data_source,
    data_source_labels,
    read_results,
    require_finite,
)
from diff3dhpe.results import AVERAGE  # noqa: E402
from diff3dhpe.variants import BASELINES, BaselineSpec, parse_run_id  # noqa: E402

RUN_ID = re.compile(r"^(?P<dataset>h36m|3dhp)-(?P<input_2d>det|gt)-f(?P<frames>\d+)-")
COLORS = {"diff3dhpe-m": "tab:blue", "mixste": "tab:orange", True: "tab:blue", False: "tab:gray"}
# Fixed metadata so the same data give byte-identical files (DVC and Snakemake compare outputs).
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": None}
PNG_METADATA = {"Software": None}


def _describe_runs(runs: pd.Series, labels: dict[str, str]) -> str:
    """'synthetic data (…), Human3.6M layout, F = 27, detected 2D' from run ids like h36m-det-f27-…"""
    parsed = [m.groupdict() for m in map(RUN_ID.match, map(str, runs.unique())) if m]
    datasets = sorted({p["dataset"] for p in parsed})
    parts = [data_source(labels, datasets[0] if len(datasets) == 1 else "*")]
    if datasets:
        parts.append(", ".join(DATASET_NAMES[d] for d in datasets) + " layout")
    frames = sorted({int(p["frames"]) for p in parsed})
    if frames:
        parts.append("F = " + ", ".join(map(str, frames)))
    inputs = sorted({p["input_2d"] for p in parsed})
    if inputs:
        parts.append(", ".join(INPUT_NAMES[i] for i in inputs))
    return ", ".join(parts)


def save_figure(fig: plt.Figure, out_dir: Path, name: str) -> list[Path]:
    """``out_dir/<name>.{png,pdf}`` with fixed metadata (byte-identical for the same data); closes ``fig``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.{ext}" for ext in FIGURE_FORMATS]
    for path in paths:
        png = path.suffix == ".png"
        fig.savefig(path, dpi=150 if png else None, bbox_inches="tight",
                    metadata=PNG_METADATA if png else PDF_METADATA)
    plt.close(fig)
    return paths


def _seed_stats(frame: pd.DataFrame, keys: list[str], metric: str = "mpjpe") -> pd.DataFrame:
    """mean, sd (ddof=1, 0 for one seed) and n of ``metric`` per ``keys``."""
    out = frame.groupby(keys)[metric].agg(["mean", "std", "count"]).reset_index()
    return out.rename(columns={"std": "sd", "count": "n"}).fillna({"sd": 0.0})


# ----------------------------------------------------------------------------- Fig. 3


def fig3(timesteps: int = 1000) -> plt.Figure:
    """Loss weight over t for both forms, straight from Diffusion.loss_weight."""
    t = torch.arange(timesteps)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for compat, label, style in (
        ("paper", "paper: 1 + min(k_t, 2), k_t = sqrt(ᾱ_t / (1 − ᾱ_t))", "-"),
        ("release", "release: min(1 + ᾱ_t / sqrt(1 − ᾱ_t), 3)", "--"),
    ):
        weight = Diffusion(timesteps=timesteps, compat=compat).loss_weight(t).double().numpy()
        ax.plot(t.numpy(), weight, style, lw=2, label=label)
    ax.axhline(1.0, color="black", lw=0.8, alpha=0.5)
    ax.set_xlabel("diffusion step t (0 = clean, T − 1 = pure noise)")
    ax.set_ylabel("loss weight w_t (dimensionless)")
    ax.set_xlim(0, timesteps - 1)
    ax.set_ylim(0.9, 3.1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Fig. 3: x0-loss weight over t (cosine schedule, T = {timesteps}; no data involved)",
                 fontsize=10)
    return fig


# ----------------------------------------------------------------------------- Fig. 5


def _as_bool(value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "1.0", "yes", "on"):
        return True
    if text in ("false", "0", "0.0", "no", "off"):
        return False
    raise DataFormatError(f"results/steps.csv: column 'pde' must be true/false; found {value!r}")


def lifter_reference(metrics: pd.DataFrame | None, runs: pd.Series) -> tuple[float, str] | None:
    """(MPJPE mm, label) of the linear lifter over the same F-frame window as ``runs`` (one dataset, 2D
    input and F), from the baseline rows of results/metrics.csv (`diff3dhpe baselines`); None when
    there are no such rows or the runs mix settings."""
    if metrics is None:
        return None
    settings = {(s.dataset, s.input_2d, s.frames) for s in map(parse_run_id, runs.unique())}
    if len(settings) != 1:
        return None
    dataset, input_2d, frames = settings.pop()
    rows = metrics[(metrics["variant"] == "linear-lifter") & (metrics["dataset"] == dataset)
                   & (metrics["input_2d"] == input_2d) & (metrics["frames"] == frames)
                   & (metrics["action"] == AVERAGE)]
    if rows.empty:
        return None
    return float(rows["mpjpe"].iloc[0]), _baseline_label("linear-lifter", frames)


def _baseline_label(baseline: str, frames: int) -> str:
    """Legend text of a baseline line: 'linear lifter over F = 9 frames (no network)'."""
    name = BASELINES[baseline].label.lower()
    if BASELINES[baseline].windowed:
        return f"{name} over F = {frames} frames (no network)"
    return f"{name}: ignores the 2D (no network)"


def fig5(steps: pd.DataFrame, labels: dict[str, str], metrics: pd.DataFrame | None = None) -> plt.Figure:
    """MPJPE and sampling time vs S per PDE arm; a dashed line marks the linear lifter at the sweep's
    setting when ``metrics`` (results/metrics.csv) has its baseline row."""
    steps = steps.assign(pde=steps["pde"].map(_as_bool))
    arms = set(steps["pde"])
    missing = [("with PDE" if arm else "without PDE") for arm in (True, False) if arm not in arms]
    if missing:
        raise MissingResultsError(
            f"fig5: results/steps.csv has no rows {missing}; run `diff3dhpe steps` for the runs listed by "
            "`diff3dhpe runs --kind steps` (diff3dhpe-m and diff3dhpe-m-nopde) and collect again"
        )
    require_finite(steps, ("steps", "mpjpe", "seconds_per_clip"), "fig5 results/steps.csv")
    fig, (ax, ax_time) = plt.subplots(1, 2, figsize=(10, 4.0), gridspec_kw={"width_ratios": [3, 2]})
    for arm in (True, False):
        rows = steps[steps["pde"] == arm]
        label = f"Diff3DHPE-M, PDE attention {'on' if arm else 'off'} ({rows['run'].nunique()} model)"
        stats = _seed_stats(rows, ["steps"])
        ax.errorbar(stats["steps"], stats["mean"], yerr=stats["sd"] if stats["n"].max() > 1 else None,
                    marker="o", ms=4, capsize=3, color=COLORS[arm], label=label)
        timing = _seed_stats(rows, ["steps"], "seconds_per_clip")
        ax_time.plot(timing["steps"], timing["mean"] * 1000.0, marker="o", ms=4, color=COLORS[arm],
                     label=label)
    reference = lifter_reference(metrics, steps["run"])
    if reference is not None:
        ax.axhline(reference[0], color="black", linestyle="--", linewidth=1, label=reference[1])
    ax.set_xlabel("reverse sampling steps S")
    ax.set_ylabel("MPJPE (mm)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("MPJPE vs S", fontsize=10)
    ax_time.set_xlabel("reverse sampling steps S")
    ax_time.set_ylabel("sampling time per clip (ms)")
    ax_time.grid(alpha=0.3)
    ax_time.set_title("cost vs S (one clip, this machine)", fontsize=10)
    for axis in (ax, ax_time):
        axis.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"Fig. 5: S-sweep, one trained model per arm — {_describe_runs(steps['run'], labels)}",
                 fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- Fig. 6


ROBUSTNESS_VARIANTS = ("mixste", "diff3dhpe-m")
CORRUPTIONS = (("gaussian", "Gaussian noise σ on normalised 2D (unitless, 1 = half image width)"),
               ("dropout", "joint drop rate (probability per frame and joint)"))


def fig6(robustness: pd.DataFrame, labels: dict[str, str]) -> plt.Figure:
    """MPJPE vs corruption level per model (seed mean, sd bars), one panel per corruption kind; black
    lines mark the baselines without a network of the models' setting (rows of `diff3dhpe baselines`
    that collect appended, run = ``BaselineSpec.id``: dashed if it reads the 2D window, dotted if it
    ignores the 2D) scored on the same corrupted 2D, when ``robustness`` has them; baseline rows of
    another setting are not drawn."""
    missing = [
        f"{variant}/{corruption}" for variant in ROBUSTNESS_VARIANTS for corruption, _ in CORRUPTIONS
        if robustness[(robustness["variant"] == variant) & (robustness["corruption"] == corruption)].empty
    ]
    if missing:
        raise MissingResultsError(
            f"fig6: results/robustness.csv lacks rows for {missing}; run `diff3dhpe robustness` for the runs "
            "listed by `diff3dhpe runs --kind robustness` and collect again"
        )
    require_finite(robustness, ("level", "mpjpe"), "fig6 results/robustness.csv")
    models = robustness[robustness["variant"].isin(ROBUSTNESS_VARIANTS)]
    settings = {(s.dataset, s.input_2d, s.frames) for s in map(parse_run_id, models["run"].unique())}
    baselines = {}  # run id -> baseline name: only those of the models' one setting
    if len(settings) == 1:
        dataset, input_2d, frames = next(iter(settings))
        baselines = {BaselineSpec(dataset, input_2d, frames if b.windowed else 1, name).id: name
                     for name, b in BASELINES.items()}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    for ax, (corruption, xlabel) in zip(axes, CORRUPTIONS):
        for variant in ROBUSTNESS_VARIANTS:
            rows = robustness[(robustness["variant"] == variant) & (robustness["corruption"] == corruption)]
            stats = _seed_stats(rows, ["level"])
            seeds = int(stats["n"].max())
            label = f"{VARIANT_NAMES[variant]} ({seeds} seed{'s' if seeds > 1 else ''})"
            ax.errorbar(stats["level"], stats["mean"], yerr=stats["sd"] if seeds > 1 else None, marker="o",
                        ms=4, capsize=3, color=COLORS[variant], label=label)
        for run_id, name in baselines.items():
            line = robustness[(robustness["run"] == run_id) & (robustness["corruption"] == corruption)]
            if len(line):
                line = line.sort_values("level")
                ax.plot(line["level"], line["mpjpe"], color="black", linewidth=1,
                        linestyle="--" if BASELINES[name].windowed else ":",
                        label=_baseline_label(name, frames))
        levels = sorted(models.loc[models["corruption"] == corruption, "level"].unique())
        if corruption == "gaussian":
            # σ spans 0 and 0.005 … 0.5: symlog keeps 0 on the axis and spreads the small levels.
            positive = [lv for lv in levels if lv > 0]
            ax.set_xscale("symlog", linthresh=min(positive) if positive else 1e-3)
        ax.set_xticks(levels)
        ax.set_xticklabels([f"{lv:g}" for lv in levels], fontsize=8)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel("MPJPE (mm)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{'Gaussian noise' if corruption == 'gaussian' else 'joint drop'}"
                     " (error bars: sd over seeds)", fontsize=10)
    fig.suptitle(f"Fig. 6: robustness to corrupted 2D input — {_describe_runs(models['run'], labels)}",
                 fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- entry point


def write_figures(results_dir: Path, out_dir: Path, subset: Sequence[str] | None = None,
                  data_label: str | dict[str, str] | None = None) -> list[Path]:
    """Write fig{3,5,6}.{png,pdf} under ``out_dir``; return the paths.

    Inputs of all requested figures are read and checked before any file is written.
    """
    names = list(subset) if subset else list(FIGURE_NAMES)
    unknown = [n for n in names if n not in FIGURE_NAMES]
    if unknown:
        raise ConfigError(f"unknown figure names {unknown}; choose from {list(FIGURE_NAMES)}")
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    inputs = {}
    metrics = None
    if "fig5" in names:
        inputs["steps"] = read_results(results_dir, "steps")
        # optional: the baseline rows for the reference line (tables need metrics.csv, figures do not)
        if (results_dir / "metrics.csv").is_file():
            metrics = read_results(results_dir, "metrics")
    if "fig6" in names:
        inputs["robustness"] = read_results(results_dir, "robustness")
    labels = data_source_labels(results_dir, inputs.values(), data_label)
    # Build every figure first, so a missing input leaves no partial set behind.
    figures = {}
    try:
        for name in names:
            if name == "fig3":
                figures[name] = fig3()
            elif name == "fig5":
                figures[name] = fig5(inputs["steps"], labels, metrics)
            else:
                figures[name] = fig6(inputs["robustness"], labels)
    except Exception:
        for fig in figures.values():
            plt.close(fig)
        raise
    return [path for name, fig in figures.items() for path in save_figure(fig, out_dir, name)]


__all__ = ["FIGURE_NAMES", "fig3", "fig5", "fig6", "lifter_reference", "save_figure", "write_figures"]
