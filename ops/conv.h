// 2-D convolution on NCHW tensors: argument checks, output shape and device dispatch. No autograd here.
// The two backward ops are ops of their own (fused kernels), used by autograd/conv.cpp.
#pragma once
#include <array>
#include <utility>

#include "resa/core/tensor.h"

namespace resa::ops {

// Per axis (height, width).
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
};

// The output shape (N, K, P, Q) for x: (N, C, H, W), w: (K, C, R, S); checks every argument.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);

// x: (N, C, H, W), w: (K, C, R, S), b: (K) or undefined -> (N, K, P, Q)
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p);

// dy: (N, K, P, Q), w: (K, C, R, S) -> dx of shape x_shape (N, C, H, W)
Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p);

// x: (N, C, H, W), dy: (N, K, P, Q) -> {dw (w_shape) if want_weight, db (K) if want_bias}; the other
// is undefined. x may be undefined when only db is wanted.
std::pair<Tensor, Tensor> conv2d_backward_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                                 const Conv2dParams& p, bool want_weight, bool want_bias);

}  // namespace resa::ops
