#!/usr/bin/env bash
# The main job: builds the CPU engine, trains ReSA on Fashion-MNIST (Debian's dataset-fashion-mnist) with
# the small ResNet (CIFAR stem, grayscale input) on the CPU, then prints kNN and linear-probe accuracy
# next to two baselines computed by the same code: kNN on raw pixels and on a random encoder.
# Sized for about 15 minutes on a 2-core machine after the build: all 60,000 training images, 3 epochs
# (RESULTS.md lists what else was tried). Extra arguments go to resa_cifar (e.g. --epochs 5). Each run
# replaces the previous one in runs/fashion_mnist_resa (--overwrite; add --resume to continue it instead).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRESA_CUDA=OFF > /dev/null
cmake --build "$BUILD" --parallel "$(nproc)" --target resa_cifar
"$BUILD/apps/resa_cifar" --dataset fashion-mnist --arch resnet_small --width 16 --mlp 512-512-128 \
  --train-subset 0 --batch-size 128 --epochs 3 --warmup-epochs 1 --eval-every 1 --eval-subset 10000 \
  --probe-epochs 100 --baselines --overwrite --out runs/fashion_mnist_resa "$@"
