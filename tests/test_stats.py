"""t-tests against scipy and against the textbook formulas on hand-made numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from test_config import tiny_params

from diff3dhpe.config import parse_params
from diff3dhpe.errors import DataFormatError
from diff3dhpe.stats import TTEST_COLUMNS, ttest_table, two_sample_tests, welch_df

A = [45.0, 46.0, 44.5, 45.5, 47.0]
B = [42.0, 43.5, 41.0, 42.5]


def test_student_matches_hand_computation_and_scipy():
    student, welch = two_sample_tests(A, B)
    a, b = np.array(A), np.array(B)
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    t_hand = (a.mean() - b.mean()) / math.sqrt(pooled * (1 / len(a) + 1 / len(b)))
    assert student["test"] == "student" and student["df"] == 7
    assert student["t"] == pytest.approx(t_hand, rel=1e-12)
    assert student["p_value"] == pytest.approx(2 * scipy_stats.t.sf(abs(t_hand), 7), rel=1e-10)
    assert student["mean_a"] == pytest.approx(45.6) and student["sd_a"] == pytest.approx(a.std(ddof=1))
    assert (student["n_a"], student["n_b"]) == (5, 4)
    ref = scipy_stats.ttest_ind(A, B, equal_var=False)
    assert welch["t"] == pytest.approx(ref.statistic) and welch["p_value"] == pytest.approx(ref.pvalue)
    assert welch["df"] == pytest.approx(float(ref.df))


def test_welch_df_formula():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.5, 9.0, 4.0])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 4
    assert welch_df(a, b) == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 3))


def test_ttest_table_reads_average_rows_only():
    params = parse_params(tiny_params())
    rows = []
    for variant, values in (("mixste", A[:2]), ("diff3dhpe-m", B[:2])):
        for seed, value in enumerate(values):
            base = {
                "run": f"h36m-det-f9-{variant}-s{seed}",
                "dataset": "h36m",
                "variant": variant,
                "frames": 9,
                "input_2d": "det",
                "seed": seed,
            }
            rows.append({**base, "action": "Walking", "mpjpe": 999.0})  # per-action rows are ignored
            rows.append({**base, "action": "Average", "mpjpe": value})
    table = ttest_table(params, pd.DataFrame(rows))
    assert tuple(table.columns) == TTEST_COLUMNS
    assert list(table["test"]) == ["student", "welch"]
    ref = scipy_stats.ttest_ind(A[:2], B[:2])
    assert table.loc[0, "p_value"] == pytest.approx(ref.pvalue)
    assert table.loc[0, "comparison"] == "mixste-vs-diff3dhpe-m" and table.loc[0, "frames"] == 9


def test_too_few_seeds_is_a_clear_error():
    with pytest.raises(DataFormatError, match="at least 2 values"):
        two_sample_tests([1.0], [2.0, 3.0])
    params = parse_params(tiny_params())
    one_seed = pd.DataFrame(
        [
            {
                "variant": "mixste",
                "dataset": "h36m",
                "input_2d": "det",
                "frames": 9,
                "seed": 0,
                "action": "Average",
                "mpjpe": 1.0,
            }
        ]
    )
    with pytest.raises(DataFormatError, match="mixste at h36m/det/F=9 has 1 run"):
        ttest_table(params, one_seed)
