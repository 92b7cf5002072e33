"""Tables and figures of the paper, built from results/*.csv only (see tables.py, figures.py).

The names live here, light to import, so the Snakefile can list the outputs without loading
matplotlib or torch.
"""

TABLE_NAMES = ("table1", "table2", "table3", "table4", "ttest")
FIGURE_NAMES = ("fig3", "fig5", "fig6")
TABLE_FORMATS = ("csv", "md", "tex")
FIGURE_FORMATS = ("png", "pdf")
