// Differentiable convolution, pooling and batch norm. Each backward is one fused op (ops/conv.h,
// ops/pool.h, ops/batchnorm.h) rather than a composition, since these dominate a ResNet step.
#include "resa/autograd/conv.h"

#include "resa/autograd/engine.h"
#include "resa/autograd/reduce.h"
#include "resa/ops/batchnorm.h"
#include "resa/ops/conv.h"
#include "resa/ops/pool.h"

namespace resa {

using autograd::record;

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& opts) {
  ops::Conv2dParams p{opts.stride_, opts.padding_, opts.dilation_};
  Tensor y = ops::conv2d(x, w, b, p);
  if (!autograd::any_requires_grad({x, w, b})) return y;
  const bool rx = x.requires_grad(), rw = w.requires_grad(), rb = b.defined() && b.requires_grad();
  // Save only what the needed gradients read: dx needs w, dw needs x, db needs neither.
  return record(y, "conv2d", {x, w, b},
                [xd = rw ? x.detach() : Tensor(), wd = rx ? w.detach() : Tensor(), xs = x.shape(), ws = w.shape(), p,
                 rx, rw, rb](const Tensor& g) {
                  Tensor gx, gw, gb;
                  if (rx) gx = ops::conv2d_backward_input(g, wd, xs, p);
                  if (rw || rb) std::tie(gw, gb) = ops::conv2d_backward_weight(xd, g, ws, p, rw, rb);
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  auto [y, idx] = ops::max_pool2d(x, kernel, stride, padding);
  return record(y, "max_pool2d", {x}, [idx = idx, xs = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{ops::max_pool2d_backward(g, idx, xs)};
  });
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
  return record(ops::avg_pool2d(x, kernel, stride, padding), "avg_pool2d", {x},
                [xs = x.shape(), kernel, stride, padding](const Tensor& g) {
                  return std::vector<Tensor>{ops::avg_pool2d_backward(g, xs, kernel, stride, padding)};
                });
}

Tensor adaptive_avg_pool2d_1x1(const Tensor& x) {
  RESA_CHECK(x.dim() == 4, "[adaptive_avg_pool2d_1x1] expects a 4-D input (N, C, H, W), got {}", shape_str(x.shape()));
  RESA_CHECK(x.size(2) * x.size(3) > 0, "[adaptive_avg_pool2d_1x1] input {} has an empty plane", shape_str(x.shape()));
  return mean(x, {2, 3}, true);
}

namespace {
// Batch norm, followed by a ReLU when relu (one fused op: its backward masks the incoming gradient with
// the output's zeros, as the ReLU's backward would, in the same pass).
Tensor batch_norm_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps, bool relu) {
  ops::BatchNormResult r;
  {
    NoGradGuard no_grad;  // the running statistics are buffers, updated outside the graph
    r = ops::batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps, relu);
  }
  if (!autograd::any_requires_grad({x, weight, bias})) return r.out;
  const bool rx = x.requires_grad(), rw = weight.defined() && weight.requires_grad(),
             rb = bias.defined() && bias.requires_grad();
  return record(r.out, relu ? "batch_norm_relu" : "batch_norm", {x, weight, bias},
                [xd = x.detach(), wd = weight.defined() ? weight.detach() : Tensor(), mean = r.mean, invstd = r.invstd,
                 y = relu ? r.out.detach() : Tensor(), training, rx, rw, rb](const Tensor& g) {
                  auto grads = ops::batch_norm_backward(g, xd, wd, mean, invstd, training, rx, rw, rb, y);
                  return std::vector<Tensor>{grads[0], grads[1], grads[2]};
                });
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps, false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_impl(x, weight, bias, running_mean, running_var, training, momentum, eps, true);
}

}  // namespace resa
