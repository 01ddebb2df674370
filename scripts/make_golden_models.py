#!/usr/bin/env python3
"""Writes the PyTorch oracles of the model zoo's tests (test/unit/test_zoo.cpp):

  test/golden/torchvision_models.json     state-dict names and shapes (without num_batches_tracked)
                                          of torchvision's resnet18/34/50, mobilenet_v2, alexnet,
                                          vgg19 and vgg19_bn, in order, with parameter counts.
  test/golden/pytorch_models.safetensors  a forward pass of torchvision's ResNet-18 and
                                          MobileNet-V2 in eval mode, float64, on a [2, 3, 32, 32]
                                          input, with fixed weights given by a closed form that the
                                          test recomputes (so no weights are stored):

    tensor k of the state dict (in order, num_batches_tracked skipped), element i, a = 0.37 i + 1.3 k:
      weight of a conv / linear (ndim >= 2):  sin(a) * sqrt(3 / fan_in)
      other *.weight (BN gamma):              1 + 0.2 sin(a)
      *.bias:                                 0.1 sin(a)
      *.running_mean:                         0.1 cos(a)
      *.running_var:                          1 + 0.5 sin(a)^2
    input element i: sin(0.11 i)
  every value rounded to float32 first (trim computes in float32).

    python3 scripts/make_golden_models.py     # needs torch and torchvision
"""
import json
import math
import pathlib
import struct

import torch
import torchvision.models as tv

root = pathlib.Path(__file__).resolve().parent.parent / "test" / "golden"


def state(model):
    return [(k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]


def fixed_value(name, shape, k):
    n = math.prod(shape)
    a = torch.arange(n, dtype=torch.float64) * 0.37 + 1.3 * k
    if len(shape) >= 2:
        v = torch.sin(a) * math.sqrt(3.0 / (n // shape[0]))
    elif name.endswith("running_mean"):
        v = 0.1 * torch.cos(a)
    elif name.endswith("running_var"):
        v = 1 + 0.5 * torch.sin(a) ** 2
    elif name.endswith("bias"):
        v = 0.1 * torch.sin(a)
    else:
        v = 1 + 0.2 * torch.sin(a)
    return v.to(torch.float32).to(torch.float64).reshape(shape)


names = {}
for n in ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "alexnet", "vgg19", "vgg19_bn"]:
    m = getattr(tv, n)()
    names[n] = {"parameters": sum(p.numel() for p in m.parameters()),
                "state": [[k, list(v.shape)] for k, v in state(m)]}
(root / "torchvision_models.json").write_text(json.dumps(names, separators=(",", ":")) + "\n")

tensors = {}
x = torch.sin(torch.arange(2 * 3 * 32 * 32, dtype=torch.float64) * 0.11).to(torch.float32).to(torch.float64)
x = x.reshape(2, 3, 32, 32)
tensors["input"] = x
for n in ["resnet18", "mobilenet_v2"]:
    m = getattr(tv, n)().double().eval()
    fixed = {k: fixed_value(k, list(v.shape), i) for i, (k, v) in enumerate(state(m))}
    m.load_state_dict(fixed, strict=False)
    with torch.no_grad():
        tensors[f"{n}.out"] = m(x)

header, blobs, offset = {"__metadata__": {"torch": torch.__version__}}, [], 0
for name, t in tensors.items():
    t = t.to(torch.float32).contiguous()
    data = bytes(t.untyped_storage())[: t.numel() * 4]
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
text = json.dumps(header, separators=(",", ":"))
text += " " * (-(8 + len(text)) % 8)
out = root / "pytorch_models.safetensors"
out.write_bytes(struct.pack("<Q", len(text)) + text.encode() + b"".join(blobs))
print(f"{out}: {len(tensors)} tensors, {out.stat().st_size} bytes; torch {torch.__version__}")
