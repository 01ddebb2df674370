#!/usr/bin/env python3
"""CTest scripts:sweep — scripts/sweep.py end to end on trim-train (usage: test_sweep.py TRIM_TRAIN).

Two seeds of the Fashion-MNIST MLP for one epoch on a data subset: results.csv has two rows with
their seeds and accuracies, results.md the mean ± std; a rerun skips both runs and leaves them
untouched; a --grid key the manifest lacks is refused before anything runs. Skipped (77) without
the Fashion-MNIST files."""
import csv
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEP = os.path.join(REPO, "scripts", "sweep.py")
MANIFEST = os.path.join(REPO, "apps", "manifests", "fmnist_mlp.json")
FMNIST = "/usr/share/datasets/fashion-mnist"


def sweep(*args):
    p = subprocess.run([sys.executable, SWEEP, MANIFEST, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    app = sys.argv[1]
    if not os.path.exists(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz")):
        print(f"skipped: no Fashion-MNIST in {FMNIST}")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "sweep")
        fast = ["--set", "train.epochs=1", "--set", "data.train_limit=2000", "--set", "data.test_limit=1000",
                "--set", "device=cpu", "--set", "threads=1"]

        # A grid key the manifest does not have: one error naming it, nothing run or written.
        rc, so, se = sweep("--app", app, "--seeds", "0", "--grid", "optimizer.nope=1,2", "--out", out)
        assert rc == 2, (rc, so, se)
        assert 'no key "optimizer.nope"' in se and "optimizer has no \"nope\"" in se, se
        assert se.count("error") == 1, se
        assert not os.path.exists(out), "a refused sweep created its folder"

        rc, so, se = sweep("--app", app, "--seeds", "0,1", *fast, "--set", "name=sweep_s{seed}", "--out", out)
        assert rc == 0, (rc, so, se)
        assert "2 ran, 0 skipped, 0 failed" in so, so
        with open(os.path.join(out, "results.csv")) as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 2, rows
        assert [r["seed"] for r in rows] == ["0", "1"], rows
        for r in rows:
            acc = float(r["test_accuracy"])
            assert 0.5 < acc <= 1.0, r  # one epoch on 2000 images: well above chance (0.1)
            assert int(r["remaining_macs"]) == int(r["macs"]) > 0, r
            assert float(r["seconds"]) > 0, r
            assert int(r["steps"]) == 8, r  # one epoch of 2000 images at batch 250
        accs = [float(r["test_accuracy"]) for r in rows]
        with open(os.path.join(out, "results.md")) as f:
            md = f.read()
        assert "±" in md, md
        assert "| 2 |" in md, md  # two seeds in the one grid point
        mean = sum(accs) / 2
        assert f"{mean:.4f} ±" in md, (mean, md)

        summaries = [os.path.join(out, "default", f"seed{s}", "summary.json") for s in (0, 1)]
        for s, path in zip((0, 1), summaries):  # {seed} in a --set value is the run's seed
            with open(path) as f:
                assert json.load(f)["name"] == f"sweep_s{s}", path
        stamps = [os.stat(p).st_mtime_ns for p in summaries]
        rc, so, se = sweep("--app", app, "--seeds", "0,1", *fast, "--set", "name=sweep_s{seed}", "--out", out)
        assert rc == 0, (rc, so, se)
        assert "0 ran, 2 skipped, 0 failed" in so, so
        assert [os.stat(p).st_mtime_ns for p in summaries] == stamps, "a finished run was run again"
        with open(os.path.join(out, "results.csv")) as f:
            assert len(list(csv.DictReader(f))) == 2
    print("sweep: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
