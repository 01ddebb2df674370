#!/usr/bin/env python3
"""Seeds and grids of trim runs, summarised as mean ± std.

    python3 scripts/sweep.py MANIFEST --app APP --seeds 0,1,2 [--set k=v ...] [--grid k=v1,v2 ...]
                             [--jobs N] --out DIR

Runs APP (an app name found in build/bin, or a path) on MANIFEST once for every combination of the
grid values and seeds, each in DIR/<grid point>/seed<k> (the run's own folder: --set output=...),
with the app's log next to it (seed<k>.log). Then writes
  DIR/results.csv  one row per run: the grid values, seed, test accuracy, sparsity, remaining MACs,
                   MACs, seconds (read from the run's summary.json), and the spiking keys when present;
  DIR/results.md   mean ± std (sample standard deviation, n − 1) per grid point;
  DIR/results.png  test accuracy per grid point with ± std bars (only when matplotlib imports).

Resumable: a run whose folder holds summary.json is finished and skipped; one that holds only
checkpoint.safetensors (interrupted) is continued with --resume. A --grid key that MANIFEST does
not hold is refused before anything runs; --set keys are checked by the app itself, which refuses
keys it does not know. Grid values are split on commas outside brackets and quotes
(--grid pruning.target=0.9,0.95 or --grid model.hidden=[128,256],[256,512]). In --set values,
{seed} stands for the run's seed (--set init_from=runs/pre/seed{seed}/model.safetensors starts each
seed from its own pretrained network).

Standard library only; the plot is optional.
"""
import argparse
import concurrent.futures
import csv
import io
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# results.csv columns read from summary.json, in order; "sparsity" is absent for dense runs (empty
# cell); "steps" is every optimizer step of the run (all rounds), its training budget. The spiking
# ones are added when any run has them.
CORE_KEYS = ["test_accuracy", "sparsity", "remaining_macs", "macs", "steps", "seconds"]
SPIKING_KEYS = ["firing_rate_eval", "synaptic_operations", "energy_mj_per_image"]


class SweepError(Exception):
    pass


def split_values(text):
    """Splits "a,b,[c,d]" on the commas outside brackets, braces and double quotes."""
    out, depth, quoted, cur = [], 0, False, ""
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "[{":
            depth += 1
        elif not quoted and ch in "]}":
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def parse_assignment(text, flag):
    if "=" not in text or text.startswith("="):
        raise SweepError(f"{flag} {text}: expected key=value")
    key, value = text.split("=", 1)
    return key, value


def manifest_lookup(manifest, key):
    """The value at the dotted key, or raises SweepError naming the first missing segment."""
    node, path = manifest, []
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(path) or "the top level"
            have = ", ".join(sorted(node)) if isinstance(node, dict) else f"a {type(node).__name__}, not an object"
            raise SweepError(f'has no key "{key}": {where} has no "{part}" (it holds: {have})')
        node = node[part]
        path.append(part)
    return node


def point_name(point):
    """Folder name of a grid point: key=value pairs joined by '_', unsafe characters replaced."""
    if not point:
        return "default"
    parts = [f"{k}={v}" for k, v in point]
    return re.sub(r"[^A-Za-z0-9._=+-]", "-", "_".join(parts))


def find_app(app):
    if os.sep in app:
        path = os.path.abspath(app)
    else:
        path = os.path.join(REPO, "build", "bin", app)
        if not os.path.exists(path):
            path = shutil.which(app) or path
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SweepError(f"--app {app}: no executable at {path} (build it: ninja -C build {os.path.basename(app)})")
    return path


def write_atomic(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_one(app, manifest, run_dir, seed, sets):
    """Runs (or resumes) one run; returns (run_dir, status) with status 'ran', 'skipped' or an error."""
    if os.path.exists(os.path.join(run_dir, "summary.json")):
        return run_dir, "skipped"
    os.makedirs(os.path.dirname(run_dir), exist_ok=True)
    cmd = [app, manifest, "--set", f"output={run_dir}", "--set", f"seed={seed}"]
    for k, v in sets:
        cmd += ["--set", f"{k}={v.replace('{seed}', str(seed))}"]
    if os.path.exists(os.path.join(run_dir, "checkpoint.safetensors")):
        cmd.append("--resume")
    log = run_dir + ".log"
    with open(log, "w", encoding="utf-8") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    if rc != 0 or not os.path.exists(os.path.join(run_dir, "summary.json")):
        return run_dir, f"failed (exit status {rc}; see {log})"
    return run_dir, "ran"


def cell(summary, key):
    v = summary.get(key)
    if key == "synaptic_operations" and isinstance(v, dict):
        v = v.get("total")
    return "" if v is None else v


def mean_std(values, digits):
    xs = [float(v) for v in values if v != ""]
    if not xs:
        return "—"
    m = statistics.mean(xs)
    if len(xs) < 2:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(xs):.{digits}f}"


def write_results(out, grid_keys, rows, columns):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point"] + grid_keys + ["seed"] + columns + ["run"])
    for r in rows:
        w.writerow([r["point"]] + [r["grid"][k] for k in grid_keys] + [r["seed"]] +
                   [r["values"][c] for c in columns] + [r["run"]])
    write_atomic(os.path.join(out, "results.csv"), buf.getvalue())

    digits = {"test_accuracy": 4, "sparsity": 4, "remaining_macs": 0, "macs": 0, "steps": 0, "seconds": 1,
              "firing_rate_eval": 4, "synaptic_operations": 0, "energy_mj_per_image": 6}
    points = []
    for r in rows:
        if r["point"] not in points:
            points.append(r["point"])
    lines = ["# Sweep results", "",
             f"mean ± sample std over seeds; one row per grid point; every run in `results.csv`.", "",
             "| " + " | ".join(grid_keys + ["seeds"] + columns) + " |",
             "|" + "---|" * (len(grid_keys) + 1 + len(columns))]
    for p in points:
        rs = [r for r in rows if r["point"] == p]
        vals = [rs[0]["grid"][k] for k in grid_keys] + [str(len(rs))]
        vals += [mean_std([r["values"][c] for r in rs], digits.get(c, 4)) for c in columns]
        lines.append("| " + " | ".join(vals) + " |")
    write_atomic(os.path.join(out, "results.md"), "\n".join(lines) + "\n")
    return points


def plot(out, grid_keys, rows, points):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("sweep.py: matplotlib is not installed: no results.png (pip install matplotlib)")
        return
    means, stds = [], []
    for p in points:
        xs = [float(r["values"]["test_accuracy"]) for r in rows if r["point"] == p and r["values"]["test_accuracy"] != ""]
        means.append(statistics.mean(xs) if xs else float("nan"))
        stds.append(statistics.stdev(xs) if len(xs) > 1 else 0.0)
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(points)), 3.5))
    ax.errorbar(range(len(points)), means, yerr=stds, fmt="o", capsize=4)
    ax.set_xticks(range(len(points)))
    ax.set_xticklabels(points, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (mean ± std)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = os.path.join(out, f"results.png.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, os.path.join(out, "results.png"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--app", required=True, help="trim-train, trim-magnitude, ... (build/bin) or a path")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--set", action="append", default=[], metavar="K=V", help="an override for every run")
    ap.add_argument("--grid", action="append", default=[], metavar="K=V1,V2", help="a manifest key to vary")
    ap.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    ap.add_argument("--out", required=True, help="the sweep's folder")
    a = ap.parse_args(argv)
    try:
        try:
            with open(a.manifest, encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, ValueError) as e:
            raise SweepError(f"{a.manifest}: cannot read the manifest: {e}")
        if not isinstance(manifest, dict):
            raise SweepError(f"{a.manifest}: expected a JSON object at the top level")
        try:
            seeds = [int(s) for s in a.seeds.split(",")]
        except ValueError:
            raise SweepError(f"--seeds {a.seeds}: expected comma-separated integers")
        if a.jobs < 1:
            raise SweepError(f"--jobs {a.jobs}: expected an integer >= 1")
        sets = [parse_assignment(s, "--set") for s in a.set]
        grid = []
        for g in a.grid:
            key, values = parse_assignment(g, "--grid")
            try:
                manifest_lookup(manifest, key)
            except SweepError as e:
                raise SweepError(f"--grid {key}: {a.manifest} {e}")
            vals = split_values(values)
            if any(v == "" for v in vals):
                raise SweepError(f"--grid {g}: an empty value")
            if key in [k for k, _ in grid]:
                raise SweepError(f"--grid {key}: given twice")
            grid.append((key, vals))
        app = find_app(a.app)
    except SweepError as e:
        print(f"sweep.py: error: {e}", file=sys.stderr)
        return 2

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.abspath(a.manifest)
    grid_keys = [k for k, _ in grid]
    jobs = []  # (point name, grid dict, seed, run_dir, sets)
    for combo in itertools.product(*[[(k, v) for v in vals] for k, vals in grid]):
        name = point_name(combo)
        for seed in seeds:
            run_dir = os.path.join(out, name, f"seed{seed}")
            jobs.append((name, dict(combo), seed, run_dir, sets + list(combo)))

    t0 = time.time()
    status = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        futures = {pool.submit(run_one, app, manifest_path, j[3], j[2], j[4]): j for j in jobs}
        for fut in concurrent.futures.as_completed(futures):
            run_dir, st = fut.result()
            status[run_dir] = st
            print(f"sweep.py: {os.path.relpath(run_dir, out)}: {st}", flush=True)

    rows, columns = [], list(CORE_KEYS)
    summaries = {}
    for name, point, seed, run_dir, _ in jobs:
        path = os.path.join(run_dir, "summary.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                summaries[run_dir] = json.load(f)
    for k in SPIKING_KEYS:
        if any(k in s for s in summaries.values()):
            columns.append(k)
    for name, point, seed, run_dir, _ in jobs:
        s = summaries.get(run_dir)
        if s is None:
            continue
        rows.append({"point": name, "grid": point, "seed": seed, "run": os.path.relpath(run_dir, out),
                     "values": {c: cell(s, c) for c in columns}})
    points = write_results(out, grid_keys, rows, columns)
    plot(out, grid_keys, rows, points)

    counts = {k: sum(1 for v in status.values() if v.startswith(k)) for k in ("ran", "skipped", "failed")}
    print(f"sweep.py: {counts['ran']} ran, {counts['skipped']} skipped, {counts['failed']} failed "
          f"in {time.time() - t0:.0f} s; {len(rows)} rows in {os.path.join(out, 'results.csv')}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
