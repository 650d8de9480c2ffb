// GEMM micro-benchmark: float C = A B (n x n) through each layer of the engine, to see what each costs
// and how close the CPU path gets to the machine's peak.
//   resa::matmul   - the differentiable op on tensors (shape checks, layout analysis, allocation)
//   cpu::gemm      - the kernel entry point with the backend the engine chose
//   cblas_sgemm    - OpenBLAS called directly (core type: see OPENBLAS_CORETYPE)
//   eigen-avx2     - Eigen 3.4's GEMM built with -mavx2 -mfma, through cpu::gemm(GemmBackend::EigenAVX2)
// Each repeat runs every method once in turn (so a noisy neighbour hurts them alike); the median is shown.
//
//   bench_gemm [--sizes 256,512,1024,2048] [--threads 1,2] [--repeats 7]
#include <cblas.h>

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
#include "resa/ops/cpu/gemm.h"
#include "timing.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

using namespace resa;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

#if defined(__x86_64__)
// Peak FMA throughput of one thread: 12 independent chains of 8-wide float FMAs (2 flops each), enough
// to cover the FMA latency on two pipes.
__attribute__((target("avx2,fma"))) double fma_peak_one_thread(long iters) {
  __m256 a0 = _mm256_set1_ps(0.0f), a1 = _mm256_set1_ps(0.1f), a2 = _mm256_set1_ps(0.2f), a3 = _mm256_set1_ps(0.3f),
         a4 = _mm256_set1_ps(0.4f), a5 = _mm256_set1_ps(0.5f), a6 = _mm256_set1_ps(0.6f), a7 = _mm256_set1_ps(0.7f),
         a8 = _mm256_set1_ps(0.8f), a9 = _mm256_set1_ps(0.9f), a10 = _mm256_set1_ps(1.0f), a11 = _mm256_set1_ps(1.1f);
  const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
  for (long i = 0; i < iters; ++i) {
    a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y), a2 = _mm256_fmadd_ps(a2, x, y);
    a3 = _mm256_fmadd_ps(a3, x, y), a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
    a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y), a8 = _mm256_fmadd_ps(a8, x, y);
    a9 = _mm256_fmadd_ps(a9, x, y), a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                           _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

// Measured peak GFLOP/s with `threads` threads (best of a few runs), or 0 without AVX2 + FMA.
double fma_peak(int threads) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
  const long iters = 20'000'000;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double sink = 0;
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += fma_peak_one_thread(iters);
    double dt = seconds_since(t0);
    if (sink == 42.0) std::printf(" ");  // keeps the result alive
    best = std::max(best, threads * iters * 12.0 * 16.0 / dt / 1e9);
  }
  return best;
}
#else
double fma_peak(int) { return 0; }
#endif

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(std::stoi(s.substr(pos, comma - pos)));
    pos = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GEMM micro-benchmark: float n x n matrix products, GFLOP/s (median of repeats)"};
  std::string sizes_s = "256,512,1024,2048", threads_s = "1,2";
  int repeats = 7;
  app.add_option("--sizes", sizes_s, "comma-separated n");
  app.add_option("--threads", threads_s, "comma-separated thread counts");
  app.add_option("--repeats", repeats, "timed runs per method (after one warm-up)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const auto sizes = parse_list(sizes_s), thread_counts = parse_list(threads_s);

  using cpu::GemmBackend;
  const bool eigen_ok = cpu::gemm_backend_available(GemmBackend::EigenAVX2);
  std::printf("engine GEMM backend: %s\n", cpu::gemm_backend_name());
  std::printf("openblas: %s | eigen-avx2: %s\n", cpu::gemm_backend_name(GemmBackend::OpenBLAS),
              eigen_ok ? "available" : "not available on this CPU");
  std::printf("float GFLOP/s (2 n^3 / median time), %d repeats\n\n", repeats);
  std::printf("%6s %7s %10s %10s %12s %11s %10s\n", "n", "threads", "matmul", "cpu::gemm", "cblas_sgemm", "eigen-avx2",
              "FMA peak");

  for (int threads : thread_counts) {
    set_num_threads(threads);
    const double peak = fma_peak(threads);
    for (int n : sizes) {
      Generator gen(static_cast<uint64_t>(n));
      Tensor a = randn({n, n}, {}, &gen), b = randn({n, n}, {}, &gen), c = Tensor::empty({n, n});
      const float *pa = a.data<float>(), *pb = b.data<float>();
      float* pc = c.data<float>();
      std::vector<std::pair<const char*, std::function<void()>>> methods = {
          {"matmul", [&] { Tensor y = matmul(a, b); }},
          {"cpu::gemm", [&] { cpu::gemm(false, false, n, n, n, 1.f, pa, n, pb, n, 0.f, pc, n); }},
          {"cblas_sgemm",
           [&] { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, pa, n, pb, n, 0.f, pc, n); }},
      };
      if (eigen_ok)
        methods.push_back({"eigen-avx2", [&] {
                             cpu::gemm(GemmBackend::EigenAVX2, false, false, n, n, n, 1.f, pa, n, pb, n, 0.f, pc, n);
                           }});
      std::vector<std::vector<double>> times(methods.size());
      for (auto& m : methods) m.second();  // warm-up: page faults, packing buffers, thread pools
      for (int r = 0; r < repeats; ++r)
        for (size_t i = 0; i < methods.size(); ++i) {
          auto t0 = std::chrono::steady_clock::now();
          methods[i].second();
          times[i].push_back(seconds_since(t0));
        }
      const double flops = 2.0 * n * double(n) * n;
      auto gf = [&](size_t i) { return i < times.size() ? flops / resa::app::median(times[i]) / 1e9 : 0.0; };
      std::printf("%6d %7d %10.1f %10.1f %12.1f %11.1f %10.1f\n", n, threads, gf(0), gf(1), gf(2), gf(3), peak);
      std::fflush(stdout);
    }
  }
  return 0;
}
