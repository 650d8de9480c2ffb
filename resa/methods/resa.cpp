#include "resa/methods/resa.h"

#include "resa/autograd/functions.h"
#include "resa/dist/data_parallel.h"
#include "resa/nn/ema.h"
#include "resa/nn/optim/schedule.h"

namespace resa {

namespace {
// teacher_p = m * teacher_p + (1 - m) * student_p over parameters only. The teacher's batch-norm
// statistics are its own, updated by its own forward passes in training mode, as in the official code.
void ema_parameters(nn::Module& teacher, const nn::Module& student, double m) {
  NoGradGuard ng;
  auto tp = teacher.named_parameters(), sp = student.named_parameters();
  RESA_CHECK(tp.size() == sp.size(), "[ReSA] teacher has {} parameters, student {}", tp.size(), sp.size());
  for (size_t i = 0; i < tp.size(); ++i) {
    RESA_CHECK(tp[i].first == sp[i].first, "[ReSA] teacher parameter {} does not match {}", tp[i].first, sp[i].first);
    nn::ema_tensor(tp[i].second, sp[i].second, m);
  }
}
}  // namespace

ReSA::ReSA(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, ReSAOptions opts)
    : opts_(std::move(opts)), encoder_(std::move(encoder)), projector_(std::move(projector)) {
  RESA_CHECK(encoder_ && projector_, "[ReSA] encoder and projector are required");
  if (opts_.momentum_teacher_) {
    teacher_encoder_ = encoder_->clone();
    teacher_projector_ = projector_->clone();
    for (auto& m : {teacher_encoder_, teacher_projector_})
      for (auto& p : m->parameters()) p.requires_grad_(false);
  }
}

std::vector<std::pair<std::string, nn::ModulePtr>> ReSA::modules() const {
  std::vector<std::pair<std::string, nn::ModulePtr>> out{{"encoder", encoder_}, {"projector", projector_}};
  if (teacher_encoder_) {
    out.emplace_back("teacher_encoder", teacher_encoder_);
    out.emplace_back("teacher_projector", teacher_projector_);
  }
  return out;
}

MethodOutput ReSA::forward(const std::vector<Tensor>& views, const StepContext& ctx) {
  RESA_CHECK(views.size() >= 2, "[ReSA] needs at least two views, got {}", views.size());
  // Online network on every view (separately, so batch norm sees one view at a time).
  std::vector<Tensor> h, z;
  for (const auto& x : views) {
    h.push_back(encoder_->forward(x));
    z.push_back(projector_->forward(h.back()));
  }
  // Data parallel: the global batch of every tensor the loss reads (the official FullGather). The
  // encodings only feed the assignment, which has no gradient, so they are gathered detached.
  Tensor h0 = gathers() ? global_batch(h[0].detach()) : h[0];
  for (auto& zv : z) zv = global_batch(zv);
  MethodOutput out;
  if (!opts_.momentum_teacher_) {
    out.loss = resa_loss_momentum_free(h0, z, opts_.loss_).loss;
    return out;
  }
  // Teacher: EMA update first, then its forward on the first two views, without gradient.
  const double m = nn::cosine_momentum(ctx.step, ctx.total_steps, opts_.ema_base_);
  std::vector<Tensor> zt;
  Tensor h0t;
  {
    NoGradGuard ng;
    ema_parameters(*teacher_encoder_, *encoder_, m);
    ema_parameters(*teacher_projector_, *projector_, m);
    for (size_t v = 0; v < 2; ++v) {
      Tensor ht = teacher_encoder_->forward(views[v]);
      if (v == 0) h0t = ht;
      zt.push_back(teacher_projector_->forward(ht));
    }
  }
  h0t = global_batch(h0t);
  for (auto& t : zt) t = global_batch(t);
  out.loss = resa_loss(h0, h0t, z, zt, opts_.loss_).loss;
  out.stats["ema_momentum"] = m;
  return out;
}

}  // namespace resa
