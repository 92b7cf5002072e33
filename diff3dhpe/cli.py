"""`diff3dhpe`: one command per pipeline stage. dvc.yaml and the Snakefile only call these.

Every subcommand reads --params (default params.yaml), validates it completely before doing any work,
and writes its outputs atomically (temp file + os.replace), so a failed command never leaves a half
file nor touches earlier results.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import typing
from pathlib import Path

from diff3dhpe.config import DiffusionParams
from diff3dhpe.errors import ConfigError, Diff3DHPEError
from diff3dhpe.plan import GPU_PEAK_TFLOPS
from diff3dhpe.results import RESULT_KINDS
from diff3dhpe.variants import DATASETS, INPUTS_2D, RUN_KINDS

log = logging.getLogger("diff3dhpe.cli")

RUNS_DIR = "runs"
RESULTS_DIR = "results"


# ---------------------------------------------------------------- commands
def cmd_prepare(args: argparse.Namespace) -> None:
    from diff3dhpe.config import load_params
    from diff3dhpe.prepare import prepare_data

    print(prepare_data(load_params(args.params), args.results))


def cmd_train(args: argparse.Namespace) -> None:
    from diff3dhpe.config import load_params
    from diff3dhpe.train import train_run, train_runs

    params = load_params(args.params)
    if args.run and len(args.run) == 1:  # in this process (also what torchrun runs on every rank)
        results = [train_run(params, args.run[0], args.runs_dir, stop_after_epochs=args.stop_after_epochs,
                             results_root=args.results)]
    else:
        if args.stop_after_epochs is not None:
            raise ConfigError("--stop-after-epochs applies to one --run only")
        results = train_runs(params, args.run, args.runs_dir, args.results, jobs=args.jobs)
    for result in results:
        print(f"{result.run}: {result.epochs} epochs done -> {result.model_path}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from diff3dhpe.config import load_params

    params = load_params(args.params)
    if args.checkpoint:
        return _evaluate_checkpoint(args, params)
    given = [flag for flag, value in _checkpoint_flags(args).items() if value not in (None, False)]
    if given:
        raise ConfigError(f"{', '.join(given)} apply to --checkpoint FILE only, not to --run / --all")
    _write_results(args, "metrics", params)


def _checkpoint_flags(args: argparse.Namespace) -> dict[str, object]:
    return {"--dataset": args.dataset, "--input-2d": args.input_2d, "--steps": args.steps,
            "--normalisation": args.normalisation, "--compat": args.compat, "--subjects": args.subjects,
            "--max-frames": args.max_frames}


def _evaluate_checkpoint(args: argparse.Namespace, params) -> None:
    from diff3dhpe.evaluate import evaluate_checkpoint, write_checkpoint_evaluation
    from diff3dhpe.results import checkpoint_result_dir

    evaluation = evaluate_checkpoint(
        params, args.checkpoint, dataset=args.dataset, input_2d=args.input_2d, steps=args.steps,
        normalisation=args.normalisation, compat=args.compat, subjects=args.subjects,
        max_frames=args.max_frames, progress=True,
    )
    out = Path(args.out) if args.out else checkpoint_result_dir(args.results, args.checkpoint)
    paths = write_checkpoint_evaluation(evaluation, out)
    print(evaluation.summary_line())
    print("\n".join(f"-> {path}" for path in paths))


def cmd_normalisation(args: argparse.Namespace) -> None:
    from diff3dhpe.assemble import release_scale
    from diff3dhpe.config import load_params

    params = load_params(args.params)
    missing = []
    for dataset in [args.dataset] if args.dataset else list(DATASETS):
        try:
            found = release_scale(params, dataset)
        except ConfigError as err:  # without --dataset, a dataset whose files are absent is skipped
            if args.dataset:
                raise
            missing.append(str(err))
            continue
        print(f"{dataset}: s = {found.value:.9g} {found.unit}; decode factor {found.mm:.9g} mm "
              f"(pose_mm = prediction * {found.mm:.9g}) from {', '.join(map(str, found.files))}")
    if len(missing) == len(DATASETS):
        raise ConfigError("no data files for any dataset:\n" + "\n".join(missing))
    for err in missing:
        log.info("skipped: %s", err)


def cmd_predict(args: argparse.Namespace) -> None:
    from diff3dhpe.config import Params, load_params
    from diff3dhpe.predict import predict_file, render_prediction, write_prediction

    # the default params.yaml is optional here: a user lifting their own keypoints may have none
    explicit = args.params != "params.yaml" or Path(args.params).is_file()
    params = load_params(args.params) if explicit else Params.section_defaults()
    prediction = predict_file(
        args.keypoints, params, run=args.run, checkpoint=args.checkpoint, runs_root=args.runs_dir,
        format=args.format, image_size=tuple(args.image_size) if args.image_size else None,
        person=args.person, threshold=args.threshold, hypotheses=args.hypotheses, aggregate=args.aggregate,
        steps=args.steps, seed=args.seed, flip=False if args.no_flip else None,
        normalisation=args.normalisation, height_mm=args.height, progress=True,
    )
    out = Path(args.out) if args.out else Path("predictions") / Path(args.keypoints).stem
    formats = ("npz", *(["csv"] if args.csv else []), *(["json"] if args.json else []))
    paths = render_prediction(prediction, args.render, fps=args.fps) if args.render else []
    paths = write_prediction(prediction, out, formats) + paths
    print(prediction.summary())
    for path in paths:
        print(path)


def cmd_package(args: argparse.Namespace) -> None:
    from diff3dhpe.config import load_params
    from diff3dhpe.predict import package_model

    paths = package_model(load_params(args.params), args.run, args.runs_dir, args.out, args.params)
    print("\n".join(map(str, paths)))


def cmd_robustness(args: argparse.Namespace) -> None:
    _write_results(args, "robustness")


def cmd_steps(args: argparse.Namespace) -> None:
    _write_results(args, "steps")


def _write_results(args: argparse.Namespace, kind: str, params=None) -> None:
    """Per-run result files of ``kind`` for --run ID... or --all, on --jobs worker processes."""
    from diff3dhpe.config import load_params
    from diff3dhpe.evaluate import write_run_result, write_run_results

    params = params or load_params(args.params)
    if args.out and not (args.run and len(args.run) == 1):
        raise ConfigError("--out applies to one --run only")
    if args.run and len(args.run) == 1:
        paths = [write_run_result(kind, params, args.run[0], args.runs_dir, args.results, args.out)]
    else:
        paths = write_run_results(kind, params, args.run, args.runs_dir, args.results, jobs=args.jobs)
    for path in paths:
        print(f"-> {path}")


def cmd_baselines(args: argparse.Namespace) -> None:
    from diff3dhpe.atomic import atomic_write_csv
    from diff3dhpe.config import load_params
    from diff3dhpe.evaluate import baseline_robustness_rows, baseline_rows
    from diff3dhpe.results import baselines_path

    params = load_params(args.params)
    # both tables first: a failure leaves the earlier files as they were
    tables = {"metrics": baseline_rows(params), "robustness": baseline_robustness_rows(params)}
    for kind, table in tables.items():
        out = baselines_path(args.results, kind)
        atomic_write_csv(table, out)
        print(f"{kind}: {table['run'].nunique()} baselines, {len(table)} rows -> {out}")


def cmd_collect(args: argparse.Namespace) -> None:
    from diff3dhpe.atomic import atomic_write_csv
    from diff3dhpe.config import load_params
    from diff3dhpe.results import collect

    table, runs = collect(load_params(args.params), args.kind, args.results)
    out = Path(args.out) if args.out else Path(args.results) / f"{args.kind}.csv"
    atomic_write_csv(table, out)
    print(f"{len(runs)} runs, {len(table)} rows -> {out}")


def cmd_ttest(args: argparse.Namespace) -> None:
    import pandas as pd

    from diff3dhpe.atomic import atomic_write_csv
    from diff3dhpe.config import load_params
    from diff3dhpe.stats import ttest_table

    params = load_params(args.params)
    metrics_path = Path(args.metrics) if args.metrics else Path(args.results) / "metrics.csv"
    if not metrics_path.is_file():
        raise ConfigError(f"{metrics_path} not found: run `diff3dhpe collect --kind metrics` first")
    table = ttest_table(params, pd.read_csv(metrics_path))
    out = Path(args.out) if args.out else Path(args.results) / "ttest.csv"
    atomic_write_csv(table, out)
    for row in table.itertuples():
        print(
            f"{row.comparison} F={row.frames} {row.metric} {row.test}: "
            f"{row.mean_a:.2f} vs {row.mean_b:.2f} mm, t={row.t:.3f}, df={row.df:.2f}, p={row.p_value:.3g}"
        )
    print(f"-> {out}")


def cmd_report(args: argparse.Namespace) -> None:
    results = Path(args.results)
    if args.what == "tables":
        from diff3dhpe.report.tables import write_tables

        paths = write_tables(results, Path(args.out) if args.out else results / "tables")
    elif args.what == "curves":
        from diff3dhpe.report.curves import write_curves

        paths = write_curves(results, Path(args.out) if args.out else results / "figures")
    else:
        from diff3dhpe.report.figures import write_figures

        paths = write_figures(results, Path(args.out) if args.out else results / "figures")
    for path in paths or []:
        print(path)


def cmd_runs(args: argparse.Namespace) -> None:
    import dataclasses

    from diff3dhpe.config import load_params

    runs = load_params(args.params).runs(args.kind)
    if args.json:
        print(json.dumps([{"id": r.id, **dataclasses.asdict(r)} for r in runs], indent=1))
    else:
        print("\n".join(r.id for r in runs))


def cmd_plan(args: argparse.Namespace) -> None:
    from diff3dhpe.config import load_params
    from diff3dhpe.plan import plan_report

    print(plan_report(load_params(args.params), gpu=args.gpu, precision=args.precision))


# ---------------------------------------------------------------- argument parsing
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diff3dhpe",
        description="Diff3DHPE pipeline: every stage of `dvc repro` / Snakemake is one of these commands.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        p.set_defaults(func=func)
        return p

    def jobs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                       help="worker processes for several runs (default: env DIFF3DHPE_JOBS, else every "
                       "core; 0 = every core). Results do not depend on it: one run per worker.")

    def sweep_runs(p: argparse.ArgumentParser, kind: str) -> None:
        """--run ID... | --all, --out, --jobs and the folders of a sweep command."""
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--run", nargs="+", metavar="ID",
                           help=f"run id(s) from sweeps.{kind} (`diff3dhpe runs --kind {kind}`)")
        which.add_argument("--all", action="store_true", help=f"every run of sweeps.{kind}")
        p.add_argument("--out", default=None, help=f"CSV path instead of results/per_run/{kind}/<ID>.csv")
        jobs(p)
        dirs(p)

    def dirs(p: argparse.ArgumentParser, runs: bool = True) -> None:
        if runs:
            p.add_argument("--runs-dir", default=RUNS_DIR, help="folder of trained runs (default: runs)")
        p.add_argument("--results", default=RESULTS_DIR, help="results folder (default: results)")

    p = add(
        "prepare",
        cmd_prepare,
        "make the data files ready",
        "Reads params data.*.\n"
        "synthetic: generates data/data_3d_<name>.npz, data_2d_<name>_{det,gt}.npz,\n"
        "  data_{train,test}_<name>_3dhp.npz (+ README.md) in data.dir;\n"
        "files: checks that your files (data.h36m.*, data.mpi3dhp.*) exist and load cleanly;\n"
        "raw: converts the official downloads (data.raw.*) into data.dir.\n"
        "Writes results/provenance.json (which data the numbers come from).",
    )
    dirs(p, runs=False)

    p = add(
        "train",
        cmd_train,
        "train runs (resumes automatically; --all: the whole study on every core)",
        "Reads params data, model, diffusion, train and the data files.\n"
        "Writes runs/<ID>/checkpoint.pt (every epoch, atomic; a rerun resumes from it),\n"
        "runs/<ID>/model.pt (selected weights, when training is complete) and\n"
        "results/training/<ID>/ (dvclive: loss, val_mpjpe, lr, seconds per epoch).\n"
        "Several runs (--run A B ..., --all) train one per worker process (--jobs); a finished run\n"
        "whose settings and training code are unchanged is not retrained.\n"
        "Several GPUs (DDP, one-process results):\n"
        "  torchrun --standalone --nproc_per_node=N -m diff3dhpe.cli train --run-id <ID>\n"
        "  (train.batch_size is the global batch; rank 0 writes the outputs).",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--run",
        "--run-id",  # torchrun's own parser rejects `--run` (ambiguous with its --run-path): use --run-id
        dest="run",
        nargs="+",
        metavar="ID",
        help="run id(s), e.g. h36m-det-f27-diff3dhpe-m-s0 (see `diff3dhpe runs`)",
    )
    which.add_argument("--all", action="store_true", help="every run of params experiments")
    jobs(p)
    p.add_argument("--stop-after-epochs", type=int, default=None, help=argparse.SUPPRESS)
    dirs(p)

    p = add(
        "evaluate",
        cmd_evaluate,
        "score a trained run, or any checkpoint file, on the test set",
        "--run ID: reads runs/<ID>/model.pt, params diffusion/evaluate/data and the test data;\n"
        "  writes results/per_run/metrics/<ID>.csv (rows per action + Average, 3DHP: + All; columns of\n"
        "  results/metrics.csv) and results/per_run/evaluate/<ID>.json (MPJPE, S, seconds per clip).\n"
        "  Several runs (--run A B ..., --all: every train run) on --jobs worker processes.\n"
        "--checkpoint FILE: an official Diff3DHPE / MixSTE / PoseFormer release file or our own\n"
        "  model.pt / checkpoint.pt. Variant and F come from the file; S from --steps, else params\n"
        "  diffusion.steps for the setting, else the paper's; flip / hypotheses / batch size from\n"
        "  params evaluate. Official files are decoded with the release's normalisation constant\n"
        "  (see `diff3dhpe normalisation`), ours with their stored scale.\n"
        "  Writes results/checkpoints/<file stem>/ (or --out DIR): metrics.csv (columns of\n"
        "  results/metrics.csv, run = checkpoint:<file name>), table.md and table.tex (the paper's\n"
        "  Table 1, 2 or 3 layout with the paper's row of the same method) and summary.json.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", nargs="+", metavar="ID", help="run id(s) of the study (see `diff3dhpe runs`)")
    which.add_argument("--all", action="store_true", help="every run of params experiments")
    which.add_argument("--checkpoint", metavar="FILE",
                       help="checkpoint file: an official release, or our model.pt / checkpoint.pt")
    p.add_argument("--out", default=None, help="--run: CSV path instead of results/per_run/metrics/<ID>.csv; "
                   "--checkpoint: folder instead of results/checkpoints/<file stem>/")
    p.add_argument("--dataset", choices=DATASETS, default=None,
                   help="--checkpoint: test set (required for official files; ours know theirs)")
    p.add_argument("--input-2d", choices=INPUTS_2D, default=None,
                   help="--checkpoint: 2D input (default: det on h36m, gt on 3dhp; ours: their own)")
    p.add_argument("--steps", type=int, default=None,
                   help="--checkpoint: sampling steps S (diffusion models)")
    p.add_argument("--normalisation", default=None, metavar="release|ours|MM",
                   help="--checkpoint: scale that decodes the output to mm: release (the release's constant "
                   "from the data files; default for official files), ours (max |coordinate| over the "
                   "training subjects of params) or a number in mm (default for our files: their stored "
                   "scale)")
    p.add_argument("--compat", choices=typing.get_args(DiffusionParams.model_fields["compat"].annotation),
                   default=None,
                   help="--checkpoint: DDIM update form (default: release for official files, params "
                   "diffusion.compat for ours)")
    p.add_argument("--subjects", nargs="+", default=None, metavar="S",
                   help="--checkpoint: score only these test subjects (e.g. S9; 3DHP: TS1 ... TS6)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="--checkpoint: score only the first N test frames (a quick look)")
    jobs(p)
    dirs(p)

    p = add(
        "normalisation",
        cmd_normalisation,
        "print the release's normalisation constant (to use official weights)",
        "Reads the 3D data files of params data.* (synthetic, files or raw: the files in data.dir).\n"
        "Official weights predict root-relative camera-frame 3D divided by one constant s that the\n"
        "release computes from the data files and stores nowhere (METHOD.md §8a):\n"
        "  h36m: max |coordinate| over ALL subjects of the 3D file, 32 joints, 4 cameras, pelvis\n"
        "        subtracted, in metres;\n"
        "  3dhp: max |coordinate| over every sequence of the train AND test files, pelvis (joint 14)\n"
        "        subtracted, in mm.\n"
        "Prints s in the release's unit and the decode factor in mm (pose_mm = prediction * factor).",
    )
    p.add_argument("--dataset", choices=DATASETS, default=None, help="one dataset (default: both)")

    p = add(
        "predict",
        cmd_predict,
        "3D poses from your own 2D keypoints (any common detector format)",
        "Reads KEYPOINTS: COCO-17 results or MMPose JSON, Halpe-26 / AlphaPose JSON, an OpenPose\n"
        "BODY_25 folder of per-frame JSON, MediaPipe Pose 33 CSV / JSON, a VideoPose3D custom npz, or a\n"
        "(T, 17, 2|3) .npy / .csv in Human3.6M order (docs/keypoints.md). One person is lifted: the most\n"
        "confident track, or --person N. Model: the bundled demo model (synthetic training data only),\n"
        "--run ID of the study, or --checkpoint FILE (our model.pt or an official release file).\n"
        "Writes OUT/poses_3d.npz (+ .csv / .json): poses_3d (T, 17, 3) mm, camera coordinates, pelvis\n"
        "at the origin, Human3.6M joints; uncertainty (T, 17) mm (spread over --hypotheses); the\n"
        "converted 2D input; model, S, H, seed. --render FILE.mp4|.gif draws 2D beside 3D.",
    )
    p.add_argument("keypoints", help="2D keypoint file (or an OpenPose folder)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", default=None, metavar="FILE", help="model file (default: the demo)")
    source.add_argument("--run", default=None, metavar="ID", help="a trained run of params.yaml")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default predictions/<name>)")
    p.add_argument("--render", default=None, metavar="FILE", help="write a video (.mp4, or .gif) and a strip")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of --render (default 25)")
    p.add_argument("--format", default=None, help="input format when it cannot be detected")
    p.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="image size in pixels, when the file does not say")
    p.add_argument("--person", type=int, default=0, help="which track: 0 = most confident (default)")
    p.add_argument("--threshold", type=float, default=None,
                   help="joints below this confidence count as missing "
                        "(default: diff3dhpe.keypoints.DEFAULT_CONFIDENCE_THRESHOLD)")
    p.add_argument("--hypotheses", type=int, default=None, metavar="H",
                   help="diffusion hypotheses; their spread is the uncertainty (default evaluate.hypotheses)")
    p.add_argument("--aggregate", choices=["mean", "median"], default=None, help="over hypotheses")
    p.add_argument("--steps", type=int, default=None, metavar="S",
                   help="reverse steps (default: the model's)")
    p.add_argument("--seed", type=int, default=None, help="noise seed (default evaluate.seed)")
    p.add_argument("--no-flip", action="store_true", help="no flip test-time augmentation")
    p.add_argument("--normalisation", default=None, metavar="release|ours|MM",
                   help="official files: the decode factor in mm (`diff3dhpe normalisation`); "
                        "without it their output is up to scale")
    p.add_argument("--height", type=float, default=None, metavar="MM",
                   help="rescale so the skeleton height (ankle to head joint) is MM")
    p.add_argument("--csv", action="store_true", help="also write poses_3d.csv")
    p.add_argument("--json", action="store_true", help="also write poses_3d.json")
    p.add_argument("--runs-dir", default=RUNS_DIR, help="folder of trained runs (default: runs)")

    p = add(
        "package",
        cmd_package,
        "a trained run as a self-describing model file for predict (how the demo model is made)",
        "Reads runs/<ID>/model.pt, params and the run's data. Scores the run on its test set and the\n"
        "reference lifters without a network (mean pose, linear lifter) fitted on the same training data.\n"
        "Writes OUT/model.pt and OUT/provenance.json (params, data source and seed, S, test MPJPE).",
    )
    p.add_argument("--run", required=True, help="run id of params' experiments")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    dirs(p)

    p = add(
        "robustness",
        cmd_robustness,
        "corrupted-2D sweep of a trained run (Fig. 6)",
        "Reads runs/<ID>/model.pt and params sweeps.robustness (gaussian / dropout levels).\n"
        "Writes results/per_run/robustness/<ID>.csv (run, variant, seed, corruption, level, mpjpe, p_mpjpe).",
    )
    sweep_runs(p, "robustness")

    p = add(
        "steps",
        cmd_steps,
        "evaluate a trained run at every S of the steps sweep (Fig. 5)",
        "Reads runs/<ID>/model.pt and params sweeps.steps.\n"
        "Writes results/per_run/steps/<ID>.csv (run, variant, pde, steps, mpjpe, p_mpjpe, seconds_per_clip).",
    )
    sweep_runs(p, "steps")

    p = add(
        "baselines",
        cmd_baselines,
        "score the reference lifters without a network (mean pose, linear lifter)",
        "Reads params data and experiments and the data files. For each (dataset, 2D input) of the\n"
        "experiment matrix: the mean training pose, the least-squares linear lifter per frame and over\n"
        "each F of that setting's runs, fitted on the training subjects, scored on the test set as\n"
        "evaluate scores a run. Writes results/per_run/baselines.csv (columns of\n"
        "results/metrics.csv; run = baseline-<dataset>-<input_2d>-f<F>-<baseline>, variant =\n"
        "mean-pose | linear-lifter, seed and steps empty) and results/per_run/baselines_robustness.csv\n"
        "(columns of results/robustness.csv: the mean pose and the linear lifter over the F of\n"
        "sweeps.robustness under each of its corruption levels, the models' own draws); collect\n"
        "--kind metrics / robustness appends their rows.",
    )
    dirs(p, runs=False)

    p = add(
        "collect",
        cmd_collect,
        "concatenate per-run CSVs into results/<kind>.csv",
        "Reads results/per_run/<kind>/<ID>.csv for every expected run (experiments for metrics,\n"
        "sweeps.<kind> otherwise); fails naming the runs whose file is missing. metrics and\n"
        "robustness: also the baseline rows of results/per_run/baselines.csv and\n"
        "baselines_robustness.csv (`diff3dhpe baselines`), if present.\n"
        "Writes results/<kind>.csv in run order (baselines last).",
    )
    p.add_argument("--kind", required=True, choices=RESULT_KINDS)
    p.add_argument("--out", default=None, help="output CSV (default results/<kind>.csv)")
    dirs(p, runs=False)

    p = add(
        "ttest",
        cmd_ttest,
        "Student and Welch t-tests over seeds",
        "Reads results/metrics.csv and params stats.ttest.\n"
        "Writes results/ttest.csv (one row per comparison, frames, metric and test).",
    )
    p.add_argument("--metrics", default=None, help="metrics CSV (default results/metrics.csv)")
    p.add_argument("--out", default=None, help="output CSV (default results/ttest.csv)")
    dirs(p, runs=False)

    p = add(
        "report",
        cmd_report,
        "paper tables or figures from results/*.csv, or the validation curves",
        "Reads results/{metrics,robustness,steps,ttest}.csv and results/provenance.json.\n"
        "tables: writes results/tables/table{1,2,3,4}.{csv,md,tex,html} and the t-test table;\n"
        "figures: writes results/figures/fig{3,5,6}.{png,pdf};\n"
        "curves: reads results/training/<ID>/ (validation MPJPE per epoch) and writes\n"
        "results/figures/curves.{png,pdf} and curves.csv (per run: first, final, best and the change\n"
        "over the last 20 % of epochs, mm: has each curve flattened?).",
    )
    p.add_argument("what", choices=["tables", "figures", "curves"])
    p.add_argument("--out", default=None, help="output folder (default results/tables or results/figures)")
    dirs(p, runs=False)

    p = add(
        "runs",
        cmd_runs,
        "list run ids of the experiment matrix or a sweep",
        "Reads params experiments / sweeps; writes nothing. One id per line (or --json).",
    )
    p.add_argument("--kind", default="train", choices=RUN_KINDS)
    p.add_argument("--json", action="store_true", help="print specs as JSON")

    p = add(
        "plan",
        cmd_plan,
        "FLOPs and GPU hours of the study in a params file",
        "Reads params experiments, model, train (epochs, flip_augment, max_clips_per_epoch, precision),\n"
        "evaluate (flip_test, hypotheses) and diffusion (steps, ddim_steps); writes nothing.\n"
        "Clip counts are those of the REAL datasets, whatever data.source is, and no data file is read:\n"
        "Human3.6M train S1 S5 S6 S7 S8 1,559,752 frames, test S9 S11 543,344 frames (4 cameras);\n"
        "MPI-INF-3DHP train ~1,031,000 frames (8 cameras, an estimate), test 2,929 valid frames.\n"
        "Prints per-run training and evaluation FLOPs (matmuls only) and the hours at the MFU "
        "measured on an H100 (benchmarks/gpu.py).",
    )
    p.add_argument("--gpu", default="H100", choices=list(GPU_PEAK_TFLOPS), help="default: H100")
    p.add_argument(
        "--precision",
        default=None,
        choices=["bf16", "fp32"],
        help="override train.precision of the params file",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from diff3dhpe.utils import setup_logging

    setup_logging(args.verbose)
    started = time.perf_counter()
    try:
        args.func(args)
    except Diff3DHPEError as err:
        print(f"diff3dhpe {args.command}: error: {err}", file=sys.stderr)
        return 2
    log.debug("%s took %.1f s", args.command, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
