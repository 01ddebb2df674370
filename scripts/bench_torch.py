#!/usr/bin/env python3
"""PyTorch twin of trim-bench (apps/bench/bench_ops.cpp).

Times forward + backward of conv2d, batch_norm (training mode) and linear on the distinct layer
shapes of a network (--shapes: torchvision's ResNet-50 v1.5 or ResNet-18 at 224x224, SAP's CNN at
28x28) and writes one JSON line per case with the same
"op" and "shape" strings as trim-bench, so scripts/bench_compare.py can join the two. The timing
method is the same: warm-up steps, then `repeats` runs of `iters` steps each with the device
synchronised on both sides of every run; the median per-step time is reported.

cuDNN settings compare like with like: deterministic=True on both sides (trim keeps only
deterministic algorithms by default), and benchmark off on both by default (trim's default picks
algorithms from cuDNN's heuristics); --cudnn-benchmark turns it on here, and trim-bench's flag of
the same name turns on trim's cudnnFind search: pass it to both or neither. TF32 flags stay at
PyTorch's defaults (conv on, matmul off), which are trim's defaults too. trim caps cuDNN's
workspace at 1 GiB; PyTorch's cap is the free memory.

On the CPU pass the same thread count to both (OMP_NUM_THREADS; torch.set_num_threads follows it).

Usage: python3 scripts/bench_torch.py --device cuda --batch 64 --out torch.jsonl
       OMP_NUM_THREADS=2 python3 scripts/bench_torch.py --device cpu --shapes resnet18 --batch 8
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def conv_out(size, kernel, stride, pad):
    """Output size of a strided window (PyTorch's floor rule), as trim::window_out."""
    return (size + 2 * pad - (kernel - 1) - 1) // stride + 1


def shape_key(case):
    """The join key with trim-bench's output; must match Case::shape() in bench_ops.cpp."""
    if case["op"] == "conv2d":
        return (f'{case["n"]}x{case["c"]}x{case["h"]}x{case["w"]}'
                f' k{case["kernel"]} s{case["stride"]} p{case["pad"]} o{case["out"]}')
    if case["op"] == "batch_norm":
        return f'{case["n"]}x{case["c"]}x{case["h"]}x{case["w"]}'
    return f'{case["n"]}x{case["c"]} o{case["out"]}'


class Layers:
    """A network's layers in forward order; distinct() folds repeated shapes into counts."""

    def __init__(self, batch):
        self.batch, self.all = batch, []

    def conv(self, name, c, hw, out, k, s, input_grad=True):
        self.all.append(dict(op="conv2d", name=name, n=self.batch, c=c, h=hw, w=hw, out=out,
                             kernel=k, stride=s, pad=k // 2, input_grad=input_grad))
        return conv_out(hw, k, s, k // 2)

    def bn(self, name, c, hw):
        self.all.append(dict(op="batch_norm", name=name, n=self.batch, c=c, h=hw, w=hw))

    def fc(self, name, c, out):
        self.all.append(dict(op="linear", name=name, n=self.batch, c=c, out=out))

    def distinct(self):
        out = {}
        for case in self.all:
            key = (case["op"], shape_key(case))
            if key in out:
                out[key]["count"] += 1
            else:
                out[key] = dict(case, count=1)
        return list(out.values())


def resnet50_cases(batch):
    """Every conv, batch-norm and the classifier of ResNet-50 v1.5 (stride on the 3x3 conv of
    each stage's first block, as torchvision), deduplicated by shape in network order."""
    L = Layers(batch)
    hw = L.conv("conv1", 3, 224, 64, 7, 2, input_grad=False)
    L.bn("bn1", 64, hw)
    hw = conv_out(hw, 3, 2, 1)  # the 3x3/2 max-pool (not benchmarked)
    in_c = 64
    for stage, blocks in enumerate([3, 4, 6, 3]):
        width = 64 << stage
        out_c = width * 4
        for b in range(blocks):
            s = 2 if b == 0 and stage > 0 else 1
            p = f"layer{stage + 1}.{b}."
            L.conv(p + "conv1", in_c, hw, width, 1, 1)
            L.bn(p + "bn1", width, hw)
            hw2 = L.conv(p + "conv2", width, hw, width, 3, s)
            L.bn(p + "bn2", width, hw2)
            L.conv(p + "conv3", width, hw2, out_c, 1, 1)
            L.bn(p + "bn3", out_c, hw2)
            if b == 0:
                L.conv(p + "downsample.0", in_c, hw, out_c, 1, s)
                L.bn(p + "downsample.1", out_c, hw2)
            in_c, hw = out_c, hw2
    L.fc("fc", in_c, 1000)
    return L.distinct()


def resnet18_cases(batch):
    """torchvision's ResNet-18 at 224x224 (basic blocks; strided first block of stages 2-4 with a
    1x1 strided downsample)."""
    L = Layers(batch)
    hw = L.conv("conv1", 3, 224, 64, 7, 2, input_grad=False)
    L.bn("bn1", 64, hw)
    hw = conv_out(hw, 3, 2, 1)
    in_c = 64
    for stage in range(4):
        width = 64 << stage
        for b in range(2):
            s = 2 if b == 0 and stage > 0 else 1
            p = f"layer{stage + 1}.{b}."
            hw2 = L.conv(p + "conv1", in_c, hw, width, 3, s)
            L.bn(p + "bn1", width, hw2)
            L.conv(p + "conv2", width, hw2, width, 3, 1)
            L.bn(p + "bn2", width, hw2)
            if s != 1 or in_c != width:
                L.conv(p + "downsample.0", in_c, hw, width, 1, s)
                L.bn(p + "downsample.1", width, hw2)
            in_c, hw = width, hw2
    L.fc("fc", in_c, 1000)
    return L.distinct()


def sap_cnn_cases(batch):
    """SAP's CNN on 28x28 (models/cnn.cpp): conv3x3 + BN per width, 2x2 max-pools between."""
    L = Layers(batch)
    in_c, hw = 1, 28
    for i, width in enumerate([64, 128, 256, 512]):
        L.conv(f"conv{i + 1}", in_c, hw, width, 3, 1, input_grad=i > 0)
        L.bn(f"bn{i + 1}", width, hw)
        in_c = width
        if i < 3:
            hw //= 2
    L.fc("fc", in_c, 10)
    return L.distinct()


NETWORKS = {"resnet50": resnet50_cases, "resnet18": resnet18_cases, "sap_cnn": sap_cnn_cases}


def make_step(case, device):
    """One forward + backward step of a case, with its tensors allocated once. Gradients are set
    to None after each step, as zero_grad(set_to_none=True) between training steps."""
    def randn(*shape, std=1.0):
        return torch.randn(*shape, device=device) * std

    if case["op"] == "conv2d":
        n, c, h, w, out, k = (case[f] for f in ("n", "c", "h", "w", "out", "kernel"))
        x = randn(n, c, h, w).requires_grad_(case["input_grad"])
        weight = randn(out, c, k, k, std=math.sqrt(2.0 / (c * k * k))).requires_grad_()
        g = randn(n, out, conv_out(h, k, case["stride"], case["pad"]),
                  conv_out(w, k, case["stride"], case["pad"]))

        def step():
            y = F.conv2d(x, weight, None, case["stride"], case["pad"])
            y.backward(g)
            x.grad = None
            weight.grad = None
        return step

    if case["op"] == "batch_norm":
        n, c, h, w = (case[f] for f in ("n", "c", "h", "w"))
        x = randn(n, c, h, w).requires_grad_()
        gamma = torch.ones(c, device=device, requires_grad=True)
        beta = torch.zeros(c, device=device, requires_grad=True)
        mean = torch.zeros(c, device=device)
        var = torch.ones(c, device=device)
        g = randn(n, c, h, w)

        def step():
            y = F.batch_norm(x, mean, var, gamma, beta, training=True, momentum=0.1, eps=1e-5)
            y.backward(g)
            x.grad = None
            gamma.grad = None
            beta.grad = None
        return step

    if case["op"] == "linear":
        n, c, out = case["n"], case["c"], case["out"]
        x = randn(n, c).requires_grad_()
        weight = randn(out, c, std=1.0 / math.sqrt(c)).requires_grad_()
        bias = randn(out, std=1.0 / math.sqrt(c)).requires_grad_()
        g = randn(n, out)

        def step():
            y = F.linear(x, weight, bias)
            y.backward(g)
            x.grad = None
            weight.grad = None
            bias.grad = None
        return step

    raise ValueError(f"unknown op {case['op']!r}")


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
    ap.add_argument("--shapes", default="resnet50", choices=sorted(NETWORKS),
                    help="the network whose layer shapes are timed (default resnet50)")
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

    cases = [c for c in NETWORKS[args.shapes](args.batch)
             if args.filter in f'{c["op"]} {c["name"]} {shape_key(c)}']
    if not cases:
        sys.exit(f"bench_torch: --filter {args.filter!r} matches none of the {args.shapes} cases")

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
        record = dict(op=case["op"], shape=shape_key(case), name=case["name"], count=case["count"],
                      ms=ms, ms_min=lo, ms_max=hi, batch=args.batch, iters=args.iters,
                      repeats=args.repeats, device=str(device), framework="torch",
                      torch=torch.__version__, cudnn_benchmark=args.cudnn_benchmark,
                      shapes=args.shapes)
        out.write(json.dumps(record) + "\n")
        out.flush()
        print(f"bench_torch: [{i + 1}/{len(cases)}] {case['op']} {shape_key(case)}: {ms:.4g} ms",
              file=sys.stderr)
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
