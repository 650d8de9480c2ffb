// Softmax family, cross-entropies and normalisation. The softmax functions and the cross-entropies call
// fused ops (ops/softmax.h) forward and backward; l2_normalize and mse_loss are composed of other ops.
#include "resa/autograd/loss.h"

#include <limits>

#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/autograd/reduce.h"
#include "resa/ops/elementwise.h"
#include "resa/ops/softmax.h"

namespace resa {

using autograd::record;

Tensor softmax(const Tensor& x, int64_t dim) {
  Tensor y = ops::softmax(x, dim);
  return record(y, "softmax", {x}, [yd = y.detach(), dim](const Tensor& g) {
    return std::vector<Tensor>{ops::softmax_backward(g, yd, dim)};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  Tensor y = ops::log_softmax(x, dim);
  return record(y, "log_softmax", {x}, [yd = y.detach(), dim](const Tensor& g) {
    return std::vector<Tensor>{ops::log_softmax_backward(g, yd, dim)};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  auto [loss, lse] = ops::cross_entropy(logits, labels);
  // labels are not an input of the node: they never carry a gradient.
  return record(loss, "cross_entropy", {logits},
                [ld = logits.detach(), lab = labels.detach(), lse = lse](const Tensor& g) {
                  return std::vector<Tensor>{ops::cross_entropy_backward(g, ld, lab, lse)};
                });
}

Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target) {
  auto [loss, lse] = ops::cross_entropy_soft(logits, target);
  const bool need_logits = logits.requires_grad(), need_target = target.requires_grad();
  return record(loss, "cross_entropy_soft", {logits, target},
                [ld = logits.detach(), td = target.detach(), lse = lse, need_logits, need_target](const Tensor& g) {
                  auto [dl, dt] = ops::cross_entropy_soft_backward(g, ld, td, lse, need_logits, need_target);
                  return std::vector<Tensor>{dl, dt};
                });
}

Tensor l2_normalize(const Tensor& x, int64_t dim, double eps) {
  ops::check_floating("l2_normalize", x);
  RESA_CHECK(eps >= 0.0, "[l2_normalize] eps must be non-negative, got {} for input {}", eps, shape_str(x.shape()));
  const int64_t d = wrap_dim(dim, x.dim(), "l2_normalize");
  // Computed on the detached input, then recorded as one node with a closed-form backward: the
  // composed form (sqrt of a sum, then clamp) gives 0 * inf = NaN for an all-zero slice, where the
  // true gradient (PyTorch's too) is g / eps.
  Tensor xd = x.detach();
  Tensor nrm = norm(xd, {d}, true);
  Tensor denom = clamp(nrm, eps, std::numeric_limits<double>::infinity());
  Tensor y = div(xd, denom);
  // Where the norm is clamped the denominator is a constant and dx = g / eps.
  Tensor unclamped = ops::unary(ops::UnaryOp::Step, nrm, eps);
  return record(y, "l2_normalize", {x}, [yd = y.detach(), denom, unclamped, d](const Tensor& g) {
    // dx = (g - y * sum(g * y)) / ||x|| where ||x|| > eps.
    Tensor proj = mul(yd, mul(sum(mul(g, yd), {d}, true), unclamped));
    return std::vector<Tensor>{div(sub(g, proj), denom)};
  });
}

Tensor mse_loss(const Tensor& a, const Tensor& b) {
  RESA_CHECK(a.shape() == b.shape(), "[mse_loss] shapes {} and {} differ", shape_str(a.shape()), shape_str(b.shape()));
  Tensor diff = sub(a, b);
  return mean(mul(diff, diff));
}

}  // namespace resa
