#!/usr/bin/env python3
"""Writes test/golden/pytorch_ops.safetensors: inputs, outputs and gradients of conv, batch norm,
pooling, linear and cross-entropy computed by PyTorch (float64, rounded to float32), and
clip_grad_norm_ in float32, for
test/unit/test_golden_pytorch.cpp. Needs only torch (the safetensors layout is written by hand).

    python3 scripts/make_golden.py            # on any machine with PyTorch

Each case stores its inputs, a weight `r` for the loss sum(out * r), the output and the gradient
of every input that has one. The case's parameters are in the metadata as JSON.
"""
import json
import pathlib
import struct

import torch
import torch.nn.functional as F

torch.manual_seed(0)
tensors, meta = {}, {}


def put(name, t):
    tensors[name] = t.detach().to(torch.float32 if t.is_floating_point() else torch.int32).contiguous()


def case(name, params, inputs, fn, grads):
    """inputs: dict of float64 tensors (labels int); grads: names of inputs to differentiate."""
    leaves = {k: (v.clone().requires_grad_(k in grads) if v.is_floating_point() else v) for k, v in inputs.items()}
    out = fn(**leaves)
    r = torch.randn(out.shape, dtype=torch.float64)
    (out * r).sum().backward()
    for k, v in inputs.items():
        put(f"{name}.{k}", v)
    put(f"{name}.r", r)
    put(f"{name}.out", out)
    for k in grads:
        put(f"{name}.grad.{k}", leaves[k].grad)
    meta[name] = json.dumps(params)


def randn(*shape):
    # Round to float32 first, so trim's float32 inputs are exactly PyTorch's.
    return torch.randn(*shape).to(torch.float64)


for name, (x, w, stride, pad, dil, groups, bias) in {
    "conv_groups": ((2, 4, 9, 8), (6, 2, 3, 3), 2, 1, 1, 2, True),
    "conv_dilated": ((1, 3, 10, 10), (4, 3, 3, 3), 1, 2, 2, 1, True),
    "conv_depthwise": ((2, 3, 7, 7), (3, 1, 3, 3), 1, 1, 1, 3, False),
    "conv_stem": ((2, 3, 16, 14), (5, 3, 7, 7), 2, 3, 1, 1, False),
}.items():
    ins = {"x": randn(*x), "w": randn(*w) * 0.3}
    if bias:
        ins["b"] = randn(w[0])
    case(name, {"stride": stride, "padding": pad, "dilation": dil, "groups": groups}, ins,
         lambda x, w, b=None, s=stride, p=pad, d=dil, g=groups: F.conv2d(x, w, b, s, p, d, g), list(ins))

bn = {"x": randn(4, 3, 5, 5) * 2 + 1, "gamma": randn(3).abs() + 0.5, "beta": randn(3),
      "mean": randn(3), "var": randn(3).abs() + 0.5}
running = {"mean": bn["mean"].clone(), "var": bn["var"].clone()}
case("bn_train", {"momentum": 0.1, "eps": 1e-5}, bn,
     lambda x, gamma, beta, mean, var: F.batch_norm(x, running["mean"], running["var"], gamma, beta, True, 0.1, 1e-5),
     ["x", "gamma", "beta"])
put("bn_train.running_mean", running["mean"])
put("bn_train.running_var", running["var"])
case("bn_eval", {"eps": 1e-5}, bn,
     lambda x, gamma, beta, mean, var: F.batch_norm(x, mean, var, gamma, beta, False, 0.1, 1e-5),
     ["x", "gamma", "beta"])

pool_x = {"x": randn(2, 3, 9, 8)}
case("max_pool", {"kernel": 3, "stride": 2, "padding": 1}, pool_x,
     lambda x: F.max_pool2d(x, 3, 2, 1), ["x"])
case("avg_pool", {"kernel": 3, "stride": 2, "padding": 1}, pool_x,
     lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True), ["x"])
case("linear", {}, {"x": randn(5, 7), "w": randn(4, 7), "b": randn(4)},
     lambda x, w, b: F.linear(x, w, b), ["x", "w", "b"])
ce = {"logits": randn(8, 10) * 3, "labels": torch.randint(0, 10, (8,))}
for eps in (0.0, 0.1):
    case(f"xent_{eps}", {"label_smoothing": eps}, ce,
         lambda logits, labels, e=eps: F.cross_entropy(logits, labels, label_smoothing=e), ["logits"])

# torch.nn.utils.clip_grad_norm_ in float32 (what users run): three gradients, one max_norm that
# clips and one that does not. Stored: the gradients before and after.
clip_in = [torch.randn(3, 5) * 0.7, torch.randn(7) * 0.2, torch.randn(2, 2, 3) * 1.5]
for max_norm in (1.0, 100.0):
    ps = [torch.nn.Parameter(torch.zeros_like(g)) for g in clip_in]
    for p_, g in zip(ps, clip_in):
        p_.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    name = f"clip_{max_norm:g}"
    for i, (p_, g) in enumerate(zip(ps, clip_in)):
        put(f"{name}.g{i}", g)
        put(f"{name}.clipped{i}", p_.grad)
    put(f"{name}.norm", total.reshape(1))
    meta[name] = json.dumps({"max_norm": max_norm, "tensors": len(clip_in)})

# The safetensors layout: u64 header length, JSON header, raw little-endian data.
header, blobs, offset = {"__metadata__": meta}, [], 0
for name, t in tensors.items():
    data = bytes(t.untyped_storage())[: t.numel() * t.element_size()]
    header[name] = {"dtype": "F32" if t.dtype == torch.float32 else "I32", "shape": list(t.shape),
                    "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
text = json.dumps(header, separators=(",", ":"))
text += " " * (-(8 + len(text)) % 8)
out = pathlib.Path(__file__).resolve().parent.parent / "test" / "golden" / "pytorch_ops.safetensors"
out.write_bytes(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))
print(f"{out}: {len(tensors)} tensors, {out.stat().st_size} bytes, torch {torch.__version__}")
