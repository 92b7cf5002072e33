"""Speed of `diff3dhpe predict`: frames per second of keypoint file -> 3D poses on this machine.

    python -m benchmarks.predict                 # demo model, H = 1 and 5, 10 min of 50 fps keypoints
    python -m benchmarks.predict --paper-frames 2000   # + a paper-size Diff3DHPE-M (F = 243), fewer frames

Each case is one `predict_file` call on a synthetic keypoint file (the example walk repeated to the
length asked for), reading and conversion included, writing excluded. Prints a table and writes CSV.
"""

from __future__ import annotations

import argparse
import csv
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.run import cpu_name
from diff3dhpe.checkpoints import save_checkpoint
from diff3dhpe.config import Params
from diff3dhpe.fastpaths import configure_cpu
from diff3dhpe.keypoints import write_npy
from diff3dhpe.models import build_model
from diff3dhpe.predict import predict_file

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "walking_h36m17.npy"
IMAGE_SIZE = (1000, 1002)  # camera 0 of S9, where the example walk was projected
COLUMNS = ["model", "frames", "hypotheses", "steps", "seconds", "frames_per_s", "device", "torch", "cpu"]


def keypoint_file(folder: Path, frames: int) -> Path:
    """The example walk repeated to ``frames`` frames, as a (T, 17, 3) .npy in pixels."""
    walk = np.load(EXAMPLE)
    path = folder / f"keypoints_{frames}.npy"
    write_npy(path, np.resize(walk, (frames, *walk.shape[1:])))
    return path


def paper_size_checkpoint(folder: Path) -> Path:
    """A paper-size Diff3DHPE-M (F = 243, D = 512, depth 8), random weights, as our model.pt."""
    model = build_model("mixste", frames=243, objective="denoiser")
    path = folder / "paper.pt"
    save_checkpoint(path, {"model_config": model.config, "model": model.state_dict(), "scale": 1000.0,
                           "variant": "diff3dhpe-m", "run": "h36m-det-f243-diff3dhpe-m-s0"})
    return path


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=30_000,
                        help="demo input length (default 10 min at 50 fps)")
    parser.add_argument("--hypotheses", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--paper-frames", type=int, default=0,
                        help="also time a paper-size model on N frames")
    parser.add_argument("--out", default="results/benchmarks_predict.csv")
    args = parser.parse_args(argv)
    configure_cpu()
    params = Params.section_defaults()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("demo", None, args.frames, h) for h in args.hypotheses]
        if args.paper_frames:
            paper = paper_size_checkpoint(Path(tmp))
            cases.append(("paper-size Diff3DHPE-M F=243", paper, args.paper_frames, 1))
        for name, checkpoint, frames, hypotheses in cases:
            path = keypoint_file(Path(tmp), frames)
            started = time.perf_counter()
            prediction = predict_file(path, params, checkpoint=checkpoint, image_size=IMAGE_SIZE,
                                      hypotheses=hypotheses)
            seconds = time.perf_counter() - started
            rows.append({"model": name, "frames": frames, "hypotheses": hypotheses, "steps": prediction.steps,
                         "seconds": round(seconds, 2), "frames_per_s": round(frames / seconds, 1),
                         "device": "cuda" if torch.cuda.is_available() else "cpu",
                         "torch": torch.__version__, "cpu": cpu_name()})
            print(f"{name:<32} {frames:>7} frames  H={hypotheses}  S={prediction.steps}  {seconds:8.1f} s  "
                  f"{frames / seconds:9.1f} frames/s")
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.machine()}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


if __name__ == "__main__":
    main()
