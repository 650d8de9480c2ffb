// BYOL (Grill et al., 2020): an online encoder + projector + predictor regresses the embedding of a
// target network (an EMA of the online encoder + projector) of the other view.
//   loss = [2 - 2 cos(q_0, z'_1)] + [2 - 2 cos(q_1, z'_0)], each averaged over the batch; the sum of the
//   two directions is the paper's symmetrised L + L~ (2 - 2 cos is the MSE of the l2-normalised vectors).
//   predictor q = Linear(e, hidden) - BatchNorm1d - ReLU - Linear(hidden, e) on the projector output.
//   target momentum: m = 1 - (1 - base)(1 + cos(pi k / K)) / 2, base 0.99 for CIFAR (the paper's ImageNet
//   value is 0.996; 0.99 is the common CIFAR setting, e.g. solo-learn's CIFAR config), cosine to 1.
//   The target is updated at the start of each forward pass, i.e. after the previous optimizer step
//   (the paper's order; at step 0 it is still the copy of the online network).
//   Evaluation: the online encoder, as in the paper.
#pragma once
#include "resa/methods/method.h"
#include "resa/nn/mlp.h"

namespace resa {

struct BYOLOptions {
  RESA_OPTION(double, ema_base, 0.99);      // base momentum of the target, cosine to 1
  RESA_OPTION(int64_t, pred_hidden, 4096);  // hidden width of the predictor (the paper's 4096)
  RESA_OPTION(uint64_t, seed, 0);           // of the predictor's initial weights
};

// mean over rows of 2 - 2 cos(p_i, z_i); p, z: (B, e). z is used as given (pass the target's detached
// output); the gradient flows to p (and to z if it requires one).
Tensor byol_regression_loss(const Tensor& p, const Tensor& z);
// The symmetrised loss: byol_regression_loss(p0, zt1) + byol_regression_loss(p1, zt0).
Tensor byol_loss(const Tensor& p0, const Tensor& p1, const Tensor& zt0, const Tensor& zt1);

class BYOL final : public Method {
 public:
  // The target starts as a deep copy of the online encoder and projector.
  BYOL(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, BYOLOptions opts = {});
  std::string name() const override { return "byol"; }
  // Uses the first two views; stats["ema_momentum"] is the momentum of this step's target update.
  MethodOutput forward(const std::vector<Tensor>& views, const StepContext& ctx) override;
  std::vector<std::pair<std::string, nn::ModulePtr>> modules() const override;
  std::vector<nn::ModulePtr> trainable() const override { return {encoder_, projector_, predictor_}; }
  nn::ModulePtr eval_encoder() const override { return encoder_; }
  nn::ModulePtr eval_projector() const override { return projector_; }
  const BYOLOptions& options() const { return opts_; }
  nn::ModulePtr predictor() const { return predictor_; }
  nn::ModulePtr target_encoder() const { return target_encoder_; }
  nn::ModulePtr target_projector() const { return target_projector_; }

 private:
  BYOLOptions opts_;
  nn::ModulePtr encoder_;
  std::shared_ptr<nn::Projector> projector_;
  nn::ModulePtr predictor_;
  nn::ModulePtr target_encoder_, target_projector_;
};

}  // namespace resa
