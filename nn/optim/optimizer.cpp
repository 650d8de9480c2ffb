#include "resa/nn/optim/optimizer.h"

#include <cmath>

#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/autograd/reduce.h"
#include "resa/ops/optim.h"

namespace resa::nn {

ParamGroup make_group(const Module& m, ParamGroup opts) {
  opts.params.clear();
  opts.names.clear();
  for (auto& [n, p] : m.named_parameters()) {
    if (!p.requires_grad()) continue;
    opts.params.push_back(p);
    opts.names.push_back(n);
  }
  return opts;
}

std::vector<ParamGroup> split_decay_groups(const Module& m, const ParamGroup& opts) {
  ParamGroup w = opts, b = opts;
  w.params.clear(), w.names.clear(), b.params.clear(), b.names.clear();
  b.weight_decay = 0.0;
  b.lars_exclude = true;
  for (auto& [n, p] : m.named_parameters()) {
    if (!p.requires_grad()) continue;
    ParamGroup& g = p.dim() > 1 ? w : b;
    g.params.push_back(p);
    g.names.push_back(n);
  }
  return {w, b};
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, std::string name)
    : name_(std::move(name)), groups_(std::move(groups)) {
  RESA_CHECK(!groups_.empty(), "[{}] no parameter groups", name_);
  for (size_t g = 0; g < groups_.size(); ++g) {
    auto& grp = groups_[g];
    RESA_CHECK(grp.names.empty() || grp.names.size() == grp.params.size(),
               "[{}] group {} has {} names for {} parameters", name_, g, grp.names.size(), grp.params.size());
    RESA_CHECK(grp.lr >= 0 && grp.weight_decay >= 0 && grp.momentum >= 0,
               "[{}] group {}: negative lr, weight decay or momentum", name_, g);
    for (auto& p : grp.params)
      RESA_CHECK(p.defined() && is_floating(p.dtype()), "[{}] group {} holds an undefined or non-float parameter",
                 name_, g);
  }
  state_.resize(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) state_[g].resize(groups_[g].params.size());
}

void Optimizer::zero_grad() {
  for (auto& g : groups_)
    for (auto& p : g.params) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  for (auto& g : groups_) g.lr = lr;
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  for (size_t g = 0; g < state_.size(); ++g)
    for (size_t i = 0; i < state_[g].size(); ++i)
      for (auto& [k, t] : state_[g][i]) out[fmt::format("{}.{}.{}", g, i, k)] = t.detach();
  return out;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& sd) {
  NoGradGuard ng;
  for (auto& s : state_)
    for (auto& m : s) m.clear();
  for (auto& [key, t] : sd) {
    size_t g = 0, i = 0;
    int consumed = 0;
    RESA_CHECK(std::sscanf(key.c_str(), "%zu.%zu.%n", &g, &i, &consumed) == 2 && consumed > 0,
               "[{}] state key '{}' is not <group>.<index>.<name>", name_, key);
    RESA_CHECK(g < groups_.size() && i < groups_[g].params.size(),
               "[{}] state key '{}' names a parameter that does not exist ({} groups)", name_, key, groups_.size());
    std::string k = key.substr(static_cast<size_t>(consumed));
    const Tensor& p = groups_[g].params[i];
    Tensor v = t.detach().to(p.device());
    if (k != "step") {
      RESA_CHECK(v.shape() == p.shape(), "[{}] state '{}' has shape {}, the parameter has {}", name_, key,
                 shape_str(v.shape()), shape_str(p.shape()));
      v = v.to(p.dtype());
    }
    state_[g][i][k] = v.clone();
  }
}

namespace {
// p <- value, in place, keeping the handle.
void assign(Tensor& p, const Tensor& value) { p.copy_(value); }

// One fused pass for p, its gradient g and its momentum buffer (kept in `st`); false when the tensors
// do not qualify (ops::sgd_fusable), and then nothing has changed.
bool sgd_step_fused(const ParamGroup& grp, Tensor& p, const Tensor& g, std::map<std::string, Tensor>& st) {
  Tensor buf;
  bool first = false;
  if (grp.momentum != 0) {
    auto it = st.find("momentum_buffer");
    if (it != st.end()) buf = it->second;
    first = !buf.defined();
    if (first && p.device().is_cpu()) buf = Tensor::empty(p.shape(), p.dtype(), p.device());
  }
  if (!ops::sgd_fusable(p, {&g, &buf})) return false;
  if (first) st["momentum_buffer"] = buf;
  return ops::sgd_update(p, g, buf, {grp.lr, grp.weight_decay, grp.momentum, grp.dampening, grp.nesterov}, first);
}
}  // namespace

SGD::SGD(std::vector<ParamGroup> groups) : Optimizer(std::move(groups), "SGD") {
  for (auto& g : groups_)
    RESA_CHECK(!g.nesterov || (g.momentum > 0 && g.dampening == 0),
               "[SGD] nesterov needs momentum > 0 and dampening 0 (got momentum {}, dampening {})", g.momentum,
               g.dampening);
}

void SGD::step() {
  NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& grp = groups_[gi];
    for (size_t i = 0; i < grp.params.size(); ++i) {
      Tensor& p = grp.params[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (sgd_step_fused(grp, p, g, state(gi, i))) continue;
      Tensor d = g.detach();
      if (grp.weight_decay != 0) d = d + p.detach() * grp.weight_decay;
      if (grp.momentum != 0) {
        auto& st = state(gi, i);
        auto it = st.find("momentum_buffer");
        Tensor buf;
        if (it == st.end()) {
          buf = d.clone();
          st["momentum_buffer"] = buf;
        } else {
          buf = it->second;
          assign(buf, buf * grp.momentum + d * (1.0 - grp.dampening));
        }
        d = grp.nesterov ? d + buf * grp.momentum : buf;
      }
      assign(p, p.detach() - d * grp.lr);
    }
  }
}

LARS::LARS(std::vector<ParamGroup> groups, bool exclude_1d)
    : Optimizer(std::move(groups), "LARS"), exclude_1d_(exclude_1d) {}

void LARS::step() {
  NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& grp = groups_[gi];
    for (size_t i = 0; i < grp.params.size(); ++i) {
      Tensor& p = grp.params[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      Tensor d = g.detach();
      bool excluded = grp.lars_exclude || (exclude_1d_ && p.dim() <= 1);
      if (!excluded) {
        Tensor pd = p.detach();
        if (grp.weight_decay != 0) d = d + pd * grp.weight_decay;
        // The trust ratio stays a tensor (no host sync on a GPU).
        Tensor pn = norm(pd), dn = norm(d);
        Tensor zero = zeros({}, TensorOptions().dtype(p.dtype()).device(p.device()));
        Tensor one = ones({}, TensorOptions().dtype(p.dtype()).device(p.device()));
        Tensor ratio = pn * grp.trust_coefficient /
                       maximum(dn, full({}, 1e-30, TensorOptions().dtype(p.dtype()).device(p.device())));
        Tensor q = where(gt(pn, zero), where(gt(dn, zero), ratio, one), one);
        d = d * q;
      }
      auto& st = state(gi, i);
      auto it = st.find("momentum_buffer");
      if (it == st.end()) {
        st["momentum_buffer"] = zeros_like(p);
        it = st.find("momentum_buffer");
      }
      Tensor& mu = it->second;
      assign(mu, mu * grp.momentum + d);
      assign(p, p.detach() - mu * grp.lr);
    }
  }
}

Adam::Adam(std::vector<ParamGroup> groups, bool decoupled)
    : Optimizer(std::move(groups), decoupled ? "AdamW" : "Adam"), decoupled_(decoupled) {
  for (auto& g : groups_)
    RESA_CHECK(g.beta1 >= 0 && g.beta1 < 1 && g.beta2 >= 0 && g.beta2 < 1 && g.eps >= 0,
               "[{}] betas must lie in [0, 1) and eps >= 0 (got {}, {}, {})", name_, g.beta1, g.beta2, g.eps);
}

void Adam::step() {
  NoGradGuard ng;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& grp = groups_[gi];
    for (size_t i = 0; i < grp.params.size(); ++i) {
      Tensor& p = grp.params[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      Tensor d = g.detach();
      auto& st = state(gi, i);
      if (!st.count("step")) {
        st["step"] = zeros({}, TensorOptions().dtype(DType::Float64));
        st["exp_avg"] = zeros_like(p);
        st["exp_avg_sq"] = zeros_like(p);
      }
      // The step count lives on the host (it is a scalar used in host arithmetic).
      Tensor& step_t = st["step"];
      if (!step_t.device().is_cpu() || step_t.dtype() != DType::Float64) step_t = step_t.to(kCPU).to(DType::Float64);
      double t = step_t.item() + 1;
      step_t.fill_(t);
      if (grp.weight_decay != 0) {
        if (decoupled_)
          assign(p, p.detach() * (1.0 - grp.lr * grp.weight_decay));
        else
          d = d + p.detach() * grp.weight_decay;
      }
      Tensor& m = st["exp_avg"];
      Tensor& v = st["exp_avg_sq"];
      assign(m, m * grp.beta1 + d * (1.0 - grp.beta1));
      assign(v, v * grp.beta2 + d * d * (1.0 - grp.beta2));
      double bc1 = 1.0 - std::pow(grp.beta1, t), bc2 = 1.0 - std::pow(grp.beta2, t);
      Tensor denom = sqrt(v) * (1.0 / std::sqrt(bc2)) + grp.eps;
      assign(p, p.detach() - (m / denom) * (grp.lr / bc1));
    }
  }
}

}  // namespace resa::nn
