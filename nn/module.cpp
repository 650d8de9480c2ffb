#include "resa/nn/module.h"

#include <algorithm>
#include <set>

#include "resa/autograd/engine.h"

namespace resa::nn {

Tensor Module::forward(const Tensor&) { RESA_FAIL("[module] {} has no forward(Tensor)", type_name_); }

void Module::check_new_name(const std::string& name) const {
  RESA_CHECK(!name.empty() && name.find('.') == std::string::npos,
             "[module] invalid name '{}' in {} (non-empty, no dots)", name, type_name_);
  auto taken = [&](const auto& v) {
    return std::any_of(v.begin(), v.end(), [&](const auto& e) { return e.first == name; });
  };
  RESA_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), "[module] name '{}' already used in {}", name,
             type_name_);
}

Tensor& Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name);
  RESA_CHECK(t.defined(), "[module] parameter '{}' of {} is undefined", name, type_name_);
  t = t.detach();
  if (requires_grad) t.requires_grad_(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  RESA_CHECK(t.defined(), "[module] buffer '{}' of {} is undefined", name, type_name_);
  buffers_.emplace_back(name, t.detach());
  return buffers_.back().second;
}

void Module::add_child(const std::string& name, ModulePtr m) {
  check_new_name(name);
  RESA_CHECK(m != nullptr, "[module] child '{}' of {} is null", name, type_name_);
  children_.emplace_back(name, std::move(m));
}

Tensor& Module::param(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  RESA_FAIL("[module] {} has no parameter '{}'", type_name_, name);
}

Tensor& Module::buffer(const std::string& name) {
  for (auto& [n, t] : buffers_)
    if (n == name) return t;
  RESA_FAIL("[module] {} has no buffer '{}'", type_name_, name);
}

bool Module::has_param(const std::string& name) const {
  return std::any_of(params_.begin(), params_.end(), [&](const auto& e) { return e.first == name; });
}

ModulePtr Module::child(const std::string& name) const {
  for (auto& [n, m] : children_)
    if (n == name) return m;
  RESA_FAIL("[module] {} has no child '{}'", type_name_, name);
}

void Module::collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out) const {
  for (auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  if (!recurse) return;
  for (auto& [n, m] : children_) m->collect(prefix + n + ".", params, true, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, recurse, out);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_modules() {
  std::vector<std::pair<std::string, ModulePtr>> out;
  // The root is not owned by a shared_ptr we can reach from here; represent it with a non-owning alias.
  out.emplace_back("", ModulePtr(ModulePtr(), this));
  for (size_t i = 0; i < out.size(); ++i) {
    auto [path, m] = out[i];
    for (auto& [n, c] : m->children_) out.emplace_back(path.empty() ? n : path + "." + n, c);
  }
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::to(Device device) {
  NoGradGuard ng;
  auto move = [&](Tensor& t) {
    if (t.device() == device) return;
    Tensor moved = t.detach().to(device).contiguous();
    auto& impl = t.impl_ptr();
    impl->storage = moved.storage();
    impl->strides = moved.strides();
    impl->offset = moved.offset();
    t.zero_grad();
  };
  for (auto& [n, t] : params_) move(t);
  for (auto& [n, t] : buffers_) move(t);
  for (auto& [n, m] : children_) m->to(device);
}

void Module::to(DType dtype) {
  RESA_CHECK(is_floating(dtype), "[Module::to] {} is not a floating dtype", dtype_name(dtype));
  NoGradGuard ng;
  auto convert = [&](Tensor& t) {
    if (t.dtype() == dtype || !is_floating(t.dtype())) return;
    Tensor converted = t.detach().to(dtype).contiguous();
    auto& impl = t.impl_ptr();
    impl->storage = converted.storage();
    impl->strides = converted.strides();
    impl->offset = converted.offset();
    impl->dtype = dtype;
    t.zero_grad();
  };
  for (auto& [n, t] : params_) convert(t);
  for (auto& [n, t] : buffers_) convert(t);
  for (auto& [n, m] : children_) m->to(dtype);
}

void Module::zero_grad() {
  for (auto& [n, t] : params_) t.zero_grad();
  for (auto& [n, m] : children_) m->zero_grad();
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [k, t] : named_parameters()) n += t.numel();
  return n;
}

StateDict Module::state_dict() const {
  StateDict sd;
  for (auto& [k, t] : named_parameters()) sd[k] = t.detach();
  for (auto& [k, t] : named_buffers()) sd[k] = t.detach();
  return sd;
}

Module::LoadResult Module::load_state_dict(const StateDict& sd, bool strict) {
  NamedTensors mine = named_parameters();
  for (auto& e : named_buffers()) mine.push_back(e);
  std::set<std::string> used;
  std::vector<std::string> missing;
  for (auto& [k, t] : mine) {
    auto it = sd.find(k);
    if (it == sd.end()) {
      missing.push_back(k);
      continue;
    }
    RESA_CHECK(it->second.defined(), "[load_state_dict] {}: tensor '{}' is undefined", type_name_, k);
    RESA_CHECK(it->second.shape() == t.shape(),
               "[load_state_dict] {}: size mismatch for '{}': the state dict has {}, the module has {}", type_name_, k,
               shape_str(it->second.shape()), shape_str(t.shape()));
    used.insert(k);
  }
  std::vector<std::string> unexpected;
  for (auto& [k, t] : sd)
    if (!used.count(k)) unexpected.push_back(k);
  if (strict) {
    RESA_CHECK(missing.empty() && unexpected.empty(), "[load_state_dict] {}: missing keys [{}]; unexpected keys [{}]",
               type_name_, fmt::join(missing, ", "), fmt::join(unexpected, ", "));
  }
  NoGradGuard ng;
  for (auto& [k, t] : mine) {
    auto it = sd.find(k);
    if (it != sd.end()) const_cast<Tensor&>(t).copy_(it->second.detach());
  }
  return {missing, unexpected};
}

ModulePtr Module::clone() const {
  NoGradGuard ng;
  ModulePtr copy = shallow_copy();
  copy->training_ = training_;
  for (auto& [n, t] : copy->params_) {
    bool rg = t.requires_grad();
    t = t.detach().clone();
    if (rg) t.requires_grad_(true);
  }
  for (auto& [n, t] : copy->buffers_) t = t.detach().clone();
  for (auto& [n, c] : copy->children_) c = c->clone();
  return copy;
}

namespace {
std::string with_commas(int64_t v) {
  std::string s = std::to_string(v), out;
  int k = 0;
  for (size_t i = s.size(); i-- > 0;) {
    out.insert(out.begin(), s[i]);
    if (++k % 3 == 0 && i > 0) out.insert(out.begin(), ',');
  }
  return out;
}
}  // namespace

void Module::summary_into(const std::string& name, int indent, std::string& out) const {
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  int64_t n = num_parameters();
  std::string extra = extra_repr();
  out += fmt::format("{}{}{}({}){}\n", pad, name.empty() ? "" : name + ": ", type_name_, extra,
                     n > 0 ? fmt::format("  [{} params]", with_commas(n)) : "");
  for (auto& [pn, t] : params_)
    out += fmt::format("{}  .{} {}{}\n", pad, pn, shape_str(t.shape()), t.requires_grad() ? "" : " (frozen)");
  for (auto& [bn, t] : buffers_)
    out += fmt::format("{}  .{} {} buffer {}\n", pad, bn, shape_str(t.shape()), dtype_name(t.dtype()));
  for (auto& [cn, c] : children_) c->summary_into(cn, indent + 1, out);
}

std::string Module::summary() const {
  std::string out;
  summary_into("", 0, out);
  out += fmt::format("total: {} parameters\n", with_commas(num_parameters()));
  return out;
}

}  // namespace resa::nn
