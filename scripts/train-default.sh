#!/usr/bin/env bash
# README command (1): set up, build and run the main job: train the default CNN on Fashion-MNIST
# (apps/manifests/fmnist_cnn.json) on the GPU when one is usable, else on the CPU. Arguments go to
# trim-train, e.g. --set output=/tmp/run or --resume.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
build/bin/trim-train apps/manifests/fmnist_cnn.json "$@"
