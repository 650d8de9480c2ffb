// Layers that need only the linear algebra and elementwise functions (the conv / batch-norm / pooling
// layers are in conv_layers.cpp, so programs without them link without those kernels).
#include "resa/nn/layers.h"

#include "resa/autograd/elementwise.h"
#include "resa/autograd/linalg.h"
#include "resa/nn/init.h"

namespace resa::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator* gen)
    : Cloneable("Linear"), in_(in_features), out_(out_features), has_bias_(bias) {
  RESA_CHECK(in_features > 0 && out_features > 0, "[Linear] sizes must be positive, got in={} out={}", in_features,
             out_features);
  Tensor& w = register_parameter("weight", Tensor::empty({out_features, in_features}));
  Tensor b;
  if (bias) b = register_parameter("bias", Tensor::empty({out_features}));
  init::default_linear_init_(w, bias ? &b : nullptr, gen);
}

Tensor Linear::forward(const Tensor& x) {
  RESA_CHECK(x.dim() == 2 && x.size(1) == in_, "[Linear] expects (N, {}) input, got {}", in_, shape_str(x.shape()));
  return linear(x, param("weight"), has_bias_ ? param("bias") : Tensor());
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_, out_, has_bias_);
}

Tensor BatchNorm::forward_sync(const Tensor& x) {
  return sync_batch_norm(x, affine_ ? param("weight") : Tensor(), affine_ ? param("bias") : Tensor(),
                         buffer("running_mean"), buffer("running_var"), momentum_, eps_, sync_);
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor Flatten::forward(const Tensor& x) { return x.dim() <= 1 ? x : x.flatten(1); }

Sequential::Sequential(std::initializer_list<ModulePtr> mods) : Cloneable("Sequential") {
  for (auto& m : mods) push_back(m);
}
Sequential::Sequential(const std::vector<ModulePtr>& mods) : Cloneable("Sequential") {
  for (auto& m : mods) push_back(m);
}

void Sequential::push_back(ModulePtr m) { register_module(std::to_string(children().size()), std::move(m)); }

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& [n, m] : children()) h = m->forward(h);
  return h;
}

}  // namespace resa::nn
