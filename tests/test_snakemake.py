"""The Snakemake workflow: runs come from diff3dhpe, `tables figures` build from results/*.csv only,
`--report` bundles them into one HTML file with captions naming the data.

The SLURM end-to-end run is in test_slurm.py (slow).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from diff3dhpe.config import load_params
from diff3dhpe.report import FIGURE_FORMATS, FIGURE_NAMES, PAPER_NAMES, TABLE_FORMATS, TABLE_NAMES
from diff3dhpe.report.figures import write_figures
from diff3dhpe.report.tables import write_tables

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "results_small"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env_bin = str(Path(sys.executable).parent)  # `diff3dhpe` lives beside this python
    return subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True, timeout=300,
        env={"PATH": f"{env_bin}:/usr/bin:/bin", "MPLBACKEND": "Agg", "HOME": str(workdir),
             "PYTHONPATH": str(REPO)},  # the jobs' `diff3dhpe` is this checkout's, as the Snakefile's is
    )


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table Snakemake prints: rule -> job count."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    return tmp_path


def test_dry_run_schedules_one_job_per_run_from_params(workdir):
    result = snakemake(workdir, "--dry-run", "--forceall", "all")
    assert result.returncode == 0, result.stderr
    params = load_params(workdir / "params.yaml")
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == counts["evaluate"] == len(params.runs("train"))
    assert counts["robustness"] == len(params.runs("robustness"))
    assert counts["steps"] == len(params.runs("steps"))
    assert counts["collect"] == 3
    assert counts["ttest"] == counts["report_tables"] == counts["report_figures"] == 1


def test_other_params_file_through_config(workdir):
    text = (workdir / "params.yaml").read_text()
    (workdir / "other.yaml").write_text(text.replace("seeds: [0, 1, 2, 3, 4]", "seeds: [0, 1, 2]"))
    result = snakemake(workdir, "all", "--dry-run", "--forceall", "--config", "params=other.yaml")
    assert result.returncode == 0, result.stderr
    expected = len(load_params(workdir / "other.yaml").runs("train"))
    assert job_counts(result.stdout + result.stderr)["train"] == expected
    assert expected < len(load_params(workdir / "params.yaml").runs("train"))


def test_tables_and_figures_from_results_only_then_nothing_to_do(workdir):
    shutil.copytree(FIXTURE, workdir / "results")  # results/*.csv only: no runs/, no per-run CSVs
    first = snakemake(workdir, "--cores", "1", "tables", "figures")
    assert first.returncode == 0, first.stderr[-3000:]
    jobs = set(job_counts(first.stderr + first.stdout))
    assert jobs == {"report_tables", "report_figures", "tables", "figures"}  # nothing upstream
    for name in TABLE_NAMES:
        for ext in TABLE_FORMATS:
            assert (workdir / "results" / "tables" / f"{name}.{ext}").stat().st_size > 0
    for name in FIGURE_NAMES:
        for ext in FIGURE_FORMATS:
            assert (workdir / "results" / "figures" / f"{name}.{ext}").stat().st_size > 0
    second = snakemake(workdir, "--cores", "1", "tables", "figures")
    assert second.returncode == 0, second.stderr
    assert "Nothing to be done" in second.stdout + second.stderr


# Which dataset's numbers each table shows, as in the paper (Fig. 3 shows none; Figs. 5, 6: their sweep's).
TABLE_DATASET = {"table1": "h36m", "table2": "h36m", "table3": "3dhp", "table4": "h36m", "ttest": "h36m"}
PROVENANCE = {"h36m": "Human3.6M (user-supplied files)",
              "3dhp": "synthetic data (MPI-INF-3DHP format, seed 7)"}


def report_data(page: str, name: str):
    """The JSON of `var <name> = ...;` in a Snakemake HTML report."""
    script = re.search(rf'<script id="{name}"[^>]*>\s*var \w+ = (.*?);?\s*</script>', page, re.S)
    return json.loads(script[1])


def results_with_provenance(workdir: Path) -> Path:
    results = Path(shutil.copytree(FIXTURE, workdir / "results"))
    (results / "provenance.json").write_text(json.dumps(PROVENANCE))
    return results


def test_report_bundles_each_table_and_figure_with_a_caption_naming_the_data(workdir):
    results = results_with_provenance(workdir)
    # as a checkout or `dvc repro` leaves them: the files, but no Snakemake metadata
    write_tables(results, results / "tables")
    write_figures(results, results / "figures")
    run = snakemake(workdir, "--report", "results/report.html", "tables", "figures")
    assert run.returncode == 0, run.stderr[-3000:]
    page = (workdir / "results" / "report.html").read_text()
    sweeps = load_params(workdir / "params.yaml").sweeps
    dataset_shown = {**TABLE_DATASET, "fig3": None, "fig5": sweeps.steps.dataset,
                     "fig6": sweeps.robustness.dataset}
    shown = report_data(page, "results")
    assert sorted(shown) == sorted([f"results/tables/{name}.html" for name in TABLE_NAMES]
                                   + [f"results/figures/{name}.png" for name in FIGURE_NAMES])
    for path, entry in shown.items():
        name = Path(path).stem
        assert PAPER_NAMES[name] in entry["caption"], path
        for dataset, source in PROVENANCE.items():
            assert (source in entry["caption"]) == (dataset == dataset_shown[name]), (path, dataset)
    assert report_data(page, "categories")["Tables"]["Table 1"] == ["results/tables/table1.html"]
    description = report_data(page, "workflow-desc")
    assert all(source in description for source in PROVENANCE.values())


@pytest.mark.slow
def test_report_after_run_builds_tables_and_figures_then_the_report_with_their_jobs(workdir):
    results_with_provenance(workdir)
    run = snakemake(workdir, "--cores", "1", "--report-after-run", "--report", "results/report.html",
                    "tables", "figures")
    assert run.returncode == 0, run.stderr[-3000:]
    page = (workdir / "results" / "report.html").read_text()
    assert len(report_data(page, "results")) == len(TABLE_NAMES) + len(FIGURE_NAMES)
    timed = {job["rule"] for job in report_data(page, "runtimes")["data"]["values"]}
    assert {"report_tables", "report_figures"} <= timed  # Snakemake ran them, so it has their metadata


def resources_by_rule(output: str) -> dict[str, dict[str, str]]:
    """rule -> its resources (last job of that rule) from a dry run's job listing."""
    found = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:)", output, flags=re.M):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and resources:
            found[rule[1]] = dict(item.split("=", 1) for item in resources[1].split(", "))
    return found


def test_slurm_profile_reads_site_settings_from_environment(workdir, monkeypatch):
    site = {"DIFF3DHPE_SLURM_GPUS": "2", "DIFF3DHPE_SLURM_PARTITION": "cpuq",
            "DIFF3DHPE_SLURM_GPU_PARTITION": "gpuq", "DIFF3DHPE_SLURM_ACCOUNT": "proj"}
    for key, value in site.items():
        monkeypatch.setenv(key, value)
    profile = str(REPO / "workflow" / "profiles" / "slurm")
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--profile", profile, "--dry-run", "--forceall",
         "results/metrics.csv"], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    resources = resources_by_rule(result.stdout + result.stderr)
    train, prepare = resources["train"], resources["prepare"]
    assert (train["gres"], train["slurm_partition"], train["slurm_account"]) == ("gpu:2", "gpuq", "proj")
    assert (train["runtime"], train["cpus_per_task"], train["mem_mb"]) == ("2880", "8", "64000")
    assert "gres" not in prepare and prepare["slurm_partition"] == "cpuq"

    monkeypatch.setenv("DIFF3DHPE_SLURM_GPUS", "0")
    monkeypatch.setenv("DIFF3DHPE_SLURM_MAX_CPUS", "1")
    monkeypatch.setenv("DIFF3DHPE_SLURM_MAX_MEM_MB", "2000")
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--profile", profile, "--dry-run", "--forceall",
         "results/metrics.csv"], capture_output=True, text=True, timeout=300,
    )
    train = resources_by_rule(result.stdout + result.stderr)["train"]
    assert "gres" not in train and (train["cpus_per_task"], train["mem_mb"]) == ("1", "2000")
