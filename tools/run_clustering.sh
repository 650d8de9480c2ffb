#!/usr/bin/env bash
# The paper's clustering analysis for all five methods on Fashion-MNIST on the CPU (RESULTS.md, "Clustering
# properties"): trains each method with the same small budget (ResNet-small width 16, projector 512-512-128,
# 10,000 training images, batch 128, 3 epochs), keeps one checkpoint per epoch, then runs resa_cluster on the
# untrained model and each epoch (H, P0, P1, Z: silhouette and k-means ARI on 10,000 test images).
# Raw pixels are scored once, with the first method. About an hour on a quiet 2-core machine.
# Usage: tools/run_clustering.sh [methods...]   (default: simclr byol swav vicreg resa)
# BIN=folder with resa_cifar and resa_cluster (default: build/apps, built here); OUT=runs folder (default: runs).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs}
if [ -z "${BIN:-}" ]; then
  BUILD=${BUILD:-build}
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRESA_CUDA=OFF > /dev/null
  cmake --build "$BUILD" --parallel "$(nproc)" --target resa_cifar resa_cluster
  BIN=$BUILD/apps
fi
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(simclr byol swav vicreg resa)
pixels=--pixels
# Per-method settings scaled to this budget (78 steps per epoch, 234 in all): SwAV freezes its prototypes for
# one epoch, as its recipe does (313 steps = one ImageNet epoch there); VICReg trains with LARS, as in its paper
# (plain SGD at the default rate blows the covariance term up).
declare -A extra=([swav]="--swav-freeze-iters 78" [vicreg]="--optimizer lars")
for m in "${methods[@]}"; do
  dir=$OUT/an_$m
  start=$(date +%s)
  "$BIN/resa_cifar" --method "$m" --dataset fashion-mnist --arch resnet_small --width 16 --mlp 512-512-128 \
    --train-subset 10000 --batch-size 128 --epochs 3 --warmup-epochs 1 --eval-subset 2000 --probe-epochs 0 \
    --keep-checkpoints --overwrite --out "$dir" ${extra[$m]:-}
  mid=$(date +%s)
  "$BIN/resa_cluster" --checkpoints "$dir"/epoch_*.safetensors --init $pixels --samples 10000 --out "$dir/clustering"
  end=$(date +%s)
  pixels=
  echo "$m: training $((mid - start)) s, analysis $((end - mid)) s" | tee -a "$OUT/clustering_times.txt"
done
