// Conv2d, batch norm and pooling layers over the functions of autograd/conv.h.
#include "resa/autograd/conv.h"
#include "resa/autograd/elementwise.h"
#include "resa/autograd/engine.h"
#include "resa/nn/init.h"
#include "resa/nn/layers.h"

namespace resa::nn {

Conv2d::Conv2d(const Conv2dLayerOptions& opts, Generator* gen) : Cloneable("Conv2d"), opts_(opts) {
  RESA_CHECK(opts.in_channels_ > 0 && opts.out_channels_ > 0 && opts.kernel_size_ > 0 && opts.stride_ > 0 &&
                 opts.padding_ >= 0,
             "[Conv2d] invalid options in={} out={} kernel={} stride={} padding={}", opts.in_channels_,
             opts.out_channels_, opts.kernel_size_, opts.stride_, opts.padding_);
  Tensor& w = register_parameter(
      "weight", Tensor::empty({opts.out_channels_, opts.in_channels_, opts.kernel_size_, opts.kernel_size_}));
  Tensor b;
  if (opts.bias_) b = register_parameter("bias", Tensor::empty({opts.out_channels_}));
  init::default_linear_init_(w, opts.bias_ ? &b : nullptr, gen);
}

Tensor Conv2d::forward(const Tensor& x) {
  RESA_CHECK(x.dim() == 4 && x.size(1) == opts_.in_channels_, "[Conv2d] expects (N, {}, H, W) input, got {}",
             opts_.in_channels_, shape_str(x.shape()));
  return conv2d(x, param("weight"), opts_.bias_ ? param("bias") : Tensor(),
                Conv2dOptions().stride(opts_.stride_).padding(opts_.padding_));
}

std::string Conv2d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size={}, stride={}, padding={}, bias={}", opts_.in_channels_, opts_.out_channels_,
                     opts_.kernel_size_, opts_.stride_, opts_.padding_, opts_.bias_);
}

BatchNorm::BatchNorm(int64_t num_features, int64_t expected_dim, bool affine, double momentum, double eps)
    : Cloneable(expected_dim == 2 ? "BatchNorm1d" : "BatchNorm2d"),
      c_(num_features),
      dim_(expected_dim),
      affine_(affine),
      momentum_(momentum),
      eps_(eps) {
  RESA_CHECK(num_features > 0, "[{}] num_features must be positive, got {}", type_name(), num_features);
  if (affine) {
    register_parameter("weight", ones({num_features}));
    register_parameter("bias", zeros({num_features}));
  }
  register_buffer("running_mean", zeros({num_features}));
  register_buffer("running_var", ones({num_features}));
  register_buffer("num_batches_tracked", zeros({}, TensorOptions().dtype(DType::Int64)));
}

Tensor BatchNorm::forward(const Tensor& x) { return forward_impl(x, false); }
Tensor BatchNorm::forward_relu(const Tensor& x) { return forward_impl(x, true); }

Tensor BatchNorm::forward_impl(const Tensor& x, bool relu) {
  RESA_CHECK(x.dim() == dim_ && x.size(1) == c_, "[{}] expects {} input, got {}", type_name(),
             dim_ == 2 ? fmt::format("(N, {})", c_) : fmt::format("(N, {}, H, W)", c_), shape_str(x.shape()));
  bool training = is_training();
  if (training) {
    // PyTorch counts the batches even though a fixed momentum does not use the count.
    Tensor& nbt = buffer("num_batches_tracked");
    if (nbt.device().is_cpu()) {
      nbt.data<int64_t>()[0] += 1;
    } else {
      // On the device, with no host round trip (reading the counter back would synchronise the stream
      // once per batch-norm layer): eq(nbt, nbt) is a device-resident int64 one.
      nbt.copy_(add(nbt, eq(nbt, nbt)));
    }
  }
  if (training && sync_) {  // statistics over every rank's batch (nn/layers.h)
    Tensor y = forward_sync(x);
    return relu ? resa::relu(y) : y;
  }
  auto norm = relu ? batch_norm_relu : batch_norm;
  return norm(x, affine_ ? param("weight") : Tensor(), affine_ ? param("bias") : Tensor(), buffer("running_mean"),
              buffer("running_var"), training, momentum_, eps_);
}

std::string BatchNorm::extra_repr() const {
  return fmt::format("{}, eps={}, momentum={}, affine={}", c_, eps_, momentum_, affine_);
}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, k_, s_, p_); }

std::string MaxPool2d::extra_repr() const { return fmt::format("kernel_size={}, stride={}, padding={}", k_, s_, p_); }

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d_1x1(x); }

}  // namespace resa::nn
