// Eigen's GEMM compiled for AVX2 + FMA: this file gets -mavx2 -mfma (CMakeLists.txt, *_avx2.cpp) and its
// functions are called only after ops/cpu/gemm.cpp has checked that the CPU has both.
//
// Eigen is header-only, so its templates are instantiated in every file that uses them and the linker
// keeps one copy of each name. Renaming Eigen's namespace for this file gives every instantiation here a
// name of its own, so this AVX2 copy can never replace a baseline copy from another file (an illegal
// instruction on an older CPU) nor the reverse (a slow kernel here). The #include below is not
// macro-expanded, only the code inside it.
#define Eigen resa_eigen_avx2
#include <Eigen/Core>

#include "resa/ops/cpu/gemm.h"

namespace resa::cpu::avx2 {
namespace {

template <typename T>
using RowMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
template <typename T>
using ConstRowMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
template <typename T>
using ConstColMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0, Eigen::OuterStride<>>;

// A: (m, k) row-major with leading dim lda, or (k, m) row-major when ta (read as an (m, k) column-major map);
// B: (k, n) or (n, k) likewise with ldb; C: (m, n) row-major with ldc.
template <typename T>
void gemm_eigen(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                int64_t ldb, T beta, T* c, int64_t ldc, int threads) {
  RowMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
  // BLAS semantics: beta == 0 means C is not read (it may hold NaN or uninitialised memory).
  if (beta == T(0))
    C.setZero();
  else if (beta != T(1))
    C *= beta;
  if (k == 0 || alpha == T(0) || m == 0 || n == 0) return;
  // Eigen threads its GEMM with OpenMP (and stays serial inside a parallel region of ours).
  if (Eigen::nbThreads() != threads) Eigen::setNbThreads(threads);
  auto run = [&](const auto& A, const auto& B) { C.noalias() += alpha * A * B; };
  if (!ta && !tb)
    run(ConstRowMap<T>(a, m, k, Eigen::OuterStride<>(lda)), ConstRowMap<T>(b, k, n, Eigen::OuterStride<>(ldb)));
  else if (ta && !tb)
    run(ConstColMap<T>(a, m, k, Eigen::OuterStride<>(lda)), ConstRowMap<T>(b, k, n, Eigen::OuterStride<>(ldb)));
  else if (!ta && tb)
    run(ConstRowMap<T>(a, m, k, Eigen::OuterStride<>(lda)), ConstColMap<T>(b, k, n, Eigen::OuterStride<>(ldb)));
  else
    run(ConstColMap<T>(a, m, k, Eigen::OuterStride<>(lda)), ConstColMap<T>(b, k, n, Eigen::OuterStride<>(ldb)));
}

}  // namespace

bool compiled() {
#if defined(__AVX2__) && defined(__FMA__)
  return true;
#else
  return false;
#endif
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc, int threads) {
  gemm_eigen<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc, int threads) {
  gemm_eigen<double>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

}  // namespace resa::cpu::avx2
