#include "resa/methods/simclr.h"

#include "resa/autograd/functions.h"

namespace resa {

Tensor simclr_loss(const Tensor& z0, const Tensor& z1, double temperature) {
  RESA_CHECK(z0.dim() == 2 && z0.shape() == z1.shape() && z0.size(0) >= 2,
             "[simclr_loss] views must be two (B, e) tensors with B >= 2, got {} and {}", shape_str(z0.shape()),
             shape_str(z1.shape()));
  RESA_CHECK(temperature > 0, "[simclr_loss] temperature must be > 0, got {} (z {})", temperature,
             shape_str(z0.shape()));
  const int64_t b = z0.size(0), n = 2 * b;
  Tensor z = l2_normalize(cat({z0, z1}, 0), 1);         // (2B, e)
  Tensor s = mul(matmul(z, z.t()), 1.0 / temperature);  // (2B, 2B)
  // Row i keeps the columns j != i, in order; the positive i +- B then sits at column p - (p > i).
  std::vector<int64_t> cols(static_cast<size_t>(n * (n - 1))), labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = 0;
    for (int64_t j = 0; j < n; ++j)
      if (j != i) cols[static_cast<size_t>(i * (n - 1) + k++)] = j;
    const int64_t p = (i + b) % n;
    labels[static_cast<size_t>(i)] = p > i ? p - 1 : p;
  }
  Tensor index = from_vector<int64_t>(cols, {n, n - 1}).to(z0.device());
  Tensor logits = gather(s, 1, index);  // (2B, 2B - 1)
  return cross_entropy(logits, from_vector<int64_t>(labels, {n}).to(z0.device()));
}

SimCLR::SimCLR(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, SimCLROptions opts)
    : EncoderProjectorMethod("SimCLR", std::move(encoder), std::move(projector)), opts_(opts) {
  RESA_CHECK(opts_.temperature_ > 0, "[SimCLR] temperature must be > 0, got {}", opts_.temperature_);
}

MethodOutput SimCLR::forward(const std::vector<Tensor>& views, const StepContext&) {
  RESA_CHECK(views.size() >= 2, "[SimCLR] needs two views, got {}", views.size());
  // Data parallel: the negatives are the global batch's (Method::global_batch).
  Tensor z0 = global_batch(embed(views[0]));
  Tensor z1 = global_batch(embed(views[1]));
  MethodOutput out;
  out.loss = simclr_loss(z0, z1, opts_.temperature_);
  return out;
}

}  // namespace resa
