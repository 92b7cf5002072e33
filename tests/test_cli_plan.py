"""`diff3dhpe plan`: the cost of the study in a params file, without any data file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diff3dhpe.cli import main
from diff3dhpe.config import load_params

ROOT = Path(__file__).resolve().parents[1]


def _plan(capsys, *args: str) -> str:
    assert main(["plan", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("params_file", ["params.yaml", "configs/paper.yaml"])
def test_plan_lists_every_trained_run_and_a_total(capsys, params_file):
    path = ROOT / params_file
    out = _plan(capsys, "--params", str(path))
    runs = [r.id for r in load_params(path).train_runs()]
    assert out.splitlines()[0].startswith(f"{len(runs)} trained runs on H100")
    listed = [line.split()[0] for line in out.splitlines()[2:] if line.split()[0] in runs]
    assert listed == runs
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert float(total.split()[-1]) > 0 or params_file == "params.yaml"  # toy sizes round to 0.0 hours
    assert "clip counts are the real datasets'" in out  # no data files are needed


def test_precision_and_gpu_change_the_hours(capsys):
    paper = str(ROOT / "configs/paper.yaml")

    def hours(*args: str) -> float:
        out = _plan(capsys, "--params", paper, *args)
        return float(re.search(r"^total.*\s([\d.]+)$", out, re.M).group(1))

    assert "bf16" in _plan(capsys, "--params", paper).splitlines()[0]  # paper.yaml: train.precision bf16
    bf16, fp32 = hours("--precision", "bf16"), hours("--precision", "fp32")
    assert fp32 > 5 * bf16  # 67 TFLOP/s at 60 % vs 989 at 40 %
    assert hours("--gpu", "A100", "--precision", "bf16") > 3 * bf16


def test_plan_help_says_what_it_reads(capsys):
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    text = capsys.readouterr().out
    assert "Reads params experiments" in text and "1,559,752" in text and "writes nothing" in text


def test_plan_rejects_unknown_gpu_and_missing_params(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["plan", "--gpu", "K80"])
    assert main(["plan", "--params", str(tmp_path / "nope.yaml")]) == 2
    assert "params file not found" in capsys.readouterr().err
