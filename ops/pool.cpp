#include "resa/ops/pool.h"

#include "resa/ops/cpu/pool.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {
namespace {

PoolShape pool_shape(const char* op, const Shape& x, int64_t kernel, int64_t stride, int64_t padding) {
  RESA_CHECK(x.size() == 4, "[{}] expects a 4-D input (N, C, H, W), got {}", op, shape_str(x));
  RESA_CHECK(kernel >= 1 && stride >= 1, "[{}] input {}: kernel {} and stride {} must be >= 1", op, shape_str(x),
             kernel, stride);
  RESA_CHECK(padding >= 0 && padding <= kernel / 2,
             "[{}] input {}: padding {} must be between 0 and half the kernel {}", op, shape_str(x), padding, kernel);
  RESA_CHECK(x[2] + 2 * padding >= kernel && x[3] + 2 * padding >= kernel,
             "[{}] kernel {} is larger than the padded input ({}, {}) of input {} with padding {}", op, kernel,
             x[2] + 2 * padding, x[3] + 2 * padding, shape_str(x), padding);
  return PoolShape{x[0] * x[1],
                   x[2],
                   x[3],
                   (x[2] + 2 * padding - kernel) / stride + 1,
                   (x[3] + 2 * padding - kernel) / stride + 1,
                   kernel,
                   stride,
                   padding};
}

Shape out_shape(const Shape& x, const PoolShape& g) { return {x[0], x[1], g.p, g.q}; }

}  // namespace

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding) {
  auto g = pool_shape("max_pool2d", x_in.shape(), kernel, stride, padding);
  check_floating("max_pool2d", x_in);
  Shape ys = out_shape(x_in.shape(), g);
  Tensor y = Tensor::empty(ys, x_in.dtype(), x_in.device());
  Tensor idx = Tensor::empty(ys, DType::Int64, x_in.device());
  if (y.numel() == 0) return {y, idx};
  Tensor x = contiguous_of(x_in);
  RESA_BACKEND_CALL(x.device(), "max_pool2d", max_pool2d_forward, x.dtype(), g, x.raw_data(), y.raw_data(),
                    idx.data<int64_t>());
  return {y, idx};
}

Tensor max_pool2d_backward(const Tensor& dy_in, const Tensor& indices, const Shape& x_shape) {
  RESA_CHECK(x_shape.size() == 4 && dy_in.dim() == 4 && dy_in.shape() == indices.shape() &&
                 dy_in.size(0) == x_shape[0] && dy_in.size(1) == x_shape[1],
             "[max_pool2d_backward] grad_output {} and indices {} do not match input {}", shape_str(dy_in.shape()),
             shape_str(indices.shape()), shape_str(x_shape));
  RESA_CHECK(indices.dtype() == DType::Int64, "[max_pool2d_backward] indices must be int64, got {}",
             dtype_name(indices.dtype()));
  check_floating("max_pool2d_backward", dy_in);
  check_same_device("max_pool2d_backward", dy_in, indices);
  Tensor dx = Tensor::empty(x_shape, dy_in.dtype(), dy_in.device());
  if (dx.numel() == 0) return dx;
  Tensor dy = contiguous_of(dy_in), idx = contiguous_of(indices);
  PoolShape g{x_shape[0] * x_shape[1], x_shape[2], x_shape[3], dy.size(2), dy.size(3), 0, 0, 0};
  RESA_BACKEND_CALL(dy.device(), "max_pool2d_backward", max_pool2d_backward, dy.dtype(), g, dy.raw_data(),
                    idx.data<int64_t>(), dx.raw_data());
  return dx;
}

Tensor avg_pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding) {
  auto g = pool_shape("avg_pool2d", x_in.shape(), kernel, stride, padding);
  check_floating("avg_pool2d", x_in);
  Tensor y = Tensor::empty(out_shape(x_in.shape(), g), x_in.dtype(), x_in.device());
  if (y.numel() == 0) return y;
  Tensor x = contiguous_of(x_in);
  RESA_BACKEND_CALL(x.device(), "avg_pool2d", avg_pool2d_forward, x.dtype(), g, x.raw_data(), y.raw_data());
  return y;
}

Tensor avg_pool2d_backward(const Tensor& dy_in, const Shape& x_shape, int64_t kernel, int64_t stride, int64_t padding) {
  auto g = pool_shape("avg_pool2d_backward", x_shape, kernel, stride, padding);
  RESA_CHECK(dy_in.shape() == out_shape(x_shape, g),
             "[avg_pool2d_backward] grad_output {} does not match the output {} of input {}", shape_str(dy_in.shape()),
             shape_str(out_shape(x_shape, g)), shape_str(x_shape));
  check_floating("avg_pool2d_backward", dy_in);
  Tensor dx = Tensor::empty(x_shape, dy_in.dtype(), dy_in.device());
  if (dx.numel() == 0) return dx;
  Tensor dy = contiguous_of(dy_in);
  RESA_BACKEND_CALL(dy.device(), "avg_pool2d_backward", avg_pool2d_backward, dy.dtype(), g, dy.raw_data(),
                    dx.raw_data());
  return dx;
}

}  // namespace resa::ops
