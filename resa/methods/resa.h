// ReSA (self-assignment): the encodings of view 0 give a Sinkhorn assignment A, the soft target of a
// cross-entropy on the similarities of the embeddings across views (resa/methods/resa_loss.h).
//   momentum (default, the official CIFAR recipe): a teacher encoder + projector, an EMA of the online
//     ones with momentum 0.996 -> 1 on a cosine schedule, updated each step before its forward pass;
//     A = sinkhorn(norm(H_0) . norm(H'_0)^T); pairs (online view q, teacher view v), q != v.
//   no-momentum: A = sinkhorn(norm(H_0) . norm(H_0)^T) from the online encodings; pairs q < v.
#pragma once
#include "resa/dist/communicator.h"
#include "resa/methods/method.h"
#include "resa/methods/resa_loss.h"
#include "resa/nn/mlp.h"

namespace resa {

struct ReSAOptions {
  RESA_OPTION(bool, momentum_teacher, true);
  RESA_OPTION(double, ema_base, 0.996);
  RESA_OPTION(ReSALossOptions, loss, {});
};

class ReSA final : public Method {
 public:
  // The teacher starts as a deep copy of the online encoder and projector.
  ReSA(nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector, ReSAOptions opts = {});
  std::string name() const override { return opts_.momentum_teacher_ ? "resa" : "resa-no-momentum"; }
  MethodOutput forward(const std::vector<Tensor>& views, const StepContext& ctx) override;
  std::vector<std::pair<std::string, nn::ModulePtr>> modules() const override;
  std::vector<nn::ModulePtr> trainable() const override { return {encoder_, projector_}; }
  nn::ModulePtr eval_encoder() const override { return teacher_encoder_ ? teacher_encoder_ : encoder_; }
  nn::ModulePtr eval_projector() const override { return teacher_projector_ ? teacher_projector_ : projector_; }
  nn::ModulePtr online_encoder() const override { return encoder_; }
  const ReSAOptions& options() const { return opts_; }

 private:
  ReSAOptions opts_;
  nn::ModulePtr encoder_;
  std::shared_ptr<nn::Projector> projector_;
  nn::ModulePtr teacher_encoder_, teacher_projector_;  // null in the no-momentum variant
};

}  // namespace resa
