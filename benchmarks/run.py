"""All benchmarks in one command: prints a table and writes results/benchmarks.csv.

    python -m benchmarks.run [--quick] [--compile] [--out results/benchmarks.csv] [--repeats N]

Cases (paper-size Diff3DHPE-M denoiser, D=512, 8+8 blocks, fp32 unless --precision bf16):
- train:   one training step (x0 loss, backward, AdamW) at F = 27, 81, 243: clips/s, GFLOP/s;
- sample:  x0-DDIM with flip test at S = 1, 5, 9, 20 (F = 81; 27 with --quick): frames/s;
- forward: one sampling model call at F = 81 (the sampling roofline ratio without the S loop);
- loader:  ClipBatches clips/s (F = 81, batch 64, flip augmentation);
- metrics: P-MPJPE and MPJPE frames/s;
- roofline: fp32 GEMM GFLOP/s, a large square matmul and the model's own linear shapes;
  gemm_model_sustained: the same shapes back to back for ~2.5 s (reported only, see its docstring);
- --compile: also the F = 81 training step and model call under torch.compile (about 2 min more).
Each case's roofline is re-measured just before it (the model's GEMM shapes at its token count),
because other jobs share the cores; times are the best of N repeats. FLOPs are matmul FLOPs counted
by torch.utils.flop_counter (forward + backward for training).
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make `benchmarks.` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_loader import clips_per_second, synthetic_sequences  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    best_time,
    count_flops,
    gemm_gflops,
    interleaved_best_times,
    model_gemm_case,
    model_gemm_gflops,
    peak_memory,
)
from diff3dhpe import metrics  # noqa: E402
from diff3dhpe.data.augment import flip_keypoints  # noqa: E402
from diff3dhpe.data.skeleton import H36M  # noqa: E402
from diff3dhpe.diffusion import Diffusion  # noqa: E402
from diff3dhpe.fastpaths import (  # noqa: E402
    adamw,
    autocast,
    compile_model,
    configure_cpu,
    set_input_checks,
    set_threads,
)
from diff3dhpe.models import build_model  # noqa: E402

COLUMNS = ["benchmark", "frames", "steps", "batch", "seconds", "throughput", "unit", "gflop",
           "gflops_per_s", "roofline_gflops", "roofline_ratio", "peak_mem_mb", "precision", "device",
           "threads", "repeats"]


def denoiser(frames: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("mixste", frames=frames, objective="denoiser").to(device)


def _row(**values) -> dict:
    row = dict.fromkeys(COLUMNS, "")
    row.update(values)
    return row


def _with_roofline(case, tokens: int, repeats: int, device) -> tuple[float, float]:
    """Best time of ``case`` and the model-shape GEMM GFLOP/s, measured round-robin (fair on a shared CPU)."""
    gemm, gemm_flops = model_gemm_case(tokens, device=str(device))
    seconds, gemm_seconds = interleaved_best_times([case, gemm], repeats=repeats, warmup=0)
    return seconds, gemm_flops / gemm_seconds / 1e9


def bench_train(
    frames: int, batch: int, repeats: int, device, precision: str, compiled: bool = False
) -> dict:
    model = denoiser(frames, device).train()
    optimiser = adamw(model.parameters(), lr=4e-4, weight_decay=0.1)
    forward = _compiled(model) if compiled else model
    diffusion = Diffusion()
    gen = torch.Generator().manual_seed(0)
    x2d = torch.rand(batch, frames, 17, 2, generator=gen).to(device) * 2 - 1
    y0 = torch.rand(batch, frames, 17, 3, generator=gen).to(device) * 2 - 1

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with autocast(precision, device):
            loss = diffusion.x0_loss(forward, x2d, y0, generator=gen)
        loss.backward()
        optimiser.step()

    if compiled:
        step()  # compile outside the FLOP counter
    flops = count_flops(step)  # also the warm-up: optimiser state exists from here on
    with peak_memory(device) as mem:
        seconds, roof = _with_roofline(step, batch * frames * 17, repeats, device)
    rate = flops / seconds / 1e9
    name = "train_step_compiled" if compiled else "train_step"
    return _row(benchmark=name, frames=frames, batch=batch, seconds=seconds,
                throughput=batch / seconds, unit="clips/s", gflop=flops / 1e9, gflops_per_s=rate,
                roofline_gflops=roof,
                roofline_ratio=rate / roof, peak_mem_mb=mem["bytes"] / 2**20, repeats=repeats)


def bench_forward(
    frames: int, batch: int, repeats: int, device, precision: str, compiled: bool = False
) -> dict:
    model = denoiser(frames, device).eval()
    forward = _compiled(model) if compiled else model
    x2d = torch.rand(batch, frames, 17, 2, device=device) * 2 - 1
    y_t = torch.randn(batch, frames, 17, 3, device=device)
    t = torch.full((batch,), 999, device=device)

    @torch.no_grad()
    def call() -> None:
        with autocast(precision, device):
            forward(x2d, y_t, t)

    if compiled:
        call()  # compile outside the FLOP counter
    flops = count_flops(call)
    with peak_memory(device) as mem:
        seconds, roof = _with_roofline(call, batch * frames * 17, repeats, device)
    rate = flops / seconds / 1e9
    name = "sampling_call_compiled" if compiled else "sampling_call"
    return _row(benchmark=name, frames=frames, batch=batch, seconds=seconds,
                throughput=batch * frames / seconds, unit="frames/s", gflop=flops / 1e9, gflops_per_s=rate,
                roofline_gflops=roof, roofline_ratio=rate / roof, peak_mem_mb=mem["bytes"] / 2**20,
                repeats=repeats)


def _compiled(model: torch.nn.Module) -> torch.nn.Module:
    """torch.compile of the model; its NaN scans of the inputs are off (they would break the graph)."""
    set_input_checks(model, False)
    return compile_model(model, enabled=True)


def bench_sampling(frames: int, clips: int, steps: int, device, precision: str) -> dict:
    """x0-DDIM over `clips` clips with flip test: the clip and its mirror ride in one batch of 2·clips."""
    model = denoiser(frames, device).eval()
    diffusion = Diffusion()
    gen = torch.Generator().manual_seed(1)
    x2d = torch.rand(clips, frames, 17, 2, generator=gen) * 2 - 1
    both = torch.cat([x2d, flip_keypoints(x2d, H36M)]).to(device)  # (2·clips, F, J, 2)
    noise = torch.randn(2 * clips, frames, 17, 3, generator=gen).to(device)
    with torch.no_grad():
        one_call = count_flops(lambda: model(both, noise, torch.full((2 * clips,), 999, device=device)))

    @torch.no_grad()
    def run() -> None:
        with autocast(precision, device):
            out = diffusion.sample(model, both, steps, noise=noise)
        pred = out[:clips]
        mirrored = flip_keypoints(out[clips:], H36M)
        (pred + mirrored) / 2

    with peak_memory(device) as mem:
        seconds = best_time(run, repeats=1, warmup=0)  # S model calls already; one run is long enough
    flops = one_call * steps
    rate = flops / seconds / 1e9
    # No roofline ratio here: one long run cannot be interleaved with the GEMM on a shared machine;
    # the sampling_call row gives the ratio of the same model call.
    return _row(benchmark="sampling_flip", frames=frames, steps=steps, batch=clips, seconds=seconds,
                throughput=clips * frames / seconds, unit="frames/s", gflop=flops / 1e9, gflops_per_s=rate,
                peak_mem_mb=mem["bytes"] / 2**20, repeats=1)


def bench_sustained_gemm(tokens: int, seconds: float, device, repeats: int = 3) -> dict:
    """The block's GEMMs back to back for about ``seconds`` (a training step's length), best of 3.

    Only reported, never used as the roofline: on a shared VM a 50 ms burst (``gemm_model``) finds
    quiet moments that a multi-second step cannot, so this rate sits 1-3% lower (README).
    """
    gemm, flops = model_gemm_case(tokens, device=str(device))
    calls = max(1, math.ceil(seconds / best_time(gemm, repeats=3, warmup=1)))

    def loop() -> None:
        for _ in range(calls):
            gemm()

    elapsed = best_time(loop, repeats=repeats, warmup=0)
    return _row(benchmark="gemm_model_sustained", batch=tokens, seconds=elapsed,
                throughput=calls * flops / elapsed / 1e9, unit="GFLOP/s", repeats=repeats)


def bench_loader(total_frames: int, frames: int, repeats: int) -> dict:
    sequences = synthetic_sequences(total_frames)
    rate = max(clips_per_second(sequences, frames, 64, 1) for _ in range(repeats))
    return _row(benchmark="loader", frames=frames, batch=64, throughput=rate, unit="clips/s", repeats=repeats,
                device="cpu")


def bench_metrics(n: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (n, 17, 3)).astype(np.float32)
    pred = gt + rng.normal(0, 40, (n, 17, 3)).astype(np.float32)
    rows = []
    for name, fn in [("p_mpjpe", metrics.p_mpjpe), ("mpjpe", metrics.mpjpe)]:
        seconds = best_time(lambda fn=fn: fn(pred, gt), repeats=repeats, warmup=1)
        rows.append(_row(benchmark=f"metric_{name}", batch=n, seconds=seconds, throughput=n / seconds,
                         unit="frames/s", repeats=repeats, device="cpu"))
    return rows


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the platform's processor or machine string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} CPU"


def _fmt(row: dict, key: str, spec: str) -> str:
    value = row[key]
    if value == "":
        return ""
    if key == "throughput" and value < 100:
        return format(value, ".3g")  # slow cases (0.0123 clips/s) keep three significant digits
    return format(value, spec)


def format_table(rows: list[dict]) -> str:
    fields = [("frames", "F", 5, "d"), ("steps", "S", 4, "d"), ("batch", "B", 7, "d"),
              ("seconds", "seconds", 10, ".3f"), ("throughput", "throughput", 14, ",.1f"),
              ("unit", "unit", 10, "s"), ("gflop", "GFLOP", 9, ".1f"), ("gflops_per_s", "GFLOP/s", 9, ".1f"),
              ("roofline_gflops", "roof", 8, ".1f"), ("roofline_ratio", "ratio", 7, ".0%"),
              ("peak_mem_mb", "peak MB", 9, ".0f")]
    header = f"{'benchmark':<23}" + "".join(f"{title:>{width}}" for _, title, width, _ in fields)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(f"{_fmt(row, key, spec):>{width}}" for key, _, width, spec in fields)
        lines.append(f"{row['benchmark']:<23}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller cases, one repeat (about a minute)")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.csv"))
    parser.add_argument("--repeats", type=int, default=None, help="best of N (default 5; 1 with --quick)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--compile", action="store_true",
                        help="add the F=81 training step and model call under torch.compile")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    threads = configure_cpu(args.threads) if device.type == "cpu" else set_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 5)
    cuda = device.type == "cuda"
    train_cases = [(27, 2), (81, 1)] if args.quick else [(27, 4), (81, 2), (243, 1)]
    if cuda:
        train_cases = [(27, 64), (81, 64), (243, 24)]
    sample_frames = 27 if args.quick else 81
    sample_clips = 256 if cuda else 1

    started = time.perf_counter()
    rows = []
    square = 1024 if args.quick else 2048
    if cuda:
        square = 8192
    rows.append(_row(benchmark="gemm_square", batch=square,
                     throughput=gemm_gflops(square, device=str(device)), unit="GFLOP/s", repeats=5))
    rows.append(_row(benchmark="gemm_model", batch=2 * 81 * 17,
                     throughput=model_gemm_gflops(2 * 81 * 17, device=str(device)), unit="GFLOP/s",
                     repeats=5))
    rows.append(bench_sustained_gemm(2 * 81 * 17, 0.5 if args.quick else 2.5, device))
    for frames, batch in train_cases:
        rows.append(bench_train(frames, batch, repeats, device, args.precision))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    rows.append(bench_forward(sample_frames, 2 if not cuda else 512, repeats, device, args.precision))
    if args.compile:
        frames, batch = train_cases[1] if len(train_cases) > 2 else train_cases[-1]
        rows.append(bench_train(frames, batch, repeats, device, args.precision, compiled=True))
        rows.append(bench_forward(sample_frames, 2 if not cuda else 512, repeats, device, args.precision,
                                  compiled=True))
        print(format_table(rows[-2:]).splitlines()[-2:], flush=True)
    for steps in (1, 5, 9, 20):
        rows.append(bench_sampling(sample_frames, sample_clips, steps, device, args.precision))
        print(format_table(rows[-1:]).splitlines()[-1], flush=True)
    rows.append(bench_loader(20_000 if args.quick else 100_000, 81, repeats))
    rows.extend(bench_metrics(20_000 if args.quick else 100_000, repeats))
    machine = torch.cuda.get_device_name(device) if cuda else cpu_name()
    for r in rows:
        r["device"] = r["device"] or machine
        r["threads"] = threads
        r["precision"] = args.precision if r["benchmark"].startswith(("train", "sampling")) else ""
    print(f"\n{machine}, {threads} threads, torch {torch.__version__}, best of {repeats}, "
          f"{time.perf_counter() - started:.0f} s")
    print(format_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {args.out}")
    return rows


if __name__ == "__main__":
    main()
