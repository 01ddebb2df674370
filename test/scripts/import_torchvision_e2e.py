#!/usr/bin/env python3
"""scripts/import_torchvision.py end to end (no network: randomly initialised torchvision models).

    import_torchvision_e2e.py BIN_DIR SOURCE_DIR WORK_DIR

1. resnet18 --weights none: the file holds torchvision's state dict (num_batches_tracked left
   out, float32), and trim-train starts a run from it as a strict top-level init_from (1 epoch at
   lr 1e-9 on synthetic data leaves conv1.weight where the file put it).
2. A trim-info whose state dict differs by one name: refused naming the tensor, nothing written.
Exit 77 (skipped) when torch, torchvision or safetensors cannot be imported.
"""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys

try:
    import torch
    import torchvision
    from safetensors.torch import load_file
except Exception as e:  # a fresh machine without the Python side (scripts/requirements.txt)
    print(f"skipped: {e}")
    sys.exit(77)

bin_dir, source, work = map(pathlib.Path, sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
script = source / "scripts" / "import_torchvision.py"
trim_info = bin_dir / "trim-info"


def run(*args):
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True)


# 1. The file, against torchvision's own state dict.
out = work / "resnet18.safetensors"
r = run("resnet18", out, "--weights", "none", "--seed", "5", "--trim-info", trim_info)
assert r.returncode == 0, r.stderr
torch.manual_seed(5)
want = {k: v for k, v in torchvision.models.resnet18().state_dict().items() if not k.endswith("num_batches_tracked")}
got = load_file(str(out))
assert list(got) == list(want) or set(got) == set(want), "names differ"
for k, v in want.items():
    assert got[k].dtype == torch.float32 and torch.equal(got[k], v.float()), k

# ... and trim starts a run from it.
manifest = {
    "name": "import_e2e", "device": "cpu", "output": str(work / "run"), "seed": 0, "threads": 2,
    "init_from": str(out),
    "data": {"dataset": "synthetic", "shape": [3, 32, 32], "classes": 1000, "size": 8, "test_size": 8,
             "batch_size": 8, "eval_batch_size": 8},
    "model": {"name": "resnet18"},
    "optimizer": {"lr": 1e-9, "momentum": 0.0},
    "train": {"epochs": 1, "log_interval_seconds": 1000},
}
(work / "run.json").write_text(json.dumps(manifest))
t = subprocess.run([str(bin_dir / "trim-train"), str(work / "run.json")], capture_output=True, text=True)
assert t.returncode == 0, t.stdout + t.stderr
trained = load_file(str(work / "run" / "model.safetensors"))
diff = (trained["conv1.weight"] - got["conv1.weight"]).abs().max().item()
assert diff < 1e-6, f"conv1.weight moved by {diff}: the file was not loaded"

# 2. A trim-info that builds the model with another name: refused, nothing written.
info = json.loads(subprocess.run([str(trim_info), "model", "resnet18", "--json"], capture_output=True, text=True,
                                 check=True).stdout)
info["state_dict"][3]["name"] = "bn1.renamed"
(work / "info.json").write_text(json.dumps(info))
stub = work / "trim-info-stub"
stub.write_text(f"#!/bin/sh\ncat '{work / 'info.json'}'\n")
stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
bad = work / "bad.safetensors"
r = run("resnet18", bad, "--weights", "none", "--trim-info", stub)
assert r.returncode == 1, r
assert "bn1.running_mean" in r.stderr and "not writing" in r.stderr, r.stderr
assert not bad.exists()
print("import_torchvision: ok")
