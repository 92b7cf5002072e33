# What the rules share: the params file, the run ids of the study and the files they make.
# Everything is read from diff3dhpe itself, so dvc.yaml, the CLI and this workflow agree.
import json

from diff3dhpe.config import load_params
from diff3dhpe.report import FIGURE_FORMATS, FIGURE_NAMES, TABLE_FORMATS, TABLE_NAMES
from diff3dhpe.runs import parse_run_id, run_dir, run_result_path, runs_of_kind

PARAMS_FILE = config.get("params", "params.yaml")
PARAMS = load_params(PARAMS_FILE)
CLI = "diff3dhpe"
P = f"--params {PARAMS_FILE}"

RUNS = {kind: [run.id for run in runs_of_kind(PARAMS, kind)] for kind in ("train", "robustness", "steps")}
# results/<kind>.csv collects one per-run CSV for each run of a run kind.
RUN_KIND_OF_RESULT = {"metrics": "train", "robustness": "robustness", "steps": "steps"}
DATA_FILES = {
    dataset: [str(path) for path in PARAMS.data.files(dataset).values()]
    for dataset in sorted({parse_run_id(run).dataset for run in RUNS["train"]})
}

TABLE_FILES = expand("results/tables/{name}.{ext}", name=TABLE_NAMES, ext=TABLE_FORMATS)
FIGURE_FILES = expand("results/figures/{name}.{ext}", name=FIGURE_NAMES, ext=FIGURE_FORMATS)

wildcard_constraints:
    run=r"[a-z0-9]+-[a-z]+-f\d+-[a-z0-9-]+-s\d+",
    kind="metrics|robustness|steps",


def model_file(run):
    return str(run_dir("runs", run) / "model.pt")


def per_run_file(kind, run):
    return str(run_result_path("results", kind, run))


def settings(*sections):
    """The params.yaml sections a rule depends on, as text: Snakemake reruns the rule when they change."""
    dump = PARAMS.model_dump(mode="json")
    return json.dumps({name: dump[name] for name in sections}, sort_keys=True)
