#!/usr/bin/env python3
"""PyTorch twin of `trim-bench model` (apps/bench/bench_model.cpp).

Times whole training steps of a model on random input: forward, cross-entropy, zero_grad
(set_to_none), backward, SGD step (lr 0.01, momentum 0.9, weight decay 5e-4 on conv and linear
weights only, as trim's default), and writes one JSON line with the same "op" and "shape" strings
as trim-bench, so scripts/bench_compare.py joins the two. Timing as trim-bench: warm-up steps, then
`repeats` runs of `iters` steps, median per-step time.

Models: resnet18/34/50 (torchvision's), sap_cnn (SAP's CNN as models/cnn.cpp builds it: per width
conv3x3 with bias + BN + ReLU, 2x2 max-pool between, global average pool, Linear), sew_resnet18
(SEW ResNet-18 as models/sew_resnet.h builds it: T = 4, IF neurons with V_th 1, hard reset to 0,
detached reset and the ATan(2) surrogate, ADD connections; stem conv + BN once, then repeated over T
with T folded into the batch; the head averages the pooled features over T before fc), spiking_cnn
(trim's zoo spiking_cnn at its defaults: T = 4, conv-BN-IF-pool for widths 32 and 64, fc).

Precision: --amp runs forward and loss under torch.autocast(bfloat16) (PyTorch's mixed precision:
bf16 convolutions and matrix products, f32 master weights, no loss scaling needed for bf16);
--channels-last puts the model and the input in channels_last (NHWC) memory format. The record
says which ("amp", "channels_last"), and "precision" is "bf16" under --amp, else "fp32".

Usage: OMP_NUM_THREADS=2 python3 scripts/bench_torch_model.py resnet18 --batch 8 --input 3,224,224
       python3 scripts/bench_torch_model.py resnet50 --device cuda --batch 64 --amp --channels-last
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


# The ATan surrogate spike of SpikingJelly's torch backend, shared with the neuron benchmark.
from bench_spiking_torch import ATanSpike  # noqa: E402 (scripts/ is sys.path[0])


class IFNode(nn.Module):
    """Multi-step IF neuron over [T * N, ...] (T leading): V_th 1, hard reset to 0, detached reset.
    The membrane potential stays f32 under autocast (as trim's policy keeps it)."""

    def __init__(self, T):
        super().__init__()
        self.T = T

    def forward(self, x):
        xs = x.reshape(self.T, -1, *x.shape[1:])
        v = torch.zeros_like(xs[0], dtype=torch.float32)
        out = []
        for t in range(self.T):
            v = v + xs[t].float()
            s = ATanSpike.apply(v - 1.0, 2.0)
            v = v * (1.0 - s.detach())
            out.append(s)
        return torch.stack(out).reshape(x.shape).to(x.dtype)


class SewBlock(nn.Module):
    def __init__(self, cin, cout, stride, T):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.sn1 = IFNode(T)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.sn2 = IFNode(T)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.downsample_sn = IFNode(T)

    def forward(self, x):
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x))))))
        identity = x if self.downsample is None else self.downsample_sn(self.downsample(x))
        return out + identity  # ADD


class SewResNet18(nn.Module):
    def __init__(self, in_channels, classes, T=4):
        super().__init__()
        self.T = T
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.sn1 = IFNode(T)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, c = [], 64
        for i, w in enumerate((64, 128, 256, 512)):
            for b in range(2):
                blocks.append(SewBlock(c, w, 2 if (i > 0 and b == 0) else 1, T))
                c = w
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        y = self.bn1(self.conv1(x))  # once, then repeated over T (direct encoding)
        y = y.unsqueeze(0).expand(self.T, *y.shape).reshape(-1, *y.shape[1:])
        y = self.layers(self.maxpool(self.sn1(y)))
        pooled = F.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.fc(pooled.reshape(self.T, -1, pooled.shape[1]).mean(0))


class SpikingCnn(nn.Module):
    """trim's zoo spiking_cnn at its defaults (models/spiking_cnn.cpp): T = 4, widths 32, 64, no
    hidden layer, no encoder pool; conv3x3 (no bias) + BN, IF neuron, 2x2 max-pool per width (the
    first conv + BN see the image once, then repeated over T), the read-out averaged over T."""

    def __init__(self, in_channels, classes, size=28, widths=(32, 64), T=4):
        super().__init__()
        self.T = T
        convs, bns, sns, c = [], [], [], in_channels
        for w in widths:
            convs.append(nn.Conv2d(c, w, 3, 1, 1, bias=False))
            bns.append(nn.BatchNorm2d(w))
            sns.append(IFNode(T))
            c, size = w, size // 2
        self.convs, self.bns, self.sns = nn.ModuleList(convs), nn.ModuleList(bns), nn.ModuleList(sns)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(c * size * size, classes)

    def forward(self, x):
        y = self.bns[0](self.convs[0](x))
        y = y.unsqueeze(0).expand(self.T, *y.shape).reshape(-1, *y.shape[1:])
        for i in range(len(self.convs)):
            if i > 0:
                y = self.bns[i](self.convs[i](y))
            y = self.pool(self.sns[i](y))
        f = y.flatten(1)
        return self.fc(f.reshape(self.T, -1, f.shape[1]).mean(0))


def build(name, in_channels, classes, size=28):
    if name == "sap_cnn":
        return sap_cnn(in_channels, classes or 10)
    if name == "spiking_cnn":
        return SpikingCnn(in_channels, classes or 10, size)
    if name == "sew_resnet18":
        return SewResNet18(in_channels, classes or 1000)
    if name in ("resnet18", "resnet34", "resnet50"):
        import torchvision
        model = getattr(torchvision.models, name)(num_classes=classes or 1000)
        if in_channels != 3:
            model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        return model
    sys.exit(f"bench_torch_model: unknown model {name!r} (expected sap_cnn, spiking_cnn, sew_resnet18, resnet18, resnet34, resnet50)")


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
    ap.add_argument("--amp", action="store_true", help="forward and loss under torch.autocast(bfloat16)")
    ap.add_argument("--channels-last", action="store_true", help="model and input in channels_last memory format")
    args = ap.parse_args()

    device = torch.device(args.device)
    if args.amp and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        sys.exit(f"bench_torch_model: --amp: {torch.cuda.get_device_name(device)} has no bf16 support")
    c, h, w = args.input
    model = build(args.name, c, args.classes, h).to(device).train()
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0.0}],
                          lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, c, h, w, device=device).to(memory_format=fmt)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp)

    with torch.no_grad(), autocast():
        classes = model(x).shape[1]
    labels = (torch.arange(args.batch, device=device) * 7919) % classes

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step():
        with autocast():
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
                  device=str(device), threads=torch.get_num_threads(), framework="torch", torch=torch.__version__,
                  precision="bf16" if args.amp else "fp32", amp=args.amp, channels_last=args.channels_last)
    line = json.dumps(record) + "\n"
    if args.out:
        with open(args.out, "a") as f:
            f.write(line)
    else:
        sys.stdout.write(line)
    mode = ("AMP bf16" if args.amp else "fp32") + (", channels_last" if args.channels_last else "")
    print(f"bench_torch_model: {shape} ({mode}) on {device}, {torch.get_num_threads()} threads: {ms:.4g} ms per step, "
          f"{1e3 * args.batch / ms:.1f} images/s", file=sys.stderr)


if __name__ == "__main__":
    main()
