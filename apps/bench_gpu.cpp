// GPU GEMM benchmark: float32 C = A B (n x n x n) through resa::matmul on CUDA tensors (shape checks,
// layout analysis, a cached output allocation, then cuBLAS on the engine's stream) against a raw
// cuBLAS call on the same device buffers, to show what the engine's layers cost. TF32 tensor cores
// are measured too when --tf32 is given. TFLOP/s = 2 n^3 / time, mean over --iters products after
// --warmup untimed ones, each timed span closed by a stream synchronisation.
//
//   bench_gpu [--sizes 1024,2048,4096] [--iters 20] [--warmup 3] [--tf32]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "resa/autograd/functions.h"
#include "resa/core/rng.h"
#ifdef RESA_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "resa/ops/cuda/runtime.h"
#endif

using namespace resa;

#ifdef RESA_WITH_CUDA
namespace {

#define BENCH_CHECK(cond, what)                                                  \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "bench_gpu: %s failed at line %d\n", what, __LINE__); \
      std::exit(1);                                                              \
    }                                                                            \
  } while (0)

template <typename F>
double time_per_call(int warmup, int iters, F&& f, cudaStream_t sync_stream) {
  for (int i = 0; i < warmup; ++i) f();
  BENCH_CHECK(cudaStreamSynchronize(sync_stream) == cudaSuccess, "cudaStreamSynchronize");
  cuda::synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  BENCH_CHECK(cudaStreamSynchronize(sync_stream) == cudaSuccess, "cudaStreamSynchronize");
  cuda::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
}

struct Row {
  int64_t n;
  double ours, raw, ours_tf32 = 0, raw_tf32 = 0, rel_err = 0;
};

}  // namespace
#endif

int main(int argc, char** argv) {
  CLI::App app{"GPU sgemm: resa::matmul on CUDA tensors vs raw cuBLAS"};
  std::vector<int64_t> sizes = {1024, 2048, 4096};
  int iters = 20, warmup = 3;
  bool tf32 = false;
  app.add_option("--sizes", sizes, "matrix sizes n (n x n x n)")->delimiter(',');
  app.add_option("--iters", iters, "timed products per size")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed products first")->check(CLI::NonNegativeNumber);
  app.add_flag("--tf32", tf32, "also measure TF32 tensor-core GEMMs");
  CLI11_PARSE(app, argc, argv);

#ifndef RESA_WITH_CUDA
  std::printf("bench_gpu: this build has no CUDA backend (configure with -DRESA_CUDA=ON)\n");
  return 1;
#else
  if (cuda_device_count() == 0) {
    std::printf("bench_gpu: no CUDA device: skipped\n");
    return 0;
  }
  cudaDeviceProp prop{};
  BENCH_CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess, "cudaGetDeviceProperties");
  std::printf("device: %s, %d SMs, sm_%d%d\n", prop.name, prop.multiProcessorCount, prop.major, prop.minor);

  cudaStream_t raw_stream;
  cublasHandle_t raw_handle;
  BENCH_CHECK(cudaStreamCreate(&raw_stream) == cudaSuccess, "cudaStreamCreate");
  BENCH_CHECK(cublasCreate(&raw_handle) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
  BENCH_CHECK(cublasSetStream(raw_handle, raw_stream) == CUBLAS_STATUS_SUCCESS, "cublasSetStream");

  std::vector<Row> rows;
  const Device gpu = cuda_device(0);
  for (int64_t n : sizes) {
    Generator g(1);
    Tensor a = randn({n, n}, TensorOptions().device(gpu), &g);
    Tensor b = randn({n, n}, TensorOptions().device(gpu), &g);
    Tensor c_raw = Tensor::empty({n, n}, DType::Float32, gpu);
    const int in = static_cast<int>(n);
    auto raw = [&](cublasComputeType_t compute) {
      const float alpha = 1.f, beta = 0.f;
      // Row-major C = A B is column-major C^T = B^T A^T: B first, A second.
      BENCH_CHECK(cublasGemmEx(raw_handle, CUBLAS_OP_N, CUBLAS_OP_N, in, in, in, &alpha, b.raw_data(), CUDA_R_32F, in,
                               a.raw_data(), CUDA_R_32F, in, &beta, c_raw.raw_data(), CUDA_R_32F, in, compute,
                               CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS,
                  "cublasGemmEx");
    };
    NoGradGuard no_grad;
    Tensor c_ours;
    Row row{n, 0, 0};
    const double flops = 2.0 * static_cast<double>(n) * n * n;
    cuda::set_allow_tf32(false);
    row.ours = flops /
               time_per_call(
                   warmup, iters, [&] { c_ours = matmul(a, b); }, raw_stream) /
               1e12;
    row.raw = flops /
              time_per_call(
                  warmup, iters, [&] { raw(CUBLAS_COMPUTE_32F); }, raw_stream) /
              1e12;
    // Both computed the same product: they must agree (same library, maybe another algorithm).
    BENCH_CHECK(cudaStreamSynchronize(raw_stream) == cudaSuccess, "cudaStreamSynchronize");
    double num = max(abs(sub(c_ours, c_raw))).item(), den = max(abs(c_raw)).item();
    row.rel_err = num / den;
    if (tf32) {
      cuda::set_allow_tf32(true);
      row.ours_tf32 = flops /
                      time_per_call(
                          warmup, iters, [&] { c_ours = matmul(a, b); }, raw_stream) /
                      1e12;
      cuda::set_allow_tf32(false);
      row.raw_tf32 = flops /
                     time_per_call(
                         warmup, iters, [&] { raw(CUBLAS_COMPUTE_32F_FAST_TF32); }, raw_stream) /
                     1e12;
    }
    rows.push_back(row);
  }
  cublasDestroy(raw_handle);
  cudaStreamDestroy(raw_stream);

  std::printf("\nsgemm TFLOP/s, n x n x n float32, mean of %d after %d warm-ups (%s)\n", iters, warmup, prop.name);
  std::printf("%6s | %10s | %11s | %11s | %12s", "n", "resa fp32", "cuBLAS fp32", "resa/cuBLAS", "max rel diff");
  if (tf32) std::printf(" | %10s | %11s", "resa tf32", "cuBLAS tf32");
  std::printf("\n");
  for (const auto& r : rows) {
    std::printf("%6lld | %10.2f | %11.2f | %10.1f%% | %12.1e", static_cast<long long>(r.n), r.ours, r.raw,
                100.0 * r.ours / r.raw, r.rel_err);
    if (tf32) std::printf(" | %10.2f | %11.2f", r.ours_tf32, r.raw_tf32);
    std::printf("\n");
  }
  auto st = cuda::allocator_stats();
  std::printf("allocator: %zu cudaMalloc calls, peak %.1f MiB, cached %.1f MiB\n", st.num_allocs, st.peak / 1048576.0,
              st.cached / 1048576.0);
  return 0;
#endif
}
