// The CPU GEMM: C = alpha * op(A) op(B) + beta * C, row-major, op = transpose when trans_* is set.
// A: (m, k) or (k, m) with leading dim lda; B: (k, n) or (n, k) with ldb; C: (m, n) with ldc.
#pragma once
#include <cstdint>

namespace resa::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc);

// Which implementation float GEMMs use ("openblas (<core>)" or another), for benchmarks and logs.
const char* gemm_backend_name();

}  // namespace resa::cpu
