// Convolution, pooling and batch normalisation on NCHW tensors.
#pragma once
#include <array>

#include "resa/core/tensor.h"

namespace resa {

struct Conv2dOptions {
  std::array<int64_t, 2> stride_{1, 1};
  std::array<int64_t, 2> padding_{0, 0};
  std::array<int64_t, 2> dilation_{1, 1};
  Conv2dOptions& stride(int64_t s) { return set_field(*this, stride_, {s, s}); }
  Conv2dOptions& padding(int64_t p) { return set_field(*this, padding_, {p, p}); }
  Conv2dOptions& dilation(int64_t d) { return set_field(*this, dilation_, {d, d}); }
  Conv2dOptions& stride(int64_t sh, int64_t sw) { return set_field(*this, stride_, {sh, sw}); }
  Conv2dOptions& padding(int64_t ph, int64_t pw) { return set_field(*this, padding_, {ph, pw}); }
  Conv2dOptions& dilation(int64_t dh, int64_t dw) { return set_field(*this, dilation_, {dh, dw}); }
};

// x: (N, C, H, W), w: (K, C, R, S), b: (K) or undefined -> (N, K, P, Q), cross-correlation as PyTorch's
// conv2d (no groups). P = (H + 2 * pad_h - dil_h * (R - 1) - 1) / stride_h + 1, likewise Q.
// Backward uses the fused ops conv2d_backward_input / conv2d_backward_weight (ops/conv.h).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = {}, const Conv2dOptions& opts = {});
// Square-window pooling, x: (N, C, H, W) -> (N, C, P, Q), P = floor((H + 2 * padding - kernel) / stride) + 1
// (PyTorch's ceil_mode=False); padding is at most kernel / 2. For max, padding acts as -inf and the
// gradient goes to each window's first maximal element. For avg, padding counts as zeros and the
// divisor is always kernel * kernel (PyTorch's count_include_pad=True).
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0);
// Mean over H and W: (N, C, H, W) -> (N, C, 1, 1).
Tensor adaptive_avg_pool2d_1x1(const Tensor& x);

// Batch norm over (N) of (N, C) or over (N, H, W) of (N, C, H, W). In training, normalises with the
// batch statistics and updates running_mean/var in place (unbiased var, PyTorch's momentum rule); in
// eval, uses the running statistics. weight/bias may be undefined (affine=false); running stats may be
// undefined in training (track_running_stats=false). The running stats are buffers: updated without
// autograd. Backward is one fused op (ops::batch_norm_backward) for x, weight and bias.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

// relu(batch_norm(...)) as one op: on the CPU one pass forward and one backward instead of two each, and
// the batch norm's own output is never stored. The same values as the two ops (ReLU is exact).
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace resa
