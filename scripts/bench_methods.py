#!/usr/bin/env python3
"""Whole-step overhead of each pruning method relative to dense training, on the default CNN.

Each method's Fashion-MNIST 90% settings (apps/manifests/fmnist_mlp_<method>_90.json's "pruning")
are applied to the default model and data (apps/manifests/fmnist_cnn.json) on a fixed slice of the
training set, with round and epoch counts shortened so that every phase of every method runs
(pruning events, rounds with rewinds, regularisation growth, fine-tuning). Throughput is the
training images per second over all training epochs of a run (metrics.jsonl: images over the
seconds of the step loops, so evaluation and end-of-round work such as SAP's PQ index are not
counted). Dense and the methods are run interleaved, `--reps` times, and each ratio uses the
median, so that a load that changes during the script shifts all of them alike.

    python3 scripts/bench_methods.py                       # CPU, writes scripts/results/bench-methods.md
    python3 scripts/bench_methods.py --device cuda --reps 3
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
APP = {"omp": "trim-magnitude", "gmp": "trim-magnitude", "lottery": "trim-magnitude",
       "os_sap": "trim-magnitude", "sap": "trim-sap", "lats": "trim-lats", "ltp": "trim-ltp",
       "greg1": "trim-greg", "greg2": "trim-greg"}
# Shortened schedules (100 steps per epoch at the slice below): every phase still runs.
SHORT = {
    "dense": ({}, 3),
    "omp": ({"finetune_epochs": 1}, 2),
    "gmp": ({"start_step": 50, "interval_steps": 10, "events": 20}, 4),
    "lottery": ({"rounds": 2}, 2),
    "os_sap": ({"rounds": 2}, 2),
    "sap": ({"rounds": 2}, 2),
    "lats": ({}, 3),
    "ltp": ({"finetune_epochs": 1}, 3),
    # GReg: λ updated every 2 steps instead of 10, so the whole growth fits two epochs.
    "greg1": ({"pretrain_epochs": 1, "reg_epochs": 2, "finetune_epochs": 1, "update_interval": 2,
               "stabilize_iterations": 20}, 1),
    "greg2": ({"pretrain_epochs": 1, "reg_epochs": 2, "finetune_epochs": 1, "update_interval": 2,
               "stabilize_iterations": 20}, 1),
}


def manifest_for(method, device, out):
    m = json.loads((ROOT / "apps/manifests/fmnist_cnn.json").read_text())
    m["name"] = f"bench_{method}"
    m["device"] = device
    m["output"] = str(out)
    m["data"].update({"train_limit": 12800, "test_limit": 1000})
    extra, epochs = SHORT[method]
    m["train"]["epochs"] = epochs
    if method != "dense":
        p = json.loads((ROOT / f"apps/manifests/fmnist_mlp_{method}_90.json").read_text())["pruning"]
        p.update(extra)
        m["pruning"] = p
    return m


def throughput(run):
    images = seconds = 0.0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        e = json.loads(line)
        if "images_per_second" in e:
            images += e["images_per_second"] * e["seconds"]
            seconds += e["seconds"]
    return images / seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build/bin"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--methods", default=",".join(k for k in SHORT if k != "dense"))
    ap.add_argument("--work", default=str(ROOT / "runs/bench-methods"))
    ap.add_argument("--out", default=str(ROOT / "scripts/results/bench-methods.md"))
    a = ap.parse_args()
    methods = ["dense"] + [m for m in a.methods.split(",") if m]
    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    rates = {m: [] for m in methods}
    for rep in range(a.reps):
        for method in methods:
            run = work / f"{method}_{rep}"
            subprocess.run(["rm", "-rf", str(run)], check=True)
            mf = work / f"{method}.json"
            mf.write_text(json.dumps(manifest_for(method, a.device, run), indent=1))
            app = "trim-train" if method == "dense" else APP[method]
            r = subprocess.run([f"{a.bin}/{app}", str(mf)], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"bench_methods: {method} failed ({app} {mf}):\n{r.stderr[-2000:]}")
            rates[method].append(throughput(run))
            print(f"rep {rep} {method:8s} {rates[method][-1]:8.0f} img/s", flush=True)
    dense = statistics.median(rates["dense"])
    rows = ["| method | app | img/s (median) | runs | step time vs dense |", "|---|---|---|---|---|"]
    for method in methods:
        med = statistics.median(rates[method])
        runs = ", ".join(f"{x:.0f}" for x in rates[method])
        app = "trim-train" if method == "dense" else APP[method]
        rows.append(f"| {method} | {app} | {med:.0f} | {runs} | {dense / med:.3f}× |")
    text = (f"Whole-step overhead of each method on the default CNN (`cnn_small`, batch 128, "
            f"Fashion-MNIST slice of 12,800 images), device `{a.device}`, {a.reps} interleaved "
            f"repetitions; written by `python3 scripts/bench_methods.py`.\n\n" + "\n".join(rows) + "\n")
    pathlib.Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
