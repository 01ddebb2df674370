#!/usr/bin/env python3
"""The pruning table of scripts/prune-fmnist.sh: one row per manifest, mean ± std over its seeds
(results.md), and a PNG plot of test accuracy against sparsity (accuracy_vs_sparsity.png), from the
sweep folders (scripts/sweep.py) under one folder.

    python3 scripts/prune_results.py runs/prune-fmnist
    python3 scripts/prune_results.py --model|--method|--pretrain-manifest MANIFEST   (for prune-fmnist.sh)

Sparsity is counted here, from each run's model.safetensors (zeros over every conv and linear
weight, i.e. every tensor named *weight with more than one dimension), not taken from the summary.
Epochs are counted from steps: every optimizer step of the run (all rounds), plus the steps of the
pretraining a run started from (its init_from file's run), over the steps of one epoch of the same
network's dense reference.
"""
import csv
import json
import os
import pathlib
import statistics
import struct
import sys


def safetensors_sparsity(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    zeros = total = 0
    for name, t in header.items():
        if name == "__metadata__" or not name.endswith("weight") or len(t["shape"]) < 2:
            continue
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}"
        a, b = t["data_offsets"]
        vals = struct.unpack(f"<{(b - a) // 4}f", data[base + a:base + b])
        zeros += sum(1 for v in vals if v == 0.0)
        total += len(vals)
    return zeros / total if total else 0.0


def target_of(name):
    """The target sparsity a sweep's name announces (fmnist_<model>_<method>_<percent>), or None."""
    tail = name.rsplit("_", 1)[-1]
    return int(tail) / 100 if tail.isdigit() and not name.startswith("dense_") else None


def read_json(path):
    return json.loads(pathlib.Path(path).read_text())


def pretrain_manifest(manifest):
    """The manifest (beside MANIFEST) whose run writes MANIFEST's init_from file, or '' without
    init_from. Exits with one error when no manifest writes it."""
    m = read_json(manifest)
    init = m.get("init_from")
    if not init:
        return ""
    folder = pathlib.Path(manifest).parent
    for other in sorted(folder.glob("*.json")):
        o = read_json(other)
        if isinstance(o, dict) and "output" in o and os.path.normpath(os.path.join(o["output"], "model.safetensors")) == os.path.normpath(init):
            return str(other)
    sys.exit(f"prune_results.py: {manifest}: /init_from {init} is written by no manifest in {folder} "
             f"(expected one whose \"output\" is {os.path.dirname(init)})")


def load_runs(folder):
    """Every run of every sweep under FOLDER: (sweep name, run dict)."""
    runs = []
    for csv_path in sorted(folder.glob("*/results.csv")):
        sweep = csv_path.parent
        with open(csv_path, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                run = sweep / row["run"]
                s = read_json(run / "summary.json")
                m = read_json(run / "manifest.json")
                pre_steps = pre_seconds = 0
                pre_run = None
                if m.get("init_from"):  # the pretraining this run started from counts into its budget
                    pre_run = pathlib.Path(m["init_from"]).resolve().parent
                    pre = read_json(pre_run / "summary.json")
                    pre_steps, pre_seconds = pre["steps"], pre["seconds"]
                runs.append({"sweep": sweep.name, "seed": int(row["seed"]), "method": s.get("method", "dense"),
                             "model": m["model"]["name"], "target": target_of(sweep.name),
                             "accuracy": s["test_accuracy"], "sparsity": safetensors_sparsity(run / "model.safetensors"),
                             "steps": s["steps"] + pre_steps, "epochs_dense": s.get("epochs"),
                             "macs": s["macs"], "remaining_macs": s["remaining_macs"],
                             "seconds": s["seconds"] + pre_seconds, "run": run.resolve(), "pretrain": pre_run})
    return runs


def mean_std(xs, scale=1.0, digits=2):
    xs = [scale * x for x in xs]
    m = statistics.mean(xs)
    return f"{m:.{digits}f} ± {statistics.stdev(xs):.{digits}f}" if len(xs) > 1 else f"{m:.{digits}f}"


def main(folder):
    folder = pathlib.Path(folder)
    runs = load_runs(folder)
    # A pretraining other runs started from (init_from) is part of their budget, not a row of its own.
    pretrains = {r["pretrain"] for r in runs if r["pretrain"] is not None}
    pretrain_sweeps = {r["sweep"] for r in runs if r["run"] in pretrains}
    runs = [r for r in runs if r["sweep"] not in pretrain_sweeps]
    if not runs:
        sys.exit(f"prune_results.py: no sweep results (*/results.csv) under {folder}")
    # Steps per epoch of each network, from its dense reference (which trains train.epochs epochs).
    step_epoch = {r["model"]: r["steps"] / r["epochs_dense"] for r in runs if r["method"] == "dense"}
    groups = {}
    for r in runs:
        groups.setdefault(r["sweep"], []).append(r)
    dense = {g[0]["model"]: g for g in groups.values() if g[0]["method"] == "dense"}
    lines = ["| method | model | target | epochs | seeds | sparsity (model.safetensors) | test accuracy (%) | "
             "difference to dense (points) | remaining MACs | time (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(groups.values(), key=lambda g: (g[0]["method"] != "dense", g[0]["model"] != "mlp", g[0]["method"],
                                                    g[0]["target"] or 0))
    for g in order:
        r0 = g[0]
        spe = step_epoch.get(r0["model"])
        epochs = statistics.mean(r["steps"] for r in g) / spe if spe else float("nan")
        acc = statistics.mean(r["accuracy"] for r in g)
        d = dense.get(r0["model"])
        diff = f"{100 * (acc - statistics.mean(x['accuracy'] for x in d)):+.2f}" if d and r0["method"] != "dense" else ""
        pct = f"{100 * r0['target']:.0f}%" if r0["target"] is not None else ""
        remaining = statistics.mean(r["remaining_macs"] for r in g)
        lines.append(f"| {r0['method']} | {r0['model']} | {pct} | {epochs:.4g} | {len(g)} | "
                     f"{100 * statistics.mean(r['sparsity'] for r in g):.2f}% | "
                     f"{mean_std([r['accuracy'] for r in g], 100)} | {diff} | {remaining:,.0f} of {r0['macs']:,} | "
                     f"{statistics.mean(r['seconds'] for r in g):.0f} |")
    table = "\n".join(lines) + "\n"
    tmp = folder / "results.md.tmp"
    tmp.write_text(table)
    os.replace(tmp, folder / "results.md")
    print(table)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("prune_results: matplotlib is missing (python3 -m pip install -r scripts/requirements.txt): no plot",
              file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # one colour per series (more than 10 methods)
    # One series per method on the MLP; the CNN's filter-pruning runs as squares, apart from them.
    for method, model in sorted({(g[0]["method"], g[0]["model"]) for g in groups.values() if g[0]["method"] != "dense"}):
        pts = []
        for g in groups.values():
            if g[0]["method"] == method and g[0]["model"] == model:
                accs = [100 * r["accuracy"] for r in g]
                pts.append((100 * statistics.mean(r["sparsity"] for r in g), statistics.mean(accs),
                            statistics.stdev(accs) if len(accs) > 1 else 0.0))
        pts.sort()
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], capsize=3,
                    marker="o" if model == "mlp" else "s", label=method if model == "mlp" else f"{method} ({model})")
    for model, g in sorted(dense.items()):
        accs = [100 * r["accuracy"] for r in g]
        m = statistics.mean(accs)
        s = statistics.stdev(accs) if len(accs) > 1 else 0.0
        ax.axhspan(m - s, m + s, color="gray", alpha=0.15)
        ax.axhline(m, linestyle="--", linewidth=0.8, color="gray")
        ax.text(0.01, m, f"dense {model}", fontsize=7, va="bottom", color="gray", transform=ax.get_yaxis_transform())
    ax.set_xlabel("sparsity of conv and linear weights (%)")
    ax.set_ylabel("Fashion-MNIST test accuracy (%, mean ± std over seeds)")
    ax.set_title("trim: pruning methods on Fashion-MNIST at equal budgets (CPU)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(folder / "accuracy_vs_sparsity.png", dpi=120)
    print(f"wrote {folder / 'results.md'} and {folder / 'accuracy_vs_sparsity.png'}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in ("--model", "--method", "--pretrain-manifest"):
        flag, manifest = sys.argv[1:]
        if flag == "--pretrain-manifest":
            print(pretrain_manifest(manifest))
        else:
            m = read_json(manifest)
            print(m["model"]["name"] if flag == "--model" else (m.get("pruning") or {}).get("method", ""))
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
