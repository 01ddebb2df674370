#!/usr/bin/env python3
"""Results of scripts/prune-fmnist.sh: a markdown table (results.md) and a PNG plot of test accuracy
against sparsity (accuracy_vs_sparsity.png), from the run folders under one folder.

    python3 scripts/prune_results.py runs/prune-fmnist
    python3 scripts/prune_results.py --dense-reference apps/manifests/fmnist_mlp_gmp_90.json

Sparsity is counted here, from each run's model.safetensors (zeros over every conv and linear
weight, i.e. every tensor named *weight with more than one dimension), not taken from the summary.
"""
import json
import pathlib
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
    """The target sparsity a run's name announces (fmnist_<model>_<method>_<percent>), or None."""
    tail = name.rsplit("_", 1)[-1]
    return int(tail) / 100 if tail.isdigit() and not name.startswith("dense_") else None


def method_epochs(m):
    """Epochs one network trains in a method's run, for its dense reference: train.epochs, or for
    GReg its pretraining + regularization + fine-tuning epochs (one network throughout)."""
    p = m.get("pruning") or {}
    if p.get("method") in ("greg1", "greg2"):
        return p.get("pretrain_epochs", 0) + p.get("reg_epochs", 0) + p.get("finetune_epochs", m["train"]["epochs"])
    return m["train"]["epochs"]


def dense_reference(manifest):
    m = json.loads(pathlib.Path(manifest).read_text())
    return m["model"]["name"], method_epochs(m)


def main(folder):
    folder = pathlib.Path(folder)
    runs = []
    for summary in sorted(folder.glob("*/summary.json")):
        s = json.loads(summary.read_text())
        run = summary.parent
        manifest = json.loads((run / "manifest.json").read_text())
        runs.append({"name": run.name, "method": s.get("method", "?"), "model": manifest["model"]["name"],
                     "epochs": method_epochs(manifest), "accuracy": s.get("test_accuracy"),
                     "sparsity": safetensors_sparsity(run / "model.safetensors"),
                     "target": target_of(run.name),
                     "macs": s.get("macs"), "remaining_macs": s.get("remaining_macs"), "seconds": s.get("seconds", 0)})
    dense = {(r["model"], r["epochs"]): r for r in runs if r["method"] == "dense"}
    lines = ["| method | model | epochs | target | sparsity (model.safetensors) | test accuracy | dense, same epochs | "
             "difference | remaining MACs | time (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["method"] != "dense", r["method"], r["target"] or 0, r["epochs"])):
        d = dense.get((r["model"], r["epochs"]))
        diff = f"{100 * (r['accuracy'] - d['accuracy']):+.2f}" if d and r["method"] != "dense" else ""
        pct = f"{100 * r['target']:.0f}%" if r["target"] is not None else ""
        dense_acc = f"{d['accuracy']:.4f}" if d and r["method"] != "dense" else ""
        lines.append(f"| {r['method']} | {r['model']} | {r['epochs']} | {pct} | {100 * r['sparsity']:.2f}% | "
                     f"{r['accuracy']:.4f} | {dense_acc} | {diff} | {r['remaining_macs']:,} of {r['macs']:,} | "
                     f"{r['seconds']:.0f} |")
    table = "\n".join(lines) + "\n"
    (folder / "results.md").write_text(table)
    print(table)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("prune_results: matplotlib is missing (python3 -m pip install matplotlib): no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    # One series per method and model: the MLP's, and apart from them the CNNs' (filter GReg, spiking LATS).
    for method, model in sorted({(r["method"], r["model"]) for r in runs if r["method"] != "dense"}):
        pts = sorted((100 * r["sparsity"], 100 * r["accuracy"]) for r in runs
                     if r["method"] == method and r["model"] == model)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if model == "mlp" else "s",
                label=method if model == "mlp" else f"{method} ({model})")
    for (model, epochs), d in sorted(dense.items()):
        ax.axhline(100 * d["accuracy"], linestyle="--", linewidth=0.8, color="gray")
        ax.text(0.01, 100 * d["accuracy"], f"dense {model}, {epochs} epochs", fontsize=7, va="bottom", color="gray",
                transform=ax.get_yaxis_transform())
    ax.set_xlabel("sparsity of conv and linear weights (%)")
    ax.set_ylabel("Fashion-MNIST test accuracy (%)")
    ax.set_title("trim: pruning methods on Fashion-MNIST (CPU)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "accuracy_vs_sparsity.png", dpi=120)
    print(f"wrote {folder / 'results.md'} and {folder / 'accuracy_vs_sparsity.png'}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--dense-reference":
        model, epochs = dense_reference(sys.argv[2])
        print(model, epochs)
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
