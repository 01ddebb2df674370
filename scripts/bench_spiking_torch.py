#!/usr/bin/env python3
"""PyTorch twin of trim-bench-spiking (apps/bench_spiking/bench_neurons.cpp).

Times forward + backward through time of IF (hard reset to 0, detach_reset, ATan(2)) and LIF
(tau 2, decay_input, hard reset to 0, Sigmoid(4)) on SEW ResNet-18's neuron input shapes with
T = 4, written as SpikingJelly's "torch" multi-step backend does: a Python loop over T of
element-wise tensor ops, with the surrogate in a torch.autograd.Function. The timing method
matches trim-bench-spiking (warm-up, then `repeats` runs of `iters` steps, median per step).

With --trim FILE (trim-bench-spiking's JSON lines for the same batch) it prints a table of both
and the ratio, per shape and weighted by how many layers of the network have each shape.

Usage: python3 scripts/bench_spiking_torch.py --batch 8 --threads 2 --trim trim.jsonl
"""
import argparse
import json
import math
import statistics
import time

import torch


class ATanSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        a = ctx.alpha
        return g * (a / 2) / (1 + (math.pi / 2 * a * x) ** 2), None


class SigmoidSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ctx.alpha * x)
        return g * ctx.alpha * s * (1 - s), None


def neuron_loop(x_seq, neuron):
    v = torch.zeros_like(x_seq[0])  # V_reset = 0
    out = []
    for t in range(x_seq.shape[0]):
        if neuron == "if":
            h = v + x_seq[t]
            s = ATanSpike.apply(h - 1.0, 2.0)
            sr = s.detach()
        else:
            h = v + (x_seq[t] - v) / 2.0
            s = SigmoidSpike.apply(h - 1.0, 4.0)
            sr = s
        v = h * (1.0 - sr)
        out.append(s)
    return torch.stack(out)


CASES = [(c, hw, count) for c, hw, count in [(64, 112, 1), (64, 56, 4), (128, 28, 5), (256, 14, 5), (512, 7, 5)]]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    p.add_argument("--trim", help="trim-bench-spiking JSON lines to compare with")
    p.add_argument("--out", help="write PyTorch's JSON lines here")
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rows = []
    for neuron in ("if", "lif"):
        for c, hw, count in CASES:
            shape = (a.steps, a.batch, c, hw, hw)
            x = (torch.randn(shape) + 0.8).requires_grad_(True)
            g = torch.randn(shape)

            def step():  # the gradient w.r.t. x without accumulating into a leaf, as trim's bench
                s = neuron_loop(x, neuron)
                (gx,) = torch.autograd.grad(s, x, g)

            for _ in range(a.warmup):
                step()
            ms = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                for _ in range(a.iters):
                    step()
                ms.append((time.perf_counter() - t0) * 1000 / a.iters)
            key = "x".join(str(d) for d in shape)
            rows.append(dict(op=neuron, shape=key, count=count, ms=statistics.median(ms), framework="torch",
                             torch=torch.__version__, threads=torch.get_num_threads()))
            print(json.dumps(rows[-1]), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    if a.trim:
        trim = {}
        with open(a.trim) as f:
            for line in f:
                r = json.loads(line)
                trim[(r["op"], r["shape"])] = r["ms"]
        print("\n| neuron | shape [T, N, C, H, W] | layers | trim ms | torch ms | trim/torch |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for neuron in ("if", "lif"):
            wt = wp = 0.0
            for r in rows:
                if r["op"] != neuron or (neuron, r["shape"]) not in trim:
                    continue
                t = trim[(neuron, r["shape"])]
                wt += t * r["count"]
                wp += r["ms"] * r["count"]
                print(f'| {neuron} | {r["shape"]} | {r["count"]} | {t:.2f} | {r["ms"]:.2f} | {t / r["ms"]:.2f} |')
            if wp > 0:
                print(f"| {neuron} | SEW ResNet-18 (weighted by layers) | 19 | {wt:.1f} | {wp:.1f} | {wt / wp:.2f} |")


if __name__ == "__main__":
    main()
