#include "resa/sinkhorn.h"

#include <cmath>

#include "resa/autograd/functions.h"

namespace resa {

Tensor sinkhorn(const Tensor& scores, const SinkhornOptions& opts) {
  RESA_CHECK(scores.dim() == 2, "[sinkhorn] scores must be 2-D (m, k), got {}", shape_str(scores.shape()));
  RESA_CHECK(is_floating(scores.dtype()), "[sinkhorn] scores {} must be floating point, got {}",
             shape_str(scores.shape()), dtype_name(scores.dtype()));
  RESA_CHECK(opts.eps_ > 0, "[sinkhorn] eps must be > 0, got {} (scores {})", opts.eps_, shape_str(scores.shape()));
  RESA_CHECK(opts.iters_ >= 0, "[sinkhorn] iters must be >= 0, got {} (scores {})", opts.iters_,
             shape_str(scores.shape()));
  const int64_t m = scores.size(0), k = scores.size(1);
  RESA_CHECK(m > 0 && k > 0, "[sinkhorn] empty scores {}", shape_str(scores.shape()));

  NoGradGuard no_grad;
  const double log_m = std::log(static_cast<double>(m)), log_k = std::log(static_cast<double>(k));
  // log Q, with Q = exp(S / eps) / sum(exp(S / eps)).
  Tensor lq = mul(scores.detach(), 1.0 / opts.eps_);
  lq = sub(lq, logsumexp(lq.reshape({-1}), 0));
  for (int64_t it = 0; it < opts.iters_; ++it) {
    lq = sub(lq, add(logsumexp(lq, 0, true), log_k));  // columns sum to 1/k
    lq = sub(lq, add(logsumexp(lq, 1, true), log_m));  // rows sum to 1/m
  }
  lq = sub(lq, logsumexp(lq, 1, true));  // rows sum to 1
  return exp(lq).detach();
}

}  // namespace resa
