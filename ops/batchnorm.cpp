#include "resa/ops/batchnorm.h"

#include "resa/ops/cpu/batchnorm.h"
#include "resa/ops/dispatch.h"
#include "resa/ops/elementwise.h"
#ifdef RESA_WITH_CUDA
#include "resa/ops/cuda/kernels.h"
#endif

namespace resa::ops {
namespace {

void check_channel_vector(const char* op, const char* what, const Tensor& t, const Tensor& x) {
  if (!t.defined()) return;
  RESA_CHECK(t.dim() == 1 && t.size(0) == x.size(1), "[{}] {} {} does not match the {} channels of input {}", op, what,
             shape_str(t.shape()), x.size(1), shape_str(x.shape()));
  check_same_device(op, t, x);
  check_same_dtype(op, t, x);
}

// t must have x's shape, device and dtype (the gradient of the op's output, or that output).
void check_like_input(const char* op, const char* what, const Tensor& t, const Tensor& x) {
  RESA_CHECK(t.shape() == x.shape(), "[{}] {} {} does not match input {}", op, what, shape_str(t.shape()),
             shape_str(x.shape()));
  check_same_device(op, t, x);
  check_same_dtype(op, t, x);
}

// (N, C, L) sizes of a (N, C) or (N, C, H, W) tensor.
std::array<int64_t, 3> ncl(const char* op, const Tensor& x) {
  RESA_CHECK(x.dim() == 2 || x.dim() == 4, "[{}] expects a (N, C) or (N, C, H, W) input, got {}", op,
             shape_str(x.shape()));
  return {x.size(0), x.size(1), x.dim() == 4 ? x.size(2) * x.size(3) : 1};
}

}  // namespace

BatchNormResult batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, bool training, double momentum, double eps, bool relu) {
  const char* op = "batch_norm";
  const auto ncl_sizes = ncl(op, x_in);
  const int64_t n = std::get<0>(ncl_sizes), c = std::get<1>(ncl_sizes), l = std::get<2>(ncl_sizes);
  check_floating(op, x_in);
  check_channel_vector(op, "weight", weight, x_in);
  check_channel_vector(op, "bias", bias, x_in);
  check_channel_vector(op, "running_mean", running_mean, x_in);
  check_channel_vector(op, "running_var", running_var, x_in);
  RESA_CHECK(running_mean.defined() == running_var.defined(),
             "[batch_norm] input {}: running_mean and running_var must both be given or both be undefined",
             shape_str(x_in.shape()));
  RESA_CHECK(training || running_mean.defined(), "[batch_norm] input {}: eval mode needs running_mean and running_var",
             shape_str(x_in.shape()));
  RESA_CHECK(!training || n * l > 1, "[batch_norm] input {}: training needs more than one value per channel",
             shape_str(x_in.shape()));
  for (const Tensor* t : {&running_mean, &running_var})
    RESA_CHECK(!t->defined() || t->is_contiguous(), "[batch_norm] running statistics {} must be contiguous",
               shape_str(t->shape()));
  Tensor x = contiguous_of(x_in);
  Tensor w = weight.defined() ? contiguous_of(weight) : Tensor(), b = bias.defined() ? contiguous_of(bias) : Tensor();
  BatchNormResult r{Tensor::empty(x.shape(), x.dtype(), x.device()), Tensor::empty({c}, x.dtype(), x.device()),
                    Tensor::empty({c}, x.dtype(), x.device())};
  auto raw = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
  if (relu && x.device().is_cpu()) {  // fused: the ReLU inside the normalisation pass
    if (training)
      cpu::batch_norm_train(x.dtype(), n, c, l, raw(x), raw(w), raw(b), eps, momentum, raw(r.out), raw(r.mean),
                            raw(r.invstd), raw(running_mean), raw(running_var), true);
    else
      cpu::batch_norm_eval(x.dtype(), n, c, l, raw(x), raw(w), raw(b), raw(running_mean), raw(running_var), eps,
                           raw(r.out), raw(r.mean), raw(r.invstd), true);
    return r;
  }
  if (training)
    RESA_BACKEND_CALL(x.device(), op, batch_norm_train, x.dtype(), n, c, l, raw(x), raw(w), raw(b), eps, momentum,
                      raw(r.out), raw(r.mean), raw(r.invstd), raw(running_mean), raw(running_var));
  else
    RESA_BACKEND_CALL(x.device(), op, batch_norm_eval, x.dtype(), n, c, l, raw(x), raw(w), raw(b), raw(running_mean),
                      raw(running_var), eps, raw(r.out), raw(r.mean), raw(r.invstd));
  if (relu) r.out = unary(UnaryOp::Relu, r.out);  // CUDA: the ReLU as a second pass
  return r;
}

std::array<Tensor, 3> batch_norm_backward(const Tensor& dy_in, const Tensor& x_in, const Tensor& weight,
                                          const Tensor& mean, const Tensor& invstd, bool training, bool want_input,
                                          bool want_weight, bool want_bias, const Tensor& relu_out) {
  const char* op = "batch_norm_backward";
  const auto ncl_sizes = ncl(op, x_in);
  const int64_t n = std::get<0>(ncl_sizes), c = std::get<1>(ncl_sizes), l = std::get<2>(ncl_sizes);
  check_like_input(op, "grad_output", dy_in, x_in);
  check_floating(op, dy_in);
  check_channel_vector(op, "weight", weight, x_in);
  check_channel_vector(op, "mean", mean, x_in);
  check_channel_vector(op, "invstd", invstd, x_in);
  std::array<Tensor, 3> out;
  if (want_input) out[0] = Tensor::empty(x_in.shape(), x_in.dtype(), x_in.device());
  if (want_weight) out[1] = Tensor::empty({c}, x_in.dtype(), x_in.device());
  if (want_bias) out[2] = Tensor::empty({c}, x_in.dtype(), x_in.device());
  if (!want_input && !want_weight && !want_bias) return out;
  if (relu_out.defined()) check_like_input(op, "relu_out", relu_out, x_in);
  Tensor dy = contiguous_of(dy_in), x = contiguous_of(x_in);
  Tensor w = weight.defined() ? contiguous_of(weight) : Tensor();
  Tensor mu = contiguous_of(mean), is = contiguous_of(invstd);
  auto raw = [](const Tensor& t) { return t.defined() ? t.raw_data() : nullptr; };
  if (relu_out.defined() && x.device().is_cpu()) {  // fused: the ReLU's mask applied while reading dy
    Tensor y = contiguous_of(relu_out);
    cpu::batch_norm_backward(x.dtype(), n, c, l, raw(dy), raw(x), raw(w), raw(mu), raw(is), training, raw(out[0]),
                             raw(out[1]), raw(out[2]), raw(y));
    return out;
  }
  if (relu_out.defined()) dy = binary(BinaryOp::MaskPositive, dy, relu_out);  // CUDA: the ReLU's backward, a pass
  RESA_BACKEND_CALL(x.device(), op, batch_norm_backward, x.dtype(), n, c, l, raw(dy), raw(x), raw(w), raw(mu), raw(is),
                    training, raw(out[0]), raw(out[1]), raw(out[2]));
  return out;
}

}  // namespace resa::ops
