#include "resa/methods/swav.h"

#include "resa/autograd/functions.h"
#include "resa/sinkhorn.h"

namespace resa {

Tensor swav_scores(const Tensor& z, const Tensor& prototypes) {
  RESA_CHECK(z.dim() == 2 && prototypes.dim() == 2 && z.size(1) == prototypes.size(1),
             "[swav_scores] embeddings {} and prototypes {} must be (B, e) and (K, e)", shape_str(z.shape()),
             shape_str(prototypes.shape()));
  return matmul(l2_normalize(z, 1), prototypes.t());
}

Tensor swav_codes(const Tensor& scores, double eps, int64_t iters) {
  return sinkhorn(scores, SinkhornOptions().eps(eps).iters(iters));
}

Tensor swav_swapped_loss(const std::vector<Tensor>& scores, const std::vector<Tensor>& codes, double temperature) {
  const size_t nv = scores.size(), na = codes.size();
  RESA_CHECK(nv >= 2 && na >= 1 && na <= nv, "[swav_loss] needs V >= 2 score matrices and 1..V codes, got {} and {}",
             nv, na);
  RESA_CHECK(temperature > 0, "[swav_loss] temperature must be > 0, got {}", temperature);
  for (size_t v = 0; v < nv; ++v)
    RESA_CHECK(scores[v].dim() == 2 && scores[v].shape() == scores[0].shape(),
               "[swav_loss] scores of view {} are {}, view 0 {}: all must be the same (B, K)", v,
               shape_str(scores[v].shape()), shape_str(scores[0].shape()));
  for (size_t i = 0; i < na; ++i)
    RESA_CHECK(codes[i].shape() == scores[0].shape(), "[swav_loss] codes of view {} are {}, scores {}", i,
               shape_str(codes[i].shape()), shape_str(scores[0].shape()));
  Tensor loss;
  for (size_t i = 0; i < na; ++i) {
    Tensor q = codes[i].detach(), sub;
    for (size_t v = 0; v < nv; ++v) {
      if (v == i) continue;
      Tensor ce = cross_entropy_soft(mul(scores[v], 1.0 / temperature), q);
      sub = sub.defined() ? add(sub, ce) : ce;
    }
    sub = mul(sub, 1.0 / static_cast<double>(nv - 1));
    loss = loss.defined() ? add(loss, sub) : sub;
  }
  return mul(loss, 1.0 / static_cast<double>(na));
}

Tensor swav_loss(const Tensor& z0, const Tensor& z1, const Tensor& prototypes, const SwAVOptions& opts) {
  std::vector<Tensor> s{swav_scores(z0, prototypes), swav_scores(z1, prototypes)};
  std::vector<Tensor> q{swav_codes(s[0], opts.eps_, opts.iters_), swav_codes(s[1], opts.eps_, opts.iters_)};
  return swav_swapped_loss(s, q, opts.temperature_);
}

SwAV::SwAV(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, SwAVOptions opts)
    : EncoderProjectorMethod("SwAV", std::move(encoder), std::move(projector)), opts_(opts) {
  RESA_CHECK(opts_.prototypes_ > 0, "[SwAV] number of prototypes must be positive, got {}", opts_.prototypes_);
  RESA_CHECK(opts_.temperature_ > 0 && opts_.eps_ > 0 && opts_.iters_ >= 0 && opts_.freeze_iters_ >= 0,
             "[SwAV] need temperature > 0 ({}), eps > 0 ({}), iters >= 0 ({}), freeze_iters >= 0 ({})",
             opts_.temperature_, opts_.eps_, opts_.iters_, opts_.freeze_iters_);
  Generator gen(opts_.seed_ ^ 0x5EA75EA7ull);
  prototypes_ = std::make_shared<nn::Linear>(projector_->out_dim(), opts_.prototypes_, /*bias=*/false, &gen);
}

MethodOutput SwAV::forward(const std::vector<Tensor>& views, const StepContext& ctx) {
  RESA_CHECK(views.size() >= 2, "[SwAV] needs at least two views, got {}", views.size());
  Tensor& w = prototypes_->weight();
  {
    NoGradGuard ng;
    w.copy_(l2_normalize(w.detach(), 1));
  }
  const bool frozen = ctx.step < opts_.freeze_iters_;
  Tensor c = frozen ? w.detach() : w;
  std::vector<Tensor> s, q;
  // Data parallel: the scores of the global batch, so the Sinkhorn codes and the loss are the global
  // batch's (Method::global_batch).
  for (const auto& x : views) s.push_back(global_batch(swav_scores(embed(x), c)));
  for (size_t i = 0; i < 2; ++i) q.push_back(swav_codes(s[i], opts_.eps_, opts_.iters_));
  MethodOutput out;
  out.loss = swav_swapped_loss(s, q, opts_.temperature_);
  out.stats["prototypes_frozen"] = frozen ? 1.0 : 0.0;
  return out;
}

}  // namespace resa
