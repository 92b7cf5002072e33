"""benchmarks/run.py: the one-command benchmark writes a complete, sane CSV (slow: about a minute)."""

from __future__ import annotations

import csv
import math

import pytest

from benchmarks.run import COLUMNS, cpu_name, format_table, main


def test_cpu_name_is_a_model_name_not_empty():
    assert cpu_name().strip()


def test_table_formats_missing_cells_as_blank_and_ratios_as_percent():
    row = dict.fromkeys(COLUMNS, "")
    row.update(benchmark="train_step", frames=81, batch=2, seconds=2.5, throughput=0.8, unit="clips/s",
               roofline_ratio=0.904)
    header, rule, line = format_table([row]).splitlines()
    assert header.startswith("benchmark") and set(rule) == {"-"}
    assert "90%" in line and "0.8" in line and "nan" not in line


@pytest.mark.slow
def test_quick_benchmark_writes_every_case_with_ratios_below_the_roofline(tmp_path):
    out = tmp_path / "bench.csv"
    main(["--quick", "--out", str(out)])
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == COLUMNS
    kinds = [r["benchmark"] for r in rows]
    assert kinds.count("train_step") == 2 and kinds.count("sampling_flip") == 4
    assert {"gemm_square", "gemm_model", "gemm_model_sustained", "sampling_call", "loader",
            "metric_p_mpjpe"} <= set(kinds)
    for r in rows:
        if r["roofline_ratio"]:
            assert 0.05 < float(r["roofline_ratio"]) < 1.2, r  # matmul FLOPs cannot beat the GEMM by much
        assert math.isfinite(float(r["throughput"])) and float(r["throughput"]) > 0
    steps = {int(r["steps"]): float(r["seconds"]) for r in rows if r["benchmark"] == "sampling_flip"}
    assert steps[20] > steps[5] > steps[1]  # cost grows with S
