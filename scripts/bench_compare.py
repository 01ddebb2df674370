#!/usr/bin/env python3
"""Joins trim-bench and bench_torch.py results into a markdown table of trim/PyTorch ratios.

Usage: python3 scripts/bench_compare.py trim.jsonl torch.jsonl [--out table.md]

Rows are joined on (op, shape). Per op kind it prints the geometric mean of the per-case ratios
(every shape counts once) and the ratio of count-weighted totals (each case's time times how
often its shape occurs in the network), which is what one training step would see. Ratios
above 1 mean trim is slower. Stdlib only, so it runs anywhere.
"""
import argparse
import json
import math
import sys


def load(path):
    """{(op, shape): record} from a JSON-lines file; fails with the file and line on bad input."""
    records = {}
    try:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                    key = (r["op"], r["shape"])
                    float(r["ms"])
                except (ValueError, KeyError, TypeError) as e:
                    sys.exit(f"bench_compare: {path}:{lineno}: expected a JSON object with op, shape "
                             f"and ms ({e})")
                records[key] = r
    except OSError as e:
        sys.exit(f"bench_compare: cannot read {path}: {e.strerror}")
    if not records:
        sys.exit(f"bench_compare: {path} holds no results")
    return records


def describe(records):
    """'device, batch N' of a result file, from its first record."""
    r = next(iter(records.values()))
    extra = f", torch {r['torch']}" if "torch" in r else ""
    return f"{r.get('device', '?')}, batch {r.get('batch', '?')}{extra}"


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def table(trim, torch):
    lines = [f"trim: {describe(trim)}; torch: {describe(torch)}", "",
             "| op | layer | shape | count | trim ms | torch ms | trim/torch |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    per_op = {}
    for key, t in trim.items():
        p = torch.get(key)
        if p is None:
            continue
        ratio = t["ms"] / p["ms"] if p["ms"] > 0 else float("inf")
        lines.append(f"| {key[0]} | {t.get('name', '')} | {key[1]} | {t.get('count', 1)} | "
                     f"{t['ms']:.4g} | {p['ms']:.4g} | {ratio:.2f} |")
        s = per_op.setdefault(key[0], dict(ratios=[], trim=0.0, torch=0.0))
        s["ratios"].append(ratio)
        s["trim"] += t.get("count", 1) * t["ms"]
        s["torch"] += t.get("count", 1) * p["ms"]

    lines += ["", "| op | cases | geomean trim/torch | count-weighted trim ms | torch ms | ratio |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for op, s in per_op.items():
        lines.append(f"| {op} | {len(s['ratios'])} | {geomean(s['ratios']):.2f} | {s['trim']:.4g} | "
                     f"{s['torch']:.4g} | {s['trim'] / s['torch']:.2f} |")
    if per_op:
        all_ratios = [r for s in per_op.values() for r in s["ratios"]]
        tt = sum(s["trim"] for s in per_op.values())
        pt = sum(s["torch"] for s in per_op.values())
        lines.append(f"| all | {len(all_ratios)} | {geomean(all_ratios):.2f} | {tt:.4g} | {pt:.4g} | "
                     f"{tt / pt:.2f} |")

    only_trim = sorted(set(trim) - set(torch))
    only_torch = sorted(set(torch) - set(trim))
    for name, keys in (("trim", only_trim), ("torch", only_torch)):
        if keys:
            lines.append("")
            lines.append(f"only in the {name} results ({len(keys)}): " + "; ".join(f"{o} {s}" for o, s in keys))
    return "\n".join(lines) + "\n", bool(per_op)


def main():
    ap = argparse.ArgumentParser(description="trim vs PyTorch op timings as a markdown table")
    ap.add_argument("trim", help="trim-bench output (JSON lines)")
    ap.add_argument("torch", help="scripts/bench_torch.py output (JSON lines)")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args()

    trim, torch = load(args.trim), load(args.torch)
    text, joined = table(trim, torch)
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if not joined:
        sys.exit("bench_compare: no case appears in both files (different batch sizes or filters?)")


if __name__ == "__main__":
    main()
