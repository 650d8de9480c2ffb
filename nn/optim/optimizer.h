// Optimizers over parameter groups, with PyTorch's update rules (torch.optim.SGD, Adam, AdamW) and
// LARS as used in the SSL literature. Updates are in place under NoGradGuard, written with tensor ops
// so they run on any device. Per-parameter state (momentum buffers, Adam moments, step counts) is
// exposed as named tensors so a checkpoint can hold it.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "resa/core/tensor.h"
#include "resa/nn/module.h"

namespace resa::nn {

// One group of parameters and its hyper-parameters (each optimizer reads the fields it uses).
struct ParamGroup {
  std::vector<Tensor> params;
  std::vector<std::string> names;  // optional, for messages
  double lr = 0.1;
  double weight_decay = 0.0;
  double momentum = 0.0;                          // SGD, LARS
  double dampening = 0.0;                         // SGD
  bool nesterov = false;                          // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
  double trust_coefficient = 0.001;               // LARS eta
  bool lars_exclude = false;                      // LARS: plain SGD step, no weight decay, for this group

  ParamGroup& set_lr(double v) { return set_field(*this, lr, v); }
  ParamGroup& set_weight_decay(double v) { return set_field(*this, weight_decay, v); }
  ParamGroup& set_momentum(double v) { return set_field(*this, momentum, v); }
  ParamGroup& set_dampening(double v) { return set_field(*this, dampening, v); }
  ParamGroup& set_nesterov(bool v) { return set_field(*this, nesterov, v); }
  ParamGroup& set_betas(double b1, double b2) {
    beta1 = b1;
    beta2 = b2;
    return *this;
  }
  ParamGroup& set_eps(double v) { return set_field(*this, eps, v); }
  ParamGroup& set_trust_coefficient(double v) { return set_field(*this, trust_coefficient, v); }
  ParamGroup& set_lars_exclude(bool v) { return set_field(*this, lars_exclude, v); }
};

// A group holding every parameter of `m` (names kept) with the given options as a template.
ParamGroup make_group(const Module& m, ParamGroup opts = {});
// Two groups as in the SSL recipes: weights (dim > 1) with `opts`, and biases / BN parameters
// (dim <= 1) with weight_decay 0 and lars_exclude on.
std::vector<ParamGroup> split_decay_groups(const Module& m, const ParamGroup& opts);

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamGroup> groups, std::string name);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Sets the learning rate of every group (schedules call this each step).
  void set_lr(double lr);

  // State as named tensors: "<group>.<index>.<key>" (e.g. "0.3.momentum_buffer", "1.0.exp_avg").
  std::map<std::string, Tensor> state_dict() const;
  // Restores state saved by the same optimizer over parameters of the same shapes (copied onto each
  // parameter's device); keys for parameters that are absent or shapes that differ are errors.
  void load_state_dict(const std::map<std::string, Tensor>& sd);

 protected:
  // State of parameter i of group g, by key (created empty on first use).
  std::map<std::string, Tensor>& state(size_t g, size_t i) { return state_[g][i]; }

  std::string name_;
  std::vector<ParamGroup> groups_;
  std::vector<std::vector<std::map<std::string, Tensor>>> state_;
};

// torch.optim.SGD: d = g + wd p; buf = d (first step) else momentum buf + (1 - dampening) d;
// d = nesterov ? d + momentum buf : buf; p -= lr d.
class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<ParamGroup> groups);
  void step() override;
};

// LARS (You et al. 2017) in the form used by SimCLR / BYOL / Barlow Twins. For a parameter not excluded:
//   d = g + wd p;  q = (||p|| > 0 and ||d|| > 0) ? eta ||p|| / ||d|| : 1;  d = q d
// for an excluded one (lars_exclude group, or any 1-D parameter when exclude_1d): d = g (no decay, q = 1).
// Then  mu = momentum mu + d  (mu starts at 0);  p -= lr mu.
class LARS : public Optimizer {
 public:
  explicit LARS(std::vector<ParamGroup> groups, bool exclude_1d = true);
  void step() override;

 private:
  bool exclude_1d_;
};

// torch.optim.Adam (decoupled = false: g += wd p) and AdamW (decoupled = true: p *= 1 - lr wd):
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<ParamGroup> groups, bool decoupled_weight_decay = false);
  void step() override;

 private:
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<ParamGroup> groups) : Adam(std::move(groups), true) {}
};

}  // namespace resa::nn
