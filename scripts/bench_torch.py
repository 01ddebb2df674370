#!/usr/bin/env python3
"""PyTorch twin of trim-bench (apps/bench/bench_ops.cpp).

Times forward + backward of conv2d, batch_norm (training mode) and linear on the cases trim-bench
lists for a network (`trim-bench --shapes NAME --batch N --list`: the distinct layer shapes of a
zoo model, e.g. torchvision's ResNet-50 v1.5 or ResNet-18 at 224x224, SAP's CNN at 28x28), so both
sides time the same cases, and writes one JSON line per case with the same "op" and "shape"
strings as trim-bench, so scripts/bench_compare.py can join the two. The timing method is the
same: warm-up steps, then `repeats` runs of `iters` steps each with the device synchronised on
both sides of every run; the median per-step time is reported.

cuDNN settings compare like with like: deterministic=True on both sides (trim keeps only
deterministic algorithms by default), and benchmark off on both by default (trim's default picks
algorithms from cuDNN's heuristics); --cudnn-benchmark turns it on here, and trim-bench's flag of
the same name turns on trim's cudnnFind search: pass it to both or neither. TF32 flags stay at
PyTorch's defaults (conv on, matmul off), which are trim's defaults too. trim caps cuDNN's
workspace at 1 GiB; PyTorch's cap is the free memory.

On the CPU pass the same thread count to both (OMP_NUM_THREADS; torch.set_num_threads follows it).

Usage: python3 scripts/bench_torch.py --device cuda --batch 64 --out torch.jsonl
       OMP_NUM_THREADS=2 python3 scripts/bench_torch.py --device cpu --shapes resnet18 --batch 8
       (--trim-bench PATH: the trim-bench that lists the cases; default build/bin/trim-bench)
"""
import argparse
import json
import math
import pathlib
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent


def trim_cases(trim_bench, shapes, batch, text_filter):
    """The cases `trim-bench --list` prints: op, shape (the join key), name, count, the inputs'
    shapes and whether they take a gradient, and the op's integer arguments."""
    cmd = [str(trim_bench), "--shapes", shapes, "--batch", str(batch), "--list"]
    if text_filter:
        cmd += ["--filter", text_filter]
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        sys.exit(f"bench_torch: cannot run {trim_bench}: {e.strerror} (build trim or pass --trim-bench)")
    if r.returncode != 0:
        sys.exit(f"bench_torch: {' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def make_step(case, device):
    """One forward + backward step of a case, with its tensors allocated once. Gradients are set
    to None after each step, as zero_grad(set_to_none=True) between training steps."""
    def randn(shape, std=1.0):
        return torch.randn(*shape, device=device) * std

    inputs, args = case["inputs"], case["args"]
    x = randn(inputs[0]["shape"]).requires_grad_(inputs[0]["grad"])
    g_shape = None
    if case["op"] == "conv2d":
        w_shape = inputs[1]["shape"]
        fan_in = w_shape[1] * w_shape[2] * w_shape[3]
        weight = randn(w_shape, std=math.sqrt(2.0 / fan_in)).requires_grad_()
        bias = randn(inputs[2]["shape"]).requires_grad_() if len(inputs) > 2 else None
        stride, padding = (args["stride_h"], args["stride_w"]), (args["pad_h"], args["pad_w"])
        dilation, groups = (args["dil_h"], args["dil_w"]), args["groups"]
        params = [weight] + ([bias] if bias is not None else [])

        def forward():
            return F.conv2d(x, weight, bias, stride, padding, dilation, groups)
    elif case["op"] == "batch_norm":
        c = inputs[0]["shape"][1]
        gamma = torch.ones(c, device=device, requires_grad=True)
        beta = torch.zeros(c, device=device, requires_grad=True)
        mean = torch.zeros(c, device=device)
        var = torch.ones(c, device=device)
        params = [gamma, beta]

        def forward():
            return F.batch_norm(x, mean, var, gamma, beta, training=bool(args["training"]), momentum=0.1, eps=1e-5)
    elif case["op"] == "linear":
        c = inputs[0]["shape"][1]
        weight = randn(inputs[1]["shape"], std=1.0 / math.sqrt(c)).requires_grad_()
        bias = randn(inputs[2]["shape"], std=1.0 / math.sqrt(c)).requires_grad_() if len(inputs) > 2 else None
        params = [weight] + ([bias] if bias is not None else [])

        def forward():
            return F.linear(x, weight, bias)
    else:
        sys.exit(f"bench_torch: {case['op']} {case['shape']}: no PyTorch twin for this op here "
                 "(expected conv2d, batch_norm or linear)")

    with torch.no_grad():
        g_shape = forward().shape
    g = randn(g_shape)

    def step():
        forward().backward(g)
        x.grad = None
        for p in params:
            p.grad = None
    return step


def time_steps(step, device, warmup, iters, repeats):
    """Median, min and max per-step milliseconds over `repeats` synchronised runs."""
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    runs = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        sync()
        runs.append((time.perf_counter() - t0) * 1e3 / iters)
    return statistics.median(runs), min(runs), max(runs)


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cpu | cuda | cuda:N (default cuda)")
    ap.add_argument("--batch", type=positive, default=64)
    ap.add_argument("--iters", type=positive, default=20, help="steps per timed run")
    ap.add_argument("--repeats", type=positive, default=5, help="timed runs per case (median reported)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before the timed runs")
    ap.add_argument("--shapes", default="resnet50",
                    help="the zoo model whose layer shapes are timed, as trim-bench --shapes (default resnet50)")
    ap.add_argument("--trim-bench", default=str(ROOT / "build" / "bin" / "trim-bench"),
                    help="the trim-bench that lists the cases (default build/bin/trim-bench)")
    ap.add_argument("--filter", default="", help="only cases whose op, layer name or shape contains this")
    ap.add_argument("--out", help="write the JSON lines here instead of stdout")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="torch.backends.cudnn.benchmark = True (pass trim-bench the same flag)")
    args = ap.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit(f"bench_torch: --device {args.device}: this PyTorch sees no CUDA device")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        sys.exit(f"bench_torch: --device {args.device}: expected cpu, cuda or cuda:N")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    torch.backends.cudnn.deterministic = True

    cases = trim_cases(args.trim_bench, args.shapes, args.batch, args.filter)

    out = open(args.out, "w") if args.out else sys.stdout
    print(f"bench_torch: torch {torch.__version__}, {len(cases)} {args.shapes} cases on {device}, "
          f"{torch.get_num_threads()} threads, batch {args.batch}, "
          f"cudnn {torch.backends.cudnn.version() if device.type == 'cuda' else '-'}, "
          f"tf32 conv {torch.backends.cudnn.allow_tf32} matmul {torch.backends.cuda.matmul.allow_tf32}, "
          f"cudnn benchmark {torch.backends.cudnn.benchmark}",
          file=sys.stderr)
    for i, case in enumerate(cases):
        step = make_step(case, device)
        ms, lo, hi = time_steps(step, device, args.warmup, args.iters, args.repeats)
        del step  # frees the case's tensors before the next case allocates
        record = dict(op=case["op"], shape=case["shape"], name=case["name"], count=case["count"],
                      ms=ms, ms_min=lo, ms_max=hi, batch=args.batch, iters=args.iters,
                      repeats=args.repeats, device=str(device), framework="torch",
                      torch=torch.__version__, cudnn_benchmark=args.cudnn_benchmark,
                      shapes=args.shapes)
        out.write(json.dumps(record) + "\n")
        out.flush()
        print(f"bench_torch: [{i + 1}/{len(cases)}] {case['op']} {case['shape']}: {ms:.4g} ms",
              file=sys.stderr)
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
