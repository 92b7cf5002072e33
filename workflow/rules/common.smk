# What the rules share: the params file, the run ids of the study and the files they make.
# Everything is read from diff3dhpe itself, so dvc.yaml, the CLI and this workflow agree.
import json

from diff3dhpe.config import load_params
from diff3dhpe.report import FIGURE_FORMATS, FIGURE_NAMES, TABLE_FORMATS, TABLE_NAMES
from diff3dhpe.results import RESULT_KINDS, RUN_KIND_OF_RESULT, baselines_path, model_path, run_result_path
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

wildcard_constraints:
    run=RUN_ID_PATTERN,
    kind="|".join(RESULT_KINDS),


def model_file(run):
    return str(model_path("runs", run))


def per_run_file(kind, run):
    return str(run_result_path("results", kind, run))


def settings(*sections):
    """The params.yaml sections a rule depends on, as text: Snakemake reruns the rule when they change."""
    dump = PARAMS.model_dump(mode="json")
    return json.dumps({name: dump[name] for name in sections}, sort_keys=True)
