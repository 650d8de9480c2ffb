// SimCLR (Chen et al., 2020): NT-Xent over the 2B embeddings of two views. Each embedding's positive
// is the same image's other view; the other 2B - 2 embeddings are its negatives; its similarity with
// itself is left out of the softmax (not merely masked to a large negative: the column is dropped).
// CIFAR hyper-parameters: temperature 0.2 (the usual CIFAR setting; SimCLR's own CIFAR appendix
// sweeps 0.1 / 0.5 / 1.0), shared encoder + projector, no teacher.
#pragma once
#include "resa/methods/method.h"
#include "resa/nn/mlp.h"

namespace resa {

struct SimCLROptions {
  RESA_OPTION(double, temperature, 0.2);
};

// z0, z1: (B, e) raw projector outputs of the two views (l2-normalised here, so the gradient includes
// the normalisation). With z = [z0; z1] normalised, s = z z^T / T:
//   loss = mean over the 2B rows i of  -log( exp(s[i, p(i)]) / sum_{j != i} exp(s[i, j]) ),  p(i) = i +- B.
Tensor simclr_loss(const Tensor& z0, const Tensor& z1, double temperature = 0.2);

class SimCLR final : public EncoderProjectorMethod {
 public:
  SimCLR(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, SimCLROptions opts = {});
  std::string name() const override { return "simclr"; }
  // Uses the first two views.
  MethodOutput forward(const std::vector<Tensor>& views, const StepContext& ctx) override;
  const SimCLROptions& options() const { return opts_; }

 private:
  SimCLROptions opts_;
};

}  // namespace resa
