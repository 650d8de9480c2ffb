// CPU kernels of synchronized batch norm over contiguous (N, C, L) tensors (L = H * W, or 1 for (N, C)):
// the per-channel sums each rank contributes, and the normalisation with statistics that were
// reduced over all ranks. Channels are split across threads; sums accumulate in double.
#pragma once
#include <cstdint>

namespace resa::cpu {

// x: (N, C, L) -> sum, sumsq: (C) float64, over N and L.
template <typename T>
void batch_norm_stats(int64_t n, int64_t c, int64_t l, const T* x, double* sum, double* sumsq);

// x: (N, C, L), mean, invstd: (C) float64, weight, bias: (C) or null -> y: (N, C, L),
// y = (x - mean) * invstd * weight + bias.
template <typename T>
void batch_norm_elemt(int64_t n, int64_t c, int64_t l, const T* x, const double* mean, const double* invstd,
                      const T* weight, const T* bias, T* y);

// dy, x: (N, C, L), mean, invstd: (C) float64 -> sum_dy, sum_dy_xhat: (C) float64,
// xhat = (x - mean) * invstd.
template <typename T>
void batch_norm_backward_reduce(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const double* mean,
                                const double* invstd, double* sum_dy, double* sum_dy_xhat);

// dy, x: (N, C, L), mean, invstd, mean_dy, mean_dy_xhat: (C) float64 (global means), weight: (C) or
// null -> dx = weight * invstd * (dy - mean_dy - xhat * mean_dy_xhat): (N, C, L).
template <typename T>
void batch_norm_backward_elemt(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const double* mean,
                               const double* invstd, const T* weight, const double* mean_dy, const double* mean_dy_xhat,
                               T* dx);

}  // namespace resa::cpu
