"""Why does Diff3DHPE-M lag MixSTE* on the synthetic data? One measured row per change (issue 16).

Every row starts from one recipe, the synthetic study's data and model (configs/synthetic-study.yaml:
Human3.6M format, detected 2D, F = 9, seed 0, width 32) trained for 120 epochs at lr 0.004 decayed
0.98 per epoch (``BASE_CHANGES``; the study itself trains 240 epochs, because of what this table
found), and changes ONE thing: the training recipe (``compat: release``, the learning rate, twice the
epochs at the same final learning rate, width 64; a model trained afresh) or the sampler (S, flip
test-time augmentation, hypotheses; the reference model of this script, re-scored). Rows run on
every core (one row per worker process, diff3dhpe.parallel): first every training, then the sampler
rows. Writes results/synthetic-study/ablation.{csv,md} (``--only``: ablation-<rows>.{csv,md}); each
row's command is in the table; curves: results/synthetic-study/ablation-training/<row>/. Models:
runs-ablation/. 20 min on 2 CPU cores (Intel Xeon VM).

    python -m benchmarks.ablation                      # every row
    python -m benchmarks.ablation --only lr-0.002      # one row (sampler rows also train the reference)
"""

from __future__ import annotations

import argparse
import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from diff3dhpe.atomic import atomic_write_csv, atomic_write_text
from diff3dhpe.config import parse_params
from diff3dhpe.evaluate import evaluate_run
from diff3dhpe.parallel import map_tasks
from diff3dhpe.prepare import prepare_data
from diff3dhpe.train import train_run

STUDY = Path("configs/synthetic-study.yaml")
OUT = Path("results/synthetic-study")
RUNS = Path("runs-ablation")
BASE_CHANGES = {"train.epochs": 120, "train.lr_decay": 0.98}  # the reference recipe of every row


@dataclass(frozen=True)
class Row:
    name: str
    what: str
    variant: str = "diff3dhpe-m"
    changes: dict = field(default_factory=dict)  # "section.key.key" -> value
    retrain: bool = False  # False: the reference model of its variant re-scored with other settings


ROWS = (
    Row("reference", "reference recipe: Diff3DHPE-M (S = 9, flip, H = 1)", retrain=True),
    Row("mixste", "reference recipe: MixSTE* (regression)", variant="mixste", retrain=True),
    Row("s-1", "S = 1 reverse step", changes={"diffusion.steps.h36m.det.9": 1}),
    Row("s-20", "S = 20 reverse steps", changes={"diffusion.steps.h36m.det.9": 20}),
    Row("no-flip", "no flip test-time augmentation", changes={"evaluate.flip_test": False}),
    Row("mixste-no-flip", "MixSTE*, no flip test-time augmentation", variant="mixste",
        changes={"evaluate.flip_test": False}),
    Row("h-5", "H = 5 hypotheses, mean", changes={"evaluate.hypotheses": 5}),
    Row("release", "compat: release (the release's loss weight and DDIM update), retrained",
        changes={"diffusion.compat": "release"}, retrain=True),
    Row("lr-0.002", "learning rate 0.002 (study: 0.004), retrained", changes={"train.lr": 0.002},
        retrain=True),
    Row("lr-0.008", "learning rate 0.008, retrained", changes={"train.lr": 0.008}, retrain=True),
    Row("epochs-240", "240 epochs, lr decay 0.99 (the same final lr), retrained",
        changes={"train.epochs": 240, "train.lr_decay": 0.99}, retrain=True),
    Row("mixste-epochs-240", "MixSTE*, 240 epochs, lr decay 0.99, retrained", variant="mixste",
        changes={"train.epochs": 240, "train.lr_decay": 0.99}, retrain=True),
    Row("width-64", "width 64 (study: 32), retrained", changes={"model.mixste.dim": 64}, retrain=True),
    Row("mixste-width-64", "MixSTE*, width 64, retrained", variant="mixste",
        changes={"model.mixste.dim": 64}, retrain=True),
)


def _raw(row: Row) -> dict:
    raw = yaml.safe_load(STUDY.read_text())
    raw = copy.deepcopy(raw)
    for dotted, value in {**BASE_CHANGES, **row.changes}.items():
        *path, last = dotted.split(".")
        node = raw
        for key in path:
            node = node.setdefault(int(key) if key.isdigit() else key, {})
        node[int(last) if last.isdigit() else last] = value
    return raw


def run_row(row: Row) -> dict:
    """Train (when the row changes training) and evaluate one row; its MPJPE / P-MPJPE in mm."""
    params = parse_params(_raw(row))
    run_id = f"h36m-det-f9-{row.variant}-s0"
    runs = RUNS / row.name
    if row.retrain:
        train_run(params, run_id, runs, progress=False, results_root=OUT / "ablation-training" / row.name)
    else:
        name = "reference" if row.variant == "diff3dhpe-m" else row.variant
        reference = RUNS / name / run_id / "model.pt"
        (runs / run_id).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reference, runs / run_id / "model.pt")
    _, summary = evaluate_run(params, run_id, runs)
    return {"row": row.name, "change": row.what, "variant": row.variant, "steps": summary["steps"],
            "mpjpe": summary["mpjpe"], "p_mpjpe": summary["p_mpjpe"],
            "command": f"python -m benchmarks.ablation --only {row.name}"}


def _cost(row: Row) -> float:
    """Relative training time: epochs × width² (attention and MLP widths dominate at these sizes)."""
    raw = _raw(row)
    return raw["train"]["epochs"] * raw["model"]["mixste"]["dim"] ** 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[r.name for r in ROWS], default=None)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    rows = [r for r in ROWS if args.only is None or r.name in args.only]
    print(prepare_data(parse_params(_raw(ROWS[0])), OUT))  # the study's data (generated once)
    references = {"reference", "mixste"} & {"reference" if r.variant == "diff3dhpe-m" else r.variant
                                            for r in rows if not r.retrain}
    trained = [r for r in ROWS if r.retrain and (r in rows or r.name in references)]
    trained.sort(key=lambda r: -_cost(r))  # the long ones first
    done = map_tasks(run_row, trained, args.jobs, desc="ablation: training", name=lambda r: r.name)
    done += map_tasks(run_row, [r for r in rows if not r.retrain], args.jobs, desc="ablation: sampling",
                      name=lambda r: r.name)
    table = pd.DataFrame([d for d in done if d["row"] in {r.name for r in rows}])
    order = {r.name: i for i, r in enumerate(ROWS)}
    table = table.sort_values("row", key=lambda s: s.map(order)).reset_index(drop=True)
    path = OUT / ("ablation.csv" if args.only is None else f"ablation-{'-'.join(args.only)}.csv")
    atomic_write_csv(table, path)
    text = markdown(table)
    atomic_write_text(path.with_suffix(".md"), text)
    print(text)


def markdown(table: pd.DataFrame) -> str:
    """The ablation table (the CSV's rows) as Markdown, MPJPE / P-MPJPE in mm."""
    lines = ["| change | variant | S | MPJPE (mm) | P-MPJPE (mm) | command |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        steps = "-" if pd.isna(r.steps) else int(r.steps)
        lines.append(f"| {r.change} | {r.variant} | {steps} | {r.mpjpe:.1f} | {r.p_mpjpe:.1f} "
                     f"| `{r.command}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
