// Batch norm on the CPU at the shapes the two step benchmarks run: the training forward (statistics and
// the normalised output, ReLU fused) and the backward (dy masked by the ReLU's output; dx, dweight, dbias),
// each version of the hot loops this CPU runs (ops/cpu/isa.h) in turns. Prints medians in ms and the
// bytes each pass must move at least (forward: x read, y written; backward: dy, y, x read, dx written).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <random>
#include <vector>

#include "resa/core/cpu_info.h"
#include "resa/core/parallel.h"
#include "resa/ops/cpu/batchnorm.h"
#include "resa/ops/cpu/isa.h"
#include "timing.h"

using namespace resa;

namespace {

struct BnShape {
  int64_t n, c, l;
  const char* where;
};

// The batch norms of the small ResNet at batch 256 (28x28 input) and of ResNet-18 at batch 64 (32x32).
const BnShape kShapes[] = {{256, 32, 784, "small ResNet, 28x28"}, {256, 64, 196, "small ResNet, 14x14"},
                           {256, 128, 49, "small ResNet, 7x7"},   {256, 256, 16, "small ResNet, 4x4"},
                           {64, 64, 1024, "ResNet-18, 32x32"},    {64, 128, 256, "ResNet-18, 16x16"},
                           {64, 256, 64, "ResNet-18, 8x8"},       {64, 512, 16, "ResNet-18, 4x4"},
                           {256, 2048, 1, "projector, 2048 wide"}};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Batch norm (training forward with ReLU, and its backward) at the step benchmarks' shapes"};
  int threads = 2, runs = 15;
  app.add_option("--threads", threads, "threads")->check(CLI::PositiveNumber);
  app.add_option("--runs", runs, "timed runs per version and shape (the median is printed)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  set_num_threads(threads);
  std::printf("CPU: %s | vector ISA %s | %d threads | median of %d runs\n", cpu_model_name().c_str(),
              cpu_vector_isa().c_str(), threads, runs);
  std::vector<cpu::Isa> versions;
  for (cpu::Isa isa : {cpu::Isa::Baseline, cpu::Isa::Avx2, cpu::Isa::Avx512})
    if (cpu::isa_runs(isa)) versions.push_back(isa);
  std::printf("%-24s %-22s %-9s %12s %12s %14s %14s\n", "shape (N, C, L)", "layer", "loops", "forward ms",
              "backward ms", "forward GB/s", "backward GB/s");
  const cpu::Isa active = cpu::active_isa();
  for (const BnShape& s : kShapes) {
    const size_t size = static_cast<size_t>(s.n * s.c * s.l);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.3f, 1.2f);
    std::vector<float> x(size), dy(size), y(size), dx(size), w(s.c, 1.1f), b(s.c, 0.1f), mean(s.c), invstd(s.c),
        dw(s.c), db(s.c);
    for (auto& v : x) v = normal(rng);
    for (auto& v : dy) v = normal(rng);
    for (cpu::Isa isa : versions) {
      cpu::set_active_isa(isa);
      const double fwd = resa::app::median_ms(1, runs, [&] {
        cpu::batch_norm_train<float>(s.n, s.c, s.l, x.data(), w.data(), b.data(), 1e-5, 0.1, y.data(), mean.data(),
                                     invstd.data(), nullptr, nullptr, true);
      });
      const double bwd = resa::app::median_ms(1, runs, [&] {
        cpu::batch_norm_backward<float>(s.n, s.c, s.l, dy.data(), x.data(), w.data(), mean.data(), invstd.data(), true,
                                        dx.data(), dw.data(), db.data(), y.data());
      });
      const double bytes = static_cast<double>(size) * sizeof(float);
      char shape[64];
      std::snprintf(shape, sizeof shape, "%lldx%lldx%lld", static_cast<long long>(s.n), static_cast<long long>(s.c),
                    static_cast<long long>(s.l));
      std::printf("%-24s %-22s %-9s %12.3f %12.3f %14.1f %14.1f\n", shape, s.where, cpu::isa_name(isa), fwd, bwd,
                  2 * bytes / fwd * 1e-6, 4 * bytes / bwd * 1e-6);
    }
  }
  cpu::set_active_isa(active);
  return 0;
}
