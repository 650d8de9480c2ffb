// VICReg (Bardes et al., 2022): variance-invariance-covariance regularisation of the two embeddings.
//   invariance  s(Z, Z') = mean over all elements of (Z - Z')^2                      (F.mse_loss)
//   variance    v(Z) = mean_j relu(1 - sqrt(Var(Z_:,j) + 1e-4)), Var unbiased over the batch
//   covariance  c(Z) = sum_{i != j} C(Z)_ij^2 / d,  C(Z) = (Z - mean)^T (Z - mean) / (B - 1)
//   loss = 25 s(Z, Z') + 25 [v(Z) + v(Z')] + 1 [c(Z) + c(Z')]
// This is the paper's equation (one variance and one covariance term per view, summed). The official
// ImageNet code averages the two variance terms instead (half the weight on v); set
// variance_mean_over_views(true) for that. CIFAR hyper-parameters: 25 / 25 / 1 (the paper's values,
// also the usual CIFAR ones), no teacher, no predictor. The paper trains with LARS; with plain SGD at a
// high rate the covariance term (quartic in Z) can diverge (seen on a tiny model at lr 0.05).
#pragma once
#include "resa/methods/method.h"
#include "resa/nn/mlp.h"

namespace resa {

struct VICRegOptions {
  RESA_OPTION(double, sim, 25.0);  // lambda, invariance
  RESA_OPTION(double, var, 25.0);  // mu, variance
  RESA_OPTION(double, cov, 1.0);   // nu, covariance
  RESA_OPTION(double, eps, 1e-4);  // inside the square root of the variance
  RESA_OPTION(bool, variance_mean_over_views, false);
};

struct VICRegLossResult {
  Tensor loss;        // the weighted sum, differentiable
  Tensor invariance;  // s(Z, Z'), unweighted
  Tensor variance;    // v(Z) + v(Z') (or their mean), unweighted
  Tensor covariance;  // c(Z) + c(Z'), unweighted
};

// z0, z1: (B, e), B >= 2.
VICRegLossResult vicreg_loss(const Tensor& z0, const Tensor& z1, const VICRegOptions& opts = {});

class VICReg final : public EncoderProjectorMethod {
 public:
  VICReg(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, VICRegOptions opts = {});
  std::string name() const override { return "vicreg"; }
  // stats: the three unweighted terms.
  MethodOutput forward(const std::vector<Tensor>& views, const StepContext& ctx) override;
  const VICRegOptions& options() const { return opts_; }

 private:
  VICRegOptions opts_;
};

}  // namespace resa
