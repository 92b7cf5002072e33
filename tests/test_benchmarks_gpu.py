"""benchmarks/gpu.py: its cases run (on CPU here, with tiny sizes), failures become rows, MFU is right."""

from __future__ import annotations

import csv

import pytest
import torch

from benchmarks import gpu
from diff3dhpe.plan import mixste_forward_flops


@pytest.fixture
def suite(tmp_path):
    suite = gpu.Suite(tmp_path / "gpu.csv", repeats=1, device="cpu")
    suite.peaks = {"bf16": 2.0, "fp32": 0.5}  # TFLOP/s, stand-ins for the measured GEMM peaks
    return suite


def _rows(suite) -> list[dict]:
    with open(suite.out) as fh:
        return list(csv.DictReader(fh))


def test_training_and_sampling_cases_write_rows_with_flops_and_mfu(suite):
    suite.case(gpu.train_case, frames=9, batch=1, precision="fp32", variant="eager")
    suite.case(gpu.sample_case, frames=9, batch=1, steps=2, precision="bf16-weights",
               variant="graph spatial-bmm")
    train, sample = _rows(suite)
    assert train["error"] == "" and sample["error"] == ""
    for row, peak in ((train, 0.5), (sample, 2.0)):  # bf16-weights is measured against the bf16 peak
        rate = float(row["tflops_per_s"])
        assert rate > 0 and float(row["tflop"]) > 0
        assert float(row["mfu_measured_peak"]) == pytest.approx(rate / peak, rel=1e-4)
    # sampling: S = 2 calls on 2 x 1 rows (clip and mirror) of a paper-size forward (CSV: 6 digits)
    assert float(sample["tflop"]) * 1e12 == pytest.approx(2 * 2 * mixste_forward_flops(9), rel=1e-4)
    assert float(train["tflop"]) * 1e12 == pytest.approx(3 * mixste_forward_flops(9), rel=1e-4)
    assert float(sample["throughput"]) == pytest.approx(9 / float(sample["seconds"]), rel=1e-4)


def test_a_failing_case_becomes_an_error_row_and_the_others_are_kept(suite):
    suite.case(gpu.train_case, frames=9, batch=1, precision="fp32", variant="eager")
    suite.case(gpu.attention_case, tokens=17 * 4, length=17, kernel="cudnn", training=False)  # CPU has none
    ok, failed = _rows(suite)
    assert ok["error"] == "" and failed["benchmark"] == "attention"
    assert "kernel=cudnn" in failed["variant"] and "RuntimeError" in failed["error"]
    assert "ERROR" in gpu.format_row(suite.rows[-1])


def test_datasheet_mfu_uses_the_named_gpu_peak(tmp_path):
    suite = gpu.Suite(tmp_path / "x.csv", repeats=1, device="cpu")
    suite.name = "NVIDIA H100 80GB HBM3"
    suite.add(benchmark="train", variant="eager", precision="bf16", tflops_per_s=197.8)
    assert suite.rows[-1]["mfu_datasheet_peak"] == pytest.approx(0.2)  # 197.8 / 989
    assert suite.rows[-1]["mfu_measured_peak"] == ""  # no measured peak yet


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_the_gpu_suite_refuses_to_run_without_cuda(capsys):
    with pytest.raises(SystemExit):
        gpu.main(["--quick"])
    assert "no CUDA device" in capsys.readouterr().err


BAD_ARGUMENTS = [
    (["--train-variants", "bf16"], "expected PRECISION:VARIANT"),
    (["--sample-variants", "int8:eager"], "expected PRECISION:VARIANT"),
    (["--clips", "0"], "must be >= 1"),
]


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS)
def test_bad_arguments_are_refused_before_anything_runs(argv, message, capsys):
    with pytest.raises(SystemExit):
        gpu.main(argv)
    assert message in capsys.readouterr().err
