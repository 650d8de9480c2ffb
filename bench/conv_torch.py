"""PyTorch's conv2d at the ResNet-18 CIFAR layer shapes, the same table as apps/bench_conv.cpp.

Forward, and forward + backward (dx, dw, no bias), float32, median of --runs after --warmup runs.
Run with Debian's torch: /usr/bin/python3 bench/conv_torch.py [--threads 2] [--net small] [--layer 64x32x32-64-3x3-s1]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

LAYERS = [
    (3, 32, 64, 3, 1),
    (64, 32, 64, 3, 1),
    (64, 32, 128, 3, 2), (64, 32, 128, 1, 2), (128, 16, 128, 3, 1),
    (128, 16, 256, 3, 2), (128, 16, 256, 1, 2), (256, 8, 256, 3, 1),
    (256, 8, 512, 3, 2), (256, 8, 512, 1, 2), (512, 4, 512, 3, 1),
]
# The small Fashion-MNIST ResNet (width 32, 1x28x28), as apps/bench_conv --net small.
LAYERS_SMALL = [
    (1, 28, 32, 3, 1), (32, 28, 32, 3, 1),
    (32, 28, 64, 3, 2), (32, 28, 64, 1, 2), (64, 14, 64, 3, 1),
    (64, 14, 128, 3, 2), (64, 14, 128, 1, 2), (128, 7, 128, 3, 1),
    (128, 7, 256, 3, 2), (128, 7, 256, 1, 2), (256, 4, 256, 3, 1),
]


def name(c, hw, k, ks, s):
    return f"{c}x{hw}x{hw}-{k}-{ks}x{ks}-s{s}"


def median_ms(warmup, runs, f):
    for _ in range(warmup):
        f()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--layer", default="")
    ap.add_argument("--net", choices=["resnet18", "small"], default="resnet18",
                    help="layer shapes: resnet18 (CIFAR, 3x32x32) | small (the Fashion-MNIST ResNet, 1x28x28)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    print(f"torch {torch.__version__} conv2d, float32, batch {a.batch}, {a.threads} threads, median of {a.runs} runs")
    print(f"{'layer':<22} {'fwd ms':>10} {'GFLOP/s':>10} {'fwd+bwd ms':>12} {'GFLOP/s':>10}")
    for c, hw, k, ks, s in (LAYERS if a.net == "resnet18" else LAYERS_SMALL):
        n = name(c, hw, k, ks, s)
        if a.layer and a.layer != n:
            continue
        x = torch.randn(a.batch, c, hw, hw, requires_grad=True)
        w = (torch.randn(k, c, ks, ks) * 0.05).requires_grad_()
        pq = (hw + 2 * (ks // 2) - ks) // s + 1
        gy = torch.randn(a.batch, k, pq, pq)
        flops = 2.0 * a.batch * k * c * ks * ks * pq * pq

        def fwd():
            with torch.no_grad():
                F.conv2d(x, w, None, stride=s, padding=ks // 2)

        def both():
            x.grad = None
            w.grad = None
            F.conv2d(x, w, None, stride=s, padding=ks // 2).backward(gy)

        tf = median_ms(a.warmup, a.runs, fwd)
        tb = median_ms(a.warmup, a.runs, both)
        print(f"{n:<22} {tf:10.2f} {flops / tf * 1e-6:10.1f} {tb:12.2f} {3 * flops / tb * 1e-6:10.1f}")


if __name__ == "__main__":
    main()
