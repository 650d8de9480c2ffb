#include "resa/autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "resa/autograd/functions.h"

namespace resa::autograd {
namespace {
thread_local bool g_grad_enabled = true;

// slot += g, out of place: a gradient may alias another (add passes its input grad through), so
// it is never modified in place.
void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? resa::add(slot, g) : g; }
}  // namespace

Node::~Node() {
  // Dropping the last reference to a long chain would recurse once per node; unlink it iteratively.
  std::vector<std::shared_ptr<Node>> stack;
  for (auto& e : edges)
    if (e.node) stack.push_back(std::move(e.node));
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    if (n.use_count() == 1) {
      for (auto& e : n->edges)
        if (e.node) stack.push_back(std::move(e.node));
      n->backward = nullptr;
    }
  }
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const auto& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}
bool any_requires_grad(std::initializer_list<Tensor> inputs) { return any_requires_grad(std::vector<Tensor>(inputs)); }

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn) {
  if (!any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->backward = std::move(fn);
  node->output_shape = out.shape();
  node->output_dtype = out.dtype();
  for (const auto& t : inputs) {
    RESA_CHECK(!t.defined() || !t.same(out), "[{}] internal error: recorded output is one of its inputs", name);
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn())
        e.node = t.grad_fn();
      else
        e.leaf = t.impl_ptr();
    }
    node->edges.push_back(std::move(e));
    node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
  }
  out.impl_ptr()->autograd.requires_grad = true;
  out.set_grad_fn(std::move(node));
  return out;
}

namespace {

// The walk shared by backward() and grad(). When `captured` is non-null, gradients reaching the
// tensors in `capture_inputs` are stored there instead of being accumulated into leaves' .grad.
void walk(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph,
          const std::vector<Tensor>* capture_inputs, std::vector<Tensor>* captured) {
  RESA_CHECK(roots.size() == grads.size(), "[backward] {} outputs but {} gradients", roots.size(), grads.size());
  NoGradGuard no_grad;

  std::unordered_map<Node*, Tensor> buffer;  // gradient of each node's output, summed over its uses
  std::unordered_map<TensorImpl*, size_t> capture_slot;
  std::unordered_map<Node*, size_t> capture_node;
  if (captured) {
    captured->assign(capture_inputs->size(), Tensor());
    for (size_t i = 0; i < capture_inputs->size(); ++i) {
      const Tensor& t = (*capture_inputs)[i];
      RESA_CHECK(t.requires_grad(), "[grad] input {} does not require grad", i);
      if (t.grad_fn())
        capture_node[t.grad_fn().get()] = i;
      else
        capture_slot[t.impl_ptr().get()] = i;
    }
  }
  auto deliver_leaf = [&](const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
    if (captured) {
      auto it = capture_slot.find(leaf.get());
      if (it != capture_slot.end()) accumulate((*captured)[it->second], g);
      return;
    }
    Tensor handle(leaf);
    Tensor cur = handle.grad();
    accumulate(cur, g);
    handle.set_grad(cur);
  };

  std::vector<Node*> root_nodes;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    RESA_CHECK(r.requires_grad(), "[backward] output {} does not require grad and has no grad_fn", i);
    Tensor g = grads[i];
    if (!g.defined()) {
      RESA_CHECK(r.numel() == 1, "[backward] a gradient is needed for non-scalar output of shape {}",
                 shape_str(r.shape()));
      g = ones(r.shape(), TensorOptions().dtype(r.dtype()).device(r.device()));
    }
    RESA_CHECK(g.shape() == r.shape(), "[backward] gradient shape {} differs from output shape {}",
               shape_str(g.shape()), shape_str(r.shape()));
    if (r.grad_fn()) {
      accumulate(buffer[r.grad_fn().get()], g);
      root_nodes.push_back(r.grad_fn().get());
    } else {
      deliver_leaf(r.impl_ptr(), g);
    }
  }

  // Count, for every node reachable from the roots, how many edges lead into it.
  std::unordered_map<Node*, int> deps;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (Node* n : root_nodes)
    if (seen.insert(n).second) stack.push_back(n);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->edges) {
      if (!e.node) continue;
      ++deps[e.node.get()];
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }

  // Kahn's algorithm: a node runs once every use of its output has delivered its gradient.
  std::vector<Node*> ready;
  for (Node* n : seen)
    if (deps[n] == 0) ready.push_back(n);
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    auto it = buffer.find(n);
    Tensor g = it == buffer.end() ? Tensor() : it->second;
    if (it != buffer.end()) buffer.erase(it);
    if (captured && g.defined()) {
      auto c = capture_node.find(n);
      if (c != capture_node.end()) accumulate((*captured)[c->second], g);
    }
    std::vector<Tensor> input_grads;
    if (g.defined()) {
      RESA_CHECK(n->backward != nullptr,
                 "[backward] the graph through '{}' was already freed by an earlier backward; "
                 "pass retain_graph=true to the first call to walk it twice",
                 n->name);
      input_grads = n->backward(g);
      RESA_CHECK(input_grads.size() == n->edges.size(), "[backward of {}] returned {} gradients for {} inputs", n->name,
                 input_grads.size(), n->edges.size());
      if (!retain_graph) n->backward = nullptr;
    }
    for (size_t i = 0; i < n->edges.size(); ++i) {
      Edge& e = n->edges[i];
      if (!e.active()) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        const Tensor& gi = input_grads[i];
        RESA_CHECK(gi.shape() == n->input_shapes[i], "[backward of {}] gradient for input {} has shape {}, expected {}",
                   n->name, i, shape_str(gi.shape()), shape_str(n->input_shapes[i]));
        if (e.node)
          accumulate(buffer[e.node.get()], gi);
        else
          deliver_leaf(e.leaf, gi);
      }
      if (e.node && --deps[e.node.get()] == 0) ready.push_back(e.node.get());
    }
  }
}

}  // namespace

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  walk(roots, grads, retain_graph, nullptr, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  std::vector<Tensor> gouts = grad_outputs;
  if (gouts.empty()) gouts.resize(outputs.size());
  std::vector<Tensor> result;
  walk(outputs, gouts, retain_graph, &inputs, &result);
  return result;
}

}  // namespace resa::autograd

namespace resa {
void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::run_backward({*this}, {grad}, retain_graph);
}
}  // namespace resa
