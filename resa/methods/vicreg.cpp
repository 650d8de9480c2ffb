#include "resa/methods/vicreg.h"

#include "resa/autograd/functions.h"

namespace resa {

namespace {
// mean_j relu(1 - sqrt(var_j + eps)) of z: (B, e).
Tensor variance_term(const Tensor& z, double eps) {
  return mean(relu(rsub(1.0, sqrt(add(var(z, {0}, /*unbiased=*/true), eps)))));
}
// sum of the squared off-diagonal entries of the (e, e) covariance of z, / e.
Tensor covariance_term(const Tensor& z, const Tensor& off_diag) {
  const int64_t b = z.size(0), e = z.size(1);
  Tensor zc = sub(z, mean(z, {0}, true));
  Tensor c = mul(matmul(zc.t(), zc), 1.0 / static_cast<double>(b - 1));
  return mul(sum(mul(pow(c, 2.0), off_diag)), 1.0 / static_cast<double>(e));
}
}  // namespace

VICRegLossResult vicreg_loss(const Tensor& z0, const Tensor& z1, const VICRegOptions& opts) {
  RESA_CHECK(z0.dim() == 2 && z0.shape() == z1.shape() && z0.size(0) >= 2,
             "[vicreg_loss] views must be two (B, e) tensors with B >= 2, got {} and {}", shape_str(z0.shape()),
             shape_str(z1.shape()));
  RESA_CHECK(opts.eps_ >= 0, "[vicreg_loss] eps must be >= 0, got {}", opts.eps_);
  const int64_t e = z0.size(1);
  // 1 off the diagonal, 0 on it (a constant mask: the diagonal gets exactly no gradient).
  std::vector<double> mask(static_cast<size_t>(e * e), 1.0);
  for (int64_t i = 0; i < e; ++i) mask[static_cast<size_t>(i * e + i)] = 0.0;
  Tensor off = from_vector<double>(mask, {e, e}).to(z0.dtype()).to(z0.device());
  VICRegLossResult r;
  r.invariance = mse_loss(z0, z1);
  r.variance = add(variance_term(z0, opts.eps_), variance_term(z1, opts.eps_));
  if (opts.variance_mean_over_views_) r.variance = mul(r.variance, 0.5);
  r.covariance = add(covariance_term(z0, off), covariance_term(z1, off));
  r.loss = add(add(mul(r.invariance, opts.sim_), mul(r.variance, opts.var_)), mul(r.covariance, opts.cov_));
  return r;
}

VICReg::VICReg(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, VICRegOptions opts)
    : EncoderProjectorMethod("VICReg", std::move(encoder), std::move(projector)), opts_(opts) {}

MethodOutput VICReg::forward(const std::vector<Tensor>& views, const StepContext&) {
  RESA_CHECK(views.size() >= 2, "[VICReg] needs two views, got {}", views.size());
  // Data parallel: variance and covariance over the global batch (Method::global_batch).
  Tensor z0 = global_batch(embed(views[0]));
  Tensor z1 = global_batch(embed(views[1]));
  auto r = vicreg_loss(z0, z1, opts_);
  MethodOutput out;
  out.loss = r.loss;
  out.stats["invariance"] = r.invariance.item();
  out.stats["variance"] = r.variance.item();
  out.stats["covariance"] = r.covariance.item();
  return out;
}

}  // namespace resa
