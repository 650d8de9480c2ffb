#include "resa/ops/conv.h"

#include "resa/core/views.h"
#include "resa/ops/cpu/conv.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {
namespace {

ConvShape conv_shape(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  return ConvShape{x[0], x[1],        x[2],        x[3],         w[0],         w[2],          w[3],         y[2],
                   y[3], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1]};
}

std::string pair_str(const std::array<int64_t, 2>& a) { return fmt::format("({}, {})", a[0], a[1]); }

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  RESA_CHECK(x.size() == 4, "[conv2d] expects a 4-D input (N, C, H, W), got {} (weight {})", shape_str(x),
             shape_str(w));
  RESA_CHECK(w.size() == 4, "[conv2d] expects a 4-D weight (K, C, R, S), got {} (input {})", shape_str(w),
             shape_str(x));
  RESA_CHECK(x[1] == w[1], "[conv2d] input {} has {} channels but weight {} expects {}", shape_str(x), x[1],
             shape_str(w), w[1]);
  for (int i = 0; i < 2; ++i) {
    RESA_CHECK(p.stride[i] >= 1 && p.padding[i] >= 0 && p.dilation[i] >= 1,
               "[conv2d] input {}, weight {}: stride {} and dilation {} must be >= 1, padding {} >= 0", shape_str(x),
               shape_str(w), pair_str(p.stride), pair_str(p.dilation), pair_str(p.padding));
  }
  const int64_t span_h = (w[2] - 1) * p.dilation[0] + 1, span_w = (w[3] - 1) * p.dilation[1] + 1;
  const int64_t ph = x[2] + 2 * p.padding[0], pw = x[3] + 2 * p.padding[1];
  RESA_CHECK(w[2] >= 1 && w[3] >= 1 && span_h <= ph && span_w <= pw,
             "[conv2d] kernel of weight {} spans ({}, {}) with dilation {}, larger than the padded input ({}, {}) "
             "of input {} with padding {}",
             shape_str(w), span_h, span_w, pair_str(p.dilation), ph, pw, shape_str(x), pair_str(p.padding));
  return {x[0], w[0], (ph - span_h) / p.stride[0] + 1, (pw - span_w) / p.stride[1] + 1};
}

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Conv2dParams& p) {
  Shape ys = conv2d_output_shape(x_in.shape(), w_in.shape(), p);
  check_floating("conv2d", x_in);
  check_same_device("conv2d", x_in, w_in);
  check_same_dtype("conv2d", x_in, w_in);
  if (b_in.defined()) {
    RESA_CHECK(b_in.dim() == 1 && b_in.size(0) == w_in.size(0),
               "[conv2d] bias {} does not match weight {}: expected ({})", shape_str(b_in.shape()),
               shape_str(w_in.shape()), w_in.size(0));
    check_same_device("conv2d", x_in, b_in);
    check_same_dtype("conv2d", x_in, b_in);
  }
  Tensor y = Tensor::empty(ys, x_in.dtype(), x_in.device());
  if (y.numel() == 0) return y;
  if (x_in.size(1) == 0) {  // an empty sum: bias only
    y.zero_();
    if (b_in.defined()) y.copy_(binary(BinaryOp::Add, y, reshape_view(contiguous_of(b_in), {-1, 1, 1})));
    return y;
  }
  Tensor x = contiguous_of(x_in), w = contiguous_of(w_in), b = b_in.defined() ? contiguous_of(b_in) : Tensor();
  auto g = conv_shape(x.shape(), w.shape(), ys, p);
  RESA_BACKEND_CALL(x.device(), "conv2d", conv2d_forward, x.dtype(), g, x.raw_data(), w.raw_data(),
                    b.defined() ? b.raw_data() : nullptr, y.raw_data());
  return y;
}

Tensor conv2d_backward_input(const Tensor& dy_in, const Tensor& w_in, const Shape& x_shape, const Conv2dParams& p) {
  Shape ys = conv2d_output_shape(x_shape, w_in.shape(), p);
  RESA_CHECK(dy_in.shape() == ys,
             "[conv2d_backward_input] grad_output {} does not match the output {} of input {} "
             "and weight {}",
             shape_str(dy_in.shape()), shape_str(ys), shape_str(x_shape), shape_str(w_in.shape()));
  check_floating("conv2d_backward_input", dy_in);
  check_same_device("conv2d_backward_input", dy_in, w_in);
  check_same_dtype("conv2d_backward_input", dy_in, w_in);
  Tensor dx = Tensor::empty(x_shape, dy_in.dtype(), dy_in.device());
  if (dx.numel() == 0) return dx;
  if (dy_in.numel() == 0) return dx.zero_(), dx;
  Tensor dy = contiguous_of(dy_in), w = contiguous_of(w_in);
  auto g = conv_shape(x_shape, w.shape(), ys, p);
  RESA_BACKEND_CALL(dy.device(), "conv2d_backward_input", conv2d_backward_input, dy.dtype(), g, dy.raw_data(),
                    w.raw_data(), dx.raw_data());
  return dx;
}

std::pair<Tensor, Tensor> conv2d_backward_weight(const Tensor& x_in, const Tensor& dy_in, const Shape& w_shape,
                                                 const Conv2dParams& p, bool want_weight, bool want_bias) {
  const char* op = "conv2d_backward_weight";
  check_floating(op, dy_in);
  Shape ys;
  if (x_in.defined()) {
    ys = conv2d_output_shape(x_in.shape(), w_shape, p);
    RESA_CHECK(dy_in.shape() == ys,
               "[conv2d_backward_weight] grad_output {} does not match the output {} of input {} "
               "and weight {}",
               shape_str(dy_in.shape()), shape_str(ys), shape_str(x_in.shape()), shape_str(w_shape));
    check_same_device(op, x_in, dy_in);
    check_same_dtype(op, x_in, dy_in);
  } else {
    RESA_CHECK(!want_weight, "[conv2d_backward_weight] the weight gradient needs the input (weight {})",
               shape_str(w_shape));
    RESA_CHECK(dy_in.dim() == 4 && w_shape.size() == 4 && dy_in.size(1) == w_shape[0],
               "[conv2d_backward_weight] grad_output {} does not match weight {}", shape_str(dy_in.shape()),
               shape_str(w_shape));
    ys = dy_in.shape();
  }
  Tensor dw = want_weight ? Tensor::empty(w_shape, dy_in.dtype(), dy_in.device()) : Tensor();
  Tensor db = want_bias ? Tensor::empty({w_shape[0]}, dy_in.dtype(), dy_in.device()) : Tensor();
  if (!want_weight && !want_bias) return {dw, db};
  if (dy_in.numel() == 0) {  // an empty sum
    if (dw.defined()) dw.zero_();
    if (db.defined()) db.zero_();
    return {dw, db};
  }
  const bool weight_kernel = want_weight && dw.numel() > 0;
  if (!weight_kernel && !want_bias) return {dw, db};
  Tensor dy = contiguous_of(dy_in);
  Tensor x = weight_kernel ? contiguous_of(x_in) : Tensor();
  // Without the weight kernel only N, K, P, Q are read.
  Shape xs = x_in.defined() ? x_in.shape() : Shape{ys[0], w_shape[1], 0, 0};
  auto g = conv_shape(xs, w_shape, ys, p);
  RESA_BACKEND_CALL(dy.device(), op, conv2d_backward_weight, dy.dtype(), g, weight_kernel ? x.raw_data() : nullptr,
                    dy.raw_data(), weight_kernel ? dw.raw_data() : nullptr, want_bias ? db.raw_data() : nullptr);
  return {dw, db};
}

}  // namespace resa::ops
