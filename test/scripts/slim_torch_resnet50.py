#!/usr/bin/env python3
"""A ResNet-50 slimmed through its residual streams loads into torchvision's ResNet-50.

Runs the trim_tests case "Slimmed ResNet-50 export: ..." with TRIM_SLIM_EXPORT_DIR set: it writes
model_slim.safetensors and model_slim.json (a ResNet-50 whose streams, stem and inner widths all lost
random channels) and check.safetensors (an input batch and the masked dense model's logits). This
script builds torchvision's resnet50 at the slimmed widths (every conv, BN and the fc replaced at the
widths model_slim.json gives, strides and paddings kept), loads the tensors strictly by name and
compares the logits with trim's masked model (relative 1e-4 of the largest logit).

Usage: slim_torch_resnet50.py <trim_tests executable>
Exits 77 (CTest "skipped") when torch, torchvision or safetensors cannot be imported.
"""
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
CASE = "Slimmed ResNet-50 export: model_slim files and the masked logits for PyTorch"


def main():
    if len(sys.argv) != 2:
        print("usage: slim_torch_resnet50.py <trim_tests executable>", file=sys.stderr)
        return 2
    try:
        import torch
        import torchvision
        from safetensors.torch import load_file
    except ImportError as e:  # PyTorch is optional: pip install torch torchvision safetensors
        print(f"skipped: {e}")
        return SKIP

    with tempfile.TemporaryDirectory(prefix="slim_torch_") as out:
        env = dict(os.environ, TRIM_SLIM_EXPORT_DIR=out)
        run = subprocess.run([sys.argv[1], CASE], env=env, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout, run.stderr, sep="\n")
            print(f"FAIL: trim_tests exited {run.returncode}")
            return 1
        with open(os.path.join(out, "model_slim.json")) as f:
            spec = json.load(f)
        state = load_file(os.path.join(out, "model_slim.safetensors"))
        check = load_file(os.path.join(out, "check.safetensors"))

    stages, widths, stem = spec["stage_widths"], spec["widths"], spec["stem_width"]
    net = torchvision.models.resnet50(num_classes=spec["num_classes"])

    def conv_like(old, cin, cout):
        return torch.nn.Conv2d(cin, cout, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)

    # The slimmed widths, from the spec (not from the tensors, so a wrong spec fails the load).
    net.conv1 = conv_like(net.conv1, 3, stem)
    net.bn1 = torch.nn.BatchNorm2d(stem)
    cin, w = stem, 0
    for k, layer in enumerate([net.layer1, net.layer2, net.layer3, net.layer4]):
        for block in layer:
            w1, w2, out = widths[w], widths[w + 1], stages[k]
            w += 2
            block.conv1, block.bn1 = conv_like(block.conv1, cin, w1), torch.nn.BatchNorm2d(w1)
            block.conv2, block.bn2 = conv_like(block.conv2, w1, w2), torch.nn.BatchNorm2d(w2)
            block.conv3, block.bn3 = conv_like(block.conv3, w2, out), torch.nn.BatchNorm2d(out)
            if block.downsample is not None:
                block.downsample[0] = conv_like(block.downsample[0], cin, out)
                block.downsample[1] = torch.nn.BatchNorm2d(out)
            cin = out
    net.fc = torch.nn.Linear(cin, spec["num_classes"])
    if stages == [256, 512, 1024, 2048]:
        print("FAIL: the export did not slim the residual streams")
        return 1

    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        print(f"FAIL: missing {missing}, unexpected {unexpected}")
        return 1
    net.eval()
    with torch.no_grad():
        got = net(check["input"])
    want = check["logits"]
    scale = want.abs().max().item()
    err = (got - want).abs().max().item()
    print(f"stage widths {stages}, stem {stem}; max |torch - trim| = {err:.3g} (largest logit {scale:.3g})")
    if not err <= 1e-4 * scale + 1e-6:
        print("FAIL: torchvision's ResNet-50 at the slimmed widths does not give trim's masked logits")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
