// CPU kernels for batch normalisation over contiguous (N, C, L) tensors: L = H * W for (N, C, H, W),
// L = 1 for (N, C). Channels are split across threads; sums accumulate in double.
#pragma once
#include <cstdint>

namespace resa::cpu {

// x: (N, C, L), weight, bias: (C) or null -> y: (N, C, L), mean, invstd: (C) of the batch (biased var).
// running_mean, running_var: (C) or null, updated in place with momentum (unbiased var).
template <typename T>
void batch_norm_train(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias, double eps,
                      double momentum, T* y, T* mean, T* invstd, T* running_mean, T* running_var);

// x: (N, C, L), running_mean, running_var: (C), weight, bias: (C) or null -> y: (N, C, L), and the
// mean, invstd: (C) used (saved for backward).
template <typename T>
void batch_norm_eval(int64_t n, int64_t c, int64_t l, const T* x, const T* weight, const T* bias,
                     const T* running_mean, const T* running_var, double eps, T* y, T* mean, T* invstd);

// dy, x: (N, C, L), weight: (C) or null, mean, invstd: (C) from the forward -> dx: (N, C, L),
// dweight, dbias: (C); any output may be null. In training the batch statistics depend on x, which
// adds the two mean terms to dx; in eval dx = dy * weight * invstd.
template <typename T>
void batch_norm_backward(int64_t n, int64_t c, int64_t l, const T* dy, const T* x, const T* weight, const T* mean,
                         const T* invstd, bool training, T* dx, T* dweight, T* dbias);

}  // namespace resa::cpu
