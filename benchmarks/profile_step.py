"""Profile one training step and one sampling call of the paper-size Diff3DHPE-M denoiser (CPU).

    python benchmarks/profile_step.py [--frames 81] [--batch 2] [--rows 25] [--repeats 3]

Prints best-of-N times, achieved GFLOP/s against the measured GEMM roofline, and the
torch.profiler table of the most expensive operators (self CPU time).
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.measure import count_flops, interleaved_best_times, model_gemm_case
from diff3dhpe.diffusion import Diffusion
from diff3dhpe.fastpaths import configure_cpu
from diff3dhpe.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rows", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    configure_cpu()
    torch.manual_seed(0)
    f, b = args.frames, args.batch
    model = build_model("mixste", frames=f, objective="denoiser")
    diffusion = Diffusion()
    x2d, y0 = torch.randn(b, f, 17, 2), torch.rand(b, f, 17, 3) * 2 - 1
    t = torch.randint(0, 1000, (b,))

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        diffusion.x0_loss(model, x2d, y0, t=t).backward()

    def sample_call() -> None:
        with torch.no_grad():
            model(x2d, y0, t)

    gemm, gemm_flops = model_gemm_case(b * f * 17)
    model.train()
    train_flops = count_flops(train_step)
    model.eval()
    fwd_flops = count_flops(sample_call)

    def train_mode_step() -> None:
        model.train()
        train_step()

    def eval_mode_call() -> None:
        model.eval()
        sample_call()

    # round-robin so that the roofline GEMM and each case see the same load on a shared machine
    gemm_s, train_s, fwd_s = interleaved_best_times([gemm, train_mode_step, eval_mode_call], args.repeats)
    roof = gemm_flops / gemm_s / 1e9
    print(f"threads {torch.get_num_threads()}, model-shape GEMM roofline {roof:.1f} GFLOP/s "
          f"(best of {args.repeats})")
    for name, flops, s in [("train step", train_flops, train_s), ("sampling call", fwd_flops, fwd_s)]:
        rate = flops / s / 1e9
        print(f"{name:14s} F={f} B={b}: {s:.3f} s  {rate:.1f} GFLOP/s  {rate / roof:.1%} of roofline")
    if args.no_profile:
        return
    for name, fn, mode in [("train step", train_step, True), ("sampling call", sample_call, False)]:
        model.train(mode)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        print(f"\n== {name} ==")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
