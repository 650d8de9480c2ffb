// GEMM on cuBLAS. cuBLAS is column-major; a row-major (m, n) C is a column-major (n, m) C^T, and
// C^T = op(B)^T op(A)^T, so the call passes B first and A second with n and m swapped. A row-major
// operand read directly is, seen column-major, already the transpose that formula needs (CUBLAS_OP_N);
// one read transposed gets CUBLAS_OP_T.
#include <climits>

#include "resa/core/error.h"
#include "resa/ops/cuda/check.h"
#include "resa/ops/cuda/kernels.h"
#include "resa/ops/cuda/runtime.h"

namespace resa::cuda {

void gemm(DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const void* a_base,
          int64_t a_offset, int64_t lda, const void* b_base, int64_t b_offset, int64_t ldb, void* out,
          int64_t out_offset, int64_t ldc) {
  for (int64_t v : {m, n, k, lda, ldb, ldc})
    RESA_CHECK(v >= 0 && v <= INT_MAX,
               "[matmul] CUDA GEMM sizes must fit in 32 bits: m={} n={} k={} lda={} ldb={} "
               "ldc={}",
               m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  const int ilda = static_cast<int>(lda), ildb = static_cast<int>(ldb), ildc = static_cast<int>(ldc);
  cublasHandle_t h = cublas_handle();
  switch (dtype) {
    case DType::Float32: {
      const float alpha = 1.f, beta = 0.f;
      const float* a = static_cast<const float*>(a_base) + a_offset;
      const float* b = static_cast<const float*>(b_base) + b_offset;
      float* c = static_cast<float*>(out) + out_offset;
      // Explicit compute type: plain FP32 unless TF32 was asked for (NVIDIA_TF32_OVERRIDE aside).
      const cublasComputeType_t compute = allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      RESA_CUBLAS_CHECK(cublasGemmEx(h, op_b, op_a, in, im, ik, &alpha, b, CUDA_R_32F, ildb, a, CUDA_R_32F, ilda, &beta,
                                     c, CUDA_R_32F, ildc, compute, CUBLAS_GEMM_DEFAULT));
      return;
    }
    case DType::Float64: {
      const double alpha = 1.0, beta = 0.0;
      const double* a = static_cast<const double*>(a_base) + a_offset;
      const double* b = static_cast<const double*>(b_base) + b_offset;
      double* c = static_cast<double*>(out) + out_offset;
      RESA_CUBLAS_CHECK(cublasDgemm(h, op_b, op_a, in, im, ik, &alpha, b, ildb, a, ilda, &beta, c, ildc));
      return;
    }
    default:
      RESA_FAIL("[matmul] CUDA GEMM supports float32 and float64, got {}", dtype_name(dtype));
  }
}

}  // namespace resa::cuda
