#!/usr/bin/env python3
"""Checks that no #include in the tree points upward.

The one place where the order of trim's rooms is written down: the top-level folders (LAYERS) and
the rooms inside core/ (CORE_LAYERS). Each is a list of levels, lowest first; a level holds rooms
that are siblings. A file may include files of its own room and of rooms on lower levels, never a
sibling's or a higher room's. test/ may include anything.

Usage: check_layers.py [ROOT]  (ROOT defaults to the repository holding this script). Prints one
line per upward include, `file:line: ...`, and exits 1 when there is any; needs no build.
check_layers.py --self-test checks the rule itself on known cases.
"""
import fnmatch
import os
import re
import sys

# Top-level rooms, lowest first (ARCHITECTURE.md, "Layers of the code").
LAYERS = [
    ["core"],
    ["data", "layers"],
    ["spiking", "pruning"],
    ["models"],
    ["apps"],
]
EXEMPT = {"test"}  # tests may include any room

# Rooms inside core/, lowest first. A room is a list of patterns (a folder ends in "/"); the most
# specific pattern wins, so the device runtime's half of cpu/ and cuda/ can sit below the tensor
# while their kernels sit above it. core/comm is the communicator's room.
CORE_LAYERS = [
    {"base": ["core/base.h", "core/bf16.h", "core/dtype.h", "core/error.*", "core/log.*", "core/text.*"]},
    {"shape": ["core/shape.*"], "config": ["core/config.*"], "random": ["core/random/"],
     "registry": ["core/registry.h"]},
    {"runtime": ["core/device.*", "core/memory.*", "core/threads.*", "core/cuda/runtime.*", "core/cuda/graph.*", "core/cuda/check.h",
                 "core/cuda/context.h", "core/cpu/blas.*", "core/cpu/parallel.h"]},
    {"tensor": ["core/tensor.*"]},
    {"kernels": ["core/kernels/"]},
    {"cpu": ["core/cpu/"], "cuda": ["core/cuda/"]},
    {"autograd": ["core/autograd/"]},
    {"ops": ["core/ops/"]},
    {"optim": ["core/optim/"]},
    {"io": ["core/io/"], "comm": ["core/comm/"]},
]

SOURCE_EXT = (".h", ".hpp", ".c", ".cpp", ".cc", ".cu", ".cuh", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def level_of(layers):
    return {room: i for i, level in enumerate(layers) for room in level}


TOP_LEVEL = level_of(LAYERS)
CORE_LEVEL = level_of(CORE_LAYERS)


def core_room(path):
    """The core room of `path` (relative, '/'-separated): the room of its most specific pattern."""
    best, best_len = None, -1
    for level in CORE_LAYERS:
        for room, patterns in level.items():
            for p in patterns:
                hit = path.startswith(p) if p.endswith("/") else fnmatch.fnmatchcase(path, p)
                if hit and len(p) > best_len:
                    best, best_len = room, len(p)
    return best


def top_room(path):
    return path.split("/", 1)[0]


def check_include(src, target):
    """An error message when `src` may not include `target`, else None."""
    a, b = top_room(src), top_room(target)
    if a in EXEMPT:
        return None
    if b in EXEMPT:
        return f"includes {target}: only tests may include {b}/"
    if b not in TOP_LEVEL:
        return None  # not a file of the tree's rooms
    if a != b:
        if TOP_LEVEL[b] >= TOP_LEVEL[a]:
            kind = "a sibling" if TOP_LEVEL[b] == TOP_LEVEL[a] else "a higher"
            return f"includes {target}: {a}/ may not include {b}/ ({kind} room)"
        return None
    if a != "core":
        return None
    ra, rb = core_room(src), core_room(target)
    if ra is None:
        return f"is in no room of core/: add it to CORE_LAYERS in scripts/check_layers.py"
    if rb is None:
        return f"includes {target}, which is in no room of core/: add it to CORE_LAYERS in scripts/check_layers.py"
    if ra != rb and CORE_LEVEL[rb] >= CORE_LEVEL[ra]:
        kind = "a sibling" if CORE_LEVEL[rb] == CORE_LEVEL[ra] else "a higher"
        return f"includes {target}: core room '{ra}' may not include '{rb}' ({kind} room)"
    return None


def resolve(root, src, name):
    """The repository path an include names: relative to the including file first, then the root."""
    local = os.path.normpath(os.path.join(os.path.dirname(src), name))
    if os.path.exists(os.path.join(root, local)):
        return local.replace(os.sep, "/")
    return os.path.normpath(name).replace(os.sep, "/")


def self_test():
    """The rule on known cases, so a broken table or matcher cannot pass silently."""
    upward = [("core/tensor.cpp", "core/autograd/node.h"), ("core/random/generator.h", "core/kernels/params.h"),
              ("core/autograd/engine.cpp", "core/ops/elementwise.h"), ("core/device.cpp", "core/cuda/launch.cuh"),
              ("core/io/safetensors.cpp", "core/comm/communicator.h"), ("core/ops/conv.cpp", "data/loader.h"),
              ("data/loader.cpp", "layers/module.h"), ("spiking/neuron.cpp", "pruning/ltp_op.h"),
              ("models/zoo.h", "apps/runner/trainer.h"), ("pruning/greg.cpp", "test/support/fixtures.h"),
              ("core/newroom/x.h", "core/tensor.h")]
    allowed = [("core/ops/conv.cpp", "core/kernels/kernels.h"), ("core/kernels/kernels.h", "core/cuda/runtime.h"),
               ("core/memory.cpp", "core/cuda/runtime.h"), ("core/cuda/runtime.cu", "core/memory.h"),
               ("core/comm/comm_nccl.cpp", "core/cuda/context.h"), ("spiking/neuron.cpp", "core/autograd/node.h"),
               ("models/zoo.h", "spiking/neuron.h"), ("apps/runner/trainer.cpp", "models/zoo.h"),
               ("test/unit/test_engine.cpp", "apps/runner/trainer.h")]
    bad = [f"not flagged: {a} -> {b}" for a, b in upward if not check_include(a, b)]
    bad += [f"flagged: {a} -> {b}: {check_include(a, b)}" for a, b in allowed if check_include(a, b)]
    for e in bad:
        print(e)
    print(f"check_layers self-test: {len(upward) + len(allowed)} cases, {len(bad)} wrong")
    return 1 if bad else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    errors, files = [], 0
    for top in sorted(set(TOP_LEVEL) | EXEMPT):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if not os.path.exists(os.path.join(dirpath, d, "CMakeCache.txt")))
            for f in sorted(filenames):
                if not f.endswith(SOURCE_EXT):
                    continue
                files += 1
                src = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
                with open(os.path.join(root, src), encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        msg = check_include(src, resolve(root, src, m.group(1)))
                        if msg:
                            errors.append(f"{src}:{n}: {msg}")
    for e in errors:
        print(e)
    print(f"check_layers: {files} files, {len(errors)} upward include(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
