// Modules: named parameters, buffers and children, as in torch.nn.Module, so that checkpoints,
// named_parameters(), optimizer exclusions and the EMA teacher all walk the same dotted names
// ("layer1.0.conv1.weight"). A module is held by std::shared_ptr. Subclasses keep their tensors and
// children only in the registry (reached by name), so clone() can deep-copy any module generically.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "resa/core/rng.h"
#include "resa/core/tensor.h"

namespace resa::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;

  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  const std::string& type_name() const { return type_name_; }

  // ---- registration (names unique across parameters, buffers and children of one module) ----
  Tensor& register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

  // ---- access ----
  Tensor& param(const std::string& name);  // own parameter (throws naming the module when absent)
  Tensor& buffer(const std::string& name);
  bool has_param(const std::string& name) const;
  ModulePtr child(const std::string& name) const;
  template <typename M>
  std::shared_ptr<M> child_as(const std::string& name) const {
    auto p = std::dynamic_pointer_cast<M>(child(name));
    RESA_CHECK(p != nullptr, "[module] child '{}' of {} has another type", name, type_name_);
    return p;
  }
  const std::vector<std::pair<std::string, ModulePtr>>& children() const { return children_; }

  NamedTensors named_parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  // Every module in the tree, pre-order, with its dotted path ("" for this one).
  std::vector<std::pair<std::string, ModulePtr>> named_modules();

  // ---- mode, device, grads ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer in place (the tensor handles stay the same, so an optimizer
  // built before the move still updates them); gradients are dropped.
  void to(Device device);
  // Converts every floating parameter and buffer to `dtype` in place (integer buffers such as batch
  // norm's num_batches_tracked keep theirs); gradients are dropped. For float64 reference runs.
  void to(DType dtype);
  void zero_grad();
  int64_t num_parameters() const;

  // ---- state ----
  // Parameters and buffers by dotted name (torchvision's names for the modules of nn/), detached and
  // sharing memory with the module.
  StateDict state_dict() const;
  // Copies values in (to each tensor's device and dtype). strict: every key of the module must be
  // present and no other key (else one error listing all of them); shapes must match in any case.
  // Returns the keys that were missing / not used (both empty when strict succeeds), as PyTorch does.
  struct LoadResult {
    std::vector<std::string> missing_keys, unexpected_keys;
  };
  LoadResult load_state_dict(const StateDict& sd, bool strict = true);

  // A deep copy (new tensors, same values, same requires_grad and mode): the EMA teacher.
  ModulePtr clone() const;

  // A tree with each module's type, its parameter shapes and parameter counts.
  std::string summary() const;

 protected:
  // A copy of this object's own fields (its registry still shares tensors and children); clone() then
  // deep-copies the registry. Implemented by Cloneable<Derived>.
  virtual ModulePtr shallow_copy() const = 0;
  // One line of options for summary(), e.g. "in=512, out=10".
  virtual std::string extra_repr() const { return ""; }

 private:
  void add_child(const std::string& name, ModulePtr m);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, bool recurse, NamedTensors& out) const;
  void summary_into(const std::string& name, int indent, std::string& out) const;

  std::string type_name_;
  bool training_ = true;
  // deques: register_parameter/register_buffer return references that must survive later registrations.
  std::deque<std::pair<std::string, Tensor>> params_;
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
};

// CRTP base that gives a module its shallow_copy (the copy constructor of Derived).
template <typename Derived>
class Cloneable : public Module {
 public:
  using Module::Module;

 protected:
  ModulePtr shallow_copy() const override { return std::make_shared<Derived>(static_cast<const Derived&>(*this)); }
};

// Cast helper: clone() of a typed module.
template <typename M>
std::shared_ptr<M> clone_as(const std::shared_ptr<M>& m) {
  return std::dynamic_pointer_cast<M>(m->clone());
}

}  // namespace resa::nn
