"""GPU benchmarks of the fast paths: prints a table and writes results/benchmarks_gpu.csv.

    python -m benchmarks.gpu [--quick] [--out results/benchmarks_gpu.csv]

Paper-size Diff3DHPE-M denoiser (D=512, 8+8 blocks). Every case is one row; a case that fails (out of
memory, a compile error) becomes a row with its error, so one bad case never loses the others.
- peak:     the card's own bf16 and fp32 GEMM TFLOP/s (8192³ on random data): the MFU denominators;
- train:    one training step (x0 loss, backward, fused AdamW) at F = 27, 81, 243: fp32 eager (the
            plain path), bf16 eager, bf16 + torch.compile, and bf16 + gradient checkpointing at F=243;
- sample:   x0-DDIM with flip at F = 243 (clip and mirror in one batch): fp32 eager, bf16 autocast
            eager / CUDA-graph replay / compiled + graph, and bf16-weights (LowPrecisionInference: the
            whole model in bf16) eager / compiled + graph; then S = 1, 9, 20 on the fastest.
MFU = counted matmul FLOP/s (torch.utils.flop_counter, on the eager model) / peak; both the measured
peak and the data-sheet peak (989 TFLOP/s dense bf16 for H100/H200 SXM) are reported.
Times: CUDA synchronised, best of N after warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import time
import traceback
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import best_time, count_flops, gemm_gflops, peak_memory  # noqa: E402
from benchmarks.run import denoiser  # noqa: E402
from diff3dhpe.data.augment import flip_keypoints  # noqa: E402
from diff3dhpe.data.skeleton import H36M  # noqa: E402
from diff3dhpe.diffusion import Diffusion  # noqa: E402
from diff3dhpe.fastpaths import (  # noqa: E402
    GraphedSampler,
    LowPrecisionInference,
    adamw,
    autocast,
    compile_model,
    set_attention_backend,
    set_grad_checkpointing,
    set_input_checks,
)
from diff3dhpe.plan import GPU_PEAK_TFLOPS  # noqa: E402

COLUMNS = ["benchmark", "variant", "precision", "frames", "steps", "batch", "seconds", "throughput", "unit",
           "tflop", "tflops_per_s", "mfu_measured_peak", "mfu_datasheet_peak", "peak_mem_gb", "device",
           "torch", "error"]


# clips per training step: about 66k tokens (clips x F x 17 joints) at every F, enough to fill the GPU
TRAIN_BATCH = {27: 144, 81: 48, 243: 16}
TRAIN_VARIANTS = ["fp32:eager", "bf16:eager", "bf16:compiled", "bf16:compiled spatial-bmm"]
SAMPLE_VARIANTS = ["fp32:eager", "bf16:eager", "bf16:graph", "bf16:compiled+graph", "bf16-weights:eager",
                   "bf16-weights:compiled+graph", "bf16-weights:eager spatial-bmm",
                   "bf16-weights:compiled+graph spatial-bmm"]


def _peak_key(name: str) -> str | None:
    return next((key for key in GPU_PEAK_TFLOPS if key in name), None)


class Suite:
    def __init__(self, out: Path, repeats: int, device: str = "cuda"):
        self.out, self.repeats, self.rows = out, repeats, []
        self.device = torch.device(device)
        self.name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        self.peaks = {}

    def add(self, **values) -> None:
        row = dict.fromkeys(COLUMNS, "")
        row.update(values, device=self.name, torch=torch.__version__)
        rate, precision = row["tflops_per_s"], row["precision"]
        peak = "bf16" if str(precision).startswith("bf16") else precision  # bf16-weights: bf16 units
        if rate != "" and peak in ("bf16", "fp32"):
            if peak in self.peaks:
                row["mfu_measured_peak"] = rate / self.peaks[peak]
            key = _peak_key(self.name)
            if key:
                row["mfu_datasheet_peak"] = rate / GPU_PEAK_TFLOPS[key][peak]
        self.rows.append(row)
        print(format_row(row), flush=True)
        self.write()  # after every row: a later crash or time-out keeps what was measured

    def case(self, fn, **keys) -> None:
        """``fn(self, **keys)``; an exception (out of memory, a compile error) becomes an error row."""
        try:
            fn(self, **keys)
        except Exception as error:  # noqa: BLE001 - record it and go on with the other cases
            traceback.print_exc()
            known = {k: v for k, v in keys.items() if k in COLUMNS}
            other = " ".join(f"{k}={v}" for k, v in keys.items() if k not in COLUMNS)
            known["variant"] = " ".join(filter(None, [str(known.get("variant", "")), other]))
            self.add(benchmark=fn.__name__.removesuffix("_case"), error=repr(error)[:300], **known)
        finally:
            torch.cuda.empty_cache()

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with open(self.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            for r in self.rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def format_row(row: dict) -> str:
    def f(key, spec):
        return "" if row[key] == "" else format(row[key], spec)

    if row["error"]:
        return f"{row['benchmark']:<8}{row['variant']:<22}{row['precision']:<5} F={row['frames']} " \
               f"S={row['steps']} B={row['batch']}  ERROR {row['error'][:120]}"
    return (f"{row['benchmark']:<8}{row['variant']:<22}{row['precision']:<5}{f('frames', '>5')}"
            f"{f('steps', '>4')}{f('batch', '>6')}{f('seconds', '>10.4f')}{f('throughput', '>13,.0f')}"
            f" {row['unit']:<9}"
            f"{f('tflops_per_s', '>8.1f')}{f('mfu_measured_peak', '>7.1%')}{f('mfu_datasheet_peak', '>7.1%')}"
            f"{f('peak_mem_gb', '>7.1f')}")


def measure_peaks(suite: Suite) -> None:
    for precision, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        tflops = gemm_gflops(8192, dtype=dtype, device="cuda", repeats=10) / 1e3
        suite.peaks[precision] = tflops
        suite.add(benchmark="peak", variant="gemm_8192", precision=precision, batch=8192, tflops_per_s=tflops,
                  throughput=tflops, unit="TFLOP/s")


def train_case(suite: Suite, frames: int, batch: int, precision: str, variant: str) -> None:
    """One training step; FLOPs counted on the eager model (the compiled graph runs the same matmuls)."""
    device = suite.device
    model = denoiser(frames, device).train()
    if variant == "checkpointing":
        set_grad_checkpointing(model, True)
    optimiser = adamw(model.parameters(), lr=4e-4, weight_decay=0.1)
    diffusion = Diffusion()
    gen = torch.Generator().manual_seed(0)
    x2d = (torch.rand(batch, frames, 17, 2, generator=gen) * 2 - 1).to(device)
    y0 = (torch.rand(batch, frames, 17, 3, generator=gen) * 2 - 1).to(device)
    if "spatial-bmm" in variant:
        set_attention_backend(model, "bmm", spatial_only=True)
    forward = model
    if variant.startswith("compiled"):
        set_input_checks(model, False)
        forward = compile_model(model)

    def step(net=forward) -> None:
        optimiser.zero_grad(set_to_none=True)
        with autocast(precision, device):
            loss = diffusion.x0_loss(net, x2d, y0, generator=gen)
        loss.backward()
        optimiser.step()

    flops = count_flops(lambda: step(model))  # eager, also creates the optimiser state
    step()  # warm-up (compiles when compiled)
    with peak_memory(device) as mem:
        seconds = best_time(step, repeats=suite.repeats, warmup=1)
    suite.add(benchmark="train", variant=variant, precision=precision, frames=frames, batch=batch,
              seconds=seconds, throughput=batch / seconds, unit="clips/s", tflop=flops / 1e12,
              tflops_per_s=flops / seconds / 1e12, peak_mem_gb=mem["bytes"] / 2**30)


def sample_case(suite: Suite, frames: int, batch: int, steps: int, precision: str, variant: str) -> None:
    """x0-DDIM with flip test over ``batch`` clips: clip and mirror ride in one batch of 2·batch."""
    clips, label = batch, precision
    device = suite.device
    model = denoiser(frames, device).eval()
    diffusion = Diffusion()
    gen = torch.Generator().manual_seed(1)
    x2d = torch.rand(clips, frames, 17, 2, generator=gen) * 2 - 1
    both = torch.cat([x2d, flip_keypoints(x2d, H36M)]).to(device)
    noise = torch.randn(2 * clips, frames, 17, 3, generator=gen).to(device)
    if precision == "bf16-weights":  # a bf16 copy of the whole model, no autocast
        model, precision = LowPrecisionInference(model), "fp32"
    with torch.no_grad(), autocast(precision, device):
        flops = steps * count_flops(lambda: model(both, noise, torch.full((2 * clips,), 999, device=device)))
    if "spatial-bmm" in variant:
        set_attention_backend(model, "bmm", spatial_only=True)
    net = model
    if variant.startswith("compiled"):
        set_input_checks(model, False)
        net = compile_model(model, mode="max-autotune-no-cudagraphs" if "autotune" in variant else None)
    with autocast(precision, device):
        if "graph" in variant:
            sampler = GraphedSampler(diffusion, net, tuple(both.shape), steps, device=device)
        else:
            @torch.no_grad()
            def sampler(x, y):
                return diffusion.sample(net, x, steps, noise=y)

        def run() -> None:
            out = sampler(both, noise)
            (out[:clips] + flip_keypoints(out[clips:], H36M)) / 2

        run()
        with peak_memory(device) as mem:
            seconds = best_time(run, repeats=suite.repeats, warmup=1)
    suite.add(benchmark="sample", variant=variant, precision=label, frames=frames, steps=steps,
              batch=clips, seconds=seconds, throughput=clips * frames / seconds, unit="frames/s",
              tflop=flops / 1e12, tflops_per_s=flops / seconds / 1e12, peak_mem_gb=mem["bytes"] / 2**30)


def _category(kernel: str) -> str:
    name = kernel.lower()
    if any(key in name for key in ("flash", "fmha", "attention", "attn")):
        return "attention"
    if any(key in name for key in ("gemm", "cutlass", "nvjet", "sm90_xmma", "cublas", "splitk")):
        return "gemm"
    return "other (norms, elementwise, copies, reductions)"


def profile_case(suite: Suite, frames: int, batch: int, precision: str, variant: str) -> None:
    """Device-time share of GEMMs, attention and everything else in one eager call (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    device = suite.device
    model = denoiser(frames, device)
    diffusion = Diffusion()
    gen = torch.Generator().manual_seed(0)
    x2d = (torch.rand(batch, frames, 17, 2, generator=gen) * 2 - 1).to(device)
    y0 = (torch.rand(batch, frames, 17, 3, generator=gen) * 2 - 1).to(device)
    t = torch.full((batch,), 999, device=device)
    if variant == "train":
        model.train()

        def call() -> None:
            with autocast(precision, device):
                loss = diffusion.x0_loss(model, x2d, y0, generator=gen)
            loss.backward()
    else:
        net = LowPrecisionInference(model) if precision == "bf16-weights" else model.eval()

        @torch.no_grad()
        def call() -> None:
            with autocast("bf16" if precision == "bf16" else "fp32", device):
                net(x2d, y0, t)

    call()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        call()
        torch.cuda.synchronize()
    shares: dict[str, float] = {}
    for event in prof.key_averages():
        shares[_category(event.key)] = shares.get(_category(event.key), 0.0) + event.self_device_time_total
    total = sum(shares.values())
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    print(f"profile {variant} {precision} F={frames} B={batch}: {total / 1e3:.1f} ms device time; "
          + ", ".join(f"{name} {us / total:.0%}" for name, us in ranked))
    print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=12, max_name_column_width=70))


def attention_case(suite: Suite, tokens: int, length: int, kernel: str, training: bool) -> None:
    """One attention layer (D=512, 8 heads, PDE) over ``tokens`` tokens in groups of ``length``:
    17 = the joints of a frame (spatial blocks), 243 = the frames of a joint (temporal blocks)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from diff3dhpe.models.attention import Attention

    device = suite.device
    layer = Attention(512, 8, pde=True, backend="bmm" if kernel == "bmm" else "sdpa").to(device)
    x = torch.randn(tokens // length, length, 512, device=device, requires_grad=training)
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}

    def call() -> None:
        chosen = sdpa_kernel(backends[kernel]) if kernel in backends else contextlib.nullcontext()
        with chosen, autocast("bf16", device), torch.set_grad_enabled(training):
            out = layer(x)
            if training:
                out.float().square().mean().backward()

    call()
    seconds = best_time(call, repeats=suite.repeats, warmup=1)
    suite.add(benchmark="attn", variant=f"{kernel} N={length}", precision="bf16", frames=length,
              batch=tokens, seconds=seconds, throughput=tokens / seconds, unit="tokens/s",
              steps="fwd+bwd" if training else "fwd")


def _case_spec(text: str) -> tuple[str, str]:
    """argparse type of --train-variants / --sample-variants: ``PRECISION:VARIANT``."""
    precision, _, variant = text.partition(":")
    if precision not in ("fp32", "bf16", "bf16-weights") or not variant:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PRECISION:VARIANT with PRECISION fp32, bf16 or "
                                         "bf16-weights, e.g. bf16:compiled or bf16-weights:compiled+graph")
    return precision, variant


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="F=243 training only, 3 repeats")
    parser.add_argument("--train-frames", type=int, nargs="+", default=None, choices=sorted(TRAIN_BATCH),
                        help="training cases to run (default 27 81 243; 243 with --quick)")
    parser.add_argument("--no-sampling", action="store_true", help="training cases only")
    parser.add_argument("--train-variants", nargs="+", type=_case_spec, metavar="PRECISION:VARIANT",
                        help=f"training cases (default {' '.join(TRAIN_VARIANTS)})")
    parser.add_argument("--sample-variants", nargs="+", type=_case_spec, metavar="PRECISION:VARIANT",
                        help=f"sampling cases at S=5 (default {' '.join(SAMPLE_VARIANTS)})")
    parser.add_argument("--no-sweep", action="store_true", help="skip the S = 1, 9, 20 sampling sweep")
    parser.add_argument("--attention", action="store_true",
                        help="first time one attention layer per kernel at N = 17 and 243")
    parser.add_argument("--profile", action="store_true",
                        help="first print device-time shares (GEMM / attention / other) of eager calls")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks_gpu.csv"))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--clips", type=int, default=64, help="clips per sampling call (x2 with flip)")
    args = parser.parse_args(argv)
    if args.clips < 1 or (args.repeats is not None and args.repeats < 1):
        parser.error("--clips and --repeats must be >= 1")
    if not torch.cuda.is_available():
        parser.error("no CUDA device: the GPU suite needs one (CPU figures: python -m benchmarks.run)")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 rows are true fp32, the plain path
    suite = Suite(args.out, args.repeats or (3 if args.quick else 5))
    started = time.perf_counter()
    print(f"{suite.name}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    measure_peaks(suite)
    if args.attention:
        for training, tokens in ((False, 128 * 243 * 17), (True, 16 * 243 * 17)):
            for length in (17, 243):
                for kernel in ("default", "flash", "efficient", "cudnn", "math", "bmm"):
                    suite.case(attention_case, tokens=tokens, length=length, kernel=kernel, training=training)
    if args.profile:
        for variant, precision, batch in (("train", "bf16", 16), ("sample", "bf16", 128),
                                          ("sample", "bf16-weights", 128)):
            profile_case(suite, 243, batch, precision, variant)
    for frames in args.train_frames or ([243] if args.quick else sorted(TRAIN_BATCH)):
        batch = TRAIN_BATCH[frames]
        for precision, variant in args.train_variants or [_case_spec(case) for case in TRAIN_VARIANTS]:
            suite.case(train_case, frames=frames, batch=batch, precision=precision, variant=variant)
    if args.train_variants is None:
        suite.case(train_case, frames=243, batch=16, precision="bf16", variant="checkpointing")
    if args.no_sampling:
        return _finish(suite, started, args.out)
    for precision, variant in args.sample_variants or [_case_spec(case) for case in SAMPLE_VARIANTS]:
        suite.case(sample_case, frames=243, batch=args.clips, steps=5, precision=precision, variant=variant)
    done = [r for r in suite.rows if r["benchmark"] == "sample" and not r["error"]]
    if done and not args.no_sweep:  # how cost grows with S, on the fastest sampling path
        best = max(done, key=lambda r: r["throughput"])
        for steps in (1, 9, 20):
            suite.case(sample_case, frames=243, batch=args.clips, steps=steps, precision=best["precision"],
                       variant=best["variant"])
    return _finish(suite, started, args.out)


def _finish(suite: Suite, started: float, out: Path) -> list[dict]:
    print(f"\n{time.perf_counter() - started:.0f} s; wrote {out}")
    for row in suite.rows:
        print(format_row(row))
    return suite.rows


if __name__ == "__main__":
    main()
