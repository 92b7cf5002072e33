"""Tables and figures of the paper, built from results/*.csv only (see tables.py, figures.py).

The names live here, light to import, so the Snakefile can list the outputs without loading
matplotlib or torch.
"""

TABLE_NAMES = ("table1", "table2", "table3", "table4", "ttest")
FIGURE_NAMES = ("fig3", "fig5", "fig6")
TABLE_FORMATS = ("csv", "md", "tex", "html")
FIGURE_FORMATS = ("png", "pdf")
# What each one is called in the paper (the headings of `snakemake --report`).
PAPER_NAMES = {"table1": "Table 1", "table2": "Table 2", "table3": "Table 3", "table4": "Table 4",
               "ttest": "t-tests", "fig3": "Fig. 3", "fig5": "Fig. 5", "fig6": "Fig. 6"}
