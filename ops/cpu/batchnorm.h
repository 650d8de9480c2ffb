// CPU kernels for batch normalisation over contiguous (N, C, L) tensors: L = H * W for (N, C, H, W),
// L = 1 for (N, C). Channels are split across threads; sums accumulate in double.
#pragma once
#include <cstdint>

#include "resa/core/dtype.h"

namespace resa::cpu {

// x: (N, C, L), weight, bias: (C) or null -> y: (N, C, L), mean, invstd: (C) of the batch (biased var).
// running_mean, running_var: (C) or null, updated in place with momentum (unbiased var).
template <typename T>
void batch_norm_train(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, double eps,
                      double momentum, T* y, T* mean, T* invstd, T* running_mean, T* running_var, bool relu = false);

// x: (N, C, L), running_mean, running_var: (C), weight, bias: (C) or null -> y: (N, C, L), and the
// mean, invstd: (C) used (saved for backward).
template <typename T>
void batch_norm_eval(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, const T* running_mean,
                     const T* running_var, double eps, T* y, T* mean, T* invstd, bool relu = false);

// dy, x: (N, C, L), weight: (C) or null, mean, invstd: (C) from the forward -> dx: (N, C, L),
// dweight, dbias: (C); any output may be null. In training the batch statistics depend on x, which
// adds the two mean terms to dx; in eval dx = dy * weight * invstd.
template <typename T>
void batch_norm_backward(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const T* weight, const T* mean,
                         const T* invstd, bool training, T* dx, T* dweight, T* dbias, const T* relu_out = nullptr);

// relu: batch norm + ReLU fused, the output is max(y, 0) (one pass instead of two); relu_out: that fused
// output, given to the backward, which then masks dy with it (CPU only; ops::batch_norm composes the two
// on CUDA).
// The same kernels by dtype (float32 / float64) over untyped pointers (any may be null where the typed one
// allows it): the signatures of their CUDA twins in ops/cuda/kernels.h, for RESA_BACKEND_CALL.
void batch_norm_train(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                      double eps, double momentum, void* y, void* mean, void* invstd, void* running_mean,
                      void* running_var, bool relu = false);
void batch_norm_eval(DType dtype, int64_t n, int64_t c, int64_t l, const void* x, const void* weight, const void* bias,
                     const void* running_mean, const void* running_var, double eps, void* y, void* mean, void* invstd,
                     bool relu = false);
void batch_norm_backward(DType dtype, int64_t n, int64_t c, int64_t l, const void* dy, const void* x,
                         const void* weight, const void* mean, const void* invstd, bool training, void* dx,
                         void* dweight, void* dbias, const void* relu_out = nullptr);

}  // namespace resa::cpu
