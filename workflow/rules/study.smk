# Rules that PRODUCE results/*.csv with the pipeline CLI: prepare -> baselines, train (one job per
# run) -> evaluate / robustness / steps (per run) -> collect -> ttest. Outputs are the files dvc.yaml
# declares, so Snakemake and `dvc repro` make the same files.
#
# Inputs made by an earlier stage are ancient(): a file checked out by DVC (new mtime) does not
# rerun the study; a missing output, a forced rerun (-R) or a change of the params sections named
# in `params:` does, and flows downstream.


rule prepare:
    output:
        [path for files in DATA_FILES.values() for path in files],
        "results/provenance.json",
    params:
        settings=settings("data"),
    log:
        "logs/prepare.log",
    shell:
        "{CLI} prepare {P} > {log} 2>&1"


rule train:
    input:
        lambda w: ancient(DATA_FILES[parse_run_id(w.run).dataset]),
    output:
        model_file("{run}"),
    params:
        settings=lambda w: PARAMS.run_digest(parse_run_id(w.run)),
    log:
        "logs/train/{run}.log",
    shell:
        "{CLI} train {P} --run {wildcards.run} > {log} 2>&1"


rule evaluate:
    input:
        ancient(model_file("{run}")),
    output:
        per_run_file("metrics", "{run}"),
    params:
        settings=settings("evaluate", "diffusion"),
    log:
        "logs/evaluate/{run}.log",
    shell:
        "{CLI} evaluate {P} --run {wildcards.run} > {log} 2>&1"


rule robustness:
    input:
        ancient(model_file("{run}")),
    output:
        per_run_file("robustness", "{run}"),
    params:
        settings=settings("evaluate", "diffusion", "sweeps"),
    log:
        "logs/robustness/{run}.log",
    shell:
        "{CLI} robustness {P} --run {wildcards.run} > {log} 2>&1"


rule steps:
    input:
        ancient(model_file("{run}")),
    output:
        per_run_file("steps", "{run}"),
    params:
        settings=settings("evaluate", "diffusion", "sweeps"),
    log:
        "logs/steps/{run}.log",
    shell:
        "{CLI} steps {P} --run {wildcards.run} > {log} 2>&1"


rule baselines:
    input:
        ancient([path for files in DATA_FILES.values() for path in files]),
    output:
        str(baselines_path("results", "metrics")),
        str(baselines_path("results", "robustness")),
    params:
        settings=settings("data", "experiments",
                          *(f"sweeps.robustness.{key}" for key in ROBUSTNESS_BASELINE_KEYS)),
    log:
        "logs/baselines.log",
    shell:
        "{CLI} baselines {P} > {log} 2>&1"


rule collect:
    input:
        lambda w: ancient([per_run_file(w.kind, run) for run in RUNS[RUN_KIND_OF_RESULT[w.kind]]]
                          + ([str(baselines_path("results", w.kind))] if w.kind in BASELINES_FILES else [])),
    output:
        "results/{kind}.csv",
    log:
        "logs/collect/{kind}.log",
    shell:
        "{CLI} collect {P} --kind {wildcards.kind} > {log} 2>&1"


rule ttest:
    input:
        ancient("results/metrics.csv"),
    output:
        "results/ttest.csv",
    params:
        settings=settings("stats"),
    log:
        "logs/ttest.log",
    shell:
        "{CLI} ttest {P} > {log} 2>&1"
