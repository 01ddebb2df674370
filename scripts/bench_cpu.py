#!/usr/bin/env python3
"""trim's CPU convolutions against PyTorch's (oneDNN) on the same cores, side by side.

    python3 scripts/bench_cpu.py [--build build-cpu] [--threads 2] [--rounds 3] \
        [--out scripts/results/bench-cpu.md] [--readme README.md]

Runs, in rounds whose order rotates (so a burst of load from other processes hits every contender
alike): trim-bench with each CPU convolution backend (TRIM_CPU_CONV=onednn, im2col) and
scripts/bench_torch.py on the conv layer shapes of SAP's CNN and ResNet-18, then
`trim-bench model` and scripts/bench_torch_model.py on whole training steps of SAP's CNN, ResNet-18
and the spiking CNN, by wall time (in fp32 and in bf16: trim --precision bf16, PyTorch autocast) and
(in runs with OMP_WAIT_POLICY=PASSIVE) by process CPU time.
Each contender's time per case is the minimum over rounds of its fastest timed run: on a shared
machine load only ever adds time. Writes a markdown report (--out) and, with --readme, replaces
the text between README's `<!-- bench-cpu -->` and `<!-- /bench-cpu -->` markers with it.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = [("sap_cnn", 64), ("resnet18", 8)]  # (network, batch) of the per-layer comparison
MODELS = [("sap_cnn", 250, "1,28,28"), ("resnet18", 8, "3,224,224"),
          ("spiking_cnn", 128, "1,28,28")]  # (model, batch, input) of the step comparison
CONTENDERS = ["trim onednn", "trim im2col", "torch"]
# Whole steps also run in bf16: trim's precision policy and PyTorch's torch.autocast("cpu", bfloat16).
MODEL_CONTENDERS = CONTENDERS + ["trim bf16", "torch bf16"]


def run(cmd, env, out):
    """Runs one benchmark command writing JSON lines to `out`; returns its records."""
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run(cmd + ["--out", out], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        sys.exit(f"bench_cpu: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def commands(build, contender, kind, name, batch, extra):
    if contender.startswith("trim"):
        base = [str(build / "bin" / "trim-bench")]
        if kind == "model":
            precision = ["--precision", "bf16"] if contender == "trim bf16" else []
            return base + ["model", name, "--device", "cpu", "--batch", str(batch)] + precision + extra
        return base + ["--device", "cpu", "--shapes", name, "--batch", str(batch)] + extra
    script = "bench_torch_model.py" if kind == "model" else "bench_torch.py"
    base = [sys.executable, str(ROOT / "scripts" / script)]
    if kind == "model":
        amp = ["--amp"] if contender == "torch bf16" else []
        return base + [name, "--device", "cpu", "--batch", str(batch)] + amp + extra
    return base + ["--device", "cpu", "--shapes", name, "--batch", str(batch),
                   "--trim-bench", str(build / "bin" / "trim-bench")] + extra  # the list of cases to time


def env_for(contender, threads, passive=False):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("OMP_WAIT_POLICY", None)  # wall time: both sides spin as they would when training alone
    if passive:  # CPU time: waiting threads sleep, so only work is counted
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if contender.startswith("trim"):
        env["TRIM_CPU_CONV"] = "im2col" if contender == "trim im2col" else "onednn"
    return env


def measure(build, threads, rounds, jobs, tmp):
    """{(job, contender): {shape: best ms}} over rounds with rotating contender order."""
    best = {}
    for r in range(rounds):
        for job in jobs:
            kind, name, batch, extra = job
            passive = kind == "model-cpu"
            who = MODEL_CONTENDERS if kind == "model" else CONTENDERS
            order = who[r % len(who):] + who[:r % len(who)]
            for c in order:
                recs = run(commands(build, c, "model" if passive else kind, name, batch, extra),
                           env_for(c, threads, passive), os.path.join(tmp, "out.jsonl"))
                slot = best.setdefault((job[:3], c), {})
                for rec in recs:
                    t = rec["cpu_ms_min"] if passive else rec["ms_min"]
                    ms = min(t, slot.get(rec["shape"], (float("inf"),))[0])
                    slot[rec["shape"]] = (ms, rec.get("name", ""), rec.get("count", 1))
                print(f"bench_cpu: round {r + 1}/{rounds} {kind} {name} {c}: {len(recs)} cases", file=sys.stderr)
    return best


def layer_table(best, name, batch):
    key = ("layers", name, batch)
    t, i, p = (best[(key, c)] for c in CONTENDERS)
    lines = [f"Conv layers of {name} at batch {batch} (forward + backward, ms):", "",
             "| layer | shape | count | trim oneDNN | trim im2col | torch | oneDNN/torch | im2col/torch |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    tot = [0.0, 0.0, 0.0]
    for shape, (ms_p, layer, count) in p.items():
        ms_t, ms_i = t[shape][0], i[shape][0]
        for k, v in enumerate((ms_t, ms_i, ms_p)):
            tot[k] += count * v
        lines.append(f"| {layer} | {shape} | {count} | {ms_t:.4g} | {ms_i:.4g} | {ms_p:.4g} | {ms_t / ms_p:.2f} | "
                     f"{ms_i / ms_p:.2f} |")
    lines.append(f"| all (count-weighted) | | | {tot[0]:.4g} | {tot[1]:.4g} | {tot[2]:.4g} | {tot[0] / tot[2]:.2f} | "
                 f"{tot[1] / tot[2]:.2f} |")
    return lines


def model_table(best, models):
    lines = ["Whole training steps (forward, cross-entropy, backward, SGD step) on random input, wall time:", "",
             "| model | input | trim oneDNN img/s | trim im2col img/s | torch img/s | trim oneDNN/torch time | "
             "trim im2col/torch time |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, batch, inp in models:
        key = ("model", name, batch)
        ms = [next(iter(best[(key, c)].values()))[0] for c in CONTENDERS]
        ips = [1e3 * batch / m for m in ms]
        shape = next(iter(best[(key, 'torch')]))
        lines.append(f"| {name} | {shape.split(' ', 1)[1]} | {ips[0]:.1f} | {ips[1]:.1f} | {ips[2]:.1f} | "
                     f"{ms[0] / ms[2]:.2f} | {ms[1] / ms[2]:.2f} |")
    return lines


def precision_table(best, models):
    lines = ["The same steps in bf16 (wall time): trim's precision policy (`--precision bf16`: convolutions and "
             "matrix products in bf16 with f32 accumulation, the rest f32) and PyTorch's "
             "`torch.autocast(\"cpu\", dtype=torch.bfloat16)`:", "",
             "| model | input | trim fp32 img/s | trim bf16 img/s | torch fp32 img/s | torch bf16 img/s | "
             "trim bf16/trim fp32 time | torch bf16/torch fp32 time | trim bf16/torch bf16 time |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, batch, inp in models:
        key = ("model", name, batch)
        ms = {c: next(iter(best[(key, c)].values()))[0] for c in MODEL_CONTENDERS}
        ips = {c: 1e3 * batch / m for c, m in ms.items()}
        shape = next(iter(best[(key, 'torch')]))
        lines.append(f"| {name} | {shape.split(' ', 1)[1]} | {ips['trim onednn']:.1f} | {ips['trim bf16']:.1f} | "
                     f"{ips['torch']:.1f} | {ips['torch bf16']:.1f} | {ms['trim bf16'] / ms['trim onednn']:.2f} | "
                     f"{ms['torch bf16'] / ms['torch']:.2f} | {ms['trim bf16'] / ms['torch bf16']:.2f} |")
    return lines


def cpu_table(best, models):
    lines = ["The same steps by process CPU time (all threads; OMP_WAIT_POLICY=PASSIVE on both sides, so "
             "threads waiting at a barrier sleep): the steadier measure of work on a shared machine.", "",
             "| model | input | trim oneDNN CPU ms | trim im2col CPU ms | torch CPU ms | trim oneDNN/torch | "
             "trim im2col/torch |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, batch, inp in models:
        key = ("model-cpu", name, batch)
        ms = [next(iter(best[(key, c)].values()))[0] for c in CONTENDERS]
        shape = next(iter(best[(key, 'torch')]))
        lines.append(f"| {name} | {shape.split(' ', 1)[1]} | {ms[0]:.4g} | {ms[1]:.4g} | {ms[2]:.4g} | "
                     f"{ms[0] / ms[2]:.2f} | {ms[1] / ms[2]:.2f} |")
    return lines


def cpu_name():
    """The CPU's model name and its bf16 instructions (the bf16 rows depend on them)."""
    model, flags = "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown CPU":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    bf16 = [name for flag, name in (("avx512_bf16", "AVX-512 BF16"), ("amx_bf16", "AMX")) if flag in flags]
    return f"{model} ({', '.join(bf16) if bf16 else 'no bf16 instructions'})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build-cpu", help="trim build folder (holds bin/trim-bench)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="scripts/results/bench-cpu.md")
    ap.add_argument("--readme", help="README to update between the bench-cpu markers")
    args = ap.parse_args()
    build = (ROOT / args.build).resolve()
    if not (build / "bin" / "trim-bench").exists():
        sys.exit(f"bench_cpu: {build}/bin/trim-bench not found (build trim first)")

    import torch  # only for the report's version line
    jobs = [("layers", n, b, ["--filter", "conv2d", "--iters", "1", "--repeats", "8", "--warmup", "1"]) for n, b in LAYERS]
    jobs += [("model", n, b, ["--input", i, "--iters", "1", "--repeats", "4", "--warmup", "1"]) for n, b, i in MODELS]
    jobs += [("model-cpu", n, b, ["--input", i, "--iters", "1", "--repeats", "3", "--warmup", "1"]) for n, b, i in MODELS]
    with tempfile.TemporaryDirectory() as tmp:
        best = measure(build, args.threads, args.rounds, jobs, tmp)

    lines = [f"Measured by `python3 scripts/bench_cpu.py --threads {args.threads} --rounds {args.rounds}`: trim "
             f"(oneDNN and im2col convolution backends) and PyTorch {torch.__version__} (its oneDNN path) on the "
             f"same {args.threads} threads (OMP_NUM_THREADS={args.threads}; CPU: {cpu_name()}), interleaved in "
             f"{args.rounds} rounds on a machine shared with other builds; each time is the best run over the rounds. "
             f"Ratios < 1: trim is faster.",
             ""]
    for n, b in LAYERS:
        lines += layer_table(best, n, b) + [""]
    lines += model_table(best, MODELS) + [""] + precision_table(best, MODELS) + [""] + cpu_table(best, MODELS)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if args.readme:
        readme = ROOT / args.readme
        s = readme.read_text()
        a, b = "<!-- bench-cpu -->\n", "<!-- /bench-cpu -->"
        if a not in s or b not in s:
            sys.exit(f"bench_cpu: {readme} has no {a.strip()} ... {b} markers")
        head, rest = s.split(a, 1)
        _, tail = rest.split(b, 1)
        readme.write_text(head + a + text + b + tail)


if __name__ == "__main__":
    main()
