// The CPU GEMM: C = alpha * op(A) op(B) + beta * C, row-major, op = transpose when trans_* is set.
// A: (m, k) or (k, m) with leading dim lda; B: (k, n) or (n, k) with ldb; C: (m, n) with ldc.
// beta == 0 means C is not read (as in BLAS). Threads: resa::get_num_threads(); serial when called
// inside a parallel region of ours.
#pragma once
#include <cstdint>

namespace resa::cpu {

// OpenBLAS (the library linked, any x86-64) or Eigen's GEMM built for AVX2 + FMA (chosen at run time,
// only on a CPU that has both).
enum class GemmBackend { OpenBLAS, EigenAVX2 };

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// The same through a given backend (benchmarks and tests); throws when it is not available here.
void gemm(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// The backend gemm() uses. The default is the faster one measured by apps/bench_gemm on an AVX2 + FMA
// machine (OpenBLAS); the environment variable RESA_GEMM=openblas|eigen overrides it at first use.
GemmBackend gemm_backend();
void set_gemm_backend(GemmBackend backend);  // throws when not available on this CPU / build
bool gemm_backend_available(GemmBackend backend);

// Which implementation gemm() runs, e.g. "openblas 0.3.21 (core Zen, openmp)" or "eigen-avx2", for logs.
const char* gemm_backend_name();
const char* gemm_backend_name(GemmBackend backend);

namespace avx2 {
// Eigen's GEMM compiled with -mavx2 -mfma (gemm_avx2.cpp): internal, call only where the CPU has both.
bool compiled();
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc, int threads);
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc, int threads);
}  // namespace avx2

}  // namespace resa::cpu
