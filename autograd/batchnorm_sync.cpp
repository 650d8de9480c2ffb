#include "resa/autograd/batchnorm_sync.h"

#include <cmath>

#include "resa/autograd/engine.h"
#include "resa/ops/batchnorm_stats.h"

namespace resa {

Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double momentum, double eps, const SumOverRanks& sum_over_ranks) {
  RESA_CHECK(static_cast<bool>(sum_over_ranks), "[sync_batch_norm] needs a sum over the ranks");
  RESA_CHECK(x.defined() && x.dim() >= 2, "[sync_batch_norm] expects (N, C) or (N, C, H, W), got {}",
             x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  const int64_t c = x.size(1);
  Tensor mean = Tensor::empty({c}, DType::Float64), invstd = Tensor::empty({c}, DType::Float64);
  double total = 0;
  {
    NoGradGuard ng;
    auto [s, ss] = ops::batch_norm_stats(x.detach());
    // One reduction for the sums, the sums of squares and the count: [sum (C), sumsq (C), count].
    Tensor packed = Tensor::empty({2 * c + 1}, DType::Float64);
    double* p = packed.data<double>();
    std::copy_n(s.data<double>(), c, p);
    std::copy_n(ss.data<double>(), c, p + c);
    p[2 * c] = static_cast<double>(x.numel() / c);
    sum_over_ranks(packed);
    total = p[2 * c];
    RESA_CHECK(total > 1, "[sync_batch_norm] needs more than one value per channel over all ranks, got {} for x {}",
               total, shape_str(x.shape()));
    double* m = mean.data<double>();
    double* is = invstd.data<double>();
    std::vector<double> rm(static_cast<size_t>(c)), rv(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) {
      m[i] = p[i] / total;
      const double var = std::max(p[c + i] / total - m[i] * m[i], 0.0);
      is[i] = 1.0 / std::sqrt(var + eps);
      rm[static_cast<size_t>(i)] = m[i];
      rv[static_cast<size_t>(i)] = var * total / (total - 1);  // unbiased, over the global count
    }
    if (running_mean.defined()) {
      auto old = running_mean.to_vector<double>();
      for (int64_t i = 0; i < c; ++i) rm[i] = (1 - momentum) * old[i] + momentum * rm[i];
      Tensor(running_mean).copy_(from_vector<double>(rm, {c}));  // the handle shares the buffer
    }
    if (running_var.defined()) {
      auto old = running_var.to_vector<double>();
      for (int64_t i = 0; i < c; ++i) rv[i] = (1 - momentum) * old[i] + momentum * rv[i];
      Tensor(running_var).copy_(from_vector<double>(rv, {c}));
    }
  }
  Tensor y = ops::batch_norm_elemt(x.detach(), mean, invstd, weight.defined() ? weight.detach() : Tensor(),
                                   bias.defined() ? bias.detach() : Tensor());
  if (!autograd::any_requires_grad({x, weight, bias})) return y;
  const bool rx = x.requires_grad(), rw = weight.defined() && weight.requires_grad(),
             rb = bias.defined() && bias.requires_grad();
  return autograd::record(y, "sync_batch_norm", {x, weight, bias},
                          [xd = x.detach(), wd = weight.defined() ? weight.detach() : Tensor(), mean, invstd, total, rx,
                           rw, rb, sum_over_ranks](const Tensor& g) {
                            auto [sdy, sdyx] = ops::batch_norm_backward_reduce(g, xd, mean, invstd);
                            std::vector<Tensor> grads(3);
                            // This rank's share of the parameter gradients; the data-parallel gradient average adds the
                            // rest.
                            if (rw) grads[1] = sdyx.to(wd.dtype()).to(wd.device());
                            if (rb) grads[2] = sdy.to(xd.dtype()).to(xd.device());
                            if (rx) {
                              const int64_t c = xd.size(1);
                              Tensor packed = Tensor::empty({2 * c}, DType::Float64);
                              double* p = packed.data<double>();
                              std::copy_n(sdy.data<double>(), c, p);
                              std::copy_n(sdyx.data<double>(), c, p + c);
                              sum_over_ranks(packed);
                              Tensor md = Tensor::empty({c}, DType::Float64), mdx = Tensor::empty({c}, DType::Float64);
                              for (int64_t i = 0; i < c; ++i) {
                                md.data<double>()[i] = p[i] / total;
                                mdx.data<double>()[i] = p[c + i] / total;
                              }
                              grads[0] = ops::batch_norm_backward_elemt(g, xd, mean, invstd, wd, md, mdx);
                            }
                            return grads;
                          });
}

}  // namespace resa
