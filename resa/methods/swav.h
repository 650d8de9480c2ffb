// SwAV (Caron et al., 2020): swapped prediction of online cluster codes.
//   scores s_v = norm(z_v) . C^T, with C the (K, e) prototypes (a Linear without bias) whose rows are
//   l2-normalised in place, without gradient, at the start of every step (as the official code does
//   before each forward pass);
//   codes q_v = sinkhorn(s_v, eps 0.05, 3 iterations), no gradient, for the first two views;
//   loss = mean over assigned views i of [ mean over views v != i of CE(target q_i, logits s_v / T) ],
//   T = 0.1; for two views: (CE(q_0, s_1 / T) + CE(q_1, s_0 / T)) / 2.
// Sinkhorn: resa/sinkhorn.h runs exactly the official SwAV `distributed_sinkhorn` on a (B, K) score
// matrix (Q = exp(s / eps) normalised to total 1, then per iteration each prototype's column to 1/K and
// each sample's row to 1/B, finally rows scaled to sum to 1), so it is used as is; the test compares it
// with a transcription of SwAV's function (tests/scripts/gen_methods.py).
// Frozen prototypes: for the first `freeze_iters` steps the prototypes get no gradient (the official
// code sets their .grad to None, so the optimizer skips them, weight decay included); here they enter
// the loss detached, which leaves their .grad undefined and the optimizer skips them the same way.
// Default 313 steps: SwAV's `freeze_prototypes_niters` (one ImageNet epoch at batch 4096; about 1.6
// CIFAR epochs at batch 256).
// CIFAR hyper-parameters: K = 3000 prototypes for CIFAR-10 (use fewer in tests), T = 0.1, eps 0.05,
// 3 Sinkhorn iterations. Not implemented: the feature queue SwAV adds for small batches, and multi-crop
// views beyond what the loader provides (extra views are predicted, never assigned).
#pragma once
#include "resa/methods/method.h"
#include "resa/nn/layers.h"
#include "resa/nn/mlp.h"

namespace resa {

struct SwAVOptions {
  RESA_OPTION(int64_t, prototypes, 3000);   // K
  RESA_OPTION(double, temperature, 0.1);    // T of the swapped prediction
  RESA_OPTION(double, eps, 0.05);           // Sinkhorn temperature
  RESA_OPTION(int64_t, iters, 3);           // Sinkhorn iterations
  RESA_OPTION(int64_t, freeze_iters, 313);  // steps without prototype gradients
  RESA_OPTION(uint64_t, seed, 0);           // of the prototypes' initial weights
};

// z: (B, e) raw projector output, c: (K, e) prototypes -> (B, K) scores norm(z) . c^T (c used as given).
Tensor swav_scores(const Tensor& z, const Tensor& prototypes);
// Sinkhorn codes of (B, K) scores: (B, K), rows sum to 1, detached.
Tensor swav_codes(const Tensor& scores, double eps = 0.05, int64_t iters = 3);
// The swapped prediction: scores, one (B, K) per view (V >= 2); codes, one (B, K) for each of the first
// codes.size() views (1 <= codes.size() <= V), used as constant targets.
Tensor swav_swapped_loss(const std::vector<Tensor>& scores, const std::vector<Tensor>& codes, double temperature);
// Everything above for two views: scores, codes from them, swapped loss.
Tensor swav_loss(const Tensor& z0, const Tensor& z1, const Tensor& prototypes, const SwAVOptions& opts = {});

class SwAV final : public EncoderProjectorMethod {
 public:
  SwAV(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, SwAVOptions opts = {});
  std::string name() const override { return "swav"; }
  // stats["prototypes_frozen"] is 1 while the prototypes get no gradient.
  MethodOutput forward(const std::vector<Tensor>& views, const StepContext& ctx) override;
  std::vector<std::pair<std::string, nn::ModulePtr>> modules() const override {
    return {{"encoder", encoder_}, {"projector", projector_}, {"prototypes", prototypes_}};
  }
  std::vector<nn::ModulePtr> trainable() const override { return {encoder_, projector_, prototypes_}; }
  const SwAVOptions& options() const { return opts_; }
  std::shared_ptr<nn::Linear> prototypes() const { return prototypes_; }

 private:
  SwAVOptions opts_;
  std::shared_ptr<nn::Linear> prototypes_;  // weight: (K, e)
};

}  // namespace resa
