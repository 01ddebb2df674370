#!/usr/bin/env python3
"""Writes the PyTorch oracle of init_from's test (test/unit/test_init_from.cpp):

  test/golden/init_from_cnn_small.safetensors         the state dict of a PyTorch twin of trim's
                                                     cnn_small {"widths": [4, 8], "hidden": 16}
                                                     (float32, num_batches_tracked left out), random
                                                     weights and BN statistics, seed 19
  test/golden/init_from_cnn_small_logits.safetensors  "input" [3, 1, 28, 28] and the twin's "logits"
                                                     [3, 10] in eval mode, computed in float64 from the
                                                     float32 weights and stored as float32

    python3 scripts/make_golden_init_from.py    # needs torch and safetensors
"""
import pathlib

import torch
from safetensors.torch import save_file

root = pathlib.Path(__file__).resolve().parent.parent / "test" / "golden"


def cnn_small(widths=(4, 8), hidden=16, classes=10, size=28):
    # trim's models/cnn.cpp, layer for layer: the state-dict names are nn.Sequential's indices.
    layers, c = [], 1
    for w in widths:
        layers += [torch.nn.Conv2d(c, w, 3, padding=1, bias=False), torch.nn.BatchNorm2d(w), torch.nn.ReLU(),
                   torch.nn.MaxPool2d(2, 2)]
        c, size = w, size // 2
    layers += [torch.nn.Flatten(), torch.nn.Linear(c * size * size, hidden), torch.nn.ReLU(),
               torch.nn.Linear(hidden, classes)]
    return torch.nn.Sequential(*layers)


torch.manual_seed(19)
net = cnn_small()
with torch.no_grad():
    for m in net.modules():  # BN away from its defaults, so that a load that skipped it would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
state = {k: v.detach().to(torch.float32).contiguous() for k, v in net.state_dict().items()
         if not k.endswith("num_batches_tracked")}
x = torch.randn(3, 1, 28, 28, dtype=torch.float32)
net64 = net.double().eval()
with torch.no_grad():
    logits = net64(x.double()).float()
root.mkdir(exist_ok=True)
save_file(state, str(root / "init_from_cnn_small.safetensors"),
          metadata={"source": "scripts/make_golden_init_from.py", "model": '{"name":"cnn_small","widths":[4,8],"hidden":16}'})
save_file({"input": x.contiguous(), "logits": logits.contiguous()}, str(root / "init_from_cnn_small_logits.safetensors"),
          metadata={"source": "scripts/make_golden_init_from.py"})
print(f"wrote {root}/init_from_cnn_small.safetensors ({sum(v.numel() for v in state.values())} values) and the logits")
