#!/usr/bin/env python3
"""Deployed trim against its anchors, side by side on the same threads (issue 16, item 5).

  python3 scripts/bench_deploy.py [--nets mlp,cnn,resnet50,slim] [--threads N] [--runs N] [--work DIR]

For each network: a run folder (trained here, shortened; or, for ResNet-50, random weights pruned by
magnitude per layer, which is fine for timing), then
  - trim dense and trim deployed: build/bin/trim-deploy RUN --format auto (it times the folded dense
    network and the deployed one interleaved, run by run) -> deploy_report.json;
  - PyTorch dense and PyTorch's sparse path (every conv/linear weight .to_sparse_csr(): torch.sparse.mm
    for linear layers, im2col (F.unfold) x sparse weight for convolutions), interleaved run by run,
    with torch.set_num_threads(N), on the same folded weights.
Batch 1: median latency over --runs runs after warm-up; batch 64: throughput from the median.
OpenMP threads are bound one per core (OMP_PROC_BIND=spread, OMP_PLACES=cores) unless set already.
Writes scripts/results/deploy.md (the table) and scripts/results/deploy_speedup.png (speed-up over
trim dense against sparsity). Networks:
  mlp       Fashion-MNIST MLP from fmnist_mlp_{gmp,lats,ltp}_{90,95,98}.json, short runs (GMP: 4000
            examples, 1 epoch; LATS: 2 epochs; LTP: 3000 examples, 3 epochs: accuracy is not the point,
            the sparsity pattern is; the table gives the sparsity each run reached)
  cnn       the default CNN (cnn_small 32/64/128) pruned to 90% by GMP, a short run
  resnet50  ResNet-50, random weights magnitude-pruned to 80/90/95/98% per layer (needs torchvision)
  slim      ResNet-56 and VGG-19 (CIFAR) slimmed by GReg-1's filter mode at ratio 0.5 (ResNet-56 with its
            residual streams), a few steps on synthetic CIFAR-shaped data (SLIM below: the slimmed
            widths are the point, not the accuracy); the table adds the MAC reduction (trim-deploy's
            macs_dense / macs_deployed) and the speed-up as a fraction of it (the issue asks >= 0.8)
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# OpenMP threads bound one per core, for trim-deploy (a child process) and PyTorch (this one: set
# before torch loads its OpenMP runtime) alike. Unbound, on this 2-vCPU machine about one
# trim-deploy process in four ran both of its networks with its threads sharing a core (the MLP at
# batch 64: dense 0.23 ms and deployed 0.09 ms instead of 0.14 and 0.04), which no run-by-run
# interleaving can correct. A caller's own settings win.
os.environ.setdefault("OMP_PROC_BIND", "spread")
os.environ.setdefault("OMP_PLACES", "cores")
ALL_CPUS = sorted(os.sched_getaffinity(0))  # before torch's OpenMP binds this process's thread to one core

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from eval_deploy_torch import DeployedNet  # noqa: E402

SHORT = ["--set", "device=cpu", "--set", "data.test_limit=1000"]
MLP_SHORT = {
    "gmp": ["--set", "train.epochs=1", "--set", "data.train_limit=4000", "--set", "pruning.start_step=0",
            "--set", "pruning.interval_steps=2", "--set", "pruning.events=6"],
    "lats": ["--set", "train.epochs=2"],  # the whole training set: LATS's threshold schedule needs the steps
    "ltp": ["--set", "train.epochs=3", "--set", "pruning.finetune_epochs=1", "--set", "data.train_limit=3000"],
}
APPS = {"gmp": "trim-magnitude", "lats": "trim-lats", "ltp": "trim-ltp"}
# The slimmed networks' runs: GReg-1 filter mode, ratio 0.5, one epoch per stage on 512 synthetic images.
GREG_FILTER = {"method": "greg1", "mode": "filter", "ratio": 0.5, "update_interval": 1,
               "reg_granularity_prune": 0.5, "reg_upper_limit": 1.0, "stabilize_iterations": 1, "lr_prune": 0.001,
               "pretrain_epochs": 1, "reg_epochs": 1, "finetune_epochs": 1, "finetune_lr": 0.01}
SLIM = {
    "slim_resnet56": {"model": {"name": "resnet56"},
                      "pruning": dict(GREG_FILTER, prune_streams=True, exclude=["linear.weight"])},
    "slim_vgg19_cifar": {"model": {"name": "vgg19_cifar"}, "pruning": dict(GREG_FILTER, exclude=["classifier.weight"])},
}


def sh(args):
    # A child inherits this process's CPU mask, which PyTorch's bound OpenMP has narrowed to one core:
    # give it every core back, for its own OpenMP to bind its threads to.
    p = subprocess.run(args, capture_output=True, text=True, preexec_fn=lambda: os.sched_setaffinity(0, ALL_CPUS))
    if p.returncode != 0:
        raise RuntimeError("%s\n%s" % (" ".join(args), p.stderr.strip()[-2000:]))
    return p.stdout


def train_run(bin_dir, app, manifest, out, extra):
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        shutil.rmtree(out, ignore_errors=True)
        sh([os.path.join(bin_dir, app), os.path.join(ROOT, "apps", "manifests", manifest), "--set", "output=" + out]
           + SHORT + extra)
    return out


def slim_run(bin_dir, name, out):
    """A GReg-1 filter-mode run (SLIM[name]) that writes model_slim.*; reused when already there."""
    if os.path.exists(os.path.join(out, "model_slim.safetensors")):
        return out
    shutil.rmtree(out, ignore_errors=True)
    manifest = {"name": name, "device": "cpu", "output": out, "seed": 0,
                "data": {"dataset": "synthetic", "shape": [3, 32, 32], "classes": 10, "size": 512, "test_size": 256,
                         "batch_size": 64},
                "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005},
                "train": {"epochs": 1}}
    manifest.update(SLIM[name])
    os.makedirs(os.path.dirname(out), exist_ok=True)
    path = out + ".manifest.json"  # beside the run folder: trim refuses an output folder holding other files
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
    sh([os.path.join(bin_dir, "trim-greg"), path])
    return out


def resnet50_run(out, sparsity):
    """A run folder without training: torchvision's ResNet-50 initialisation (trim's names are
    torchvision's), each conv / linear weight pruned by magnitude to `sparsity`."""
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    import torchvision
    from safetensors.torch import save_file
    torch.manual_seed(0)
    m = torchvision.models.resnet50()
    sd = {}
    for k, v in m.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        v = v.detach().clone().float()
        if v.ndim > 1:
            n = v.numel()
            k_prune = int(round(sparsity * n))
            if k_prune > 0:
                thr = v.abs().flatten().kthvalue(k_prune).values
                v[v.abs() <= thr] = 0.0
        sd[k] = v.contiguous()
    os.makedirs(out, exist_ok=True)
    save_file(sd, os.path.join(out, "model.safetensors"))
    manifest = {"name": os.path.basename(out), "device": "cpu", "output": out, "seed": 0,
                "data": {"dataset": "synthetic", "shape": [3, 224, 224], "classes": 1000, "mean": [0.5, 0.5, 0.5],
                         "std": [0.25, 0.25, 0.25]},
                "model": {"name": "resnet50"}, "optimizer": {"name": "sgd", "lr": 0.1}, "train": {"epochs": 1}}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return out


def sparse_conv(weight_csr, shape, bias, stride, padding, dilation):
    def f(x):
        n, _, h, w = x.shape
        cols = F.unfold(x, shape[2:], dilation=dilation, padding=padding, stride=stride)
        ho = (h + 2 * padding[0] - dilation[0] * (shape[2] - 1) - 1) // stride[0] + 1
        wo = (w + 2 * padding[1] - dilation[1] * (shape[3] - 1) - 1) // stride[1] + 1
        y = torch.stack([torch.sparse.mm(weight_csr, cols[i]) for i in range(n)]).reshape(n, shape[0], ho, wo)
        return y + bias.reshape(1, -1, 1, 1) if bias is not None else y
    return f


class SparseSwap(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def torch_models(run_dir, deploy_dir):
    """(dense, sparse) PyTorch versions of the deployed network."""
    spec = json.load(open(os.path.join(deploy_dir, "deploy.json")))
    if spec.get("plan") is not None:
        dense = DeployedNet(deploy_dir, sparse=False).eval()
        sparse = DeployedNet(deploy_dir, sparse=True).eval()
        for w, t in sparse.dense.items():  # PyTorch's sparse path: every layer sparse
            if w not in sparse.csr:
                sparse.csr[w] = t.reshape(t.shape[0], -1).to_sparse_csr()
        return dense, sparse
    import copy
    import torch.fx.experimental.optimization
    import torchvision
    from safetensors.torch import load_file
    if spec["model"]["name"] != "resnet50":
        return None, None
    dense = torchvision.models.resnet50()
    dense.load_state_dict(load_file(os.path.join(run_dir, "model.safetensors")), strict=False)
    dense = torch.fx.experimental.optimization.fuse(dense.eval())  # PyTorch's own conv+BN folding
    sparse = copy.deepcopy(dense)
    for name, mod in list(sparse.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, torch.nn.Conv2d) and child.groups == 1:
                w = child.weight.detach()
                setattr(mod, cname, SparseSwap(sparse_conv(w.reshape(w.shape[0], -1).to_sparse_csr(), w.shape,
                                                           child.bias.detach() if child.bias is not None else None,
                                                           child.stride, child.padding, child.dilation)))
            elif isinstance(child, torch.nn.Linear):
                w = child.weight.detach().to_sparse_csr()
                b = child.bias.detach()
                setattr(mod, cname, SparseSwap(lambda x, w=w, b=b: torch.sparse.mm(w, x.t()).t() + b))
    return dense, sparse.eval()


def time_torch(dense, sparse, shape, batch, runs, clock=time.perf_counter):
    x = torch.randn([batch] + list(shape))
    td, ts = [], []
    with torch.no_grad():
        for _ in range(3):
            dense(x), sparse(x)
        for _ in range(runs):
            t0 = clock(); dense(x); td.append(clock() - t0)
            t0 = clock(); sparse(x); ts.append(clock() - t0)
    return statistics.median(td), statistics.median(ts)


def density(deploy_dir):
    spec = json.load(open(os.path.join(deploy_dir, "deploy.json")))
    nnz = sum(l["nonzeros"] for l in spec["layers"])
    total = sum(math.prod(l["shape"]) for l in spec["layers"])
    return nnz / total


def main():
    ap = argparse.ArgumentParser(description="trim deployed vs trim dense vs PyTorch dense/sparse")
    ap.add_argument("--nets", default="mlp,cnn", help="comma list of mlp, cnn, resnet50, slim (default mlp,cnn)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="trim-deploy's clock: cpu = process CPU time, robust on a loaded machine, needs --threads 1 "
                         "(PyTorch is then timed by process CPU time too)")
    ap.add_argument("--resnet50-sparsities", default="80,90,95,98", help="percent, comma list (default 80,90,95,98)")
    ap.add_argument("--work", default=os.path.join(ROOT, "runs", "bench_deploy"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    nets = a.nets.split(",")
    jobs = []  # (label, method, run dir maker)
    if "mlp" in nets:
        for method in ("gmp", "lats", "ltp"):
            for s in (90, 95, 98):
                name = "fmnist_mlp_%s_%d" % (method, s)
                jobs.append((name, lambda m=method, n=name: train_run(a.bin, APPS[m], n + ".json", os.path.join(a.work, n),
                                                                        MLP_SHORT[m])))
    if "cnn" in nets:
        jobs.append(("fmnist_cnn_gmp_90", lambda: train_run(
            a.bin, "trim-magnitude", "fmnist_mlp_gmp_90.json", os.path.join(a.work, "fmnist_cnn_gmp_90"),
            MLP_SHORT["gmp"] + ["--set", 'model={"name": "cnn_small", "widths": [32, 64], "hidden": 128}'])))
    if "resnet50" in nets:
        for s in [int(v) for v in a.resnet50_sparsities.split(",")]:
            jobs.append(("resnet50_mag_%d" % s, lambda s=s: resnet50_run(os.path.join(a.work, "resnet50_mag_%d" % s), s / 100)))
    if "slim" in nets:
        for name in SLIM:
            jobs.append((name, lambda n=name: slim_run(a.bin, n, os.path.join(a.work, n))))
    rows = []
    for label, make in jobs:
        try:
            run_dir = make()
            out = os.path.join(run_dir, "deploy")
            sh([os.path.join(a.bin, "trim-deploy"), run_dir, "--threads", str(a.threads), "--runs", str(a.runs),
                "--batch", "1,64", "--out", out, "--clock", a.clock])
            rep = json.load(open(os.path.join(out, "deploy_report.json")))
            spec = json.load(open(os.path.join(out, "deploy.json")))
            dense, sparse = torch_models(run_dir, out)
            row = {"net": label, "sparsity": 1 - density(out), "bytes_dense": rep["bytes_dense"],
                   "bytes_deployed": rep["bytes_deployed"], "slimmed": bool(rep.get("slimmed")),
                   "macs_dense": rep.get("macs_dense"), "macs_deployed": rep.get("macs_deployed"),
                   "formats": "".join("s" if l["format"] == "csr" else "d" for l in spec["layers"])}
            for b in (1, 64):
                n = rep["network"][str(b)]
                row["trim_dense_%d" % b] = n["dense"]["median_s"]
                row["trim_deployed_%d" % b] = n["deployed"]["median_s"]
                if dense is not None:
                    td, ts = time_torch(dense, sparse, spec["input"], b, a.runs if b == 1 else max(3, a.runs // 10),
                                        time.process_time if a.clock == "cpu" else time.perf_counter)
                    row["torch_dense_%d" % b], row["torch_sparse_%d" % b] = td, ts
            rows.append(row)
            print(json.dumps(row))
        except Exception as e:  # one network failing does not lose the others
            print("%s: failed: %s" % (label, e), file=sys.stderr)
    write(rows, a)


def write(rows, a):
    os.makedirs(a.out, exist_ok=True)
    ms = lambda v: "%.3f" % (v * 1e3) if v is not None else "-"
    lines = ["# trim-deploy benchmark", "",
             "`python3 scripts/bench_deploy.py --nets %s --resnet50-sparsities %s --threads %d --runs %d --clock %s` (fp32, CPU, %s, "
             "OMP_PROC_BIND=%s OMP_PLACES=%s). "
             "ResNet-50: random weights (torchvision's initialisation) pruned by magnitude per layer, which is fine "
             "for timing. Batch 1: median "
             "latency in ms; batch 64: median ms per batch. Speed-up = trim dense / trim deployed. Formats: one "
             "letter per conv/linear layer, d dense, s CSR." % (a.nets, a.resnet50_sparsities, a.threads, a.runs, a.clock,
                                                  time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                  os.environ["OMP_PROC_BIND"], os.environ["OMP_PLACES"]),
             "",
             "| network | sparsity | bytes dense | bytes deployed | formats | trim dense b1 | trim deployed b1 | torch dense b1 "
             "| torch sparse b1 | speed-up b1 | trim dense b64 | trim deployed b64 | torch dense b64 | torch sparse b64 "
             "| speed-up b64 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r["net"], "%.3f" % r["sparsity"], str(r["bytes_dense"]), str(r["bytes_deployed"]), r["formats"]]
        for b in (1, 64):
            cells += [ms(r["trim_dense_%d" % b]), ms(r["trim_deployed_%d" % b]), ms(r.get("torch_dense_%d" % b)),
                      ms(r.get("torch_sparse_%d" % b)), "%.2f" % (r["trim_dense_%d" % b] / r["trim_deployed_%d" % b])]
        lines.append("| " + " | ".join(cells) + " |")
    slim = [r for r in rows if r.get("slimmed") and r.get("macs_deployed")]
    if slim:
        lines += ["", "Slimmed networks (dense, fewer channels): speed-up as a fraction of the MAC reduction "
                  "(multiply-adds per image, trim-deploy's macs_dense / macs_deployed).", "",
                  "| network | MACs dense | MACs slimmed | MAC reduction | speed-up b1 | fraction b1 | speed-up b64 "
                  "| fraction b64 |", "|---|---|---|---|---|---|---|---|"]
        for r in slim:
            red = r["macs_dense"] / r["macs_deployed"]
            cells = [r["net"], "%.1f M" % (r["macs_dense"] / 1e6), "%.1f M" % (r["macs_deployed"] / 1e6), "%.2f" % red]
            for b in (1, 64):
                sp = r["trim_dense_%d" % b] / r["trim_deployed_%d" % b]
                cells += ["%.2f" % sp, "%.2f" % (sp / red)]
            lines.append("| " + " | ".join(cells) + " |")
    # A hand-written "## Notes" section of the file (what the numbers mean) survives a rerun.
    notes = ""
    path = os.path.join(a.out, "deploy.md")
    if os.path.exists(path):
        old = open(path).read()
        if "\n## Notes" in old:
            notes = "\n" + old[old.index("\n## Notes") + 1:]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n" + notes)
    os.replace(tmp, path)  # atomic: a reader never sees half a table
    with open(os.path.join(a.out, "deploy.json"), "w") as f:
        json.dump(rows, f, indent=1)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    rows = [r for r in rows if not r.get("slimmed")]  # the plot is against sparsity; slimmed nets are dense
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for b, marker in ((1, "o"), (64, "s")):
        xs = [r["sparsity"] for r in rows]
        ax.scatter(xs, [r["trim_dense_%d" % b] / r["trim_deployed_%d" % b] for r in rows], marker=marker,
                   label="trim deployed, batch %d" % b)
        tr = [r for r in rows if r.get("torch_sparse_%d" % b)]
        ax.scatter([r["sparsity"] for r in tr], [r["trim_dense_%d" % b] / r["torch_sparse_%d" % b] for r in tr],
                   marker=marker, facecolors="none", edgecolors="gray", label="PyTorch sparse, batch %d" % b)
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("sparsity of the conv and linear weights")
    ax.set_ylabel("speed-up over trim dense (folded)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("trim-deploy, %d threads" % a.threads)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "deploy_speedup.png"), dpi=120)


if __name__ == "__main__":
    main()
