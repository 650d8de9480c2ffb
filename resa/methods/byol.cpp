#include "resa/methods/byol.h"

#include "resa/autograd/functions.h"
#include "resa/nn/ema.h"
#include "resa/nn/optim/schedule.h"

namespace resa {

Tensor byol_regression_loss(const Tensor& p, const Tensor& z) {
  RESA_CHECK(p.dim() == 2 && p.shape() == z.shape(), "[byol_loss] prediction {} and target {} must be the same (B, e)",
             shape_str(p.shape()), shape_str(z.shape()));
  Tensor cos = sum(mul(l2_normalize(p, 1), l2_normalize(z, 1)), {1});  // (B)
  return rsub(2.0, mul(mean(cos), 2.0));
}

Tensor byol_loss(const Tensor& p0, const Tensor& p1, const Tensor& zt0, const Tensor& zt1) {
  return add(byol_regression_loss(p0, zt1), byol_regression_loss(p1, zt0));
}

BYOL::BYOL(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, BYOLOptions opts)
    : opts_(opts), encoder_(std::move(encoder)), projector_(std::move(projector)) {
  RESA_CHECK(encoder_ && projector_, "[BYOL] encoder and projector are required");
  RESA_CHECK(opts_.ema_base_ >= 0 && opts_.ema_base_ <= 1, "[BYOL] base momentum must lie in [0, 1], got {}",
             opts_.ema_base_);
  RESA_CHECK(opts_.pred_hidden_ > 0, "[BYOL] predictor hidden width must be positive, got {}", opts_.pred_hidden_);
  Generator gen(opts_.seed_ ^ 0xB701B701ull);
  const int64_t e = projector_->out_dim();
  predictor_ = nn::make_byol_predictor(e, opts_.pred_hidden_, e, &gen);
  target_encoder_ = encoder_->clone();
  target_projector_ = projector_->clone();
  for (auto& m : {target_encoder_, target_projector_})
    for (auto& p : m->parameters()) p.requires_grad_(false);
}

std::vector<std::pair<std::string, nn::ModulePtr>> BYOL::modules() const {
  return {{"encoder", encoder_},
          {"projector", projector_},
          {"predictor", predictor_},
          {"teacher_encoder", target_encoder_},
          {"teacher_projector", target_projector_}};
}

MethodOutput BYOL::forward(const std::vector<Tensor>& views, const StepContext& ctx) {
  RESA_CHECK(views.size() >= 2, "[BYOL] needs two views, got {}", views.size());
  std::vector<Tensor> p;
  for (size_t v = 0; v < 2; ++v) p.push_back(predictor_->forward(projector_->forward(encoder_->forward(views[v]))));
  const double m = nn::cosine_momentum(ctx.step, ctx.total_steps, opts_.ema_base_);
  std::vector<Tensor> zt;
  {
    NoGradGuard ng;
    nn::ema_update(*target_encoder_, *encoder_, m);
    nn::ema_update(*target_projector_, *projector_, m);
    for (size_t v = 0; v < 2; ++v)
      zt.push_back(target_projector_->forward(target_encoder_->forward(views[v])).detach());
  }
  MethodOutput out;
  out.loss = byol_loss(p[0], p[1], zt[0], zt[1]);
  out.stats["ema_momentum"] = m;
  return out;
}

}  // namespace resa
