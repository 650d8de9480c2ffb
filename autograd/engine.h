// Reverse-mode autodiff: each differentiable op records a Node holding edges to the nodes (or leaf
// tensors) of its inputs and a closure that maps the gradient of its output to gradients of its inputs.
// backward() walks the graph in a topological order computed iteratively (no recursion, so depth is
// unbounded), summing the gradients that reach a node from several uses before running it.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "resa/core/tensor.h"

namespace resa::autograd {

// Where the gradient for one input goes: the node that produced it, or the leaf tensor itself.
struct Edge {
  std::shared_ptr<Node> node;
  std::shared_ptr<TensorImpl> leaf;  // set when the input is a leaf that requires grad
  bool active() const { return node || leaf; }
};

// grads of the inputs (undefined where an input needs none) from the grad of the output.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;
  std::vector<Edge> edges;          // one per input, in the order of BackwardFn's result
  std::vector<Shape> input_shapes;  // checked against the gradients the closure returns
  BackwardFn backward;
  Shape output_shape;
  DType output_dtype = DType::Float32;
  ~Node();  // releases long chains iteratively
};

// Whether ops record for backward. Off inside NoGradGuard and during backward.
bool grad_enabled();
void set_grad_enabled(bool on);

class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and any of the tensors requires grad.
bool any_requires_grad(std::initializer_list<Tensor> inputs);
bool any_requires_grad(const std::vector<Tensor>& inputs);

// Makes `out` the result of a recorded op when any input requires grad (and grad mode is on):
// `out` gets requires_grad and a node with edges to `inputs` and the closure `fn`. Returns `out`.
// The closure must not capture `out` itself (that would be a cycle); capture out.detach() instead.
Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs, BackwardFn fn);

// Runs backward from `roots` with the given output gradients (a scalar root may pass undefined for 1).
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);

// Gradients of `outputs` w.r.t. `inputs`, returned instead of accumulated into .grad (autograd.grad).
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false);

}  // namespace resa::autograd

namespace resa {
using autograd::NoGradGuard;
}
