#!/usr/bin/env python3
"""End-to-end checks of trim-deploy (issue 16), on tiny real runs trained here in seconds.

  deploy_e2e.py BIN_DIR SOURCE_DIR WORK_DIR sparse   GMP 90% MLP and CNN: deployed (auto and sparse)
                                                     logits = the masked network's (relative 1e-4),
                                                     test accuracy identical, the file reads back
  deploy_e2e.py BIN_DIR SOURCE_DIR WORK_DIR slim     GReg-1 filter mode on the CNN: the slimmed network
                                                     deployed, the same checks
  deploy_e2e.py BIN_DIR SOURCE_DIR WORK_DIR bad      each bad input: one error line naming the file or
                                                     tensor, exit 1, nothing written
  deploy_e2e.py BIN_DIR SOURCE_DIR WORK_DIR torch    scripts/eval_deploy_torch.py reproduces trim's
                                                     deployed accuracy (MLP, CNN); exit 77 without torch
Standard library only (the bad CSR file is written by hand).
"""
import json
import os
import shutil
import struct
import subprocess
import sys

BIN, SRC, WORK, MODE = sys.argv[1:5]
MANIFESTS = os.path.join(SRC, "apps", "manifests")
SHORT = ["--set", "device=cpu", "--set", "threads=1", "--set", "data.train_limit=1000", "--set", "data.test_limit=500"]
GMP_SHORT = SHORT + ["--set", "train.epochs=1", "--set", "pruning.start_step=0", "--set", "pruning.interval_steps=1",
                     "--set", "pruning.events=3"]
CNN = ["--set", 'model={"name": "cnn_small", "widths": [8, 16], "hidden": 32}']
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(args, expect_ok=True):
    p = subprocess.run(args, capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        sys.exit("command failed: %s\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    return p


def train(app, manifest, out, extra):
    shutil.rmtree(out, ignore_errors=True)
    run([os.path.join(BIN, app), os.path.join(MANIFESTS, manifest), "--set", "output=" + out] + extra)


def deploy(run_dir, *extra):
    out = os.path.join(run_dir, "deploy" + "".join(e.strip("-") for e in extra))
    run([os.path.join(BIN, "trim-deploy"), run_dir, "--out", out, "--eval", "--threads", "1", "--runs", "5"] + list(extra))
    with open(os.path.join(out, "deploy_report.json")) as f:
        report = json.load(f)
    with open(os.path.join(out, "deploy.json")) as f:
        spec = json.load(f)
    return out, report, spec


def check_deployed(name, run_dir, *extra):
    out, r, spec = deploy(run_dir, *extra)
    keys = {"bytes_dense", "bytes_deployed", "speedup_batch1", "speedup_batch64", "test_accuracy_dense",
            "test_accuracy_deployed"}
    check(keys <= set(r), name + ": report has the six keys")
    check(r["logits_relative_difference"]["deployed"] <= 1e-4,
          "%s: deployed logits = masked logits (relative %.2e)" % (name, r["logits_relative_difference"]["deployed"]))
    check(r["test_accuracy_deployed"] == r["test_accuracy_masked"] == r["test_accuracy_dense"],
          "%s: test accuracy identical (%s, masked %s)" % (name, r["test_accuracy_deployed"], r["test_accuracy_masked"]))
    check(r["network"]["1"]["runs"] >= 5 and r["network"]["1"]["deployed"]["p90_s"] > 0, name + ": latency measured")
    p = run([os.path.join(BIN, "trim-deploy"), "--check", os.path.join(out, "model_deploy.safetensors")], False)
    check(p.returncode == 0 and " ok: " in p.stdout, name + ": --check reads the file back")
    check(os.path.exists(os.path.join(out, "deploy_report.md")), name + ": deploy_report.md written")
    return r, spec


def sparse():
    mlp = os.path.join(WORK, "mlp")
    train("trim-magnitude", "fmnist_mlp_gmp_90.json", mlp, GMP_SHORT)
    r, _ = check_deployed("mlp auto", mlp)
    r, spec = check_deployed("mlp sparse", mlp, "--format", "sparse")
    check(all(l["format"] == "csr" for l in spec["layers"]), "mlp sparse: every layer in CSR")
    check(r["bytes_deployed"] < 0.25 * r["bytes_dense"], "mlp sparse: under a quarter of the dense bytes at 90%")
    cnn = os.path.join(WORK, "cnn")
    train("trim-magnitude", "fmnist_mlp_gmp_90.json", cnn, GMP_SHORT + CNN)
    r, spec = check_deployed("cnn sparse", cnn, "--format", "sparse")
    convs = [l for l in spec["layers"] if l["kind"] == "conv2d"]
    check(len(convs) == 2 and all(l["folded_batch_norm"] and l["format"] == "csr" for l in convs),
          "cnn sparse: both convs in CSR with their BN folded")
    check_deployed("cnn auto", cnn)


def slim():
    run_dir = os.path.join(WORK, "slim")
    train("trim-greg", "fmnist_cnn_greg1_90.json", run_dir,
          SHORT + ["--set", "pruning.pretrain_epochs=1", "--set", "pruning.reg_epochs=1", "--set",
                   "pruning.finetune_epochs=1", "--set", "pruning.update_interval=1", "--set",
                   "pruning.stabilize_iterations=1", "--set", "pruning.reg_granularity_prune=0.5",
                   "--set", "model.widths=[8,16]", "--set", "model.hidden=32"])
    for fmt in ("auto", "slim"):
        r, spec = check_deployed("cnn slimmed " + fmt, run_dir, "--format", fmt)
        check(r["slimmed"] and spec["model"]["widths"] != [8, 16], "cnn slimmed %s: the slimmed spec (%s)" % (fmt, spec["model"]))
        check(r["bytes_deployed"] < r["bytes_dense"], "cnn slimmed %s: fewer bytes" % fmt)
        check(0 < r["macs_deployed"] < r["macs_dense"], "cnn slimmed %s: fewer multiply-adds (%s < %s)"
              % (fmt, r["macs_deployed"], r["macs_dense"]))


def safetensors_bytes(tensors, metadata):
    """A safetensors file by hand: tensors = [(name, dtype, shape, packed bytes)]."""
    header, data = {"__metadata__": metadata}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def expect_error(args, needle, what, untouched=None):
    before = sorted(os.listdir(untouched)) if untouched else None
    p = run([os.path.join(BIN, "trim-deploy")] + args, False)
    err = p.stderr.strip()
    check(p.returncode == 1 and err.count("\n") == 0 and needle in err, "%s: one error naming it (%s)" % (what, err))
    if untouched:
        check(sorted(os.listdir(untouched)) == before, what + ": nothing written")


def bad():
    mlp = os.path.join(WORK, "mlp_bad")
    train("trim-magnitude", "fmnist_mlp_gmp_90.json", mlp, GMP_SHORT)
    # A run folder without model.safetensors.
    empty = os.path.join(WORK, "no_model")
    shutil.rmtree(empty, ignore_errors=True)
    os.makedirs(empty)
    shutil.copy(os.path.join(mlp, "manifest.json"), empty)
    expect_error([empty], "no model.safetensors", "run without model.safetensors", empty)
    # A model file that does not match the manifest's model.
    other = os.path.join(WORK, "mismatch")
    shutil.rmtree(other, ignore_errors=True)
    os.makedirs(other)
    shutil.copy(os.path.join(mlp, "model.safetensors"), other)
    with open(os.path.join(mlp, "manifest.json")) as f:
        m = json.load(f)
    m["model"]["hidden"] = [128, 128]
    with open(os.path.join(other, "manifest.json"), "w") as f:
        json.dump(m, f)
    expect_error([other], "'3.weight'", "model file not matching the manifest", other)
    # --format slim on a run without slimmable groups / model_slim files.
    expect_error([mlp, "--format", "slim"], "model_slim.safetensors", "--format slim without a slimmed model", mlp)
    expect_error([mlp, "--threads", "2", "--clock", "cpu"], "--threads 1", "--clock cpu with 2 threads", mlp)
    # --device cuda without a GPU (skipped where one is usable).
    if not os.path.exists("/dev/nvidia0"):
        expect_error([mlp, "--device", "cuda"], "--device", "--device cuda without a GPU", mlp)
    # CSR tensors with out-of-range and non-monotone indices: a 2 x 3 weight.
    i32 = lambda v: struct.pack("<%di" % len(v), *v)
    f32 = lambda v: struct.pack("<%df" % len(v), *v)
    meta = {"w.weight.shape": "[2, 3]", "w.weight.format": "csr", "trim.folded_batch_norm": "true"}
    # 2 x 3 weights, and a 3 x 3 one whose crow_indices end at nnz but go down on the way.
    cases = {"out_of_range": ([0, 1, 2], [0, 3]), "negative": ([0, 1, 2], [0, -1]),
             "non_monotone": ([0, 2, 1, 2], [0, 1]), "unsorted_row": ([0, 2, 2], [2, 0])}
    for name, (crow, col) in cases.items():
        path = os.path.join(WORK, "csr_%s.safetensors" % name)
        m = dict(meta, **{"w.weight.shape": "[%d, 3]" % (len(crow) - 1)})
        with open(path, "wb") as f:
            f.write(safetensors_bytes([("w.weight.crow_indices", "I32", [len(crow)], i32(crow)),
                                       ("w.weight.col_indices", "I32", [len(col)], i32(col)),
                                       ("w.weight.values", "F32", [len(col)], f32([1.0] * len(col)))], m))
        expect_error(["--check", path], "w.weight", "CSR file with %s indices" % name)
    # And a good one passes.
    path = os.path.join(WORK, "csr_good.safetensors")
    with open(path, "wb") as f:
        f.write(safetensors_bytes([("w.weight.crow_indices", "I32", [3], i32([0, 1, 2])),
                                   ("w.weight.col_indices", "I32", [2], i32([0, 2])),
                                   ("w.weight.values", "F32", [2], f32([1.0, 2.0]))], meta))
    check(run([os.path.join(BIN, "trim-deploy"), "--check", path], False).returncode == 0, "a good CSR file passes --check")


def torch_check():
    try:
        import torch  # noqa: F401
        import numpy  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError:
        print("torch, numpy or safetensors not installed: skipped")
        sys.exit(77)
    for name, extra in (("mlp_t", []), ("cnn_t", CNN)):
        run_dir = os.path.join(WORK, name)
        train("trim-magnitude", "fmnist_mlp_gmp_90.json", run_dir, GMP_SHORT + extra)
        for fmt in ("sparse", "auto"):
            out, r, _ = deploy(run_dir, "--format", fmt)
            p = run([sys.executable, os.path.join(SRC, "scripts", "eval_deploy_torch.py"), out, "--json"])
            got = json.loads(p.stdout.strip().splitlines()[-1])
            check(got["test_accuracy"] == r["test_accuracy_deployed"],
                  "%s %s: PyTorch's accuracy %s = trim's %s" % (name, fmt, got["test_accuracy"], r["test_accuracy_deployed"]))


os.makedirs(WORK, exist_ok=True)
{"sparse": sparse, "slim": slim, "bad": bad, "torch": torch_check}[MODE]()
print("%d failed" % len(failures))
sys.exit(1 if failures else 0)
