# What the rules share: the params file, the run ids of the study and the files they make.
# Everything is read from diff3dhpe itself, so dvc.yaml, the CLI and this workflow agree.
import json
from pathlib import Path

from diff3dhpe.config import ROBUSTNESS_BASELINE_KEYS, load_params
from diff3dhpe.report import FIGURE_FORMATS, FIGURE_NAMES, PAPER_NAMES, TABLE_FORMATS, TABLE_NAMES
from diff3dhpe.report.common import data_sources
from diff3dhpe.results import (
    BASELINES_FILES,
    RESULT_KINDS,
    RUN_KIND_OF_RESULT,
    baselines_path,
    model_path,
    run_result_path,
)
from diff3dhpe.variants import RUN_ID_PATTERN, RUN_KINDS, parse_run_id

PARAMS_FILE = config.get("params", "params.yaml")
PARAMS = load_params(PARAMS_FILE)
CLI = "diff3dhpe"
P = f"--params {PARAMS_FILE}"

RUNS = {kind: [run.id for run in PARAMS.runs(kind)] for kind in RUN_KINDS}
DATA_FILES = {
    dataset: [str(path) for path in PARAMS.data.files(dataset).values()]
    for dataset in sorted({parse_run_id(run).dataset for run in RUNS["train"]})
}

TABLE_FILES = expand("results/tables/{name}.{ext}", name=TABLE_NAMES, ext=TABLE_FORMATS)
FIGURE_FILES = expand("results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=FIGURE_FORMATS)

# What the captions of `snakemake --report` (workflow/report/*.rst) say about the data: each dataset's
# source as `diff3dhpe prepare` recorded it in results/provenance.json (read when the workflow loads,
# so when the report is built), and the dataset of each sweep (Figs. 5 and 6). Not settings.
config["data_source"] = data_sources("results")
config["sweep_dataset"] = {
    "steps": PARAMS.sweeps.steps.dataset,
    "robustness": PARAMS.sweeps.robustness.dataset,
}

wildcard_constraints:
    run=RUN_ID_PATTERN,
    kind="|".join(RESULT_KINDS),


def model_file(run):
    return str(model_path("runs", run))


def per_run_file(kind, run):
    return str(run_result_path("results", kind, run))


def settings(*keys):
    """The params.yaml sections (or dotted keys, as in dvc.yaml: sweeps.robustness.frames) a rule
    depends on, as text: Snakemake reruns the rule when they change."""
    dump = PARAMS.model_dump(mode="json")

    def value(key):
        node = dump
        for part in key.split("."):
            node = node[part]
        return node

    return json.dumps({key: value(key) for key in keys}, sort_keys=True)


def marked_for_report(files, shown, category):
    """``files`` with the ``shown`` version (e.g. html, png) of each table / figure marked for
    `snakemake --report`: under ``category``, a subcategory per paper item, caption workflow/report/<name>.rst.
    (No line here may start with `report(`: Snakemake would read it as the `report:` directive.)"""
    def mark(f):
        name = Path(f).stem
        return report(f, caption=f"../report/{name}.rst", category=category, subcategory=PAPER_NAMES[name])

    return [mark(f) if f.endswith(f".{shown}") else f for f in files]
