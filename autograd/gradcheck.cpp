#include "resa/autograd/gradcheck.h"

#include <cmath>

#include "resa/autograd/functions.h"

namespace resa {

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, std::vector<Tensor> inputs,
                          const GradcheckOptions& opts) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    RESA_CHECK(inputs[i].dtype() == DType::Float64 && inputs[i].device().is_cpu(),
               "[gradcheck] input {} must be a float64 CPU tensor, got {} on {}", i, dtype_name(inputs[i].dtype()),
               inputs[i].device().str());
    RESA_CHECK(inputs[i].is_contiguous(), "[gradcheck] input {} must be contiguous", i);
    inputs[i].zero_grad();
  }
  Tensor probe = fn(inputs);
  Generator gen(opts.seed_);
  Tensor r = randn(probe.shape(), TensorOptions().dtype(DType::Float64), &gen);
  auto loss = [&](const std::vector<Tensor>& in) { return sum(mul(fn(in), r)); };

  loss(inputs).backward();

  GradcheckResult res;
  NoGradGuard no_grad;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    Tensor analytic = x.grad();
    std::vector<double> a = analytic.defined() ? analytic.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t k = 0; k < x.numel(); ++k) {
      double orig = p[k];
      p[k] = orig + opts.eps_;
      double lp = loss(inputs).item();
      p[k] = orig - opts.eps_;
      double lm = loss(inputs).item();
      p[k] = orig;
      double numeric = (lp - lm) / (2 * opts.eps_);
      double err = std::abs(a[k] - numeric);
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (res.ok && !(err <= opts.atol_ + opts.rtol_ * std::abs(numeric))) {
        res.ok = false;
        res.message = fmt::format("input {} element {}: analytic {:.10g}, numeric {:.10g} (error {:.3g})", i, k, a[k],
                                  numeric, err);
      }
    }
  }
  return res;
}

}  // namespace resa
