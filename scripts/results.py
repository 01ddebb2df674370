#!/usr/bin/env python3
"""Markdown table of finished runs: one row per <runs>/<name>/summary.json (default: runs/).

    python3 scripts/results.py [runs-folder ...]

README's results tables are pasted from this script's output, never typed by hand.
"""
import json
import pathlib
import sys


def rows(folders):
    for folder in folders:
        for summary in sorted(pathlib.Path(folder).glob("*/summary.json")):
            s = json.loads(summary.read_text())
            manifest = summary.with_name("manifest.json")
            model = json.loads(manifest.read_text()).get("model", {}).get("name", "?") if manifest.exists() else "?"
            yield s, model, summary.parent.name


def main():
    folders = sys.argv[1:] or ["runs"]
    print("| run | model | device | threads | epochs | test accuracy | train loss | time (s) | img/s | peak memory (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s, model, name in rows(folders):
        acc = s.get("test_accuracy")
        print(f"| {name} | {model} | {s.get('device', '?')} | {s.get('threads', '?')} | {s.get('epochs', '?')} "
              f"| {acc:.4f} | {s.get('train_loss', float('nan')):.4f} | {s.get('seconds', 0):.0f} "
              f"| {s.get('images_per_second', 0):.0f} | {s.get('peak_memory_bytes', 0) / 2**20:.0f} |"
              if acc is not None else f"| {name} | {model} | {s.get('device', '?')} | | | (no test) | | | | |")


if __name__ == "__main__":
    main()
