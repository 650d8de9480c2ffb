// conv2d benchmark at the ResNet-18 CIFAR layer shapes: forward, and forward + backward (dx, dw, no
// bias, as in the network), float32. Prints the median of --runs timed runs after --warmup runs, in ms
// and GFLOP/s (forward = 2 N K C R S P Q flops; forward + backward = 3x that). bench/conv_torch.py
// prints the same table for PyTorch.
//
//   bench_conv [--net resnet18|small] [--threads 2] [--batch 64] [--runs 10] [--warmup 2] [--layer 64x32x32-64-3x3-s1]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "resa/autograd/functions.h"
#include "resa/core/parallel.h"
#include "resa/core/rng.h"
#include "resa/ops/cpu/conv.h"
#include "resa/ops/cpu/conv_implicit.h"
#include "resa/ops/cpu/conv_winograd.h"
#include "resa/ops/cpu/gemm.h"
#include "resa/ops/cpu/isa.h"
#include "timing.h"

using namespace resa;

namespace {

struct Layer {
  int64_t c, hw, k, ks, stride;
  std::string name() const { return fmt::format("{}x{}x{}-{}-{}x{}-s{}", c, hw, hw, k, ks, ks, stride); }
};

// ResNet-18 on CIFAR (3x3 stem, no max-pool): the stem, each stage's 3x3 convs and the stride-2
// entries with their 1x1 downsample.
const std::vector<Layer> kLayers = {
    {3, 32, 64, 3, 1},                                                 // stem
    {64, 32, 64, 3, 1},                                                // layer1
    {64, 32, 128, 3, 2},  {64, 32, 128, 1, 2},  {128, 16, 128, 3, 1},  // layer2
    {128, 16, 256, 3, 2}, {128, 16, 256, 1, 2}, {256, 8, 256, 3, 1},   // layer3
    {256, 8, 512, 3, 2},  {256, 8, 512, 1, 2},  {512, 4, 512, 3, 1},   // layer4
};

// The small ResNet of the Fashion-MNIST job (one BasicBlock per stage, width 32, 1x28x28 input).
const std::vector<Layer> kSmallLayers = {
    {1, 28, 32, 3, 1},                                              // stem
    {32, 28, 32, 3, 1},                                             // layer1
    {32, 28, 64, 3, 2},  {32, 28, 64, 1, 2},  {64, 14, 64, 3, 1},   // layer2
    {64, 14, 128, 3, 2}, {64, 14, 128, 1, 2}, {128, 7, 128, 3, 1},  // layer3
    {128, 7, 256, 3, 2}, {128, 7, 256, 1, 2}, {256, 4, 256, 3, 1},  // layer4
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"conv2d benchmark at ResNet-18 CIFAR shapes (or the small Fashion-MNIST ResNet's)"};
  int threads = 2, runs = 10, warmup = 2;
  int64_t batch = 64;
  std::string only, net = "resnet18";
  app.add_option("--net", net, "layer shapes: resnet18 (CIFAR, 3x32x32) | small (the Fashion-MNIST ResNet, 1x28x28)")
      ->check(CLI::IsMember({"resnet18", "small"}));
  app.add_option("--threads", threads, "threads for our loops and the GEMM");
  app.add_option("--batch", batch, "batch size");
  app.add_option("--runs", runs, "timed runs (the median is printed)");
  app.add_option("--warmup", warmup, "untimed runs first");
  app.add_option("--layer", only, "run only the layer with this name (as printed)");
  int ab_implicit = 0, ab_winograd = 0, ab_padded = 0, ab_winograd4 = 0;
  app.add_option("--ab-implicit", ab_implicit,
                 "instead: the forward as im2col + GEMM and as the implicit GEMM (ops/cpu/conv_implicit.h), in "
                 "turns, for this many rounds of --runs each; prints the median over rounds of each round's "
                 "fastest run, and whether the engine takes the path for that layer by default")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--ab-winograd", ab_winograd, "the same for im2col + GEMM against Winograd F(2x2, 3x3)")
      ->check(CLI::NonNegativeNumber)
      ->excludes("--ab-implicit");
  app.add_option("--ab-winograd4", ab_winograd4,
                 "the same for im2col + GEMM against Winograd F(4x4, 3x3), forward and weight gradient")
      ->check(CLI::NonNegativeNumber)
      ->excludes("--ab-implicit")
      ->excludes("--ab-winograd");
  app.add_option("--ab-padded", ab_padded,
                 "the same for im2col + GEMM against the padded implicit kernels, forward and weight gradient")
      ->check(CLI::NonNegativeNumber)
      ->excludes("--ab-implicit")
      ->excludes("--ab-winograd")
      ->excludes("--ab-winograd4");
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  std::printf("resa conv2d, float32, batch %lld, %d threads, gemm %s, median of %d runs\n",
              static_cast<long long>(batch), threads, cpu::gemm_backend_name(), runs);
  std::printf("%-22s %10s %10s %12s %10s\n", "layer", "fwd ms", "GFLOP/s", "fwd+bwd ms", "GFLOP/s");
  Generator gen(1);
  const auto& layers = net == "small" ? kSmallLayers : kLayers;
  for (const auto& l : layers) {
    if (!only.empty() && l.name() != only) continue;
    auto opts = Conv2dOptions().stride(l.stride).padding(l.ks / 2);
    Tensor x = randn({batch, l.c, l.hw, l.hw}, {}, &gen).requires_grad_();
    Tensor w = mul(randn({l.k, l.c, l.ks, l.ks}, {}, &gen), 0.05).detach().requires_grad_();
    const int64_t pq = (l.hw + 2 * (l.ks / 2) - l.ks) / l.stride + 1;
    Tensor gy = randn({batch, l.k, pq, pq}, {}, &gen);
    const double flops = 2.0 * batch * l.k * l.c * l.ks * l.ks * pq * pq;
    auto forward = [&] {
      NoGradGuard no_grad;
      (void)conv2d(x, w, Tensor(), opts);
    };
    if (ab_implicit > 0 || ab_winograd > 0 || ab_padded > 0 || ab_winograd4 > 0) {
      const ops::ConvShape g{batch, l.c,      l.hw,     l.hw,     l.k,      l.ks, l.ks, pq,
                             pq,    l.stride, l.stride, l.ks / 2, l.ks / 2, 1,    1};
      const bool avx2 = cpu::isa_runs(cpu::Isa::Avx2);
      const char* alt_name = ab_implicit > 0    ? "implicit"
                             : ab_winograd > 0  ? "winograd"
                             : ab_winograd4 > 0 ? "winograd4"
                                                : "padded";
      const bool computes = ab_implicit > 0                       ? cpu::implicit::supports(g) && avx2
                            : ab_winograd > 0 || ab_winograd4 > 0 ? cpu::winograd::applies(g)
                                                                  : cpu::implicit::supports_padded(g) && avx2;
      if (!computes) {
        std::printf("%-22s (the %s path does not compute this layer)\n", l.name().c_str(), alt_name);
        continue;
      }
      const int rounds = std::max({ab_implicit, ab_winograd, ab_padded, ab_winograd4});
      std::vector<float> y(static_cast<size_t>(batch * l.k * pq * pq)), dw(static_cast<size_t>(w.numel()));
      const float* xp = x.data<float>();
      const float* wp = w.data<float>();
      const float* gyp = gy.data<float>();
      // In one process, in turns: the machine's load drifts over seconds, so runs of the two paths
      // interleave and each round keeps its fastest run.
      auto compare = [&](const char* what, const std::function<void(bool)>& run, bool by_default) {
        std::vector<double> base, alt;
        for (int i = 0; i < warmup; ++i) run(false), run(true);
        for (int rd = 0; rd < rounds; ++rd)
          for (bool a : {false, true}) {
            double best = 1e300;
            for (int i = 0; i < runs; ++i) best = std::min(best, resa::app::median_ms(0, 1, [&] { run(a); }));
            (a ? alt : base).push_back(best);
          }
        const double m_base = resa::app::median(base), m_alt = resa::app::median(alt);
        std::printf("%-22s %s ms: im2col+GEMM %8.2f  %s %8.2f  ratio %5.3f  (%s by default)\n", l.name().c_str(), what,
                    m_base, alt_name, m_alt, m_alt / m_base, by_default ? "taken" : "not taken");
      };
      compare(
          "forward",
          [&](bool alt) {
            if (!alt)
              cpu::conv2d_forward_im2col<float>(g, xp, wp, nullptr, y.data());
            else if (ab_implicit > 0)
              cpu::conv2d_forward_implicit(g, xp, wp, nullptr, y.data());
            else if (ab_winograd > 0)
              cpu::conv2d_forward_winograd<float>(g, xp, wp, nullptr, y.data());
            else if (ab_winograd4 > 0)
              cpu::conv2d_forward_winograd4<float>(g, xp, wp, nullptr, y.data());
            else
              cpu::conv2d_forward_padded(g, xp, wp, nullptr, y.data());
          },
          ab_implicit > 0    ? cpu::implicit::applies(g)
          : ab_winograd > 0  ? cpu::winograd::profitable(g) && !cpu::winograd::profitable4(g)
          : ab_winograd4 > 0 ? cpu::winograd::profitable4(g)
                             : !cpu::implicit::applies(g) && cpu::implicit::applies_padded(g));
      if (ab_winograd4 > 0)
        compare(
            "weight grad",
            [&](bool alt) {
              if (alt)
                cpu::conv2d_backward_weight_winograd4<float>(g, xp, gyp, dw.data(), nullptr);
              else
                cpu::conv2d_backward_weight_im2col(g, xp, gyp, dw.data(), nullptr);
            },
            cpu::winograd::profitable4_weight(g));
      if (ab_padded > 0)
        compare(
            "weight grad",
            [&](bool alt) {
              if (alt)
                cpu::conv2d_backward_weight_padded(g, xp, gyp, dw.data(), nullptr);
              else
                cpu::conv2d_backward_weight_im2col(g, xp, gyp, dw.data(), nullptr);
            },
            cpu::implicit::applies_padded(g));
      continue;
    }
    double fwd = resa::app::median_ms(warmup, runs, forward);
    double both = resa::app::median_ms(warmup, runs, [&] {
      x.zero_grad();
      w.zero_grad();
      conv2d(x, w, Tensor(), opts).backward(gy);
    });
    std::printf("%-22s %10.2f %10.1f %12.2f %10.1f\n", l.name().c_str(), fwd, flops / fwd * 1e-6, both,
                3 * flops / both * 1e-6);
  }
  return 0;
}
