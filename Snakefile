# Snakemake declaration of the study: the same stages as dvc.yaml, each one `diff3dhpe` command.
#
#   snakemake --profile workflow/profiles/default tables figures   # from results/*.csv only
#   snakemake --profile workflow/profiles/default all              # the whole study, locally
#   snakemake --profile workflow/profiles/slurm all                # the whole study on SLURM
#   snakemake ... --config params=configs/paper.yaml               # another params file
#   snakemake --report results/report.html tables figures          # tables and figures in one HTML file
#
# The run list comes from diff3dhpe's own Python API (workflow/rules/common.smk); there is no
# other logic here. See workflow/README.md.

report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/report.smk"

localrules: all, tables, figures, collect, ttest, report_tables, report_figures


rule all:
    input:
        TABLE_FILES,
        FIGURE_FILES,


rule tables:
    input:
        TABLE_FILES,


rule figures:
    input:
        FIGURE_FILES,
