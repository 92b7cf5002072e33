"""Two-sample t-tests over seeds (EXPERIMENTS.md §2): Student's (equal variances, the paper's) and Welch's."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from diff3dhpe.config import Params
from diff3dhpe.errors import DataFormatError
from diff3dhpe.results import AVERAGE

TTEST_COLUMNS = (
    "comparison",
    "frames",
    "input_2d",
    "metric",
    "n_a",
    "mean_a",
    "sd_a",
    "n_b",
    "mean_b",
    "sd_b",
    "t",
    "df",
    "p_value",
    "test",
)


def welch_df(a: np.ndarray, b: np.ndarray) -> float:
    """Welch–Satterthwaite degrees of freedom."""
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    return float((va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)))


def two_sample_tests(a, b) -> list[dict]:
    """Student and Welch t-tests of a vs b (two-sided); t > 0 when mean(a) > mean(b)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise DataFormatError(f"a t-test needs at least 2 values per side, got {len(a)} and {len(b)}")
    summary = {
        "n_a": len(a),
        "mean_a": a.mean(),
        "sd_a": a.std(ddof=1),
        "n_b": len(b),
        "mean_b": b.mean(),
        "sd_b": b.std(ddof=1),
    }
    rows = []
    for test, equal_var, df in (("student", True, len(a) + len(b) - 2.0), ("welch", False, welch_df(a, b))):
        result = scipy_stats.ttest_ind(a, b, equal_var=equal_var)
        rows.append(
            {**summary, "t": float(result.statistic), "df": df, "p_value": float(result.pvalue), "test": test}
        )
    return rows


def ttest_table(params: Params, metrics: pd.DataFrame) -> pd.DataFrame:
    """results/ttest.csv: per comparison × frames × metric, over the seeds' 'Average' rows."""
    average = metrics[metrics["action"] == AVERAGE]
    rows = []
    for comparison in params.stats.ttest:
        for frames in comparison.frames:
            for metric in comparison.metrics:
                sides = []
                for variant in (comparison.a, comparison.b):
                    sel = average[
                        (average["variant"] == variant)
                        & (average["dataset"] == comparison.dataset)
                        & (average["input_2d"] == comparison.input_2d)
                        & (average["frames"] == frames)
                    ]
                    if len(sel) < 2:
                        raise DataFormatError(
                            f"ttest {comparison.name}: {variant} at {comparison.dataset}/"
                            f"{comparison.input_2d}/F={frames} has {len(sel)} run(s) in metrics.csv; "
                            f"need >= 2 seeds "
                            f"(run `dvc repro` or `diff3dhpe collect --kind metrics`)"
                        )
                    sides.append(sel.sort_values("seed")[metric].to_numpy())
                for row in two_sample_tests(*sides):
                    rows.append(
                        {
                            "comparison": comparison.name,
                            "frames": frames,
                            "input_2d": comparison.input_2d,
                            "metric": metric,
                            **row,
                        }
                    )
    return pd.DataFrame(rows, columns=list(TTEST_COLUMNS))
