#include "resa/ops/softmax.h"

#include <algorithm>

#include "resa/ops/cpu/softmax.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {
namespace {

struct Layout {
  int64_t outer = 1, n = 1, inner = 1;
};

// The (outer, n, inner) view of a contiguous tensor of `shape` around dim d (a 0-dim tensor is one
// row of one element).
Layout layout_of(const Shape& shape, int64_t d) {
  Layout l;
  if (shape.empty()) return l;
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i) {
    if (i < d)
      l.outer *= shape[i];
    else if (i == d)
      l.n = shape[i];
    else
      l.inner *= shape[i];
  }
  return l;
}

int64_t softmax_dim(const Tensor& x, int64_t dim, const char* op) {
  return wrap_dim(dim, std::max<int64_t>(x.dim(), 1), op);  // a 0-dim tensor takes dim 0 or -1, as PyTorch
}

Tensor softmax_impl(const Tensor& x_in, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_floating(op, x_in);
  const int64_t d = softmax_dim(x_in, dim, op);
  Tensor x = x_in.is_contiguous() ? x_in : contiguous_copy(x_in);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Layout l = layout_of(x.shape(), d);
  RESA_BACKEND_CALL(x.device(), op, softmax, x.dtype(), log, l.outer, l.n, l.inner, x.raw_data(), y.raw_data());
  return y;
}

Tensor softmax_backward_impl(const Tensor& grad, const Tensor& y_in, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_floating(op, y_in);
  check_same_dtype(op, grad, y_in);
  check_same_device(op, grad, y_in);
  RESA_CHECK(grad.shape() == y_in.shape(), "[{}] gradient {} and output {} differ in shape", op,
             shape_str(grad.shape()), shape_str(y_in.shape()));
  const int64_t d = softmax_dim(y_in, dim, op);
  Tensor g = grad.is_contiguous() ? grad : contiguous_copy(grad);
  Tensor y = y_in.is_contiguous() ? y_in : contiguous_copy(y_in);
  Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
  Layout l = layout_of(y.shape(), d);
  RESA_BACKEND_CALL(y.device(), op, softmax_backward, y.dtype(), log, l.outer, l.n, l.inner, g.raw_data(), y.raw_data(),
                    dx.raw_data());
  return dx;
}

// Checks shared by both cross-entropies: logits (N, C) floating with N, C > 0.
void check_logits(const char* op, const Tensor& logits) {
  check_floating(op, logits);
  RESA_CHECK(logits.dim() == 2, "[{}] logits must be (N, C), got {}", op, shape_str(logits.shape()));
  RESA_CHECK(logits.shape()[0] > 0 && logits.shape()[1] > 0, "[{}] logits {} are empty", op, shape_str(logits.shape()));
}

void check_scalar_grad(const char* op, const Tensor& grad, const Tensor& logits) {
  RESA_CHECK(grad.numel() == 1, "[{}] gradient of the loss must have one element, got {}", op, shape_str(grad.shape()));
  check_same_dtype(op, grad, logits);
  check_same_device(op, grad, logits);
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }
Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim) {
  return softmax_backward_impl(grad, y, dim, false);
}
Tensor log_softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim) {
  return softmax_backward_impl(grad, y, dim, true);
}

std::pair<Tensor, Tensor> cross_entropy(const Tensor& logits_in, const Tensor& labels_in) {
  const char* op = "cross_entropy";
  check_logits(op, logits_in);
  RESA_CHECK(labels_in.dtype() == DType::Int64, "[{}] labels must be int64, got {} labels {} for logits {}", op,
             dtype_name(labels_in.dtype()), shape_str(labels_in.shape()), shape_str(logits_in.shape()));
  RESA_CHECK(labels_in.dim() == 1 && labels_in.shape()[0] == logits_in.shape()[0],
             "[{}] labels must be (N) for logits (N, C): got labels {} for logits {}", op, shape_str(labels_in.shape()),
             shape_str(logits_in.shape()));
  check_same_device(op, logits_in, labels_in);
  const int64_t N = logits_in.shape()[0], C = logits_in.shape()[1];
  Tensor logits = contiguous_of(logits_in), labels = contiguous_of(labels_in);
  // The label range is checked on the host (N int64 copied back from a device), the same error everywhere.
  Tensor host_labels = to_device(labels, kCPU);
  const int64_t* lab = host_labels.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    RESA_CHECK(lab[i] >= 0 && lab[i] < C, "[{}] label {} at row {} is out of range for C = {} classes (logits {})", op,
               lab[i], i, C, shape_str(logits.shape()));
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({N}, DType::Float64, logits.device());
  RESA_BACKEND_CALL(logits.device(), op, cross_entropy, logits.dtype(), N, C, logits.raw_data(), labels.data<int64_t>(),
                    loss.raw_data(), lse.raw_data());
  return {loss, lse};
}

Tensor cross_entropy_backward(const Tensor& grad, const Tensor& logits_in, const Tensor& labels_in,
                              const Tensor& lse_in) {
  const char* op = "cross_entropy_backward";
  check_logits(op, logits_in);
  check_scalar_grad(op, grad, logits_in);
  const int64_t N = logits_in.shape()[0], C = logits_in.shape()[1];
  RESA_CHECK(labels_in.dtype() == DType::Int64 && labels_in.shape() == Shape{N} && lse_in.shape() == Shape{N} &&
                 lse_in.dtype() == DType::Float64,
             "[{}] expects int64 labels (N) and float64 lse (N) for logits {}, got labels {} and lse {}", op,
             shape_str(logits_in.shape()), shape_str(labels_in.shape()), shape_str(lse_in.shape()));
  Tensor logits = contiguous_of(logits_in), labels = contiguous_of(labels_in), lse = contiguous_of(lse_in);
  Tensor g = contiguous_of(grad);
  Tensor dx = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  RESA_BACKEND_CALL(logits.device(), op, cross_entropy_backward, logits.dtype(), N, C, g.raw_data(), logits.raw_data(),
                    labels.data<int64_t>(), lse.raw_data(), dx.raw_data());
  return dx;
}

std::pair<Tensor, Tensor> cross_entropy_soft(const Tensor& logits_in, const Tensor& target_in) {
  const char* op = "cross_entropy_soft";
  check_logits(op, logits_in);
  check_same_dtype(op, logits_in, target_in);
  check_same_device(op, logits_in, target_in);
  RESA_CHECK(target_in.shape() == logits_in.shape(), "[{}] target {} must have the shape of logits {}", op,
             shape_str(target_in.shape()), shape_str(logits_in.shape()));
  const int64_t N = logits_in.shape()[0], C = logits_in.shape()[1];
  Tensor logits = contiguous_of(logits_in), target = contiguous_of(target_in);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({N}, DType::Float64, logits.device());
  RESA_BACKEND_CALL(logits.device(), op, cross_entropy_soft, logits.dtype(), N, C, logits.raw_data(), target.raw_data(),
                    loss.raw_data(), lse.raw_data());
  return {loss, lse};
}

std::pair<Tensor, Tensor> cross_entropy_soft_backward(const Tensor& grad, const Tensor& logits_in,
                                                      const Tensor& target_in, const Tensor& lse_in, bool need_logits,
                                                      bool need_target) {
  const char* op = "cross_entropy_soft_backward";
  check_logits(op, logits_in);
  check_scalar_grad(op, grad, logits_in);
  check_same_dtype(op, logits_in, target_in);
  const int64_t N = logits_in.shape()[0], C = logits_in.shape()[1];
  RESA_CHECK(target_in.shape() == logits_in.shape() && lse_in.shape() == Shape{N} && lse_in.dtype() == DType::Float64,
             "[{}] expects target {} and float64 lse (N) for logits {}, got target {} and lse {}", op,
             shape_str(logits_in.shape()), shape_str(logits_in.shape()), shape_str(target_in.shape()),
             shape_str(lse_in.shape()));
  if (!need_logits && !need_target) return {};
  Tensor logits = contiguous_of(logits_in), target = contiguous_of(target_in), lse = contiguous_of(lse_in);
  Tensor g = contiguous_of(grad);
  Tensor dx, dt;
  if (need_logits) dx = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  if (need_target) dt = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  RESA_BACKEND_CALL(logits.device(), op, cross_entropy_soft_backward, logits.dtype(), N, C, g.raw_data(),
                    logits.raw_data(), target.raw_data(), lse.raw_data(), need_logits ? dx.raw_data() : nullptr,
                    need_target ? dt.raw_data() : nullptr);
  return {dx, dt};
}

}  // namespace resa::ops
