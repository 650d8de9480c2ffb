#include "resa/ops/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>

#include "resa/core/error.h"
#include "resa/core/parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace resa::cpu {
namespace {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// Measured on a 2-core AMD EPYC (Zen 3, AVX2 + FMA, ~3.1 GHz, so a peak of ~100 GFLOP/s per core), float,
// n = 256..2048, machine otherwise idle: OpenBLAS 0.3.21 (core Zen) 67-79 GFLOP/s on 1 thread and
// 135-165 on 2; Eigen 3.4 built for AVX2 50-74 and 112-142. OpenBLAS wins at every size, so it is the
// default; the Eigen path stays selectable (RESA_GEMM=eigen) for CPUs or OpenBLAS builds where it wins.
GemmBackend initial_backend() {
  const char* env = std::getenv("RESA_GEMM");
  if (env && (std::strcmp(env, "eigen") == 0 || std::strcmp(env, "eigen-avx2") == 0) &&
      gemm_backend_available(GemmBackend::EigenAVX2))
    return GemmBackend::EigenAVX2;
  return GemmBackend::OpenBLAS;
}

std::atomic<int>& backend_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_backend())};
  return slot;
}

// OpenBLAS's OpenMP build threads each call with the calling thread's omp_get_max_threads() (and runs
// serially inside a parallel region); a thread other than the one that called set_num_threads() still
// has the initial value, so bring it in line before each call.
void sync_blas_threads() {
#ifdef _OPENMP
  int nt = get_num_threads();
  if (!omp_in_parallel() && omp_get_max_threads() != nt) omp_set_num_threads(nt);
#endif
}

int eigen_threads() {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
#endif
  return get_num_threads();
}

// Sizes and leading dims as BLAS requires them (OpenBLAS would only print an error and return).
void check_dims(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  RESA_CHECK(m >= 0 && n >= 0 && k >= 0, "[gemm] negative size m={} n={} k={}", m, n, k);
  const int64_t a_cols = ta ? m : k, b_cols = tb ? k : n;
  RESA_CHECK(
      lda >= std::max<int64_t>(1, a_cols) && ldb >= std::max<int64_t>(1, b_cols) && ldc >= std::max<int64_t>(1, n),
      "[gemm] m={} n={} k={} (trans_a={}, trans_b={}): leading dims lda={} ldb={} ldc={} are too small", m, n, k, ta,
      tb, lda, ldb, ldc);
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    RESA_CHECK(v <= INT_MAX, "[gemm] m={} n={} k={} lda={} ldb={} ldc={}: OpenBLAS takes 32-bit sizes", m, n, k, lda,
               ldb, ldc);
}

CBLAS_TRANSPOSE tr(bool t) { return t ? CblasTrans : CblasNoTrans; }

void check_available(GemmBackend b) {
  RESA_CHECK(gemm_backend_available(b), "[gemm] backend {} is not available on this CPU or build",
             gemm_backend_name(b));
}

}  // namespace

bool gemm_backend_available(GemmBackend b) {
  if (b == GemmBackend::OpenBLAS) return true;
  static const bool avx2 = avx2::compiled() && cpu_has_avx2_fma();
  return avx2;
}

GemmBackend gemm_backend() { return static_cast<GemmBackend>(backend_slot().load(std::memory_order_relaxed)); }

void set_gemm_backend(GemmBackend b) {
  check_available(b);
  backend_slot().store(static_cast<int>(b), std::memory_order_relaxed);
}

const char* gemm_backend_name(GemmBackend b) {
  if (b == GemmBackend::EigenAVX2) return "eigen-avx2";
  static const std::string name = [] {
    const char* mode = "sequential";
    int par = openblas_get_parallel();
    if (par == 1) mode = "pthreads";
    if (par == 2) mode = "openmp";
    std::string config = openblas_get_config();
    std::string version = config.rfind("OpenBLAS ", 0) == 0 ? config.substr(9, config.find(' ', 9) - 9) : "";
    return "openblas " + version + " (core " + std::string(openblas_get_corename()) + ", " + mode + ")";
  }();
  return name.c_str();
}

const char* gemm_backend_name() { return gemm_backend_name(gemm_backend()); }

void gemm(GemmBackend backend, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  check_dims(ta, tb, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (backend == GemmBackend::EigenAVX2) {
    check_available(backend);
    return avx2::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, eigen_threads());
  }
  sync_blas_threads();
  cblas_sgemm(CblasRowMajor, tr(ta), tr(tb), static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(GemmBackend backend, bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  check_dims(ta, tb, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (backend == GemmBackend::EigenAVX2) {
    check_available(backend);
    return avx2::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, eigen_threads());
  }
  sync_blas_threads();
  cblas_dgemm(CblasRowMajor, tr(ta), tr(tb), static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm(gemm_backend(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm(gemm_backend(), ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace resa::cpu
