# Tables and figures from results/*.csv only (diff3dhpe.report). With results/*.csv present
# (e.g. after `dvc repro`), `snakemake tables figures` runs only these two rules. They also read
# results/provenance.json (written by prepare: which data the numbers came from) when it exists,
# and figures read the baseline rows of results/metrics.csv for Fig. 5's reference line when it
# exists; neither is declared as an input of the figures, so steps.csv and robustness.csv suffice
# (Fig. 6's baseline lines are rows of robustness.csv).
#
# `snakemake --report results/report.html tables figures` bundles the HTML version of each table
# and the PNG of each figure into one file, with the captions in workflow/report/.


rule report_tables:
    input:
        "results/metrics.csv",
        "results/ttest.csv",
    output:
        marked_for_report(TABLE_FILES, "html", "Tables"),
    log:
        "logs/report/tables.log",
    shell:
        "{CLI} report tables {P} --results results --out results/tables > {log} 2>&1"


rule report_figures:
    input:
        "results/steps.csv",
        "results/robustness.csv",
    output:
        marked_for_report(FIGURE_FILES, "png", "Figures"),
    log:
        "logs/report/figures.log",
    shell:
        "{CLI} report figures {P} --results results --out results/figures > {log} 2>&1"
