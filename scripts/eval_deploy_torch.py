#!/usr/bin/env python3
"""Evaluates a trim-deploy output folder with PyTorch and the PyPI packages only.

  python3 scripts/eval_deploy_torch.py RUN/deploy [--json] [--limit N]

Reads RUN/deploy/deploy.json (the plan: the network's steps in forward order, with batch norms folded
into the layers before them and activations fused) and RUN/deploy/model_deploy.safetensors (dense
weights, or CSR weights as <layer>.weight.crow_indices / .col_indices / .values with the dense shape in
the metadata), rebuilds each CSR weight with torch.sparse_csr_tensor, and prints the test accuracy
on the run's test split (Fashion-MNIST IDX files read with numpy + gzip). Linear layers in CSR run
through torch.sparse.mm; CSR convolutions through their dense copy (PyTorch has no sparse conv).
Chain models only (mlp, cnn_small, sap_cnn, ...): deploy.json's "plan" is null for the others.
The helpers (load_deployed, DeployedNet) are shared with scripts/bench_deploy.py.
"""
import argparse
import gzip
import json
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def load_deployed(folder):
    """(deploy.json, {name: tensor}, {layer weight name: torch CSR tensor}, metadata)."""
    with open(os.path.join(folder, "deploy.json")) as f:
        spec = json.load(f)
    path = os.path.join(folder, "model_deploy.safetensors")
    tensors = {}
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        for k in f.keys():
            tensors[k] = f.get_tensor(k)
    csr = {}
    for key, fmt in meta.items():
        if key.endswith(".weight.format") and fmt == "csr":
            w = key[: -len(".format")]
            shape = json.loads(meta[w + ".shape"])
            rows, cols = shape[0], math.prod(shape[1:])
            csr[w] = torch.sparse_csr_tensor(tensors[w + ".crow_indices"].to(torch.int64),
                                             tensors[w + ".col_indices"].to(torch.int64),
                                             tensors[w + ".values"], (rows, cols), check_invariants=True)
    return spec, tensors, csr, meta


class DeployedNet(torch.nn.Module):
    """The plan of deploy.json run in PyTorch. sparse=True keeps CSR weights sparse for linear layers
    (torch.sparse.mm) and runs CSR convolutions as im2col (F.unfold) times the sparse weight;
    sparse=False uses every weight dense (PyTorch's dense path on the same numbers)."""

    def __init__(self, folder, sparse=True):
        super().__init__()
        self.spec, self.tensors, self.csr, self.meta = load_deployed(folder)
        if self.spec.get("plan") is None:
            raise SystemExit("%s: the deployed model is not a chain (deploy.json has no plan): not supported here" % folder)
        self.sparse = sparse
        self.dense = {}
        for w, t in self.csr.items():
            shape = json.loads(self.meta[w + ".shape"])
            self.dense[w] = t.to_dense().reshape(shape)
        for k, t in self.tensors.items():
            if k.endswith(".weight") and k + ".format" in self.meta:
                self.dense[k] = t

    def layer(self, step, x):
        name = step["layer"]
        w = name + ".weight"
        b = self.tensors.get(name + ".bias")
        csr = self.csr.get(w) if self.sparse else None
        if step["op"] == "linear":
            if csr is not None:
                y = torch.sparse.mm(csr, x.t()).t()
                y = y + b if b is not None else y
            else:
                y = F.linear(x, self.dense[w], b)
        else:
            kw = dict(stride=tuple(step["stride"]), padding=tuple(step["padding"]), dilation=tuple(step["dilation"]))
            if csr is not None:
                shape = self.dense[w].shape
                n, _, h, wd = x.shape
                cols = F.unfold(x, shape[2:], **kw)  # [N, C*kh*kw, L]
                ho = (h + 2 * kw["padding"][0] - kw["dilation"][0] * (shape[2] - 1) - 1) // kw["stride"][0] + 1
                wo = (wd + 2 * kw["padding"][1] - kw["dilation"][1] * (shape[3] - 1) - 1) // kw["stride"][1] + 1
                y = torch.stack([torch.sparse.mm(csr, cols[i]) for i in range(n)]).reshape(n, shape[0], ho, wo)
                if b is not None:
                    y = y + b.reshape(1, -1, 1, 1)
            else:
                y = F.conv2d(x, self.dense[w], b, groups=step["groups"], **kw)
        if step["act"] == "relu":
            y = F.relu(y)
        elif step["act"] == "relu6":
            y = F.relu6(y)
        return y

    def forward(self, x):
        for s in self.spec["plan"]:
            op = s["op"]
            if op in ("linear", "conv2d"):
                x = self.layer(s, x)
            elif op == "max_pool2d":
                x = F.max_pool2d(x, s["kernel"], s["stride"], s["padding"])
            elif op == "avg_pool2d":
                x = F.avg_pool2d(x, s["kernel"], s["stride"], s["padding"])
            elif op == "adaptive_avg_pool2d":
                x = F.adaptive_avg_pool2d(x, s["size"])
            elif op == "flatten":
                x = x.reshape(x.shape[0], -1)
            elif op == "relu":
                x = F.relu(x)
            elif op == "relu6":
                x = F.relu6(x)
            elif op == "batch_norm":
                m = s["module"]
                t = self.tensors
                x = F.batch_norm(x, t[m + ".running_mean"], t[m + ".running_var"], t[m + ".weight"], t[m + ".bias"],
                                 False, 0.0, s["eps"])
            else:
                raise SystemExit("deploy.json: step %r is not supported by this script" % s)
        return x


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_set(data):
    if data["dataset"] != "fashion_mnist":
        raise SystemExit("only the fashion_mnist data set is read here, found %r" % data["dataset"])
    root = data.get("root") or "/usr/share/datasets/fashion-mnist"
    images = read_idx(os.path.join(root, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(root, "t10k-labels-idx1-ubyte.gz"))
    n = data.get("test_limit") or len(labels)
    return images[:n], labels[:n]


def normalise(images, data):
    # trim's affine_u8 in float32: x * (1 / (255 * std)) + (-mean / std)
    std = np.float32(data["stddev"][0])
    mean = np.float32(data["mean"][0])
    scale = np.float32(1.0) / (np.float32(255.0) * std)
    shift = -mean / std
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    return x * torch.tensor(scale) + torch.tensor(shift)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a trim-deploy output folder (RUN/deploy)")
    ap.add_argument("--json", action="store_true", help="print {\"test_accuracy\": ...} as the last line")
    ap.add_argument("--batch", type=int, default=1000)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    net = DeployedNet(a.folder, sparse=True).eval()
    images, labels = test_set(net.spec["data"])
    correct = 0
    for i in range(0, len(labels), a.batch):
        x = normalise(images[i: i + a.batch], net.spec["data"])
        pred = net(x).argmax(dim=1).numpy()
        correct += int((pred == labels[i: i + a.batch]).sum())
    acc = correct / len(labels)
    if a.json:
        print(json.dumps({"test_accuracy": acc, "examples": len(labels)}))
    else:
        print("%s: test accuracy %.4f on %d examples (PyTorch %s)" % (a.folder, acc, len(labels), torch.__version__))


if __name__ == "__main__":
    sys.exit(main())
