// A self-supervised method: a loss over the encoder and projector outputs of several augmented views,
// with whatever extra networks it needs (an EMA teacher, a predictor, prototypes). The trainer only
// sees this interface, so ReSA and the baselines share the loader, the optimizer and the checkpoints.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "resa/dist/data_parallel.h"
#include "resa/nn/mlp.h"
#include "resa/nn/module.h"

namespace resa {

struct StepContext {
  int64_t step = 0;         // global step, from 0
  int64_t total_steps = 1;  // of the whole run (for schedules such as the EMA momentum)
};

struct MethodOutput {
  Tensor loss;                          // scalar, differentiable w.r.t. the trainable modules
  std::map<std::string, double> stats;  // extra numbers to log (e.g. the EMA momentum)
};

class Method {
 public:
  virtual ~Method() = default;
  virtual std::string name() const = 0;
  // views: one (N, C, H, W) batch per augmented view, on the training device.
  virtual MethodOutput forward(const std::vector<Tensor>& views, const StepContext& ctx) = 0;
  // Every module with its checkpoint prefix ("encoder", "projector", "teacher_encoder", ...).
  virtual std::vector<std::pair<std::string, nn::ModulePtr>> modules() const = 0;
  // The modules whose parameters the optimizer updates.
  virtual std::vector<nn::ModulePtr> trainable() const = 0;
  // The encoder whose features are evaluated (ReSA's momentum variant: the teacher's).
  virtual nn::ModulePtr eval_encoder() const = 0;
  // The projector that goes with eval_encoder() (for the clustering analysis of P0, P1 and Z).
  virtual nn::ModulePtr eval_projector() const = 0;
  // The encoder the optimizer trains. Differs from eval_encoder() only for ReSA's EMA teacher, which
  // lags the online network at short budgets, so both are reported.
  virtual nn::ModulePtr online_encoder() const { return eval_encoder(); }
  // Whether the evaluated encoder is a teacher rather than the online encoder (ReSA's momentum
  // variant): then the trainer saves, evaluates and reports both. BYOL has a target network but is
  // evaluated on its online encoder, so this is false for it.
  bool evaluates_teacher() const { return online_encoder() != eval_encoder(); }

  // Data parallel: the methods whose loss couples the samples of a batch (ReSA's Sinkhorn and similarity
  // targets, SimCLR's negatives, SwAV's Sinkhorn codes, VICReg's variance and covariance) all-gather
  // their outputs over `comm`, so every rank computes the loss of the global batch, as one process with
  // the whole batch would. BYOL's loss is a mean of per-sample terms and needs no gathering (the gradient
  // average over ranks is the global mean). Null or world 1: this process's batch.
  void set_communicator(dist::CommPtr comm) { comm_ = std::move(comm); }

  void train(bool on = true) {
    for (auto& [n, m] : modules()) m->train(on);
  }
  void to(Device d) {
    for (auto& [n, m] : modules()) m->to(d);
  }

 protected:
  bool gathers() const { return comm_ && comm_->world_size() > 1; }
  // t's rows from every rank, in rank order (differentiable), or t itself in a single process.
  Tensor global_batch(const Tensor& t) const { return gathers() ? dist::all_gather(t, comm_) : t; }

  dist::CommPtr comm_;
};

// A method whose networks are one encoder and one projector, trained and evaluated as they are (no
// teacher): SimCLR and VICReg; SwAV adds its prototypes. Holds both, names them for checkpoints, and
// embeds a view through them.
class EncoderProjectorMethod : public Method {
 public:
  std::vector<std::pair<std::string, nn::ModulePtr>> modules() const override {
    return {{"encoder", encoder_}, {"projector", projector_}};
  }
  std::vector<nn::ModulePtr> trainable() const override { return {encoder_, projector_}; }
  nn::ModulePtr eval_encoder() const override { return encoder_; }
  nn::ModulePtr eval_projector() const override { return projector_; }

 protected:
  // `method` names the caller in the error for a missing network.
  EncoderProjectorMethod(const char* method, nn::ModulePtr encoder, std::shared_ptr<nn::Projector> projector)
      : encoder_(std::move(encoder)), projector_(std::move(projector)) {
    RESA_CHECK(encoder_ && projector_, "[{}] encoder and projector are required", method);
  }
  // projector(encoder(x)): the embedding of one view, one view at a time so batch norm sees each view's
  // own statistics.
  Tensor embed(const Tensor& x) const { return projector_->forward(encoder_->forward(x)); }

  nn::ModulePtr encoder_;
  std::shared_ptr<nn::Projector> projector_;
};

}  // namespace resa
