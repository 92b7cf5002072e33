"""Golden tests of the paper tables and figures on the hand-made fixture tests/fixtures/results_small.

The fixture numbers follow simple rules so cells can be checked by hand: in metrics.csv the
i-th action (paper order) of a run has MPJPE = base + i and P-MPJPE = base - 10 + i/2, and the
run's Average row is base + 7 / base - 6.5. Bases: MixSTE* F=27 det seeds 0/1: 50/52,
Diff3DHPE-M F=27 det seeds 0/1: 47/48 (S=5), MixSTE* F=81: 45, Diff3DHPE-M F=81: 43 (S=9).
MPI-INF-3DHP (Diff3DHPE-M F=27, seeds 0/1): Average rows MPJPE 60/62, All rows 58/61.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from diff3dhpe.data.skeleton import H36M_ACTIONS
from diff3dhpe.errors import ConfigError, DataFormatError
from diff3dhpe.report import FIGURE_NAMES, TABLE_FORMATS, TABLE_NAMES
from diff3dhpe.report.common import (
    MissingResultsError,
    data_source_labels,
    data_sources,
    format_mean_sd,
    format_p,
)
from diff3dhpe.report.figures import fig3, fig5, fig6, lifter_reference, write_figures
from diff3dhpe.report.paper import paper_results
from diff3dhpe.report.tables import Table, build_tables, to_html, to_latex, write_tables

FIXTURE = Path(__file__).parent / "fixtures" / "results_small"
SYNTHETIC = "ours (synthetic data (Human3.6M and MPI-INF-3DHP file formats))"


@pytest.fixture(scope="module")
def tables():
    return {table.name: table for table in build_tables(FIXTURE)}


@pytest.fixture
def results(tmp_path):
    """A writable copy of the fixture results folder."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "results"))


def rows_as_dicts(table):
    return [dict(zip(table.columns, row)) for row in table.rows]


def find(table, **match):
    found = [r for r in rows_as_dicts(table) if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, f"{match}: {len(found)} rows"
    return found[0]


def edit_csv(path: Path, keep) -> None:
    frame = pd.read_csv(path)
    frame[frame.apply(keep, axis=1)].to_csv(path, index=False)


# ----------------------------------------------------------------------------- formatting


def test_mean_sd_formatting():
    assert format_mean_sd(41.94, 0.61, 5) == "41.9 ± 0.6"
    assert format_mean_sd(41.94, float("nan"), 1) == "41.9"  # one seed: no sd
    assert format_p(8.1e-4) == "8.1e-04" and format_p(0.0887) == "0.089"


# ----------------------------------------------------------------------------- Table 1 / 2


def test_table1_columns_are_the_actions_in_paper_order_then_average(tables):
    columns = tables["table1"].columns
    assert columns[:6] == ["Protocol", "Source", "Method", "F", "S", "Seeds"]
    assert columns[6:] == [*H36M_ACTIONS, "Average"]


def test_table1_our_cells_are_means_over_seeds(tables):
    row = find(tables["table1"], Protocol="MPJPE (mm)", Source=SYNTHETIC, Method="MixSTE*", F="27")
    # seeds 0 and 1: Directions 50 and 52, WalkTogether 64 and 66, Average 57 and 59
    assert (row["Directions"], row["WalkTogether"], row["Average"]) == ("51.0", "65.0", "58.0")
    assert (row["S"], row["Seeds"]) == ("-", "2")
    row = find(tables["table1"], Protocol="P-MPJPE (mm)", Source=SYNTHETIC, Method="Diff3DHPE-M", F="27")
    # P-MPJPE base - 10 + i/2: Discussion (i=1) seeds 37.5 and 38.5; Average 40.5 and 41.5
    assert (row["Discussion"], row["Average"], row["S"]) == ("38.0", "41.0", "5")


def test_table1_paper_rows_keep_the_papers_F_and_numbers(tables):
    paper = "paper (Human3.6M)"
    row = find(tables["table1"], Protocol="MPJPE (mm)", Source=paper, Method="Diff3DHPE-M", F="81")
    assert (row["Directions"], row["Average"], row["S"]) == ("40.2", "42.0", "9")
    row = find(tables["table1"], Protocol="P-MPJPE (mm)", Source=paper, Method="MixSTE", F="243")
    published = paper_results("table1")
    expected = published[(published.method == "MixSTE") & (published.frames == 243)
                         & (published.metric == "p_mpjpe") & (published.action == "Photo")]["value"].item()
    assert row["Photo"] == f"{expected:.1f}"
    # the paper has no F=27 rows and we have no F=243 rows: never mixed
    sources = {(r["Source"], r["F"]) for r in rows_as_dicts(tables["table1"])}
    assert ("paper (Human3.6M)", "27") not in sources and (SYNTHETIC, "243") not in sources


def test_table1_row_order_paper_block_then_ours_by_F_then_method(tables):
    mpjpe = [r for r in rows_as_dicts(tables["table1"]) if r["Protocol"] == "MPJPE (mm)"]
    order = [(r["Source"].split(" ")[0], r["F"], r["Method"]) for r in mpjpe]
    ours = [o for o in order if o[0] == "ours"]
    assert ours == [("ours", "27", "MixSTE*"), ("ours", "27", "Diff3DHPE-M"),
                    ("ours", "81", "MixSTE*"), ("ours", "81", "Diff3DHPE-M")]
    assert order.index(ours[0]) > max(i for i, o in enumerate(order) if o[0] == "paper")
    assert [o[2] for o in order[:5]] == ["Chen et al.", "Poseformer", "MixSTE", "P-STMO", "Diff3DHPE-M"]


def test_table2_uses_gt_runs_only(tables):
    row = find(tables["table2"], Source=SYNTHETIC, Method="Diff3DHPE-M", F="27")
    assert (row["Directions"], row["Average"], row["Seeds"]) == ("28.0", "35.0", "1")
    assert {r["Protocol"] for r in rows_as_dicts(tables["table2"])} == {"MPJPE (mm)"}


# ----------------------------------------------------------------------------- Tables 3, 4, t-test


SEQUENCE_MEAN, ALL_FRAMES = "MPJPE, mean of sequences (mm)", "MPJPE, all frames (mm)"


def test_table3_pck_auc_mpjpe_mean_sd(tables):
    row = find(tables["table3"], Source=SYNTHETIC, Method="Diff3DHPE-M")
    assert (row["PCK (%)"], row["AUC (%)"], row[SEQUENCE_MEAN]) == ("89.0 ± 1.4", "54.0 ± 1.4", "61.0 ± 1.4")
    paper = find(tables["table3"], Source="paper (MPI-INF-3DHP)", Method="Diff3DHPE-M")
    assert (paper["F"], paper["S"], paper["PCK (%)"], paper[SEQUENCE_MEAN]) == ("27", "7", "99.1", "19.6")
    assert paper[ALL_FRAMES] == "-"  # the paper reports the release code's number only


def test_table3_reports_both_3dhp_mpjpes_each_from_its_own_row(tables):
    # Average rows (mean of sequence means) 60 / 62, All rows (frames pooled) 58 / 61
    row = find(tables["table3"], Source=SYNTHETIC, Method="Diff3DHPE-M")
    assert (row[SEQUENCE_MEAN], row[ALL_FRAMES]) == ("61.0 ± 1.4", "59.5 ± 2.1")
    notes = " ".join(tables["table3"].notes)
    assert "mean of the per-sequence means" in notes and "official MATLAB script's 'All' row" in notes


def test_table4_mean_sd_over_seeds_and_paper_sd_rows(tables):
    table4 = tables["table4"]
    row = find(table4, Source=SYNTHETIC, Method="MixSTE*", F="27", **{"2D input": "detected 2D"})
    # Average rows 57 / 59 -> 58.0 ± 1.4 (sd, ddof=1); P-MPJPE 43.5 / 45.5 -> 44.5 ± 1.4
    assert (row["MPJPE (mm)"], row["P-MPJPE (mm)"], row["Seeds"]) == ("58.0 ± 1.4", "44.5 ± 1.4", "2")
    row = find(table4, Source=SYNTHETIC, Method="DDIM-M", F="27")
    assert (row["MPJPE (mm)"], row["S"], row["Seeds"]) == ("56.0", "10", "1")
    paper = find(table4, Source="paper (Human3.6M)", Method="Diff3DHPE-M", F="81", Seeds="5")
    assert (paper["MPJPE (mm)"], paper["P-MPJPE (mm)"], paper["2D input"]) == ("41.9 ± 0.6", "32.6 ± 0.3",
                                                                              "detected 2D")
    pair = [r["Method"] for r in rows_as_dicts(table4)
            if r["Source"] == SYNTHETIC and r["Backbone"] == "PoseFormer"]
    assert pair == ["PoseFormer*", "Diff3DHPE-P"]


def test_ttest_table_student_then_welch_and_paper_p_values(tables):
    rows = [r for r in rows_as_dicts(tables["ttest"]) if r["Source"] == SYNTHETIC]
    assert [r["Test"] for r in rows] == ["student", "welch"]
    assert rows[0]["Comparison"] == "MixSTE* vs Diff3DHPE-M"
    assert (rows[0]["A (mm)"], rows[0]["B (mm)"], rows[0]["p"], rows[1]["df"]) == ("58.0 ± 1.4", "54.5 ± 0.7",
                                                                                   "0.089", "1.5")
    paper = find(tables["ttest"], Source="paper (Human3.6M)", F="243")
    assert paper["p"] == "2.5e-05"


# ----------------------------------------------------------------------------- written files


def latex_rows(tex: str) -> list[str]:
    body = tex.split(r"\toprule")[1].split(r"\bottomrule")[0]
    return [line for line in body.splitlines() if line.endswith(r"\\")]


class HtmlTableCells(HTMLParser):
    """The text of every <th> / <td> of an HTML page, row by row."""

    def __init__(self, page: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_cell = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self.rows[-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag):
        self.in_cell = self.in_cell and tag not in ("th", "td")

    def handle_data(self, data):
        if self.in_cell:
            self.rows[-1][-1] += data


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_written_tables_are_consistent_in_every_format(results, tmp_path, name):
    paths = write_tables(results, tmp_path / "tables", subset=[name])
    csv_path, md_path, tex_path, html_path = paths
    assert [p.name for p in paths] == [f"{name}.csv", f"{name}.md", f"{name}.tex", f"{name}.html"]
    with csv_path.open() as fh:
        rows = list(csv.reader(fh))
    width = len(rows[0])
    assert all(len(r) == width for r in rows) and len(rows) > 2
    md_lines = [line for line in md_path.read_text().splitlines() if line.startswith("|")]
    assert len(md_lines) == len(rows) + 1  # header, separator, rows
    assert all(line.replace("\\|", "").count("|") == width + 1 for line in md_lines)
    tex = tex_path.read_text()
    unescaped = re.sub(r"\\[{}&%$#_]", "", tex)
    assert unescaped.count("{") == unescaped.count("}")
    assert re.findall(r"\\begin\{(\w+)\}", tex) == re.findall(r"\\end\{(\w+)\}", tex)[::-1]
    tex_rows = latex_rows(tex)
    assert len(tex_rows) == len(rows)  # header + body
    assert all(len(re.findall(r"(?<!\\)&", r)) == width - 1 for r in tex_rows)
    assert "synthetic data" in md_path.read_text() and "synthetic data" in tex
    assert HtmlTableCells(html_path.read_text()).rows == rows  # the same cells, unescaped


def test_html_escapes_markup_characters(tables):
    table1 = tables["table1"]
    table = Table(table1.name, "a < b & c", table1.columns, [["<i>x</i>", *row[1:]] for row in table1.rows])
    page = to_html(table)
    assert "a &lt; b &amp; c" in page and "&lt;i&gt;x&lt;/i&gt;" in page and "<i>" not in page


def test_latex_escapes_special_characters(tables):
    tex = to_latex(tables["table1"])
    assert r"Protocol \#1" in tex and "Protocol #1" not in tex
    assert r"$\pm$" in to_latex(tables["table4"])


# ----------------------------------------------------------------------------- missing inputs


def test_missing_variant_is_named(results):
    edit_csv(results / "metrics.csv", lambda r: not (r["variant"] == "diff3dhpe-m" and r["frames"] == 81))
    with pytest.raises(MissingResultsError, match=r"diff3dhpe-m \(frames=81\)"):
        write_tables(results, results / "tables", subset=["table1"])


def test_missing_action_names_the_run(results):
    run = "h36m-det-f27-mixste-s1"
    edit_csv(results / "metrics.csv", lambda r: not (r["run"] == run and r["action"] == "Photo"))
    with pytest.raises(MissingResultsError, match=r"h36m-det-f27-mixste-s1.*Photo"):
        build_tables(results, subset=["table1"])


def test_missing_ddim_and_poseformer_are_named(results):
    edit_csv(results / "metrics.csv", lambda r: r["variant"] not in ("ddim-m", "diff3dhpe-p"))
    named = r"\['ddim-m \(any\)', 'diff3dhpe-p \(frames=27, input_2d=det\)'\]"
    with pytest.raises(MissingResultsError, match=named):
        build_tables(results, subset=["table4"])


def test_ttest_needs_student_and_welch(results):
    edit_csv(results / "ttest.csv", lambda r: r["test"] == "student")
    with pytest.raises(MissingResultsError, match=r"'student'.*'welch'.*frames=27"):
        build_tables(results, subset=["ttest"])


def test_missing_or_broken_csv_is_named_and_nothing_is_written(results):
    (results / "ttest.csv").unlink()
    out = results / "tables"
    with pytest.raises(MissingResultsError, match=r"ttest\.csv does not exist"):
        write_tables(results, out)
    assert not out.exists()  # no partial set of tables
    metrics = pd.read_csv(results / "metrics.csv")
    metrics.drop(columns=["p_mpjpe"]).to_csv(results / "metrics.csv", index=False)
    with pytest.raises(DataFormatError, match=r"lacks columns \['p_mpjpe'\]"):
        build_tables(results, subset=["table1"])
    with pytest.raises(ConfigError, match="unknown table names"):
        build_tables(results, subset=["table9"])


def test_repeated_rows_are_an_error(results):
    frame = pd.read_csv(results / "metrics.csv")
    pd.concat([frame, frame.iloc[:1]]).to_csv(results / "metrics.csv", index=False)
    with pytest.raises(DataFormatError, match=r"repeat the key \['run', 'action'\].*h36m-det-f27-mixste-s0"):
        build_tables(results, subset=["table1"])


def test_nan_metric_is_an_error(results):
    frame = pd.read_csv(results / "metrics.csv")
    frame.loc[frame["run"] == "h36m-det-f81-mixste-s0", "mpjpe"] = float("nan")
    frame.to_csv(results / "metrics.csv", index=False)
    with pytest.raises(DataFormatError, match=r"'mpjpe'.*h36m-det-f81-mixste-s0"):
        build_tables(results, subset=["table1"])


# ----------------------------------------------------------------------------- data source labels


def test_data_source_preference_column_then_provenance_then_argument(results):
    assert data_source_labels(results)["*"].startswith("synthetic data")
    (results / "provenance.json").unlink()
    assert data_source_labels(results, data_label="my label") == {"*": "my label"}
    column = pd.DataFrame({"dataset": ["h36m"], "data_source": ["real Human3.6M"]})
    assert data_source_labels(results, [column], data_label="x") == {"h36m": "real Human3.6M", "*": "x"}
    table = build_tables(results, subset=["table2"], data_label="my label")[0]
    assert any(r[1] == "ours (my label)" for r in table.rows)


def test_data_sources_name_each_dataset_from_provenance(results):
    assert set(data_sources(results).values()) == {"synthetic data (Human3.6M and MPI-INF-3DHP file formats)"}
    (results / "provenance.json").write_text(json.dumps({"h36m": "Human3.6M (user-supplied files)"}))
    assert data_sources(results) == {"h36m": "Human3.6M (user-supplied files)",
                                     "3dhp": "data source not recorded"}


# ----------------------------------------------------------------------------- figures


def test_fig3_plots_diffusion_loss_weight_both_forms():
    fig = fig3()
    paper, release = (line.get_ydata() for line in fig.axes[0].lines[:2])
    # METHOD.md §2: at t = 500 the two forms give 1.985 vs 1.691; both clamp at 3 for small t
    assert paper[500] == pytest.approx(1.985, abs=1e-3) and release[500] == pytest.approx(1.691, abs=1e-3)
    assert paper[0] == pytest.approx(3.0) and release[0] == pytest.approx(3.0)
    assert "T = 1000" in fig.axes[0].get_title()


def test_fig6_points_are_seed_means(results):
    frame = pd.read_csv(results / "robustness.csv")
    fig = fig6(frame, {"*": "synthetic"})
    gaussian = fig.axes[0]
    mixste = gaussian.containers[0].lines[0]  # errorbar container: data line first
    # MixSTE* seeds 0/1 at σ = 0: 57 and 59
    assert mixste.get_ydata()[0] == pytest.approx(58.0)
    assert "synthetic" in fig._suptitle.get_text() and "Human3.6M" in fig._suptitle.get_text()
    assert gaussian.get_ylabel() == "MPJPE (mm)"


def test_fig6_draws_the_baselines_on_the_same_corrupted_2d(results):
    frame = pd.read_csv(results / "robustness.csv")  # h36m det F = 27 models
    plain = fig6(frame, {"*": "synthetic"})
    assert not [line for line in plain.axes[0].get_lines() if line.get_color() == "black"]
    levels = sorted(frame.loc[frame["corruption"] == "gaussian", "level"].unique())
    baselines = (("baseline-h36m-det-f27-linear-lifter", "linear-lifter", lambda i: 60 + 50 * i),
                 ("baseline-h36m-det-f1-mean-pose", "mean-pose", lambda i: 200.0),
                 ("baseline-h36m-det-f9-linear-lifter", "linear-lifter", lambda i: 5.0),  # another F
                 ("baseline-h36m-gt-f27-linear-lifter", "linear-lifter", lambda i: 7.0))  # another input
    rows = [{"run": run, "variant": variant, "seed": None, "corruption": "gaussian", "level": level,
             "mpjpe": value(i), "p_mpjpe": value(i) - 10}
            for run, variant, value in baselines
            for i, level in reversed(list(enumerate(levels)))]  # written high level first: drawn sorted
    fig = fig6(pd.concat([frame, pd.DataFrame(rows)], ignore_index=True), {"*": "synthetic"})
    gaussian, dropout = fig.axes
    black = {line.get_label(): line for line in gaussian.get_lines() if line.get_color() == "black"}
    assert len(black) == 2  # the models' setting only: not the F = 9 or GT-2D rows
    lifter = black["linear lifter over F = 27 frames (no network)"]
    assert lifter.get_linestyle() == "--" and list(lifter.get_xdata()) == levels
    assert list(lifter.get_ydata()) == [60 + 50 * i for i in range(len(levels))]
    assert list(black["mean pose: ignores the 2D (no network)"].get_ydata()) == [200.0] * len(levels)
    assert not [line for line in dropout.get_lines() if line.get_color() == "black"]  # no dropout rows
    assert [t.get_text() for t in gaussian.get_xticklabels()] == [f"{lv:g}" for lv in levels]


def test_write_figures_makes_png_and_pdf_deterministically(results, tmp_path):
    paths = write_figures(results, tmp_path / "a")
    assert [p.name for p in paths] == [f"{n}.{e}" for n in FIGURE_NAMES for e in ("png", "pdf")]
    for path in paths:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG") if path.suffix == ".png" else head.startswith(b"%PDF")
        assert path.stat().st_size > 5000
    again = write_figures(results, tmp_path / "b", subset=["fig5"])
    assert again[1].read_bytes() == (tmp_path / "a" / "fig5.pdf").read_bytes()


def test_figure_with_missing_arm_is_an_error(results, tmp_path):
    edit_csv(results / "steps.csv", lambda r: str(r["pde"]) == "True")
    with pytest.raises(MissingResultsError, match="without PDE"):
        write_figures(results, tmp_path / "figs")
    assert not (tmp_path / "figs").exists()
    edit_csv(results / "robustness.csv", lambda r: r["corruption"] == "gaussian")
    with pytest.raises(MissingResultsError, match=r"mixste/dropout"):
        write_figures(results, tmp_path / "figs", subset=["fig6"])


# ----------------------------------------------------------------------------- baseline rows

# (run, dataset, variant, frames, input_2d, Average MPJPE); H36M actions at Average - 7 + i as in the fixture
BASELINE_AVERAGES = [
    ("baseline-h36m-det-f1-mean-pose", "h36m", "mean-pose", 1, "det", 200.0),
    ("baseline-h36m-det-f1-linear-lifter", "h36m", "linear-lifter", 1, "det", 70.0),
    ("baseline-h36m-det-f27-linear-lifter", "h36m", "linear-lifter", 27, "det", 54.0),
    ("baseline-h36m-det-f81-linear-lifter", "h36m", "linear-lifter", 81, "det", 56.0),
    ("baseline-h36m-gt-f1-mean-pose", "h36m", "mean-pose", 1, "gt", 150.0),
    ("baseline-h36m-gt-f1-linear-lifter", "h36m", "linear-lifter", 1, "gt", 30.0),
    ("baseline-3dhp-gt-f1-mean-pose", "3dhp", "mean-pose", 1, "gt", 150.0),
    ("baseline-3dhp-gt-f27-linear-lifter", "3dhp", "linear-lifter", 27, "gt", 80.0),
]


def add_baselines(results: Path) -> None:
    """Append crafted baseline rows (as `diff3dhpe baselines` + collect write them) to metrics.csv."""
    rows = []
    for run, dataset, variant, frames, input_2d, average in BASELINE_AVERAGES:
        ids = {"run": run, "dataset": dataset, "variant": variant, "frames": frames, "input_2d": input_2d}
        if dataset == "h36m":
            rows += [{**ids, "action": action, "frames_scored": 400, "mpjpe": average - 7 + i,
                      "p_mpjpe": average - 17 + i / 2} for i, action in enumerate(H36M_ACTIONS)]
            rows.append({**ids, "action": "Average", "frames_scored": 7050, "mpjpe": average,
                         "p_mpjpe": average - 13.5})
        else:
            pck = {"mean-pose": 20.0, "linear-lifter": 70.0}[variant]
            rows += [{**ids, "action": f"TS{k}", "frames_scored": 400, "mpjpe": average,
                      "p_mpjpe": average - 10, "pck": pck, "auc": pck / 2} for k in range(1, 7)]
            rows += [{**ids, "action": action, "frames_scored": 2929, "mpjpe": average - shift,
                      "p_mpjpe": average - 10, "pck": pck, "auc": pck / 2}
                     for action, shift in (("Average", 0.0), ("All", 1.0))]
    metrics = pd.read_csv(results / "metrics.csv")
    pd.concat([metrics, pd.DataFrame(rows)], ignore_index=True).to_csv(results / "metrics.csv", index=False)


@pytest.fixture
def baseline_tables(results):
    add_baselines(results)
    return {table.name: table for table in build_tables(results)}


def test_tables_1_and_2_have_a_labelled_baseline_block_per_metric(baseline_tables):
    table1 = baseline_tables["table1"]
    for protocol in ("MPJPE (mm)", "P-MPJPE (mm)"):
        methods = [(r["Method"], r["F"]) for r in rows_as_dicts(table1)
                   if r["Protocol"] == protocol and "no network" in r["Method"]]
        assert methods == [("Mean pose (no network)", "1"), ("Linear lifter (no network)", "1"),
                           ("Linear lifter (no network)", "27"), ("Linear lifter (no network)", "81")]
    row = find(table1, Protocol="MPJPE (mm)", Method="Linear lifter (no network)", F="27")
    assert (row["Source"], row["S"], row["Seeds"]) == (SYNTHETIC, "-", "-")
    assert (row["Directions"], row["Average"]) == ("47.0", "54.0")
    row = find(table1, Protocol="P-MPJPE (mm)", Method="Mean pose (no network)", F="1")
    assert row["Average"] == "186.5"
    # its own block, after our trained rows
    index = [r[2] for r in table1.rows].index("Mean pose (no network)")
    assert index in table1.block_starts and table1.rows[index - 1][1] == SYNTHETIC
    table2 = baseline_tables["table2"]
    assert [(r["Method"], r["Average"]) for r in rows_as_dicts(table2) if "no network" in r["Method"]] == [
        ("Mean pose (no network)", "150.0"), ("Linear lifter (no network)", "30.0")]


def test_the_beaten_by_note_compares_seed_means_with_the_best_baseline(baseline_tables):
    # detected 2D: the best baseline is the F=27 lifter (54.0); seed means MixSTE* F=27 58.0, Diff3DHPE-M
    # F=27 54.5 (both worse), MixSTE* F=81 52.0, Diff3DHPE-M F=81 50.0 (both better)
    assert ("Best baseline: Linear lifter F=27, 54.0 mm MPJPE (Average); beaten by: MixSTE* (F=81): 52.0 mm, "
            "Diff3DHPE-M (F=81, S=9): 50.0 mm; not beaten by: MixSTE* (F=27): 58.0 mm, Diff3DHPE-M (F=27, "
            "S=5): 54.5 mm.") in baseline_tables["table1"].notes
    # GT 2D: the per-frame lifter (30.0) beats both trained models (37.0, 35.0)
    assert ("Best baseline: Linear lifter F=1, 30.0 mm MPJPE (Average); beaten by: none; not beaten by: "
            "MixSTE* (F=27): 37.0 mm, Diff3DHPE-M (F=27, S=5): 35.0 mm.") in baseline_tables["table2"].notes
    assert ("Best baseline: Linear lifter F=27, 80.0 mm MPJPE (Average); beaten by: Diff3DHPE-M (F=27, S=7): "
            "61.0 mm; not beaten by: none.") in baseline_tables["table3"].notes
    notes = baseline_tables["table4"].notes
    det = next(n for n in notes if n.startswith("Best baseline (detected 2D)"))
    assert det.endswith("not beaten by: MixSTE* (F=27): 58.0 mm, Diff3DHPE-M (F=27, S=5): 54.5 mm, "
                        "DDIM-M (F=27, S=10): 56.0 mm, PoseFormer* (F=27): 62.0 mm, "
                        "Diff3DHPE-P (F=27, S=5): 61.0 mm.")
    assert any(n.startswith("Best baseline (GT 2D): Linear lifter F=1, 30.0 mm") for n in notes)


def test_tables_3_and_4_show_baselines_as_labelled_rows(baseline_tables):
    row = find(baseline_tables["table3"], Method="Linear lifter (no network)")
    assert (row["F"], row["S"], row["Seeds"], row["PCK (%)"], row["AUC (%)"]) == ("27", "-", "-", "70.0",
                                                                                   "35.0")
    assert (row[SEQUENCE_MEAN], row[ALL_FRAMES]) == ("80.0", "79.0")
    ours = find(baseline_tables["table3"], Source=SYNTHETIC, Method="Diff3DHPE-M")  # not mixed with them
    assert ours[SEQUENCE_MEAN] == "61.0 ± 1.4"
    row = find(baseline_tables["table4"], Method="Linear lifter (no network)", F="81")
    assert (row["2D input"], row["Backbone"], row["MPJPE (mm)"], row["P-MPJPE (mm)"]) == (
        "detected 2D", "-", "56.0", "42.5")
    assert len([r for r in rows_as_dicts(baseline_tables["table4"]) if "no network" in r["Method"]]) == 6


def test_tables_with_baselines_are_written_in_every_format(results, tmp_path):
    add_baselines(results)
    paths = write_tables(results, tmp_path / "tables")
    assert "Linear lifter (no network)" in (tmp_path / "tables" / "table1.tex").read_text()
    assert len(paths) == len(TABLE_FORMATS) * len(TABLE_NAMES)


def test_tables_without_baseline_rows_have_no_baseline_block_or_note(tables):
    for name in ("table1", "table2", "table3", "table4"):
        assert not any("no network" in cell for row in tables[name].rows for cell in row)
        assert not any("baseline" in note.lower() and "no network" in note for note in tables[name].notes)
        assert not any(note.startswith("Best baseline") for note in tables[name].notes)


def test_fig5_marks_the_linear_lifter_of_the_sweeps_setting(results):
    steps = pd.read_csv(results / "steps.csv")  # h36m det F = 27 runs
    assert lifter_reference(None, steps["run"]) is None
    assert lifter_reference(pd.read_csv(results / "metrics.csv"), steps["run"]) is None  # no baselines yet
    add_baselines(results)
    metrics = pd.read_csv(results / "metrics.csv")
    value, label = lifter_reference(metrics, steps["run"])
    assert value == 54.0 and "F = 27" in label  # the F = 27 lifter, not the F = 1 (70) or F = 81 (56) one
    lines = [line for line in fig5(steps, {"*": "synthetic"}, metrics).axes[0].get_lines()
             if line.get_label() == label]
    assert len(lines) == 1 and list(lines[0].get_ydata()) == [54.0, 54.0]
    mixed = pd.Series(["h36m-det-f27-diff3dhpe-m-s0", "h36m-gt-f27-diff3dhpe-m-s0"])
    assert lifter_reference(metrics, mixed) is None  # two settings: no single reference
