"""`diff3dhpe report curves`: validation curves from the dvclive logs, and how flat their tails are."""

from pathlib import Path

import pandas as pd
import pytest

from diff3dhpe.cli import main
from diff3dhpe.errors import DataFormatError
from diff3dhpe.report.common import MissingResultsError
from diff3dhpe.report.curves import curve_summary, curves_figure, read_curves
from diff3dhpe.results import training_curves_dir


def write_curve(results: Path, run_id: str, values: dict[int, float]) -> Path:
    """A val_mpjpe.tsv as dvclive writes it: step (epoch from 0) <TAB> val_mpjpe (mm)."""
    path = training_curves_dir(results, run_id) / "plots" / "metrics" / "val_mpjpe.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("step\tval_mpjpe\n" + "".join(f"{k}\t{v}\n" for k, v in values.items()))
    return path


def test_summary_gives_first_final_best_and_the_change_over_the_last_fifth(tmp_path):
    # validated every 10 epochs over 100 epochs: steps 9, 19, ..., 99; 80 % of the way is step 79.2
    falling = {9 + 10 * i: 300.0 - 20 * i for i in range(10)}  # 300, 280, ..., 120
    write_curve(tmp_path, "h36m-det-f9-mixste-s0", falling)
    flat = {9 + 10 * i: 100.0 for i in range(10)} | {99: 101.0}
    write_curve(tmp_path, "h36m-det-f9-diff3dhpe-m-s0", flat)
    write_curve(tmp_path, "not-a-run-id", {0: 1.0})  # an ablation-style folder: skipped
    curves = read_curves(tmp_path)
    assert list(curves) == ["h36m-det-f9-diff3dhpe-m-s0", "h36m-det-f9-mixste-s0"]
    summary = curve_summary(curves).set_index("run")
    mixste = summary.loc["h36m-det-f9-mixste-s0"]
    assert (mixste["variant"], mixste["epochs"], mixste["validations"]) == ("mixste", 100, 10)
    assert (mixste["first"], mixste["final"], mixste["best"]) == (300.0, 120.0, 120.0)
    assert mixste["tail_change"] == pytest.approx(120.0 - 160.0)  # step 79 holds 160: still falling
    assert summary.loc["h36m-det-f9-diff3dhpe-m-s0", "tail_change"] == pytest.approx(1.0)


def test_tail_change_needs_a_validation_before_the_last_fifth_and_keeps_diverged_runs(tmp_path):
    write_curve(tmp_path, "h36m-det-f9-mixste-s0", {4: 300.0, 9: 200.0})  # every 5 of 10 epochs
    write_curve(tmp_path, "h36m-det-f9-mixste-s1", {9: 200.0})  # one validation: nothing to compare
    write_curve(tmp_path, "h36m-det-f9-mixste-s2", {0: 300.0, 1: "nan"})  # diverged: kept, not an error
    summary = curve_summary(read_curves(tmp_path)).set_index("run")["tail_change"]
    assert summary["h36m-det-f9-mixste-s0"] == pytest.approx(-100.0)  # step 4 <= 0.8 · 9, not "0 = flat"
    assert pd.isna(summary["h36m-det-f9-mixste-s1"]) and pd.isna(summary["h36m-det-f9-mixste-s2"])


def test_figure_has_a_panel_per_setting_and_a_line_per_run(tmp_path):
    for run_id in ("h36m-det-f9-mixste-s0", "h36m-det-f9-mixste-s1", "3dhp-gt-f27-diff3dhpe-m-s0"):
        write_curve(tmp_path, run_id, {0: 200.0, 1: 150.0, 2: 140.0})
    fig = curves_figure(read_curves(tmp_path))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in visible) == ["Human3.6M, detected 2D, F = 9",
                                                       "MPI-INF-3DHP, GT 2D, F = 27"]
    h36m = next(ax for ax in visible if ax.get_title().startswith("Human3.6M"))
    assert len(h36m.get_lines()) == 2 and list(h36m.get_lines()[0].get_xdata()) == [1, 2, 3]  # epochs from 1
    assert [t.get_text() for t in h36m.get_legend().get_texts()] == ["MixSTE*"]  # one entry per variant


def test_cli_writes_csv_and_figures_and_refuses_bad_or_missing_curves(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["report", "curves", "--results", str(results)]) == 2
    assert "no validation curves" in capsys.readouterr().err
    write_curve(results, "h36m-det-f9-mixste-s0", {0: 200.0, 1: 150.0})
    assert main(["report", "curves", "--results", str(results)]) == 0
    out = results / "figures"
    assert sorted(p.name for p in out.iterdir()) == ["curves.csv", "curves.pdf", "curves.png"]
    assert pd.read_csv(out / "curves.csv")["final"].tolist() == [150.0]
    bad = write_curve(results, "h36m-det-f9-mixste-s1", {0: 100.0, 1: "oops"})
    with pytest.raises(DataFormatError, match=r"h36m-det-f9-mixste-s1.*data row 2 is not <whole epoch step>"):
        read_curves(results)
    bad.write_text("step\tval_mpjpe\n0.5\t100.0\n")
    with pytest.raises(DataFormatError, match="data row 1"):
        read_curves(results)
    bad.write_text("epoch\tloss\n0\t1.0\n")
    before = (out / "curves.csv").read_bytes()
    assert main(["report", "curves", "--results", str(results)]) == 2
    assert "expected columns ['step', 'val_mpjpe']" in capsys.readouterr().err
    assert (out / "curves.csv").read_bytes() == before  # nothing half-written
    with pytest.raises(MissingResultsError):
        read_curves(tmp_path / "empty")
