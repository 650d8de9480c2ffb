// CUDA kernels of synchronized batch norm (mirror ops/cpu/batchnorm_stats.h) over contiguous (N, C, L)
// tensors of dtype float32/float64. The (C) statistics are float64 device arrays. No CUDA header here.
#pragma once
#include <cstdint>

#include "resa/core/dtype.h"

namespace resa::cuda {

// x: (N, C, L) -> sum, sumsq: (C) float64.
void batch_norm_stats(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, double* sum, double* sumsq);
// y = (x - mean) * invstd * weight + bias; weight, bias: (C) or null.
void batch_norm_elemt(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const double* mean,
                      const double* invstd, const void* weight, const void* bias, void* y);
// -> sum_dy, sum_dy_xhat: (C) float64.
void batch_norm_backward_reduce(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                                const double* mean, const double* invstd, double* sum_dy, double* sum_dy_xhat);
// dx = weight * invstd * (dy - mean_dy - xhat * mean_dy_xhat).
void batch_norm_backward_elemt(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                               const double* mean, const double* invstd, const void* weight, const double* mean_dy,
                               const double* mean_dy_xhat, void* dx);

}  // namespace resa::cuda
