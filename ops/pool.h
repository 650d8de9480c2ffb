// 2-D pooling on NCHW tensors with a square window: argument checks, output shape and device dispatch.
// No autograd here. Output size is floor((H + 2 * padding - kernel) / stride) + 1 (PyTorch's
// ceil_mode=False), and padding may be at most kernel / 2 (as in PyTorch), so every window holds at
// least one input element.
#pragma once
#include <utility>

#include "resa/core/tensor.h"

namespace resa::ops {

// x: (N, C, H, W) -> {y: (N, C, P, Q), indices: (N, C, P, Q) int64, the argmax as h * W + w in its plane}.
// Padding acts as -inf.
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
// dy, indices: (N, C, P, Q) -> dx: x_shape, each dy routed to its window's argmax.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape);

// x: (N, C, H, W) -> (N, C, P, Q); the divisor is always kernel * kernel (padding counts as zeros, as
// PyTorch's count_include_pad=True).
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, int64_t kernel, int64_t stride, int64_t padding);

}  // namespace resa::ops
