#!/usr/bin/env python3
"""Writes a torchvision model's weights as a file for a manifest's top-level "init_from".

    python3 scripts/import_torchvision.py NAME OUT [--weights DEFAULT] [--trim-info build/bin/trim-info]

NAME is a model of trim's zoo that is torchvision's too (resnet18, resnet34, resnet50,
mobilenet_v2, alexnet, vgg19, vgg19_bn); OUT the .safetensors file to write. --weights names
torchvision's weights enum entry (DEFAULT, IMAGENET1K_V1, ...): torchvision loads them from its
cache (~/.cache/torch/hub/checkpoints) or downloads them; "none" writes a randomly initialised
model (seeded by --seed), which is what the tests use since they run without a network.

The file holds the state dict under PyTorch's names, which are trim's, as float32, without
BatchNorm's num_batches_tracked counters (trim keeps none). Before writing, the names and shapes are
checked against `trim-info model NAME --json` (its "state_dict"): a model trim builds differently
is refused with the first name or shape that differs, and nothing is written.

Needs torch, torchvision and safetensors (scripts/requirements.txt). Exit status 0 on success,
1 on a mismatch or a bad argument.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def fail(message):
    print(f"import_torchvision.py: {message}", file=sys.stderr)
    sys.exit(1)


def trim_state_dict(trim_info, name):
    """[(name, shape)] of trim's model, in order, from trim-info."""
    if not os.access(trim_info, os.X_OK):
        fail(f"{trim_info}: not an executable (build it: ninja -C build trim-info, or pass --trim-info)")
    run = subprocess.run([trim_info, "model", name, "--json"], capture_output=True, text=True)
    if run.returncode != 0:
        fail(f"{trim_info} model {name}: {run.stderr.strip() or run.stdout.strip()}")
    info = json.loads(run.stdout)
    if "state_dict" not in info:
        fail(f"{trim_info}: its --json output has no \"state_dict\" (an older trim-info: rebuild it)")
    return [(t["name"], list(t["shape"])) for t in info["state_dict"]]


def torchvision_state_dict(name, weights, seed):
    import torch
    import torchvision

    if name not in torchvision.models.list_models():
        fail(f"{name}: not a torchvision model")
    torch.manual_seed(seed)
    try:
        model = torchvision.models.get_model(name, weights=None if weights.lower() == "none" else weights)
    except Exception as e:  # unknown weights name, no cached file and no network, ...
        fail(f"{name} with weights {weights}: {e}")
    return [(k, v.detach().to(torch.float32).contiguous()) for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")]


def compare(name, theirs, ours):
    """The first difference between torchvision's (name, tensor) and trim's (name, shape), or None."""
    ours_by_name = dict(ours)
    theirs_names = {k for k, _ in theirs}
    for k, v in theirs:
        if k not in ours_by_name:
            return f"torchvision's tensor '{k}' {list(v.shape)} is not in trim's {name}"
        if list(v.shape) != ours_by_name[k]:
            return f"tensor '{k}' is {list(v.shape)} in torchvision, {ours_by_name[k]} in trim"
    for k, shape in ours:
        if k not in theirs_names:
            return f"trim's tensor '{k}' {shape} is not in torchvision's {name}"
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="the model (torchvision's name, and trim's)")
    p.add_argument("out", help="the .safetensors file to write")
    p.add_argument("--weights", default="DEFAULT", help="torchvision weights (DEFAULT, IMAGENET1K_V1, ...; none: random)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random initialisation (--weights none)")
    p.add_argument("--trim-info", default=str(ROOT / "build" / "bin" / "trim-info"), help="trim-info to check against")
    a = p.parse_args()

    ours = trim_state_dict(a.trim_info, a.name)
    theirs = torchvision_state_dict(a.name, a.weights, a.seed)
    diff = compare(a.name, theirs, ours)
    if diff:
        fail(f"{a.name}: {diff}; not writing {a.out}")
    from safetensors.torch import save_file

    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside OUT and renamed over it: a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        save_file(dict(theirs), tmp, metadata={"source": "torchvision", "model": a.name, "weights": a.weights})
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {out}: torchvision {a.name} ({a.weights}), {len(theirs)} tensors, "
          f"{sum(v.numel() for _, v in theirs):,} values; use it as \"init_from\": \"{out}\"")


if __name__ == "__main__":
    main()
