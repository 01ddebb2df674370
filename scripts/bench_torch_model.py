#!/usr/bin/env python3
"""PyTorch twin of `trim-bench model` (apps/bench/bench_model.cpp).

Times whole training steps of a model on random input: forward, cross-entropy, zero_grad
(set_to_none), backward, SGD step (lr 0.01, momentum 0.9, weight decay 5e-4 on conv and linear
weights only, as trim's default), and writes one JSON line with the same "op" and "shape" strings
as trim-bench, so scripts/bench_compare.py joins the two. Timing as trim-bench: warm-up steps, then
`repeats` runs of `iters` steps, median per-step time.

Models: resnet18 (torchvision's), sap_cnn (SAP's CNN as models/cnn.cpp builds it: per width
conv3x3 with bias + BN + ReLU, 2x2 max-pool between, global average pool, Linear).

Usage: OMP_NUM_THREADS=2 python3 scripts/bench_torch_model.py resnet18 --batch 8 --input 3,224,224
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sap_cnn(in_channels, num_classes, widths=(64, 128, 256, 512)):
    layers, c = [], in_channels
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=True), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        if i + 1 < len(widths):
            layers.append(nn.MaxPool2d(2, 2))
        c = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def build(name, in_channels, classes):
    if name == "sap_cnn":
        return sap_cnn(in_channels, classes or 10)
    if name in ("resnet18", "resnet34", "resnet50"):
        import torchvision
        model = getattr(torchvision.models, name)(num_classes=classes or 1000)
        if in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        return model
    sys.exit(f"bench_torch_model: unknown model {name!r} (expected sap_cnn, resnet18, resnet34, resnet50)")


def input_dims(text):
    try:
        dims = [int(v) for v in text.split(",")]
    except ValueError:
        dims = []
    if len(dims) != 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W as three positive integers, got {text!r}")
    return dims


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--input", type=input_dims, default=[3, 224, 224], help="C,H,W")
    ap.add_argument("--classes", type=int, default=0)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", help="append the JSON line to this file instead of stdout")
    args = ap.parse_args()

    device = torch.device(args.device)
    c, h, w = args.input
    model = build(args.name, c, args.classes).to(device).train()
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, c, h, w, device=device)
    with torch.no_grad():
        classes = model(x).shape[1]
    labels = (torch.arange(args.batch, device=device) * 7919) % classes

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step():
        loss = F.cross_entropy(model(x), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    runs, cpu_runs = [], []  # wall and process CPU time (all threads), as trim-bench model
    for _ in range(args.repeats):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.iters):
            step()
        sync()
        cpu_runs.append((time.process_time() - c0) * 1e3 / args.iters)
        runs.append((time.perf_counter() - t0) * 1e3 / args.iters)
    ms = statistics.median(runs)
    shape = f"{args.name} {args.batch}x{c}x{h}x{w}"
    record = dict(op="model", shape=shape, name=args.name, count=1, ms=ms, ms_min=min(runs), ms_max=max(runs),
                  images_per_s=1e3 * args.batch / ms, cpu_ms_min=min(cpu_runs), batch=args.batch, iters=args.iters, repeats=args.repeats,
                  device=str(device), threads=torch.get_num_threads(), framework="torch", torch=torch.__version__)
    line = json.dumps(record) + "\n"
    if args.out:
        with open(args.out, "a") as f:
            f.write(line)
    else:
        sys.stdout.write(line)
    print(f"bench_torch_model: {shape} on {device}, {torch.get_num_threads()} threads: {ms:.4g} ms per step, "
          f"{1e3 * args.batch / ms:.1f} images/s", file=sys.stderr)


if __name__ == "__main__":
    main()
